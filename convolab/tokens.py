"""Token counting: one protocol, several ways to count.

A ``TokenCounter`` counts the three things every request bills as input: the system
prompt, the tool definitions (both billed on *every* request: the chapter's pitfall 4),
and each message. Message counts are memoized on the ``Message`` itself (``Message.memo``)
so a conversation's count is a sum of cached numbers, never a re-count of its history.

Implementations:

- ``CharEstimate``: the chapter's rule of thumb, characters / 4.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from convolab.model import Message, MessageLike, content_of


@runtime_checkable
class TokenCounter(Protocol):
    """Counts input tokens of the parts of a request.

    ``name`` identifies the counting method (it keys the per-message memo); counts must
    not change for the same content, model and name.
    """

    name: str

    def count_message(self, message: MessageLike, *, model: str) -> int: ...

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int: ...

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str) -> int: ...


def text_chars(content: Any) -> int:
    """Characters of text a request carries for ``content`` (strings, blocks, tool JSON)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, dict):
        kind = content.get("type")
        if kind == "text":
            return len(content.get("text", ""))
        if kind == "tool_use":
            return len(content.get("name", "")) + len(json.dumps(content.get("input", {}), ensure_ascii=False))
        if kind == "tool_result":
            return text_chars(content.get("content", ""))
        if kind == "thinking":
            return len(content.get("thinking", ""))
        # other blocks (images, documents, server tool results): their JSON, less the source data
        slim = {k: v for k, v in content.items() if k not in ("source", "cache_control", "signature", "data")}
        return len(json.dumps(slim, ensure_ascii=False))
    if isinstance(content, list):
        return sum(text_chars(b) for b in content)
    return len(str(content))


class CharEstimate:
    """The chapter's estimate: characters / 4, for text in messages, system and tools."""

    name = "chars/4"

    def __init__(self, chars_per_token: float = 4.0):
        self.chars_per_token = chars_per_token
        if chars_per_token != 4.0:
            self.name = f"chars/{chars_per_token:g}"

    def _count(self, chars: int) -> int:
        return int(chars // self.chars_per_token)

    def count_message(self, message: MessageLike, *, model: str) -> int:
        if isinstance(message, Message):
            return message.memo(self.name, lambda: self._count(text_chars(message.content)))
        return self._count(text_chars(content_of(message)))

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int:
        return self._count(text_chars(system))

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str) -> int:
        return self._count(len(json.dumps(tools, ensure_ascii=False))) if tools else 0


def count_request(
    counter: TokenCounter,
    *,
    model: str,
    system: str | list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    messages: Iterable[MessageLike] = (),
) -> int:
    """Input tokens of a request: system + tools + every message, by ``counter``."""
    total = counter.count_system(system, model=model) + counter.count_tools(tools, model=model)
    return total + sum(counter.count_message(m, model=model) for m in messages)


__all__ = ["CharEstimate", "TokenCounter", "count_request", "text_chars"]
