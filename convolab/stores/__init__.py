"""Where conversations live: the ``Store`` protocols, two backends.

``DuckDBStore(path)`` is the embedded default (a file, or ``":memory:"``); ``PostgresStore(dsn)``
serves teams and services with several processes (``pip install 'convolab[postgres]'``).
Both pass the same contract suite (``tests/stores/test_contract.py``). The protocols
(``ConversationStore``, ``Ledger`` and ``Store``, which is both plus the turn's two
transactions) and the records are in ``convolab.stores.base``; the SQL both backends share is
``convolab.stores.sql``; the schema's history, in both
dialects, is ``convolab.stores.migrations.MIGRATIONS``.
"""

from convolab.stores.base import (
    SCHEMA_VERSION_TABLE,
    ConversationRecord,
    ConversationStore,
    Ledger,
    Reservation,
    Store,
    UsageEvent,
)
from convolab.stores.duckdb import DuckDBStore
from convolab.stores.postgres import PostgresStore

__all__ = [
    "SCHEMA_VERSION_TABLE",
    "ConversationRecord",
    "ConversationStore",
    "DuckDBStore",
    "Ledger",
    "PostgresStore",
    "Reservation",
    "Store",
    "UsageEvent",
]
