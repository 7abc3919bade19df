"""convolab: measure and compare multi-turn context strategies for Claude.

The Messages API is stateless, so every turn resends the history. convolab shows what each
way of building that history costs (input, cache and output tokens, dollars) and what it
keeps, against a strict simulated Claude offline or the real API with a key.

Start with ``notebooks/00_quickstart.ipynb``; the layers are drawn in ``docs/architecture.md``.
"""

from importlib.metadata import PackageNotFoundError, version

from convolab.async_session import AsyncChatSession
from convolab.clients import async_client, client, client_kind
from convolab.costs import CostTracker
from convolab.errors import (
    BudgetExceeded,
    ConfigurationError,
    ContextOverflow,
    ConvolabError,
    InvalidConversation,
    NotFound,
    StoreLocked,
    UnknownModel,
)
from convolab.model import (
    Conversation,
    Message,
    Role,
    Turn,
    group_turns,
    tool_exchanges,
)
from convolab.repair import RepairReport, repair_messages
from convolab.session import ChatSession, SentTurn
from convolab.stores import DuckDBStore, PostgresStore

try:
    __version__ = version("convolab")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

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
    "Message",
    "NotFound",
    "PostgresStore",
    "RepairReport",
    "Role",
    "SentTurn",
    "StoreLocked",
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
