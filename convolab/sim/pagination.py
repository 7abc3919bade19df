"""The list routes' pagination (``GET /v1/models``, ``GET /v1/messages/batches``): ``limit``
1-1000 (default 20), ``after_id``, ``before_id``, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from convolab.sim.api_error import invalid

__all__ = ["page"]

T = TypeVar("T")


def page(items: Sequence[T], ids: Sequence[str], query: dict[str, str]) -> tuple[list[T], bool]:
    """The page of ``items`` (ordered, with their ``ids``) that ``query`` asks for, and whether
    more follow it. An unknown ``after_id`` gives an empty page; an unknown ``before_id`` is ignored."""
    try:
        limit = int(query.get("limit", 20))
    except ValueError:
        raise invalid("limit: Input should be a valid integer") from None
    if not 1 <= limit <= 1000:
        raise invalid("limit: Input should be between 1 and 1000")
    start = 0
    if "after_id" in query:
        start = ids.index(query["after_id"]) + 1 if query["after_id"] in ids else len(ids)
    end = start + limit
    if "before_id" in query and query["before_id"] in ids:
        end = ids.index(query["before_id"])
        start = max(0, end - limit)
    return list(items[start:end]), end < len(items)
