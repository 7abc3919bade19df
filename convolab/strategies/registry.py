"""Strategies by name, for the command line, the evaluation and notebooks."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from convolab.errors import ConfigurationError
from convolab.strategies.base import Strategy

#: name -> (module, class, takes budget_tokens)
STRATEGIES: dict[str, tuple[str, str, bool]] = {
    "full": ("convolab.strategies.full", "FullHistory", False),
    "sliding": ("convolab.strategies.sliding", "SlidingWindow", True),
    "summarizing": ("convolab.strategies.summarizing", "Summarizing", True),
    "memory": ("convolab.strategies.memory", "StructuredMemory", True),
    "retrieval": ("convolab.strategies.retrieval", "Retrieval", True),
    "retrieval-messages": ("convolab.strategies.retrieval_messages", "MessageRetrieval", True),
    "memory-retrieval": ("convolab.strategies.memory_retrieval", "MemoryRetrieval", True),
    "compaction": ("convolab.strategies.compaction", "ServerCompaction", False),
}
NAMES = tuple(STRATEGIES)


def takes_budget(name: str) -> bool:
    """Does the strategy ``name`` take ``budget_tokens`` (``full`` and ``compaction`` do not)?"""
    try:
        return STRATEGIES[name][2]
    except KeyError:
        raise ConfigurationError(f"unknown strategy {name!r}; choose one of {', '.join(NAMES)}") from None


def make_strategy(name: str, *, budget_tokens: int | None = 4000, **kwargs: Any) -> Strategy:
    """A new strategy by its short name (``convolab.strategies.NAMES``: ``full``, ``sliding``,
    ``summarizing``, ``memory``, ``retrieval``, ...); ``budget_tokens`` goes to the budgeted ones."""
    try:
        module, cls, budgeted = STRATEGIES[name]
    except KeyError:
        raise ConfigurationError(f"unknown strategy {name!r}; choose one of {', '.join(NAMES)}") from None
    if budgeted and budget_tokens is not None:
        kwargs["budget_tokens"] = budget_tokens
    return getattr(import_module(module), cls)(**kwargs)
