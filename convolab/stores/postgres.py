"""``PostgresStore``: the same store on PostgreSQL, for teams and services with several processes.

Needs psycopg 3 and psycopg-pool (``pip install 'convolab[postgres]'``); connections come from a
``psycopg_pool.ConnectionPool``. Opening a store applies the missing migrations, each under a
transaction-level advisory lock, so several processes may start at once. Concurrent appends to
one conversation take turns on the conversation's row (``SELECT ... FOR UPDATE``), so ``seq``
never collides; budget checks of one user take turns on a transaction-level advisory lock, so
racing requests never together pass the daily limit. Content is stored in ``json`` columns,
which keep the text exactly as written (``jsonb`` would reorder keys and reject ``\\u0000``).
How to point convolab at your own server: ``docs/postgres.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from convolab.errors import ConfigurationError
from convolab.stores.base import SCHEMA_VERSION_TABLE
from convolab.stores.migrations import MIGRATIONS
from convolab.stores.sql import SQLStore
from convolab.stores.vectors import VectorRows

LOCK_CLASS_BUDGET = 1131176290  # advisory lock keys: (class, hashtext(user_id)) and (class, 0)
LOCK_CLASS_MIGRATE = 1131176291


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _import_psycopg() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as e:
        raise ConfigurationError(
            f"PostgresStore needs psycopg 3 and psycopg-pool ({e.name} is not installed): "
            "pip install 'convolab[postgres]'") from None
    return psycopg, psycopg_pool


def _configure(conn: Any) -> None:
    """Every pooled connection: json read as text (decoded by the store), timestamps in UTC."""
    from psycopg.types.string import TextLoader

    conn.adapters.register_loader("json", TextLoader)
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


def _describe(psycopg: Any, dsn: str) -> str:
    """The DSN without its password, for error messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the given DSN"
    return " ".join(f"{k}={info[k]}" for k in ("host", "port", "dbname", "user") if info.get(k)) or "the default server"


class PostgresMigrationDB:
    """A psycopg connection (autocommit) as ``migrations.MigrationDB``."""

    dialect = "postgres"

    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._cursor(sql, params).fetchall()

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        # without parameters psycopg sends the text as is: scripts of several statements work
        return self.conn.execute(_pg(sql), list(params)) if params else self.conn.execute(sql)

    def lock(self) -> None:
        self.conn.execute(f"SELECT pg_advisory_xact_lock({LOCK_CLASS_MIGRATE}, 0)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield


class _Tx:
    def __init__(self, conn: Any):
        self.conn = conn

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(_pg(sql), list(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(_pg(sql), list(params)).fetchone()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(_pg(sql), list(params))


class PostgresStore(VectorRows, SQLStore):
    """Conversations, messages, summaries, strategy state and the usage ledger in PostgreSQL.

    ``dsn`` is a libpq connection string or URI (``postgresql://user:pass@host:5432/db``); the
    pool holds ``min_size`` to ``max_size`` connections and waits up to ``timeout`` seconds for one.
    ``connect_kwargs`` go to every ``psycopg.connect`` (e.g. ``{"prepare_threshold": None}``
    behind PgBouncer's transaction pooling).
    """

    dialect = "postgres"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 30.0,
                 connect_kwargs: dict[str, Any] | None = None):
        psycopg, psycopg_pool = _import_psycopg()
        self.dsn = dsn
        self._connect_kwargs = dict(connect_kwargs or {})
        where = _describe(psycopg, dsn)
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(timeout)),
                                 **self._connect_kwargs) as conn:
                MIGRATIONS.apply(PostgresMigrationDB(conn))
        except psycopg.OperationalError as e:
            raise ConfigurationError(
                f"cannot connect to PostgreSQL ({where}): {str(e).strip()}. Check the DSN, that the server runs "
                "and accepts this user (see docs/postgres.md).") from e
        except psycopg.errors.InsufficientPrivilege as e:
            raise ConfigurationError(
                f"PostgreSQL ({where}) refused to create convolab's tables: {str(e).strip()}. The user needs "
                "CREATE on the schema (see docs/postgres.md).") from e
        self._pool = psycopg_pool.ConnectionPool(dsn, min_size=min_size, max_size=max_size, timeout=timeout,
                                                 kwargs=self._connect_kwargs, configure=_configure, open=True,
                                                 name="convolab")

    def __repr__(self) -> str:
        psycopg, _ = _import_psycopg()
        return f"PostgresStore({_describe(psycopg, self.dsn)!r})"

    @contextmanager
    def _tx(self, *, single_write: bool = False) -> Iterator[_Tx]:
        with self._pool.connection() as conn, conn.transaction():
            yield _Tx(conn)

    def _lock_user(self, tx: _Tx, user_id: str) -> None:
        tx.run(f"SELECT pg_advisory_xact_lock({LOCK_CLASS_BUDGET}, hashtext(?))", [user_id])

    def schema_version(self) -> int:
        with self._tx() as tx:
            return int(tx.one(f"SELECT count(*) FROM {SCHEMA_VERSION_TABLE}")[0])

    def close(self) -> None:
        """Close the pool (a second call does nothing)."""
        self._pool.close()
