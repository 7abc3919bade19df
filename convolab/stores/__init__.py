"""Where conversations live: one ``Store`` protocol, two backends.

``DuckDBStore(path)`` is the embedded default (a file, or ``":memory:"``); ``PostgresStore(dsn)``
serves teams and services with several processes (``pip install 'convolab[postgres]'``).
Both pass the same contract suite (``tests/stores/test_contract.py``). The protocol, the turn's
two transactions and the records are in ``convolab.stores.base``; the schema's history, in both
dialects, is ``convolab.stores.migrations.MIGRATIONS``.
"""

from convolab.stores.base import (
    SCHEMA_VERSION_TABLE,
    ConversationRecord,
    Reservation,
    Store,
    UsageEvent,
)
from convolab.stores.duckdb import DuckDBStore
from convolab.stores.postgres import PostgresStore

__all__ = [
    "SCHEMA_VERSION_TABLE",
    "ConversationRecord",
    "DuckDBStore",
    "PostgresStore",
    "Reservation",
    "Store",
    "UsageEvent",
]
