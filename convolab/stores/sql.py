"""What both stores share: JSON encoding, checks, row conversions, and the store logic itself.

``SQLStore`` implements the whole ``Store`` protocol over a handful of hooks that a backend
fills in: how to open a transaction (``_tx``), how to check and lock a conversation
(``_own``), where the next ``seq`` comes from (``_next_seq``), what to do after a message is
written (``_appended``) and how to serialize one user's budget checks (``_lock_user``). SQL is
written once, with ``?`` placeholders; the PostgreSQL backend turns them into ``%s``.

Everything that can hold content (message content, system prompt, tools, metadata, covers,
strategy state) is stored as JSON *text*, written by ``dumps``: key order, ``cache_control``,
NUL characters (``\\u0000``) and emoji come back exactly. Ids, names, titles and summaries are
plain text and must not contain NUL, which PostgreSQL cannot store in text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from convolab.errors import BudgetExceeded, InvalidConversation, NotFound
from convolab.model import (
    DEFAULT_MODEL,
    Conversation,
    Message,
    as_role,
    new_id,
    normalize_content,
    utcnow,
)
from convolab.stores.base import ConversationRecord, Reservation, UsageEvent

CONV_COLS = "id, user_id, title, system_prompt, model, tools, metadata, created_at, last_updated, is_archived"
MSG_COLS = "id, seq, role, content, input_tokens, output_tokens, model_used, metadata, created_at, rejected"
USAGE_COLS = ("request_id, user_id, conversation_id, model, kind, response_id, input_tokens, output_tokens, "
              "cache_creation_input_tokens, cache_read_input_tokens, cache_creation_5m_tokens, "
              "cache_creation_1h_tokens, cost_usd, price_date, created_at, confirmed")
RESERVATION_COLS = "request_id, user_id, conversation_id, message_id, model, amount_usd, created_at, metadata"
COST_TOLERANCE_USD = 1e-9  # sums of float costs may be off by an ulp; never refuse a request for that


# -- JSON and values ---------------------------------------------------------------------------

def dumps(value: Any, what: str = "value") -> str:
    """JSON text of ``value``, keys in their order; NaN, infinities and non-JSON types raise."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidConversation(f"{what} cannot be stored as JSON: {e}. Use only str, int, float, bool, "
                                  "None, lists and dicts with string keys.") from None
    return check_unicode(text, what)


def check_unicode(text: str, what: str) -> str:
    """``text`` if it encodes as UTF-8; a lone surrogate (half of a UTF-16 pair) raises in words."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidConversation(
            f"{what} holds a lone surrogate {text[e.start]!r} (after {text[max(0, e.start - 20):e.start]!r}), which is not valid "
            "Unicode and cannot be stored: it usually comes from text decoded with errors='surrogateescape' "
            "or cut in the middle of an emoji; fix or remove it first") from None
    return text


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidConversation(f"expected a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_id(value: Any, what: str) -> str:
    """An id or name to write: a non-empty string without NUL."""
    if not isinstance(value, str) or not value:
        raise InvalidConversation(f"{what} must be a non-empty string, got {value!r:.80}")
    if "\x00" in value:
        raise InvalidConversation(f"{what} must not contain NUL characters (\\x00): {value!r:.80}")
    return check_unicode(value, what)


def check_text(value: Any, what: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidConversation(f"{what} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidConversation(f"{what} must not contain NUL characters (\\x00), which PostgreSQL "
                                  "cannot store in text; remove them first")
    return check_unicode(value, what)


def findable(value: Any) -> bool:
    """Whether an id passed to a read can name a stored record (ids never hold NUL or lone surrogates)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return False
    try:
        return value.isascii() or bool(value.encode("utf-8"))
    except UnicodeEncodeError:
        return False


def check_count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidConversation(f"{what} must be a non-negative integer, got {value!r}")
    return value


def check_usd(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidConversation(f"{what} must be a non-negative finite number of USD, got {value!r}")
    return float(value)


def check_json_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidConversation(f"{what} must be a dict, got {type(value).__name__}")
    return dict(value)


def day_window(day_start: datetime | None) -> tuple[datetime, datetime]:
    start = as_utc(day_start) if day_start is not None else utcnow().replace(hour=0, minute=0, second=0,
                                                                          microsecond=0)
    return start, start + timedelta(days=1)


# -- rows --------------------------------------------------------------------------------------

def message_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A ``messages`` row (``MSG_COLS``) as the store's message dict."""
    mid, seq, role, content, in_tok, out_tok, model_used, metadata, created_at, rejected = row
    return {"id": mid, "seq": seq, "role": role, "content": loads(content), "input_tokens": in_tok or 0,
            "output_tokens": out_tok or 0, "model_used": model_used, "metadata": loads(metadata) or {},
            "created_at": as_utc(created_at), "rejected": rejected}


def message_obj(row: Sequence[Any]) -> Message:
    d = message_dict(row)
    return Message(role=d["role"], content=d["content"], id=d["id"], seq=d["seq"], created_at=d["created_at"],
                   input_tokens=d["input_tokens"], output_tokens=d["output_tokens"], metadata=d["metadata"],
                   rejected=d["rejected"])


def conversation_record(row: Sequence[Any], message_count: int | None = None) -> ConversationRecord:
    cid, user_id, title, system, model, tools, metadata, created_at, last_updated, archived = row[:10]
    count = row[10] if message_count is None and len(row) > 10 else message_count
    return ConversationRecord(id=cid, user_id=user_id, title=title, system_prompt=loads(system), model=model,
                              tools=loads(tools), metadata=loads(metadata) or {}, created_at=as_utc(created_at),
                              last_updated=as_utc(last_updated), is_archived=bool(archived),
                              message_count=int(count or 0))


def usage_event(row: Sequence[Any]) -> UsageEvent:
    (rid, user_id, cid, model, kind, response_id, i, o, cw, cr, c5, c1, cost, price_date, created_at, confirmed) = row
    if isinstance(price_date, datetime):
        price_date = price_date.date()
    return UsageEvent(request_id=rid, user_id=user_id, conversation_id=cid, model=model, kind=kind,
                      response_id=response_id, input_tokens=i, output_tokens=o, cache_creation_input_tokens=cw,
                      cache_read_input_tokens=cr, cache_creation_5m_tokens=c5, cache_creation_1h_tokens=c1,
                      cost_usd=float(cost), price_date=price_date, created_at=as_utc(created_at),
                      confirmed=bool(confirmed))


def reservation(row: Sequence[Any]) -> Reservation:
    rid, user_id, cid, mid, model, amount, created_at, metadata = row
    return Reservation(request_id=rid, user_id=user_id, amount_usd=float(amount), conversation_id=cid,
                       message_id=mid, model=model, created_at=as_utc(created_at), metadata=loads(metadata) or {})


def as_message(m: Message | Mapping[str, Any]) -> Message:
    if isinstance(m, Message):
        return m
    if isinstance(m, Mapping):
        return Message(**dict(m))
    raise InvalidConversation(f"expected a Message or a message dict, got {type(m).__name__}")


# -- the store ---------------------------------------------------------------------------------

class Tx(Protocol):
    """One connection inside (or, for a single write, outside) a transaction."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> None: ...


class SQLStore:
    """The ``Store`` protocol over SQL; backends subclass it and fill in the hooks below."""

    # -- hooks -----------------------------------------------------------------------------
    def _tx(self, *, single_write: bool = False) -> AbstractContextManager[Tx]:
        """A transaction; ``single_write`` promises at most one writing statement (may autocommit)."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Tx]:
        return self._tx()

    def _own(self, tx: Tx, conversation_id: str, user_id: str, *, lock: bool = False) -> None:
        """Raise ``NotFound`` unless the conversation exists and is the user's; ``lock`` it for writing."""
        if not (findable(conversation_id) and findable(user_id)):
            raise NotFound("conversation", str(conversation_id))
        sql = "SELECT 1 FROM conversations WHERE id = ? AND user_id = ?" + (" FOR UPDATE" if lock else "")
        if tx.one(sql, [conversation_id, user_id]) is None:
            raise NotFound("conversation", conversation_id)

    def _next_seq(self, tx: Tx, conversation_id: str) -> int:
        row = tx.one("SELECT coalesce(max(seq) + 1, 0) FROM messages WHERE conversation_id = ?", [conversation_id])
        return int(row[0])

    def _appended(self, tx: Tx, conversation_id: str, row: tuple[Any, ...]) -> None:
        tx.run("UPDATE conversations SET last_updated = greatest(last_updated, ?) WHERE id = ?",
               [row[8], conversation_id])

    def _message_rows(self, tx: Tx, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """``MSG_COLS`` rows of ``messages WHERE <where>`` (a backend may read them its faster way)."""
        return tx.all(f"SELECT {MSG_COLS} FROM messages WHERE {where}", params)

    def _lock_user(self, tx: Tx, user_id: str) -> None:
        """Serialize budget checks of one user until the transaction ends."""

    def _sync(self, tx: Tx) -> None:
        """Bring the ``conversations`` rows up to date before they are read."""

    # -- conversations ---------------------------------------------------------------------
    def create_conversation(self, user_id: str, system_prompt: str | list[dict[str, Any]], model: str = DEFAULT_MODEL,
                            title: str | None = None, metadata: dict[str, Any] | None = None, *,
                            tools: list[dict[str, Any]] | None = None, conversation_id: str | None = None) -> str:
        """A new conversation of ``user_id``; returns its id (a new UUID4 unless given)."""
        check_id(user_id, "user_id")
        cid = new_id() if conversation_id is None else check_id(conversation_id, "conversation_id")
        check_id(model, "model")
        check_text(title, "title")
        system = normalize_content(system_prompt)
        if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools)):
            raise InvalidConversation("tools must be a list of tool definitions (dicts) or None")
        now = utcnow()
        params = [cid, user_id, title, dumps(system, "system_prompt"), model,
                  None if tools is None else dumps(tools, "tools"), dumps(check_json_dict(metadata, "metadata"),
                                                                          "metadata"), now, now, False]
        with self._tx(single_write=True) as tx:
            row = tx.one(f"INSERT INTO conversations ({CONV_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT (id) DO NOTHING RETURNING id", params)
            if row is None:
                raise InvalidConversation(f"conversation id {cid!r} is already taken: pass another id, or none "
                                          "to get a new one")
            self._created(tx, cid, user_id)
        return cid

    def _created(self, tx: Tx, conversation_id: str, user_id: str) -> None:
        """Hook: a conversation was just created (backends with caches note it)."""

    def get_conversation(self, conversation_id: str, *, user_id: str) -> ConversationRecord:
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            self._sync(tx)
            row = tx.one(f"SELECT {CONV_COLS}, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) "
                         "FROM conversations c WHERE id = ?", [conversation_id])
        return conversation_record(row)

    def list_conversations(self, user_id: str, *, include_archived: bool = False, limit: int = 50,
                           offset: int = 0) -> list[ConversationRecord]:
        """The user's conversations, most recently updated first."""
        check_count(limit, "limit")
        check_count(offset, "offset")
        if not findable(user_id):
            return []
        archived = "" if include_archived else " AND NOT c.is_archived"
        with self._read() as tx:
            self._sync(tx)
            rows = tx.all(
                f"SELECT {', '.join('c.' + c for c in CONV_COLS.split(', '))}, coalesce(n.count, 0) "
                "FROM conversations c LEFT JOIN (SELECT conversation_id, count(*) AS count FROM messages "
                "WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = ?) GROUP BY conversation_id) n "
                f"ON n.conversation_id = c.id WHERE c.user_id = ?{archived} "
                "ORDER BY c.last_updated DESC, c.created_at DESC, c.id LIMIT ? OFFSET ?",
                [user_id, user_id, limit, offset])
        return [conversation_record(r) for r in rows]

    def archive_conversation(self, conversation_id: str, *, user_id: str, archived: bool = True) -> None:
        with self._tx(single_write=True) as tx:
            self._own(tx, conversation_id, user_id)
            tx.run("UPDATE conversations SET is_archived = ? WHERE id = ?", [bool(archived), conversation_id])

    # -- messages --------------------------------------------------------------------------
    def append_message(self, conversation_id: str, role: str, content: Any, *, user_id: str,
                       message_id: str | None = None, input_tokens: int = 0, output_tokens: int = 0,
                       model_used: str | None = None, metadata: dict[str, Any] | None = None,
                       created_at: datetime | None = None) -> dict[str, Any]:
        """Append one message at the next ``seq``; idempotent for a ``message_id`` already stored."""
        row = self._message_row(message_id, role, content, input_tokens, output_tokens, model_used, metadata,
                                created_at, None)
        with self._tx(single_write=message_id is None) as tx:
            self._own(tx, conversation_id, user_id, lock=True)
            row = self._append(tx, conversation_id, row, check_existing=message_id is not None)
        return message_dict(row)

    def _message_row(self, message_id: str | None, role: Any, content: Any, input_tokens: int, output_tokens: int,
                     model_used: str | None, metadata: dict[str, Any] | None,
                     created_at: datetime | None, rejected: str | None) -> tuple[Any, ...]:
        """The ``MSG_COLS`` row to insert, ``seq`` still unset (None)."""
        mid = new_id() if message_id is None else check_id(message_id, "message_id")
        role = as_role(role).value
        content = dumps(normalize_content(content), "message content")
        if model_used is not None:
            check_id(model_used, "model_used")
        return (mid, None, role, content, check_count(input_tokens, "input_tokens"),
                check_count(output_tokens, "output_tokens"), model_used,
                dumps(check_json_dict(metadata, "metadata"), "message metadata"), as_utc(created_at) or utcnow(),
                check_text(rejected, "rejected"))

    def _append(self, tx: Tx, conversation_id: str, row: tuple[Any, ...], *, check_existing: bool) -> tuple[Any, ...]:
        """Insert ``row`` (ownership already checked); an identical message already stored is returned."""
        if check_existing:
            old = tx.one(f"SELECT {MSG_COLS} FROM messages WHERE conversation_id = ? AND id = ?",
                         [conversation_id, row[0]])
            if old is not None:
                if old[2] == row[2] and (old[3] == row[3] or loads(old[3]) == loads(row[3])):
                    return old
                raise InvalidConversation(
                    f"message id {row[0]!r} is already in conversation {conversation_id!r} with a different "
                    "role or content: stored messages are never rewritten; use a new id for a new message")
        row = (row[0], self._next_seq(tx, conversation_id), *row[2:])
        tx.run(f"INSERT INTO messages (conversation_id, {MSG_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [conversation_id, *row])
        self._appended(tx, conversation_id, row)
        return row

    def _messages_of(self, m: Message | Mapping[str, Any]) -> tuple[Any, ...]:
        m = as_message(m)
        # Message has no field for the model that wrote it: metadata may carry it (sessions put "model")
        model_used = m.metadata.get("model_used", m.metadata.get("model"))
        return self._message_row(m.id, m.role, m.content, m.input_tokens, m.output_tokens,
                                 model_used if isinstance(model_used, str) else None, m.metadata, m.created_at,
                                 m.rejected)

    def get_recent_messages(self, conversation_id: str, limit: int = 20, *, user_id: str) -> list[dict[str, Any]]:
        """The last ``limit`` messages, oldest first."""
        check_count(limit, "limit")
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            rows = self._message_rows(tx, "conversation_id = ? ORDER BY seq DESC LIMIT ?", [conversation_id, limit])
        return [message_dict(r) for r in reversed(rows)]

    def get_messages(self, conversation_id: str, *, user_id: str, after_seq: int = -1,
                     limit: int | None = None) -> list[dict[str, Any]]:
        """Messages with ``seq > after_seq``, oldest first, at most ``limit``."""
        if isinstance(after_seq, bool) or not isinstance(after_seq, int):
            raise InvalidConversation(f"after_seq must be an integer, got {after_seq!r}")
        where = "conversation_id = ? AND seq > ? ORDER BY seq"
        params: list[Any] = [conversation_id, after_seq]
        if limit is not None:
            where += " LIMIT ?"
            params.append(check_count(limit, "limit"))
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            rows = self._message_rows(tx, where, params)
        return [message_dict(r) for r in rows]

    def load_conversation(self, conversation_id: str, *, user_id: str) -> Conversation:
        """The conversation with all its messages, as a ``convolab.Conversation``."""
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            self._sync(tx)
            conv = conversation_record(tx.one(f"SELECT {CONV_COLS} FROM conversations WHERE id = ?",
                                              [conversation_id]), 0)
            rows = self._message_rows(tx, "conversation_id = ? ORDER BY seq", [conversation_id])
        return Conversation(session_id=conv.id, system_prompt=conv.system_prompt, model=conv.model, tools=conv.tools,
                            messages=[message_obj(r) for r in rows], created_at=conv.created_at,
                            last_updated=conv.last_updated, metadata=conv.metadata)

    # -- the turn --------------------------------------------------------------------------
    def begin_turn(self, conversation_id: str, messages: list[Message], *, user_id: str,
                   reservation: Reservation | None = None, daily_limit_usd: float | None = None,
                   day_start: datetime | None = None) -> None:
        """One transaction: the budget reservation (if any), then ``messages``. All or nothing."""
        rows = [self._messages_of(m) for m in messages]
        if reservation is not None:
            if reservation.user_id != user_id:
                raise InvalidConversation(f"the reservation is for user {reservation.user_id!r}, not {user_id!r}")
            if reservation.conversation_id is None:
                reservation = replace(reservation, conversation_id=conversation_id)
        with self._tx() as tx:
            self._own(tx, conversation_id, user_id)
            if reservation is not None:
                self._reserve(tx, reservation, daily_limit_usd, day_start)
            self._own(tx, conversation_id, user_id, lock=True)
            for row in rows:
                self._append(tx, conversation_id, row, check_existing=True)

    def finish_turn(self, conversation_id: str, messages: list[Message], *, user_id: str,
                    usage: Sequence[UsageEvent] = (), strategy: str | None = None,
                    strategy_state: dict[str, Any] | None = None, release: str | None = None) -> None:
        """One transaction: ``messages``, the usage events, the strategy state, the reservation's release."""
        rows = [self._messages_of(m) for m in messages]
        events = []
        for ev in usage:
            if ev.user_id != user_id:
                raise InvalidConversation(f"usage event {ev.request_id!r} is for user {ev.user_id!r}, not {user_id!r}")
            events.append(ev if ev.conversation_id is not None else replace(ev, conversation_id=conversation_id))
        params = [self._usage_params(ev) for ev in events]
        if strategy_state is not None and strategy is None:
            raise InvalidConversation("strategy_state was given without the strategy's name (strategy=...)")
        state = None if strategy_state is None else dumps(strategy_state, "strategy_state")
        with self._tx() as tx:
            self._own(tx, conversation_id, user_id, lock=True)
            for row in rows:
                self._append(tx, conversation_id, row, check_existing=True)
            for ev, p in zip(events, params, strict=True):
                if ev.conversation_id != conversation_id:
                    self._own(tx, ev.conversation_id, user_id)
                self._insert_usage(tx, p)
            if strategy is not None and state is not None:
                self._save_state(tx, conversation_id, check_id(strategy, "strategy"), state)
            if release is not None:
                tx.run("DELETE FROM budget_reservations WHERE request_id = ? AND user_id = ?", [release, user_id])

    def reject_messages(self, conversation_id: str, message_ids: Sequence[str], reason: str, *, user_id: str,
                        release: str | None = None) -> None:
        """Mark stored user messages as rejected by the API (``reason``: its error message) and drop
        the request's reservation ``release``, in one transaction. Rejected messages stay in the
        history; sessions never send them again."""
        check_text(reason, "reason", optional=False)
        ids = [check_id(m, "message id") for m in message_ids]
        with self._tx() as tx:
            self._own(tx, conversation_id, user_id, lock=True)
            for mid in ids:
                tx.run("UPDATE messages SET rejected = ? WHERE conversation_id = ? AND id = ? AND role = 'user'",
                       [reason, conversation_id, mid])
            if release is not None:
                tx.run("DELETE FROM budget_reservations WHERE request_id = ? AND user_id = ?", [release, user_id])

    # -- summaries and strategy state ------------------------------------------------------
    def save_summary(self, conversation_id: str, summary: str, message_count: int, *, user_id: str,
                     covers: list[str] | None = None, model: str | None = None) -> int:
        """Store a new summary version (1, 2, ...) and return its version."""
        check_text(summary, "summary", optional=False)
        check_count(message_count, "message_count")
        if model is not None:
            check_id(model, "model")
        covers_json = None if covers is None else dumps(list(covers), "covers")
        with self._tx() as tx:
            self._own(tx, conversation_id, user_id, lock=True)
            version = int(tx.one("SELECT coalesce(max(version), 0) + 1 FROM conversation_summaries "
                                 "WHERE conversation_id = ?", [conversation_id])[0])
            tx.run("INSERT INTO conversation_summaries (id, conversation_id, version, summary, "
                   "message_count_at_creation, covers, model, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [new_id(), conversation_id, version, summary, message_count, covers_json, model, utcnow()])
        return version

    def get_latest_summary(self, conversation_id: str, *, user_id: str) -> str | None:
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            row = tx.one("SELECT summary FROM conversation_summaries WHERE conversation_id = ? "
                         "ORDER BY version DESC LIMIT 1", [conversation_id])
        return None if row is None else row[0]

    def get_summaries(self, conversation_id: str, *, user_id: str) -> list[dict[str, Any]]:
        """Every summary of the conversation, oldest version first."""
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            rows = tx.all("SELECT version, summary, message_count_at_creation, covers, model, created_at "
                          "FROM conversation_summaries WHERE conversation_id = ? ORDER BY version", [conversation_id])
        return [{"version": v, "summary": s, "message_count": n, "covers": loads(c), "model": m,
                 "created_at": as_utc(t)} for v, s, n, c, m, t in rows]

    def save_strategy_state(self, conversation_id: str, strategy: str, state: dict[str, Any], *,
                            user_id: str) -> None:
        check_id(strategy, "strategy")
        state_json = dumps(state, "strategy state")
        with self._tx() as tx:
            self._own(tx, conversation_id, user_id, lock=True)
            self._save_state(tx, conversation_id, strategy, state_json)

    def _save_state(self, tx: Tx, conversation_id: str, strategy: str, state_json: str) -> None:
        # updated_at strictly increases within a conversation, so "the latest state" is never a tie
        now = utcnow()
        last = tx.one("SELECT max(updated_at) FROM strategy_state WHERE conversation_id = ?", [conversation_id])
        if last is not None and last[0] is not None and as_utc(last[0]) >= now:
            now = as_utc(last[0]) + timedelta(microseconds=1)
        tx.run("INSERT INTO strategy_state (conversation_id, strategy, state, updated_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (conversation_id, strategy) DO UPDATE SET state = excluded.state, "
               "updated_at = excluded.updated_at", [conversation_id, strategy, state_json, now])

    def load_strategy_state(self, conversation_id: str, *, user_id: str,
                            strategy: str | None = None) -> dict[str, Any] | None:
        """The saved state of ``strategy``, or the most recently saved one when ``strategy`` is None."""
        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            if strategy is None:
                row = tx.one("SELECT state FROM strategy_state WHERE conversation_id = ? "
                             "ORDER BY updated_at DESC, strategy LIMIT 1", [conversation_id])
            elif not findable(strategy):
                row = None
            else:
                row = tx.one("SELECT state FROM strategy_state WHERE conversation_id = ? AND strategy = ?",
                             [conversation_id, strategy])
        return None if row is None else loads(row[0])

    # -- ledger and reservations -----------------------------------------------------------
    def _usage_params(self, ev: UsageEvent) -> list[Any]:
        check_id(ev.request_id, "request_id")
        check_id(ev.user_id, "user_id")
        check_id(ev.model, "model")
        check_id(ev.kind, "kind")
        if ev.conversation_id is not None:
            check_id(ev.conversation_id, "conversation_id")
        if ev.response_id is not None:
            check_id(ev.response_id, "response_id")
        if ev.price_date is not None and (not isinstance(ev.price_date, date) or isinstance(ev.price_date, datetime)):
            raise InvalidConversation(f"price_date must be a date, got {ev.price_date!r}")
        counts = [check_count(getattr(ev, k), k) for k in (
            "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
            "cache_creation_5m_tokens", "cache_creation_1h_tokens")]
        return [ev.request_id, ev.user_id, ev.conversation_id, ev.model, ev.kind, ev.response_id, *counts,
                check_usd(ev.cost_usd, "cost_usd"), ev.price_date, as_utc(ev.created_at) or utcnow(),
                bool(ev.confirmed)]

    def _insert_usage(self, tx: Tx, params: list[Any]) -> bool:
        """Insert a ledger row; a confirmed row replaces an unconfirmed booking of the same request
        (its outcome is known now), anything else already there is kept."""
        marks = ", ".join("?" * len(params))
        update = ", ".join(f"{c} = excluded.{c}" for c in USAGE_COLS.split(", ")[1:])
        return tx.one(f"INSERT INTO usage_events ({USAGE_COLS}) VALUES ({marks}) ON CONFLICT (request_id) DO UPDATE "
                      f"SET {update} WHERE NOT usage_events.confirmed AND excluded.confirmed "
                      "AND usage_events.user_id = excluded.user_id RETURNING request_id", params) is not None

    def record_usage(self, event: UsageEvent) -> bool:
        """Add ``event`` to the ledger; False (and nothing written) if its ``request_id`` is there
        already (unless the row there is an unconfirmed booking and ``event`` is confirmed: then
        ``event`` replaces it)."""
        params = self._usage_params(event)
        with self._tx(single_write=True) as tx:
            if event.conversation_id is not None:
                self._own(tx, event.conversation_id, event.user_id)
            return self._insert_usage(tx, params)

    def usage_events(self, user_id: str, *, start: datetime | None = None, end: datetime | None = None,
                     conversation_id: str | None = None) -> list[UsageEvent]:
        """The user's ledger in ``[start, end)``, oldest first."""
        sql, params = f"SELECT {USAGE_COLS} FROM usage_events WHERE user_id = ?", [user_id]
        for cond, value in (("created_at >= ?", as_utc(start)), ("created_at < ?", as_utc(end)),
                            ("conversation_id = ?", conversation_id)):
            if value is not None:
                sql += " AND " + cond
                params.append(value)
        with self._read() as tx:
            if conversation_id is not None:
                self._own(tx, conversation_id, user_id)
            if not findable(user_id):
                return []
            rows = tx.all(sql + " ORDER BY created_at, request_id", params)
        return [usage_event(r) for r in rows]

    def spent_usd(self, user_id: str, *, start: datetime, end: datetime) -> float:
        """What the user's ledger holds in ``[start, end)``."""
        if not findable(user_id):
            return 0.0
        with self._read() as tx:
            row = tx.one("SELECT coalesce(sum(cost_usd), 0) FROM usage_events WHERE user_id = ? AND created_at >= ? "
                         "AND created_at < ?", [user_id, as_utc(start), as_utc(end)])
        return float(row[0])

    def reserve(self, reservation: Reservation, *, daily_limit_usd: float | None = None,
                day_start: datetime | None = None) -> None:
        """Hold ``reservation.amount_usd`` against the user's day; ``BudgetExceeded`` past the limit."""
        with self._tx() as tx:
            if reservation.conversation_id is not None:
                self._own(tx, reservation.conversation_id, reservation.user_id)
            self._reserve(tx, reservation, daily_limit_usd, day_start)

    def _reserve(self, tx: Tx, r: Reservation, limit: float | None, day_start: datetime | None) -> None:
        check_id(r.request_id, "request_id")
        check_id(r.user_id, "user_id")
        amount = check_usd(r.amount_usd, "amount_usd")
        for name in ("conversation_id", "message_id", "model"):
            if getattr(r, name) is not None:
                check_id(getattr(r, name), name)
        params = [r.request_id, r.user_id, r.conversation_id, r.message_id, r.model, amount,
                  as_utc(r.created_at) or utcnow(), dumps(check_json_dict(r.metadata, "metadata"), "metadata")]
        self._lock_user(tx, r.user_id)
        held_by = tx.one("SELECT user_id FROM budget_reservations WHERE request_id = ?", [r.request_id])
        if held_by is not None:
            if held_by[0] != r.user_id:
                raise InvalidConversation(f"request_id {r.request_id!r} is already reserved by another user")
            return  # a retried reservation holds its amount once
        if limit is not None:
            limit = check_usd(limit, "daily_limit_usd")
            start, end = day_window(day_start)
            spent, held = tx.one(  # one statement, one snapshot: a turn moving from held to spent counts once
                "SELECT (SELECT coalesce(sum(cost_usd), 0) FROM usage_events WHERE user_id = ? AND created_at >= ? "
                "AND created_at < ?), (SELECT coalesce(sum(amount_usd), 0) FROM budget_reservations WHERE "
                "user_id = ? AND created_at >= ? AND created_at < ?)", [r.user_id, start, end, r.user_id, start, end])
            spent, held = float(spent), float(held)
            if spent + held + amount > limit + COST_TOLERANCE_USD:
                raise BudgetExceeded(r.user_id, spent_usd=spent + held, reserved_usd=amount, limit_usd=limit,
                                     kind=str((r.metadata or {}).get("kind", "reply")))
        tx.run(f"INSERT INTO budget_reservations ({RESERVATION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", params)

    def open_reservations(self, user_id: str, *, conversation_id: str | None = None) -> list[Reservation]:
        """Reservations not yet released, oldest first."""
        sql, params = f"SELECT {RESERVATION_COLS} FROM budget_reservations WHERE user_id = ?", [user_id]
        with self._read() as tx:
            if conversation_id is not None:
                self._own(tx, conversation_id, user_id)
                sql += " AND conversation_id = ?"
                params.append(conversation_id)
            if not findable(user_id):
                return []
            rows = tx.all(sql + " ORDER BY created_at, request_id", params)
        return [reservation(r) for r in rows]

    def release(self, request_id: str, *, user_id: str) -> None:
        """Drop the reservation (no error if it is not there)."""
        if not (findable(request_id) and findable(user_id)):
            return
        with self._tx(single_write=True) as tx:
            tx.run("DELETE FROM budget_reservations WHERE request_id = ? AND user_id = ?", [request_id, user_id])

    def book_reservation(self, request_id: str, *, user_id: str) -> UsageEvent | None:
        """Turn an open reservation into an *unconfirmed* ledger row at its reserved amount, dated
        when it was reserved (a request that may have been billed, its usage unknown), in one
        transaction. Returns the row, or None when no such reservation is open."""
        if not (findable(request_id) and findable(user_id)):
            return None
        with self._tx() as tx:
            self._lock_user(tx, user_id)
            row = tx.one(f"SELECT {RESERVATION_COLS} FROM budget_reservations WHERE request_id = ? AND user_id = ?",
                         [request_id, user_id])
            if row is None:
                return None
            r = reservation(row)
            event = UsageEvent(request_id=r.request_id, user_id=user_id, model=r.model or "unknown",
                               cost_usd=r.amount_usd, conversation_id=r.conversation_id,
                               kind=str(r.metadata.get("kind", "reply")), created_at=r.created_at, confirmed=False)
            self._insert_usage(tx, self._usage_params(event))
            tx.run("DELETE FROM budget_reservations WHERE request_id = ? AND user_id = ?", [request_id, user_id])
        return event

    # -- housekeeping ----------------------------------------------------------------------
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
