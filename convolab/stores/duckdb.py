"""``DuckDBStore``: the embedded default, one database file (or ``":memory:"``) per process.

A DuckDB file can be open in one process at a time (even read-only); opening one held by
another process raises ``StoreLocked``. Within a process every store on the same file shares
one lock, so threads (and ``asyncio.to_thread``) may share a store or open several. A file
that is not a convolab store (another program's DuckDB database, a SQLite file, garbage, an
empty file), a damaged one, a folder, or one on a read-only disk raises ``StoreUnreadable``
naming it and what to do, and is left as it was. Store connections never install or load a
DuckDB extension by themselves (``CONFIG``), so no file makes them reach for the network; a
second connection to the same file in this process must use the same settings
(``duckdb.connect(path, config=CONFIG)``), or use ``store.sql``.

DuckDB is built for scans: it answers point lookups slower than a row store and writes each
statement with a fixed cost. So the store keeps, per conversation, its owner, next ``seq`` and
its newest messages in memory (written through after each commit; correct because this
process is the file's only writer), appends a message with one statement, and writes a
conversation's ``last_updated`` lazily: before any read of conversations, on ``sql()`` and on
``close()``. After a hard kill ``last_updated`` may lag; messages are never lost.

Reading one conversation costs DuckDB a scan of every block of rows (row group, 122,880 rows)
that may hold it. Messages written turn by turn interleave conversations, so ``compact()``
rewrites the table in conversation order, and ``close()`` does it by itself once enough
messages arrived since the last time: a conversation's first read then scans one row group.
Messages are read with ``created_at`` as epoch microseconds (DuckDB's conversion of TIMESTAMPTZ
to Python datetimes costs ~10 us a value). Measured against SQLite in ``docs/results.md``.

``store.sql("SELECT ...", params=[...])`` returns a DuckDB relation (``.pl()`` gives polars) for
notebooks; a statement that writes clears the caches.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import duckdb

from convolab.errors import NotFound
from convolab.model import Message
from convolab.stores._duckdb_file import (
    CONFIG,
    check_ours,
    compact_messages,
    configure,
    connect,
    make_parent,
    unordered,
    unreadable,
)
from convolab.stores.base import SCHEMA_VERSION_TABLE, Reservation, UsageEvent
from convolab.stores.migrations import MIGRATIONS
from convolab.stores.sql import MSG_COLS, SQLStore, Tx, check_count, findable, message_dict
from convolab.stores.vectors import VectorRows

T = TypeVar("T")

__all__ = ["COMPACT_MIN_ROWS", "COMPACT_SHARE", "CONFIG", "DuckDBMigrationDB", "DuckDBStore"]


class DuckDBMigrationDB:
    """A DuckDB connection as ``migrations.MigrationDB``."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def lock(self) -> None:
        """Nothing to do: a DuckDB file is open in one process at a time."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()


# -- what the stores of one database share in this process ---------------------------------------

TAIL = 64  # newest messages kept per conversation
TAIL_ENTRY_BYTES = 4 << 20  # a conversation whose tail is bigger is not kept
TAIL_TOTAL_BYTES = 64 << 20
MAX_CONVERSATIONS = 4096

log = logging.getLogger("convolab")

#: ``close()`` compacts (``DuckDBStore.compact``) once at least this many messages, and this
#: share of them, were written since the last compaction (one DuckDB row group: below that a
#: read touches one block anyway).
COMPACT_MIN_ROWS = 122_880
COMPACT_SHARE = 0.1


# -- reading messages fast -------------------------------------------------------------------------

#: ``MSG_COLS`` as this store reads them: ``created_at`` as microseconds since the epoch. DuckDB
#: takes ~10 us to turn a TIMESTAMPTZ into a Python datetime; ``_timed`` takes well under 1 us.
_COLS = MSG_COLS.split(", ")
_AT = _COLS.index("created_at")
_MSG_READ = ", ".join("epoch_us(created_at)" if c == "created_at" else c for c in _COLS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:_AT], _EPOCH + timedelta(microseconds=row[_AT]), *row[_AT + 1:])


def _size(row: tuple[Any, ...]) -> int:
    return len(row[3]) + len(row[7])  # content and metadata, the parts that can be large


@dataclass
class _Conv:
    user_id: str
    next_seq: int | None = None
    tail: list[tuple[Any, ...]] | None = None  # the newest messages, contiguous up to next_seq - 1
    complete: bool = False  # tail holds every message of the conversation
    nbytes: int = 0


class _Shared:
    """The lock and caches of every store open on one database in this process."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.convs: OrderedDict[str, _Conv] = OrderedDict()
        self.pending: dict[str, datetime] = {}  # last_updated values not yet written
        self.tail_bytes = 0
        self.stores = 0

    def get(self, cid: str) -> _Conv | None:
        entry = self.convs.get(cid)
        if entry is not None:
            self.convs.move_to_end(cid)
        return entry

    def put(self, cid: str, entry: _Conv) -> _Conv:
        self.drop([cid])
        self.convs[cid] = entry
        while len(self.convs) > MAX_CONVERSATIONS:
            self.drop([next(iter(self.convs))])
        return entry

    def drop(self, cids: Any) -> None:
        for cid in cids:
            entry = self.convs.pop(cid, None)
            if entry is not None:
                self.tail_bytes -= entry.nbytes

    def forget(self) -> None:
        self.convs.clear()
        self.tail_bytes = 0

    def set_tail(self, entry: _Conv, rows: list[tuple[Any, ...]] | None, complete: bool,
                 nbytes: int | None = None) -> None:
        if nbytes is None:
            nbytes = sum(_size(r) for r in rows) if rows is not None else 0
        self.tail_bytes -= entry.nbytes
        if rows is None or nbytes > TAIL_ENTRY_BYTES:
            entry.tail, entry.complete, entry.nbytes = None, False, 0
            return
        entry.tail, entry.complete, entry.nbytes = rows, complete, nbytes
        self.tail_bytes += nbytes
        for other in list(self.convs.values()):
            if self.tail_bytes <= TAIL_TOTAL_BYTES:
                break
            if other is not entry and other.tail is not None:
                self.set_tail(other, None, False)

    def committed(self, cid: str, next_seq: int, rows: list[tuple[Any, ...]]) -> None:
        newest = max(r[8] for r in rows)
        if cid not in self.pending or self.pending[cid] < newest:
            self.pending[cid] = newest
        entry = self.get(cid)
        if entry is None:
            return
        if entry.tail is not None and (not entry.tail or entry.tail[-1][1] + 1 == rows[0][1]):
            tail, nbytes = entry.tail + rows, entry.nbytes + sum(_size(r) for r in rows)
            if len(tail) <= TAIL:
                self.set_tail(entry, tail, entry.complete, nbytes)
            else:  # the oldest leave the tail
                self.set_tail(entry, tail[-TAIL:], False, nbytes - sum(_size(r) for r in tail[:-TAIL]))
        else:
            self.set_tail(entry, None, False)
        entry.next_seq = next_seq


_REGISTRY: dict[str, _Shared] = {}
_REGISTRY_LOCK = threading.Lock()


def _acquire(key: str | None) -> _Shared:
    if key is None:  # ":memory:": a database of its own
        shared = _Shared()
    else:
        with _REGISTRY_LOCK:
            shared = _REGISTRY.setdefault(key, _Shared())
    shared.stores += 1
    return shared


def _release(key: str | None, shared: _Shared) -> None:
    with _REGISTRY_LOCK:
        shared.stores -= 1
        if key is not None and shared.stores <= 0 and _REGISTRY.get(key) is shared:
            del _REGISTRY[key]


class _Tx:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.next: dict[str, int] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))


def _flush(con: duckdb.DuckDBPyConnection, shared: _Shared) -> None:
    if shared.pending:
        ids, times = list(shared.pending), list(shared.pending.values())
        con.execute("UPDATE conversations SET last_updated = v.t FROM (SELECT unnest(?::TEXT[]) AS id, "
                    "unnest(?::TIMESTAMPTZ[]) AS t) v WHERE conversations.id = v.id AND conversations.last_updated < v.t",
                    [ids, times])
        shared.pending.clear()


def _close(con: duckdb.DuckDBPyConnection, shared: _Shared, key: str | None) -> None:
    with shared.lock:
        try:
            _flush(con, shared)
        finally:
            con.close()
            _release(key, shared)


class DuckDBStore(VectorRows, SQLStore):
    """Conversations, messages, summaries, strategy state and the usage ledger in DuckDB.

    ``path`` is a file (created with its folder when missing) or ``":memory:"``;
    ``compact_on_close=False`` leaves the rows in the order they were written (see ``compact``).

    >>> with DuckDBStore() as store:
    ...     cid = store.create_conversation("ada", "You are terse.")
    ...     _ = store.append_message(cid, "user", "Hi!", user_id="ada")
    ...     [m["content"] for m in store.get_recent_messages(cid, user_id="ada")]
    ['Hi!']
    """

    dialect = "duckdb"

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, compact_on_close: bool = True):
        path = os.fspath(path)
        self._compact_on_close = compact_on_close
        memory = path == ":memory:" or path.startswith(":memory:")
        if not memory:
            path = os.path.abspath(os.path.expanduser(path))
            make_parent(path)
        self.path = path
        self._key = None if memory else os.path.realpath(path)  # one file, one key, whatever the path
        con = connect(path, self._key)
        self._shared = _acquire(self._key)
        self._con = con
        self._finalizer = weakref.finalize(self, _close, con, self._shared, self._key)
        try:
            with self._shared.lock:
                configure(con)
                check_ours(con, path)
                MIGRATIONS.apply(DuckDBMigrationDB(con))
        except duckdb.Error as e:
            self._finalizer()
            raise unreadable(path, e) from None
        except BaseException:
            self._finalizer()
            raise

    def __repr__(self) -> str:
        return f"DuckDBStore({self.path!r})"

    # -- hooks -----------------------------------------------------------------------------
    @contextmanager
    def _tx(self, *, single_write: bool = False) -> Iterator[_Tx]:
        with self._shared.lock:
            self._check_open()
            tx = _Tx(self._con)
            if not single_write:
                self._con.begin()
            try:
                yield tx
                if not single_write:
                    self._con.commit()
            except BaseException:
                if not single_write:
                    with contextlib.suppress(duckdb.TransactionException):  # it may have ended already
                        self._con.rollback()
                self._shared.drop(tx.next)
                raise
            for cid, rows in tx.rows.items():
                self._shared.committed(cid, tx.next[cid], rows)

    @contextmanager
    def _read(self) -> Iterator[_Tx]:
        with self._shared.lock:
            self._check_open()
            yield _Tx(self._con)

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError(f"{self!r} is closed")

    def _own(self, tx: _Tx, conversation_id: str, user_id: str, *, lock: bool = False) -> _Conv:
        if not (findable(conversation_id) and findable(user_id)):
            raise NotFound("conversation", str(conversation_id))
        entry = self._shared.get(conversation_id)
        if entry is None:
            row = tx.one("SELECT user_id FROM conversations WHERE id = ?", [conversation_id])
            if row is None:
                raise NotFound("conversation", conversation_id)
            entry = self._shared.put(conversation_id, _Conv(row[0]))
        if entry.user_id != user_id:
            raise NotFound("conversation", conversation_id)
        return entry

    def _created(self, tx: _Tx, conversation_id: str, user_id: str) -> None:
        self._shared.put(conversation_id, _Conv(user_id, next_seq=0, tail=[], complete=True))

    def _next_seq(self, tx: _Tx, conversation_id: str) -> int:
        seq = tx.next.get(conversation_id)
        if seq is None:
            entry = self._shared.get(conversation_id)
            seq = entry.next_seq if entry is not None and entry.next_seq is not None else \
                super()._next_seq(tx, conversation_id)
        tx.next[conversation_id] = seq + 1
        return seq

    def _message_rows(self, tx: Tx, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return [_timed(r) for r in tx.all(f"SELECT {_MSG_READ} FROM messages WHERE {where}", params)]

    def _appended(self, tx: _Tx, conversation_id: str, row: tuple[Any, ...]) -> None:
        tx.rows.setdefault(conversation_id, []).append(row)

    def _sync(self, tx: _Tx) -> None:
        _flush(self._con, self._shared)

    def _retry(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # a constraint error on a write means the caches were stale (someone wrote through
        # another connection): they are dropped by _tx, and the write is tried once more
        try:
            return fn(*args, **kwargs)
        except duckdb.ConstraintException:
            with self._shared.lock:
                self._shared.forget()
            return fn(*args, **kwargs)

    # -- operations with a DuckDB-specific path ----------------------------------------------
    def append_message(self, conversation_id: str, role: str, content: Any, *, user_id: str,
                       message_id: str | None = None, input_tokens: int = 0, output_tokens: int = 0,
                       model_used: str | None = None, metadata: dict[str, Any] | None = None,
                       created_at: datetime | None = None) -> dict[str, Any]:
        return self._retry(super().append_message, conversation_id, role, content, user_id=user_id,
                           message_id=message_id, input_tokens=input_tokens, output_tokens=output_tokens,
                           model_used=model_used, metadata=metadata, created_at=created_at)

    def begin_turn(self, conversation_id: str, messages: list[Message], *, user_id: str,
                   reservation: Reservation | None = None, daily_limit_usd: float | None = None,
                   day_start: datetime | None = None) -> None:
        return self._retry(super().begin_turn, conversation_id, messages, user_id=user_id, reservation=reservation,
                           daily_limit_usd=daily_limit_usd, day_start=day_start)

    def finish_turn(self, conversation_id: str, messages: list[Message], *, user_id: str,
                    usage: Sequence[UsageEvent] = (), strategy: str | None = None,
                    strategy_state: dict[str, Any] | None = None, release: str | None = None) -> None:
        return self._retry(super().finish_turn, conversation_id, messages, user_id=user_id, usage=usage,
                           strategy=strategy, strategy_state=strategy_state, release=release)

    def reject_messages(self, conversation_id: str, message_ids: Sequence[str], reason: str, *, user_id: str,
                        release: str | None = None) -> None:
        super().reject_messages(conversation_id, message_ids, reason, user_id=user_id, release=release)
        with self._shared.lock:  # the cached rows still say "not rejected"
            self._shared.drop([conversation_id])

    def get_recent_messages(self, conversation_id: str, limit: int = 20, *, user_id: str) -> list[dict[str, Any]]:
        """The last ``limit`` messages, oldest first (from memory when this process wrote or read them)."""
        check_count(limit, "limit")
        with self._read() as tx:
            entry = self._own(tx, conversation_id, user_id)
            if entry.tail is None or (len(entry.tail) < limit and not entry.complete):
                want = max(limit, TAIL)
                rows = self._message_rows(tx, "conversation_id = ? ORDER BY seq DESC LIMIT ?", [conversation_id, want])[::-1]
                self._shared.set_tail(entry, rows[-TAIL:], len(rows) < want and len(rows) <= TAIL)
                entry.next_seq = rows[-1][1] + 1 if rows else 0
            else:
                rows = entry.tail
            rows = rows[len(rows) - min(limit, len(rows)):]
        return [message_dict(r) for r in rows]

    def load_conversation(self, conversation_id: str, *, user_id: str):
        conv = super().load_conversation(conversation_id, user_id=user_id)
        with self._shared.lock:
            entry = self._shared.get(conversation_id)
            if entry is not None and conv.messages:
                entry.next_seq = max(entry.next_seq or 0, conv.messages[-1].seq + 1)
        return conv

    # -- notebooks and housekeeping ----------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run ``query`` on the database; a DuckDB relation (``.pl()`` for polars, ``.df()`` for pandas).

        >>> with DuckDBStore() as store:
        ...     store.sql("SELECT count(*) AS n FROM messages").fetchall()
        [(0,)]
        """
        reads = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
        writes = any(s.type not in reads for s in duckdb.extract_statements(query))
        with self._shared.lock:
            self._check_open()
            _flush(self._con, self._shared)
            cursor = self._con.cursor()
            configure(cursor)
            try:
                return cursor.sql(query, params=params)
            finally:
                if writes:
                    self._shared.forget()

    def schema_version(self) -> int:
        with self._read() as tx:
            return int(tx.one(f"SELECT count(*) FROM {SCHEMA_VERSION_TABLE}")[0])

    def compact(self) -> int:
        """Rewrite the messages in conversation order (one transaction); returns how many.

        DuckDB stores rows in the order they were written and skips a block of rows (a row
        group) only when its minimum and maximum rule a conversation out. Conversations written
        turn by turn interleave, so reading one touches every block; after compacting, one.
        ``close()`` compacts by itself once enough messages were written since the last time
        (``COMPACT_MIN_ROWS`` and ``COMPACT_SHARE``); reads are correct either way. It takes
        seconds per million messages and holds the store meanwhile.
        """
        with self._shared.lock:
            self._check_open()
            _flush(self._con, self._shared)
            return compact_messages(self._con)

    def close(self) -> None:
        """Write what is pending, compact if due (see ``compact``) and close the connection
        (a second call does nothing)."""
        if self._compact_on_close and self._key is not None and self._finalizer.alive:
            with self._shared.lock:
                try:
                    total, new = unordered(self._con)
                    if new >= max(COMPACT_MIN_ROWS, COMPACT_SHARE * total):
                        log.info("convolab: compacting %s (%d of %d messages not in conversation order)",
                                 self.path, new, total)
                        compact_messages(self._con)
                except duckdb.Error as e:  # the data is safe either way; reads are only slower
                    log.warning("convolab: could not compact %s (%s); closing without it", self.path, e)
        self._finalizer()
