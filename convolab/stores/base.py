"""The protocols every backend implements, and the records they read and write.

``ConversationStore`` (conversations, messages, summaries, strategy state) and ``Ledger``
(usage rows and budget reservations) are the two concepts, each small enough to fake in a
test; ``Store`` is both plus the turn's transactions, which span them, and is what sessions
take. ``CostTracker`` needs only a ``Ledger``.

A store keeps conversations, their messages (one row each, exactly as they happened), summaries,
strategy state, and the usage ledger with budget reservations. Every read and write is scoped
by ``user_id``: another user's conversation raises ``NotFound`` exactly as a missing one does.

The turn's two transactions (see ``docs/persistence.md``):

1. ``begin_turn``: the user's message is committed, together with the request's budget
   reservation, *before* the API call. If the reservation would push the user's day past
   ``daily_limit_usd``, nothing is written and ``BudgetExceeded`` is raised.
2. ``finish_turn``: the reply, its usage events, the strategy state and the release of the
   reservation are committed in *one* transaction after the call. Usage events are keyed by
   ``request_id`` (the request's idempotency key), so recording a retried turn twice bills once.

A crash between the two leaves the user message without a reply and the reservation open;
``open_reservations`` lets a resumed session find it and ``book_reservation`` turns it into an
*unconfirmed* ledger row at its reserved amount (the request may have been billed: the ledger
never under-counts). A request the API refuses for good is settled by ``reject_messages``: its
user messages are marked rejected (kept, never sent again) and its reservation dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from convolab.model import Conversation, Message

SCHEMA_VERSION_TABLE = "convolab_schema"


@dataclass
class ConversationRecord:
    """A conversation's row (without its messages)."""

    id: str
    user_id: str
    title: str | None
    system_prompt: str | list[dict[str, Any]]
    model: str
    tools: list[dict[str, Any]] | None
    metadata: dict[str, Any]
    created_at: datetime
    last_updated: datetime
    is_archived: bool = False
    message_count: int = 0


@dataclass
class UsageEvent:
    """One billed request in the ledger. ``request_id`` is unique: the request's idempotency key.

    ``kind`` says what the request was for: ``"reply"`` for the turn's answer, ``"summary"``,
    ``"memory"``, ``"compaction"`` for a strategy's side calls, ``"manual"`` for
    ``CostTracker.record``. ``price_date`` is the ``effective_from`` of the price row used.
    ``confirmed`` is False for a request booked at its reserved worst case because its outcome is
    unknown (``Store.book_reservation``): no token counts, ``cost_usd`` an upper bound.
    """

    request_id: str
    user_id: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    cost_usd: float = 0.0
    price_date: date | None = None
    conversation_id: str | None = None
    kind: str = "reply"
    response_id: str | None = None
    created_at: datetime | None = None  # set by the store (UTC) when None
    confirmed: bool = True


@dataclass
class Reservation:
    """Worst-case cost held against a user's day while a request is in flight. ``metadata``
    may say what the request is for (``{"kind": "summary"}``; default a reply)."""

    request_id: str
    user_id: str
    amount_usd: float
    conversation_id: str | None = None
    message_id: str | None = None  # the user message the request answers
    model: str | None = None
    created_at: datetime | None = None  # set by the store (UTC) when None
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ConversationStore(Protocol):
    """Conversations, their messages, summaries and strategy state, per user.

    Message dicts (``get_recent_messages``, ``get_messages``, ``append_message``) have the keys
    ``id``, ``seq``, ``role``, ``content`` (the plain string for a text message, else the list of
    blocks exactly as given, ``cache_control`` included), ``input_tokens``, ``output_tokens``,
    ``model_used``, ``metadata``, ``created_at`` (UTC, timezone-aware), ``rejected`` (None, or the
    API's reason for refusing the message for good), oldest first.
    """

    # -- conversations ---------------------------------------------------------------------
    def create_conversation(self, user_id: str, system_prompt: str | list[dict[str, Any]], model: str = ...,
                            title: str | None = None, metadata: dict[str, Any] | None = None, *,
                            tools: list[dict[str, Any]] | None = None, conversation_id: str | None = None) -> str: ...

    def get_conversation(self, conversation_id: str, *, user_id: str) -> ConversationRecord: ...

    def list_conversations(self, user_id: str, *, include_archived: bool = False, limit: int = 50,
                           offset: int = 0) -> list[ConversationRecord]: ...

    def archive_conversation(self, conversation_id: str, *, user_id: str, archived: bool = True) -> None: ...

    # -- messages --------------------------------------------------------------------------
    def append_message(self, conversation_id: str, role: str, content: Any, *, user_id: str,
                       message_id: str | None = None, input_tokens: int = 0, output_tokens: int = 0,
                       model_used: str | None = None, metadata: dict[str, Any] | None = None,
                       created_at: datetime | None = None) -> dict[str, Any]: ...

    def get_recent_messages(self, conversation_id: str, limit: int = 20, *, user_id: str) -> list[dict[str, Any]]: ...

    def get_messages(self, conversation_id: str, *, user_id: str, after_seq: int = -1,
                     limit: int | None = None) -> list[dict[str, Any]]: ...

    def load_conversation(self, conversation_id: str, *, user_id: str) -> Conversation: ...

    # -- summaries and strategy state ------------------------------------------------------
    def save_summary(self, conversation_id: str, summary: str, message_count: int, *, user_id: str,
                     covers: list[str] | None = None, model: str | None = None) -> int: ...

    def get_latest_summary(self, conversation_id: str, *, user_id: str) -> str | None: ...

    def get_summaries(self, conversation_id: str, *, user_id: str) -> list[dict[str, Any]]: ...

    def save_strategy_state(self, conversation_id: str, strategy: str, state: dict[str, Any], *,
                            user_id: str) -> None: ...

    def load_strategy_state(self, conversation_id: str, *, user_id: str,
                            strategy: str | None = None) -> dict[str, Any] | None: ...


@runtime_checkable
class Ledger(Protocol):
    """The usage ledger (one row per billed request, keyed by ``request_id``) and the budget
    reservations held while a request is in flight, per user."""

    def record_usage(self, event: UsageEvent) -> bool: ...

    def usage_events(self, user_id: str, *, start: datetime | None = None, end: datetime | None = None,
                     conversation_id: str | None = None) -> list[UsageEvent]: ...

    def spent_usd(self, user_id: str, *, start: datetime, end: datetime) -> float: ...

    def reserve(self, reservation: Reservation, *, daily_limit_usd: float | None = None,
                day_start: datetime | None = None) -> None: ...

    def open_reservations(self, user_id: str, *, conversation_id: str | None = None) -> list[Reservation]: ...

    def release(self, request_id: str, *, user_id: str) -> None: ...

    def book_reservation(self, request_id: str, *, user_id: str) -> UsageEvent | None: ...


@runtime_checkable
class Store(ConversationStore, Ledger, Protocol):
    """What sessions need from a backend: both of the above, and the turn's transactions, which
    write messages and ledger rows together (all or nothing: the module docstring)."""

    def begin_turn(self, conversation_id: str, messages: list[Message], *, user_id: str,
                   reservation: Reservation | None = None, daily_limit_usd: float | None = None,
                   day_start: datetime | None = None) -> None: ...

    def finish_turn(self, conversation_id: str, messages: list[Message], *, user_id: str,
                    usage: Sequence[UsageEvent] = (), strategy: str | None = None,
                    strategy_state: dict[str, Any] | None = None, release: str | None = None) -> None: ...

    def reject_messages(self, conversation_id: str, message_ids: Sequence[str], reason: str, *, user_id: str,
                        release: str | None = None) -> None: ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...
