"""The kinds of request an evaluation makes, for plans and bills: the conversation's turns, the
questions, the strategies' side calls (summaries, memory extraction) and the judge's calls.

The code making a request says its kind (``with kind("turns"): ...``); a request made with no
kind said (a strategy's call while building or observing) is a side call. The kind lives in a
context variable, so every thread and task has its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from convolab.errors import ConfigurationError

__all__ = ["KINDS", "current", "kind"]

KINDS = ("turns", "questions", "side calls", "judge calls")
_KIND: ContextVar[str] = ContextVar("convolab_request_kind", default="side calls")


@contextmanager
def kind(name: str) -> Iterator[None]:
    """Requests made inside are of kind ``name`` (one of ``KINDS``)."""
    if name not in KINDS:
        raise ConfigurationError(f"unknown request kind {name!r}; one of {KINDS}")
    token = _KIND.set(name)
    try:
        yield
    finally:
        _KIND.reset(token)


def current() -> str:
    """The kind of a request made here and now."""
    return _KIND.get()
