"""convolab: measure and compare multi-turn context strategies for Claude.

The Messages API is stateless, so every turn resends the history. convolab shows what each
way of building that history costs (input, cache and output tokens, dollars) and what it
keeps, against a strict simulated Claude offline or the real API with a key.

Start with ``notebooks/00_quickstart.ipynb``; the layers are drawn in ``docs/architecture.md``.

The names below are imported on first use (PEP 562), so ``import convolab`` (and the command
line's ``--help`` and ``--version``) does not load the anthropic SDK or polars until needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "AsyncChatSession": "convolab.async_session",
    "async_client": "convolab.clients",
    "client": "convolab.clients",
    "client_kind": "convolab.clients",
    "CostTracker": "convolab.costs",
    **dict.fromkeys(("BudgetExceeded", "ConfigurationError", "ContextOverflow", "ConvolabError",
                     "InvalidConversation", "InvalidMessage", "NoPriceYet", "NotFound", "StoreLocked",
                     "StoreUnreadable", "UnknownModel"),
                    "convolab.errors"),
    **dict.fromkeys(("Conversation", "Message", "Role", "Turn", "group_turns", "tool_exchanges"), "convolab.model"),
    "RepairReport": "convolab.repair",
    "repair_messages": "convolab.repair",
    "ChatSession": "convolab.session",
    "SentTurn": "convolab.session",
    "DuckDBStore": "convolab.stores",
    "PostgresStore": "convolab.stores",
}

__all__ = [
    "AsyncChatSession",
    "BudgetExceeded",
    "ChatSession",
    "ConfigurationError",
    "ContextOverflow",
    "Conversation",
    "ConvolabError",
    "CostTracker",
    "DuckDBStore",
    "InvalidConversation",
    "InvalidMessage",
    "Message",
    "NoPriceYet",
    "NotFound",
    "PostgresStore",
    "RepairReport",
    "Role",
    "SentTurn",
    "StoreLocked",
    "StoreUnreadable",
    "Turn",
    "UnknownModel",
    "__version__",
    "async_client",
    "client",
    "client_kind",
    "group_turns",
    "repair_messages",
    "tool_exchanges",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("convolab")
        except PackageNotFoundError:  # running from a source tree without installing
            value = "0+unknown"
    elif name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'convolab' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see: the eager imports
    from convolab.async_session import AsyncChatSession
    from convolab.clients import async_client, client, client_kind
    from convolab.costs import CostTracker
    from convolab.errors import (
        BudgetExceeded,
        ConfigurationError,
        ContextOverflow,
        ConvolabError,
        InvalidConversation,
        InvalidMessage,
        NoPriceYet,
        NotFound,
        StoreLocked,
        StoreUnreadable,
        UnknownModel,
    )
    from convolab.model import Conversation, Message, Role, Turn, group_turns, tool_exchanges
    from convolab.repair import RepairReport, repair_messages
    from convolab.session import ChatSession, SentTurn
    from convolab.stores import DuckDBStore, PostgresStore

    __version__: str
