"""Schema migrations, the way simonw/llm does them: an ordered list of functions per backend.

``MIGRATIONS`` lists them in order; each takes a connection (``MigrationDB``) and writes the
step in the backend's dialect (``db.dialect`` is ``"duckdb"`` or ``"postgres"``), so the two
schemas stay side by side, step by step. The name of every applied function is recorded in the
``convolab_schema`` table: opening a store applies only what is missing, each function in its
own transaction. Never edit a migration that has shipped: add the next ``m00N_...`` below.

The latest schema, in both backends (JSON columns are TEXT in DuckDB and ``json`` in PostgreSQL)::

    conversations(id PK, user_id, title, system_prompt JSON, model, tools JSON, metadata JSON,
                  created_at, last_updated, is_archived)
    messages(conversation_id, id, seq, role, content JSON, input_tokens, output_tokens, model_used,
             metadata JSON, created_at, rejected; PK (conversation_id, id), UNIQUE (conversation_id, seq))
    conversation_summaries(id PK, conversation_id, version, summary, message_count_at_creation,
                           covers JSON, model, created_at; UNIQUE (conversation_id, version))
    strategy_state(conversation_id, strategy, state JSON, updated_at; PK (conversation_id, strategy))
    usage_events(request_id PK, user_id, conversation_id, model, kind, response_id, input_tokens,
                 output_tokens, cache_creation_input_tokens, cache_read_input_tokens,
                 cache_creation_5m_tokens, cache_creation_1h_tokens, cost_usd, price_date, created_at,
                 confirmed)
    budget_reservations(request_id PK, user_id, conversation_id, message_id, model, amount_usd,
                        created_at, metadata JSON)
    embedders(name PK, dim, created_at)
    message_vectors_<dim>(conversation_id, embedder, message_id, passage, content_hash,
                          vector FLOAT[dim] (REAL[] in PostgreSQL), created_at;
                          PK (conversation_id, embedder, message_id, passage)); 256 at first
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from convolab.errors import ConfigurationError
from convolab.model import utcnow
from convolab.stores.base import SCHEMA_VERSION_TABLE


class MigrationDB(Protocol):
    """The little a migration needs from a connection."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def lock(self) -> None:
        """Inside a transaction: wait until no other process is migrating this database."""


Migration = Callable[[MigrationDB], None]


class Migrations:
    """An ordered list of migration functions; use an instance as the decorator that adds one."""

    def __init__(self) -> None:
        self.steps: list[Migration] = []

    def __call__(self, fn: Migration) -> Migration:
        self.steps.append(fn)
        return fn

    def __iter__(self) -> Iterator[Migration]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def names(self) -> list[str]:
        return [fn.__name__ for fn in self.steps]

    def applied(self, db: MigrationDB) -> list[str]:
        """Names of the migrations already applied to ``db``, in the order they were applied."""
        with db.transaction():
            db.lock()
            db.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} "
                       "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
        return self._applied(db)

    def _applied(self, db: MigrationDB) -> list[str]:
        return [r[0] for r in db.query(f"SELECT name FROM {SCHEMA_VERSION_TABLE} ORDER BY applied_at, name")]

    def apply(self, db: MigrationDB, *, upto: int | None = None) -> list[str]:
        """Apply the missing migrations (only the first ``upto`` of the list, when given).

        Returns the names applied now. Each runs in its own transaction holding ``db.lock()``,
        so processes opening one database at once apply each migration once. A database holding
        migrations this list does not know was written by a newer convolab: that raises
        ``ConfigurationError`` and changes nothing.
        """
        done = set(self.applied(db))
        unknown = sorted(done - set(self.names))
        if unknown:
            raise ConfigurationError(
                f"this {db.dialect} database was migrated by a newer convolab (unknown migrations: "
                f"{', '.join(unknown)}). Upgrade convolab (pip install -U convolab) to open it.")
        ran = []
        for fn in self.steps[:upto]:
            if fn.__name__ in done:
                continue
            with db.transaction():
                db.lock()
                if fn.__name__ in self._applied(db):  # another process was quicker
                    continue
                fn(db)
                db.execute(f"INSERT INTO {SCHEMA_VERSION_TABLE} (name, applied_at) VALUES (?, ?)",
                           [fn.__name__, utcnow()])
            ran.append(fn.__name__)
        return ran


MIGRATIONS = Migrations()


@MIGRATIONS
def m001_initial(db: MigrationDB) -> None:
    """The first schema (conversations, messages, summaries, usage), ids as TEXT (convolab ids are UUID4 strings; users may pass their own).

    DuckDB has no ON DELETE CASCADE, so its tables have no foreign keys."""
    if db.dialect == "postgres":
        db.execute("""
            CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                title TEXT,
                system_prompt TEXT NOT NULL,
                model TEXT NOT NULL DEFAULT 'claude-sonnet-4-6',
                created_at TIMESTAMPTZ DEFAULT NOW(),
                last_updated TIMESTAMPTZ DEFAULT NOW(),
                metadata JSONB DEFAULT '{}',
                is_archived BOOLEAN DEFAULT FALSE
            );
            CREATE TABLE messages (
                id TEXT PRIMARY KEY,
                conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
                role TEXT CHECK (role IN ('user', 'assistant')),
                content TEXT NOT NULL,
                content_blocks JSONB,
                input_tokens INTEGER,
                output_tokens INTEGER,
                model_used TEXT,
                created_at TIMESTAMPTZ DEFAULT NOW()
            );
            CREATE TABLE conversation_summaries (
                id TEXT PRIMARY KEY,
                conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
                summary TEXT NOT NULL,
                message_count_at_creation INTEGER,
                created_at TIMESTAMPTZ DEFAULT NOW()
            );
            CREATE INDEX idx_conversations_user_id ON conversations(user_id);
            CREATE INDEX idx_messages_conv_created ON messages(conversation_id, created_at);
            CREATE INDEX idx_summaries_conversation ON conversation_summaries(conversation_id);
        """)
    else:
        db.execute("""
            CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                title TEXT,
                system_prompt TEXT NOT NULL,
                model TEXT NOT NULL DEFAULT 'claude-sonnet-4-6',
                created_at TIMESTAMPTZ DEFAULT current_timestamp,
                last_updated TIMESTAMPTZ DEFAULT current_timestamp,
                metadata JSON DEFAULT '{}',
                is_archived BOOLEAN DEFAULT FALSE
            );
            CREATE TABLE messages (
                id TEXT PRIMARY KEY,
                conversation_id TEXT,
                role TEXT CHECK (role IN ('user', 'assistant')),
                content TEXT NOT NULL,
                content_blocks JSON,
                input_tokens INTEGER,
                output_tokens INTEGER,
                model_used TEXT,
                created_at TIMESTAMPTZ DEFAULT current_timestamp
            );
            CREATE TABLE conversation_summaries (
                id TEXT PRIMARY KEY,
                conversation_id TEXT,
                summary TEXT NOT NULL,
                message_count_at_creation INTEGER,
                created_at TIMESTAMPTZ DEFAULT current_timestamp
            );
            CREATE INDEX idx_conversations_user_id ON conversations(user_id);
            CREATE INDEX idx_messages_conv_created ON messages(conversation_id, created_at);
            CREATE INDEX idx_summaries_conversation ON conversation_summaries(conversation_id);
        """)


@MIGRATIONS
def m002_seq_json_content_strategy_state(db: MigrationDB) -> None:
    """Messages ordered by a per-conversation ``seq`` (backfilled in created_at order, ties by id);
    content and system prompts as lossless JSON text (PostgreSQL ``json``, which keeps the text as
    written: ``jsonb`` would reorder keys and refuse ``\\u0000``); tools; message metadata;
    versioned summaries with what they cover; the ``strategy_state`` table.

    DuckDB cannot alter tables that have indexes, so there the three tables are rebuilt, and the
    keys replace the first schema's secondary indexes on messages and summaries (DuckDB scans columns
    faster than it fetches rows through an index)."""
    if db.dialect == "postgres":
        db.execute("""
            ALTER TABLE conversations ALTER COLUMN metadata DROP DEFAULT;
            ALTER TABLE conversations
                ALTER COLUMN system_prompt TYPE json USING to_json(system_prompt),
                ALTER COLUMN metadata TYPE json USING coalesce(metadata, '{}')::json,
                ADD COLUMN tools json;
            UPDATE conversations SET created_at = coalesce(created_at, NOW()),
                last_updated = coalesce(last_updated, created_at, NOW()), is_archived = coalesce(is_archived, FALSE);
            ALTER TABLE conversations
                ALTER COLUMN metadata SET DEFAULT '{}', ALTER COLUMN metadata SET NOT NULL,
                ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN last_updated SET NOT NULL,
                ALTER COLUMN is_archived SET NOT NULL;

            ALTER TABLE messages ADD COLUMN seq BIGINT, ADD COLUMN metadata json NOT NULL DEFAULT '{}';
            UPDATE messages m SET seq = r.seq
            FROM (SELECT id, row_number() OVER (PARTITION BY conversation_id ORDER BY created_at, id) - 1 AS seq
                  FROM messages) r
            WHERE m.id = r.id;
            ALTER TABLE messages ALTER COLUMN content TYPE json USING
                CASE WHEN content_blocks IS NOT NULL THEN content_blocks::json ELSE to_json(content) END;
            ALTER TABLE messages DROP COLUMN content_blocks;
            UPDATE messages SET input_tokens = coalesce(input_tokens, 0), output_tokens = coalesce(output_tokens, 0),
                created_at = coalesce(created_at, NOW())
            WHERE input_tokens IS NULL OR output_tokens IS NULL OR created_at IS NULL;
            ALTER TABLE messages
                ALTER COLUMN seq SET NOT NULL, ALTER COLUMN conversation_id SET NOT NULL,
                ALTER COLUMN role SET NOT NULL, ALTER COLUMN created_at SET NOT NULL,
                ALTER COLUMN input_tokens SET NOT NULL, ALTER COLUMN input_tokens SET DEFAULT 0,
                ALTER COLUMN output_tokens SET NOT NULL, ALTER COLUMN output_tokens SET DEFAULT 0,
                DROP CONSTRAINT messages_pkey,
                ADD PRIMARY KEY (conversation_id, id),
                ADD CONSTRAINT messages_conversation_seq UNIQUE (conversation_id, seq);
            DROP INDEX idx_messages_conv_created;

            ALTER TABLE conversation_summaries ADD COLUMN version INTEGER, ADD COLUMN covers json,
                ADD COLUMN model TEXT;
            UPDATE conversation_summaries s SET version = r.version
            FROM (SELECT id, row_number() OVER (PARTITION BY conversation_id ORDER BY created_at, id) AS version
                  FROM conversation_summaries) r
            WHERE s.id = r.id;
            UPDATE conversation_summaries SET created_at = NOW() WHERE created_at IS NULL;
            ALTER TABLE conversation_summaries
                ALTER COLUMN version SET NOT NULL, ALTER COLUMN conversation_id SET NOT NULL,
                ALTER COLUMN created_at SET NOT NULL,
                ADD CONSTRAINT conversation_summaries_version UNIQUE (conversation_id, version);
            DROP INDEX idx_summaries_conversation;

            CREATE TABLE strategy_state (
                conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                strategy TEXT NOT NULL,
                state json NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (conversation_id, strategy)
            );
        """)
    else:
        db.execute("""
            CREATE TABLE conversations_v2 (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                title TEXT,
                system_prompt TEXT NOT NULL,
                model TEXT NOT NULL DEFAULT 'claude-sonnet-4-6',
                tools TEXT,
                metadata TEXT NOT NULL DEFAULT '{}',
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                last_updated TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                is_archived BOOLEAN NOT NULL DEFAULT FALSE
            );
            INSERT INTO conversations_v2
            SELECT id, user_id, title, CAST(to_json(system_prompt) AS TEXT), model, NULL,
                   coalesce(CAST(metadata AS TEXT), '{}'), coalesce(created_at, current_timestamp),
                   coalesce(last_updated, created_at, current_timestamp), coalesce(is_archived, FALSE)
            FROM conversations;
            DROP TABLE conversations;
            ALTER TABLE conversations_v2 RENAME TO conversations;
            CREATE INDEX idx_conversations_user_id ON conversations(user_id);

            CREATE TABLE messages_v2 (
                conversation_id TEXT NOT NULL,
                id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
                content TEXT NOT NULL,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                model_used TEXT,
                metadata TEXT NOT NULL DEFAULT '{}',
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                PRIMARY KEY (conversation_id, id),
                UNIQUE (conversation_id, seq)
            );
            INSERT INTO messages_v2
            SELECT conversation_id, id,
                   row_number() OVER (PARTITION BY conversation_id ORDER BY created_at, id) - 1,
                   role,
                   CASE WHEN content_blocks IS NOT NULL THEN CAST(content_blocks AS TEXT)
                        ELSE CAST(to_json(content) AS TEXT) END,
                   coalesce(input_tokens, 0), coalesce(output_tokens, 0), model_used, '{}',
                   coalesce(created_at, current_timestamp)
            FROM messages;
            DROP TABLE messages;
            ALTER TABLE messages_v2 RENAME TO messages;

            CREATE TABLE summaries_v2 (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                version INTEGER NOT NULL,
                summary TEXT NOT NULL,
                message_count_at_creation INTEGER,
                covers TEXT,
                model TEXT,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                UNIQUE (conversation_id, version)
            );
            INSERT INTO summaries_v2
            SELECT id, conversation_id,
                   row_number() OVER (PARTITION BY conversation_id ORDER BY created_at, id),
                   summary, message_count_at_creation, NULL, NULL, coalesce(created_at, current_timestamp)
            FROM conversation_summaries;
            DROP TABLE conversation_summaries;
            ALTER TABLE summaries_v2 RENAME TO conversation_summaries;

            CREATE TABLE strategy_state (
                conversation_id TEXT NOT NULL,
                strategy TEXT NOT NULL,
                state TEXT NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (conversation_id, strategy)
            );
        """)


@MIGRATIONS
def m003_usage_ledger_and_reservations(db: MigrationDB) -> None:
    """The usage ledger (one row per billed request, kept when a conversation is deleted) and the
    budget reservations of requests in flight."""
    pg = db.dialect == "postgres"
    real, js = ("DOUBLE PRECISION", "json") if pg else ("DOUBLE", "TEXT")
    # the same tables on both; the ledger and reservation indexes exist on PostgreSQL only (as shipped)
    usage_indexes = """
            CREATE INDEX idx_usage_events_user_created ON usage_events(user_id, created_at);
            CREATE INDEX idx_usage_events_conversation ON usage_events(conversation_id);""" if pg else ""
    reservation_index = """
            CREATE INDEX idx_budget_reservations_user_created ON budget_reservations(user_id, created_at);""" \
        if pg else ""
    db.execute(f"""
            CREATE TABLE usage_events (
                request_id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                conversation_id TEXT,
                model TEXT NOT NULL,
                kind TEXT NOT NULL DEFAULT 'reply',
                response_id TEXT,
                input_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
                cache_read_input_tokens BIGINT NOT NULL DEFAULT 0,
                cache_creation_5m_tokens BIGINT NOT NULL DEFAULT 0,
                cache_creation_1h_tokens BIGINT NOT NULL DEFAULT 0,
                cost_usd {real} NOT NULL DEFAULT 0,
                price_date DATE,
                created_at TIMESTAMPTZ NOT NULL
            );{usage_indexes}
            CREATE TABLE budget_reservations (
                request_id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                conversation_id TEXT,
                message_id TEXT,
                model TEXT,
                amount_usd {real} NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                metadata {js} NOT NULL DEFAULT '{{}}'
            );{reservation_index}
        """)


@MIGRATIONS
def m004_rejected_messages_and_unconfirmed_usage(db: MigrationDB) -> None:
    """``messages.rejected``: the API's reason when it refused the request carrying a user message
    for good (a 400); such a message is kept and never sent again. ``usage_events.confirmed``:
    false for a request booked at its reserved worst case because its outcome is unknown (a crash
    or a lost connection after it may have been billed). The same statements in both dialects."""
    db.execute("""
            ALTER TABLE messages ADD COLUMN rejected TEXT;
            ALTER TABLE usage_events ADD COLUMN confirmed BOOLEAN NOT NULL DEFAULT TRUE;
        """)


def vector_table_sql(dialect: str, dim: int) -> str:
    """``message_vectors_<dim>``: one row per passage of a message, by one embedder (see m005).
    Also used for a dimension first saved later (``convolab.stores.vectors``): keep it as shipped."""
    if dialect == "postgres":
        column = f"vector REAL[] NOT NULL CHECK (cardinality(vector) = {dim})"
        conversation = "conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE"
    else:
        column, conversation = f"vector FLOAT[{dim}] NOT NULL", "conversation_id TEXT NOT NULL"
    return f"""
            CREATE TABLE IF NOT EXISTS message_vectors_{dim} (
                {conversation},
                embedder TEXT NOT NULL,
                message_id TEXT NOT NULL,
                passage INTEGER NOT NULL,
                content_hash TEXT NOT NULL,
                {column},
                created_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (conversation_id, embedder, message_id, passage)
            )"""


@MIGRATIONS
def m005_message_vectors(db: MigrationDB) -> None:
    """Message vectors for semantic retrieval: ``embedders`` names each embedder and its
    dimension; ``message_vectors_256`` holds the vectors of the default embedder's size (one
    table per dimension, so that DuckDB's column is a fixed-size ``FLOAT[256]`` array that
    ``array_cosine_similarity`` ranks; PostgreSQL keeps a ``REAL[]`` of checked length). A
    table for another dimension is created by the same statement when first used."""
    db.execute("""
            CREATE TABLE embedders (
                name TEXT PRIMARY KEY,
                dim INTEGER NOT NULL,
                created_at TIMESTAMPTZ NOT NULL
            )""")
    db.execute(vector_table_sql(db.dialect, 256))
