"""A DuckDB file as a convolab store: opening it (or saying in words why not) and the order of
its message rows on disk. Used by ``convolab.stores.duckdb``; nothing here is public."""

from __future__ import annotations

import contextlib
import os
import re

import duckdb

from convolab.errors import StoreLocked, StoreUnreadable
from convolab.stores.base import SCHEMA_VERSION_TABLE

# -- opening a file -------------------------------------------------------------------------------

#: Settings of every store connection: DuckDB never installs or loads an extension by itself, so
#: opening a foreign file (a SQLite database named x.duckdb) never reaches for the network.
CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_ELSEWHERE = "pass another path (--db or CONVOLAB_DB on the command line), or a new path to start an empty store"


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """The settings of one connection: timestamps in UTC, no progress bar printed by long queries."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


def make_parent(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as e:
        raise StoreUnreadable(f"cannot create the folder of DuckDB database {path}: {e.strerror}. "
                              f"{_ELSEWHERE}.") from None


def connect(path: str, key: str | None) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(key or path, config=CONFIG)
    except duckdb.Error as e:
        if "Could not set lock" not in str(e):
            raise unreadable(path, e) from None
        detail = str(e).split("Conflicting lock is held in", 1)[-1].split(". See also")[0].strip()
        raise StoreLocked(
            f"DuckDB database {path} is locked by another process ({detail}). A DuckDB file can be open "
            "in one process at a time, even read-only: close the other process (a notebook kernel or "
            "another convolab run) and try again, or use PostgresStore when several processes must share "
            "conversations (see docs/postgres.md).") from None


def unreadable(path: str, error: duckdb.Error) -> StoreUnreadable:
    """``StoreUnreadable`` for a file DuckDB could not open, saying why in words and what to do."""
    text = str(error)
    if os.path.isdir(path):
        why = f"is a folder, not a database file: pass a file path such as {os.path.join(path, 'convolab.duckdb')}"
    elif "Read-only file system" in text or "Permission denied" in text:
        reason = "is on a read-only file system" if "Read-only" in text else "may not be written by this user"
        why = (f"{reason}, and a store writes every message: copy it to a writable folder and open the copy, "
               f"or {_ELSEWHERE}")
    elif _header(path).startswith(b"SQLite format 3"):
        why = f"is a SQLite database, not a DuckDB one: {_ELSEWHERE}"
    elif "not a valid DuckDB database" in text:
        what = "is empty (0 bytes)" if _size_of(path) == 0 else "is not a DuckDB database"
        why = f"{what}: {_ELSEWHERE} (convolab never overwrites a file it did not make)"
    else:
        detail = text.split("Error: ", 1)[-1].strip()
        damaged = any(w in text for w in ("Corrupt", "checksum", "Could not read enough bytes", "Serialization"))
        what = "is damaged (truncated or corrupt; DuckDB says" if damaged else "cannot be read (DuckDB says"
        why = f"{what}: {detail}): restore it from a backup, or {_ELSEWHERE}"
    return StoreUnreadable(f"cannot open DuckDB database {path} as a convolab store: it {why}.")


def _header(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except OSError:
        return b""


def _size_of(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def check_ours(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A DuckDB file with tables but no ``convolab_schema`` belongs to something else: leave it alone."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "ORDER BY table_name").fetchall()]
    if tables and SCHEMA_VERSION_TABLE not in tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreUnreadable(f"cannot open DuckDB database {path} as a convolab store: it is a DuckDB database "
                              f"of something else (tables {shown}; no {SCHEMA_VERSION_TABLE} table), and convolab "
                              f"leaves it as it is: {_ELSEWHERE}.")


# -- the order of rows on disk -------------------------------------------------------------------

_LAYOUT = "convolab: the first {} rows are in conversation order"
_MAIN = "database_name = current_database() AND schema_name = 'main' AND table_name = 'messages'"


def unordered(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """``(rows, rows written since the last compaction)`` of ``messages``."""
    total = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    comment = con.execute(f"SELECT comment FROM duckdb_tables() WHERE {_MAIN}").fetchone()[0] or ""
    ordered = re.search(r"the first (\d+) rows", comment)
    return total, max(0, total - (int(ordered[1]) if ordered else 0))


def compact_messages(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrite ``messages`` ordered by conversation and ``seq``, in one transaction; its rows."""
    ddl = con.execute(f"SELECT sql FROM duckdb_tables() WHERE {_MAIN}").fetchone()[0]
    indexes = [r[0] for r in con.execute(f"SELECT sql FROM duckdb_indexes() WHERE {_MAIN} AND sql IS NOT NULL")
               .fetchall()]
    create, found = re.subn(r"^CREATE TABLE messages\s*\(", "CREATE TABLE messages_compacting(", ddl)
    if not found:
        raise RuntimeError(f"cannot compact: unexpected definition of the messages table: {ddl[:80]!r}")
    con.begin()
    try:
        con.execute(create)
        con.execute("INSERT INTO messages_compacting SELECT * FROM messages ORDER BY conversation_id, seq")
        rows = con.execute("SELECT count(*) FROM messages_compacting").fetchone()[0]
        con.execute("DROP TABLE messages")
        con.execute("ALTER TABLE messages_compacting RENAME TO messages")
        for sql in indexes:
            con.execute(sql)
        con.execute(f"COMMENT ON TABLE messages IS '{_LAYOUT.format(rows)}'")
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):
            con.rollback()
        raise
    con.execute("CHECKPOINT")
    return rows
