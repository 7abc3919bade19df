"""The turn logic of a persistent conversation, written once for ``ChatSession`` and ``AsyncChatSession``.

``SessionCore`` is what a session is (a store, a user, a strategy, the conversation as the
strategy sees it, the metering of its requests) and writes its operations as steps
(``convolab.steps``) that the sync and the async session run. A turn (``send_steps``):

0. the content is checked (``convolab.validation``): ``InvalidMessage``, nothing stored;
1. the strategy builds the payload (its side calls reserve and book their own cost,
   ``convolab.metering``); the request's worst case is reserved with the user message in one
   transaction (``Store.begin_turn``). A refusal (``BudgetExceeded``, ``ContextOverflow``,
   ``ConfigurationError``) writes nothing and takes the message back;
2. the request goes out with an ``Idempotency-Key`` (its ledger ``request_id``), streamed when
   ``max_tokens`` needs it;
3. the strategy observes the exchange; the reply, its usage, the strategy's state and the
   reservation's release are committed together (``Store.finish_turn``).

A failed request is settled by what the failure says. The API refused the request for good (a
400 ``invalid_request_error``, a 413): the user messages it carried are marked rejected in the
store (kept, shown in the history and by ``resume``, never sent again) and the strategy's state
is put back as it was before the turn; the conversation goes on. Another API error (429, 5xx):
nothing was billed, the reservation is released, the message waits and goes again with the
next one. No answer (connection lost, timeout, interrupted): the request may have been billed,
so its reservation is booked as an unconfirmed ledger row, and the message waits.

Rejected messages are left out of ``conversation`` (what the strategy builds from); the
stored history keeps them (``Store.load_conversation``, ``Message.rejected``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from convolab.blocks import reply_text
from convolab.costs import CostTracker, usage_event
from convolab.errors import ConfigurationError, InvalidConversation
from convolab.metering import IDEMPOTENCY_HEADER, Metering, SideCallClient, api_error, failure_kind
from convolab.model import (
    DEFAULT_MODEL,
    Conversation,
    Message,
    Turn,
    is_plain_user,
    new_id,
    unanswered,
)
from convolab.steps import Send, Steps, call
from convolab.stores.base import Reservation, Store, UsageEvent
from convolab.strategies.base import Payload, Strategy, local_counter
from convolab.tokens import TokenCounter
from convolab.validation import check_user_content

log = logging.getLogger("convolab")

SIDE_KINDS = {"summarizing": "summary", "memory": "memory", "compaction": "summary"}


@dataclass(frozen=True)
class SentTurn(Turn):
    """What ``send`` returns: the exchange (a ``convolab.Turn``: the user message, any earlier
    unanswered ones sent with it, and the reply; ``index`` counts the conversation's turns from 0)
    plus the request and what it cost."""

    reply: str = ""
    payload: Payload | None = field(default=None, repr=False)
    usage: Any = None  # the SDK's ``Usage`` of the reply
    cost_usd: float = 0.0  # the reply's request
    side_cost_usd: float = 0.0  # the strategy's side calls this turn (summaries, memory)
    request_id: str = ""
    stop_reason: str | None = None
    resent: tuple[str, ...] = ()  # ids of unanswered user messages sent again with this one
    response: Any = field(default=None, repr=False, compare=False)


@dataclass
class Recovery:
    """What ``resume`` found: user messages stored without a reply (sent again with the next
    message), requests interrupted after they may have been billed (booked in the ledger at their
    reserved worst case, unconfirmed), and messages the API rejected (kept, never sent again)."""

    unanswered: list[Message] = field(default_factory=list)
    booked: list[UsageEvent] = field(default_factory=list)
    rejected: list[Message] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.unanswered or self.booked or self.rejected)

    def __str__(self) -> str:
        if not self:
            return "nothing to recover"
        parts = []
        if self.unanswered:
            parts.append(f"{len(self.unanswered)} unanswered user message(s) will be sent again with the next one")
        if self.booked:
            parts.append(f"{len(self.booked)} interrupted request(s) booked as unconfirmed, "
                         f"${sum(e.cost_usd for e in self.booked):.4f} at most")
        if self.rejected:
            parts.append(f"{len(self.rejected)} message(s) rejected by the API are kept in the history, "
                         "never sent again")
        return "; ".join(parts)


def as_strategy(strategy: Strategy | str | None) -> Strategy:
    """A strategy object from an object, a registry name (``"full"``, ``"sliding"``, ...) or None
    (``Summarizing()``)."""
    from convolab.strategies import Summarizing, make_strategy

    if strategy is None:
        return Summarizing()
    if isinstance(strategy, str):
        return make_strategy(strategy)
    if not isinstance(strategy, Strategy):
        raise ConfigurationError(f"strategy must be a Strategy or its name, got {type(strategy).__name__}")
    return strategy


def plain_users(messages: list[Message]) -> int:
    return sum(1 for m in messages if is_plain_user(m))


class SessionCore:
    """The state of a session and its operations as steps (module docstring)."""

    def __init__(self, *, store: Store, user_id: str, strategy: Strategy | str | None = None,
                 system_prompt: str | list[dict[str, Any]] = "", model: str = DEFAULT_MODEL,
                 conversation_id: str | None = None, daily_budget_usd: float | None = None,
                 tools: list[dict[str, Any]] | None = None, title: str | None = None,
                 metadata: dict[str, Any] | None = None, tracker: CostTracker | None = None,
                 counter: TokenCounter | None = None):
        self.store = store
        self.user_id = user_id
        self.strategy = as_strategy(strategy)
        self.counter = counter or local_counter()  # counts side calls for their reservations (SimTokenCounter)
        self.created = conversation_id is None
        self._new = (title, metadata)
        self.conversation = Conversation(session_id=conversation_id or new_id(), system_prompt=system_prompt,
                                         model=model, tools=tools)
        self.metering = Metering(store, user_id, self.conversation.session_id, daily_budget_usd=daily_budget_usd,
                                 tracker=tracker)
        self.recovered = Recovery()
        self.last: SentTurn | None = None
        self.turns = 0  # plain user messages in the conversation (each starts a turn)
        self._next_seq = 0  # the store's next seq for this conversation
        self.opened = False

    # -- opening -----------------------------------------------------------------------------
    def open_steps(self) -> Steps[None]:
        """Create the conversation, or load it with the strategy's state and settle what a crash left."""
        conv = self.conversation
        if self.created:
            title, metadata = self._new
            yield call(self.store.create_conversation, self.user_id, conv.system_prompt, conv.model, title,
                       metadata, tools=conv.tools, conversation_id=conv.session_id)
        else:
            stored = yield call(self.store.load_conversation, conv.session_id, user_id=self.user_id)
            yield from self.adopt_state_steps(self.strategy)
            self._adopt(stored)
            booked = []
            for r in (yield call(self.store.open_reservations, self.user_id, conversation_id=conv.session_id)):
                event = yield call(self.store.book_reservation, r.request_id, user_id=self.user_id)
                booked += [event] if event is not None else []
            self.recovered = Recovery(unanswered(self.conversation.messages), booked,
                                      [m for m in stored.messages if m.rejected])
            if self.recovered:
                log.warning("convolab: conversation %s: %s", conv.session_id, self.recovered)
        self.opened = True

    def _adopt(self, stored: Conversation) -> None:
        """Take the stored conversation, its rejected messages left out."""
        kept = [m for m in stored.messages if not m.rejected]
        self.conversation = Conversation(session_id=stored.session_id, system_prompt=stored.system_prompt,
                                         model=stored.model, tools=stored.tools, messages=kept,
                                         created_at=stored.created_at, last_updated=stored.last_updated,
                                         metadata=stored.metadata)
        self._next_seq = stored.messages[-1].seq + 1 if stored.messages else 0
        self.turns = plain_users(kept)

    def adopt_state_steps(self, strategy: Strategy) -> Steps[None]:
        """Give ``strategy`` its state stored for this conversation, if any."""
        state = yield call(self.store.load_strategy_state, self.conversation.session_id, user_id=self.user_id,
                           strategy=strategy.name)
        if state:
            strategy.load_state(state)

    def switch_steps(self, strategy: Strategy | str) -> Steps[None]:
        """Use ``strategy`` from the next turn on, with its state stored for this conversation."""
        strategy = as_strategy(strategy)
        yield from self.adopt_state_steps(strategy)
        self.strategy = strategy

    # -- forks -------------------------------------------------------------------------------
    def fork_steps(self, at_turn: int) -> Steps[str]:
        """Copy the first ``at_turn`` answered turns into a new conversation (messages with new
        ids, ``forked_from_message`` in their metadata); returns its id. Archived again if a copy fails."""
        conv = self.conversation
        turns = conv.turns()
        answered = sum(1 for t in turns if t.messages and t.messages[-1].role == "assistant")
        if isinstance(at_turn, bool) or not isinstance(at_turn, int) or not 0 <= at_turn <= len(turns) or (
                at_turn and turns[at_turn - 1].messages[-1].role != "assistant"):
            raise InvalidConversation(f"cannot fork conversation {conv.session_id!r} at turn {at_turn!r}: it has "
                                      f"{answered} answered turn(s); pick at_turn from 0 to {answered}")
        record = yield call(self.store.get_conversation, conv.session_id, user_id=self.user_id)
        metadata = {**record.metadata, "forked_from": conv.session_id, "fork_at_turn": at_turn}
        fork_id = yield call(self.store.create_conversation, self.user_id, record.system_prompt, record.model,
                             record.title, metadata, tools=record.tools)
        try:
            for m in conv.messages[:turns[at_turn - 1].end if at_turn else 0]:
                yield call(self.store.append_message, fork_id, m.role.value, m.content, user_id=self.user_id,
                           input_tokens=m.input_tokens, output_tokens=m.output_tokens,
                           metadata={**m.metadata, "forked_from_message": m.id}, created_at=m.created_at)
        except BaseException:
            yield call(self.store.archive_conversation, fork_id, user_id=self.user_id)
            raise
        return fork_id

    def warm_steps(self, side: SideCallClient) -> Steps[None]:
        """Let the strategy observe every stored turn (a fresh fork's), its side calls metered
        like a turn's; then store its state. A refused or failed side call archives the conversation."""
        conv = self.conversation
        try:
            for turn in conv.turns():
                yield call(self.strategy.observe, turn, client=side, conversation=conv)
            yield call(self.store.save_strategy_state, conv.session_id, self.strategy.name, self.strategy.state(),
                       user_id=self.user_id)
        except BaseException:
            yield call(self.store.archive_conversation, conv.session_id, user_id=self.user_id)
            raise
        side.take()

    # -- a turn ------------------------------------------------------------------------------
    def side_client(self, send: Any) -> SideCallClient:
        """The client the strategy gets: its side calls metered, sent with ``send``."""
        return SideCallClient(self.metering, self.counter,
                              lambda: SIDE_KINDS.get(self.strategy.name, f"{self.strategy.name}-side"), send)

    def send_steps(self, content: str | list[dict[str, Any]], side: SideCallClient) -> Steps[SentTurn]:
        """One turn (module docstring); persisted before it returns."""
        conv, strategy = self.conversation, self.strategy
        resent = unanswered(conv.messages)
        check_user_content(content, previous=conv.messages[-1] if conv.messages and not resent else None,
                           waiting=len(resent))
        index = self.turns - plain_users(resent)
        msg = self._add("user", content)
        before = strategy.state()
        side.take()
        try:
            payload = yield call(strategy.build, conv, client=side)
            reservation = self.metering.reservation(payload.request, payload.input_tokens, message_id=msg.id)
            yield call(self.store.begin_turn, conv.session_id, [msg], user_id=self.user_id, reservation=reservation,
                       daily_limit_usd=self.metering.daily_budget_usd, day_start=self.metering.day_start())
        except BaseException:
            self._take_back([msg], stored=False)
            raise
        try:
            response = yield Send(payload, {IDEMPOTENCY_HEADER: reservation.request_id})
        except BaseException as error:
            yield from self._settle_steps(error, reservation, [*resent, msg], before)
            raise
        return (yield from self._finish_steps(payload, response, reservation, resent, index, side))

    def _settle_steps(self, error: BaseException, reservation: Reservation, sent: list[Message],
                      before: dict[str, Any]) -> Steps[None]:
        """Settle a failed request (module docstring); a store error here is logged: resume settles it."""
        try:
            if failure_kind(error) != "rejected":
                yield call(self.metering.settle_failure, reservation.request_id, error)
                return
            yield call(self.store.reject_messages, self.conversation.session_id, [m.id for m in sent],
                       api_error(error)[1], user_id=self.user_id, release=reservation.request_id)
        except Exception as e:
            log.warning("convolab: could not settle request %s (%s); resume will", reservation.request_id, e)
            return
        self._take_back(sent, stored=True)
        self.strategy.load_state(before)
        error.add_note(f"convolab: the API refused this request for good; its {len(sent)} user message(s) are "
                       "stored as rejected, will not be sent again, and the conversation goes on")

    def _finish_steps(self, payload: Payload, response: Any, reservation: Reservation, resent: list[Message],
                      index: int, side: SideCallClient) -> Steps[SentTurn]:
        conv, strategy = self.conversation, self.strategy
        usage = response.usage
        reply = self._add("assistant", response.content or "", input_tokens=usage.input_tokens,
                          output_tokens=usage.output_tokens,
                          metadata={"model": response.model, "stop_reason": response.stop_reason,
                                    "request_id": reservation.request_id, "response_id": response.id})
        start = conv.index_of(resent[0].id) if resent else len(conv.messages) - 2
        turn = Turn(index, start, len(conv.messages), tuple(conv.messages[start:]))
        event = usage_event(self.user_id, payload.request["model"], usage, request_id=reservation.request_id,
                            conversation_id=conv.session_id, response_id=response.id)
        try:
            yield call(strategy.observe, turn, client=side, conversation=conv)
        except Exception as e:  # a failed side call (or its budget) must not lose the reply
            log.warning("convolab: %s.observe failed (%s); the reply is kept, the strategy skipped this turn",
                        strategy.name, e)
        try:
            yield call(self.store.finish_turn, conv.session_id, [reply], user_id=self.user_id, usage=[event],
                       strategy=strategy.name, strategy_state=strategy.state(), release=reservation.request_id)
        except BaseException:
            self._take_back([reply], stored=False)
            raise
        text = reply_text(response)
        side_cost = round(sum(e.cost_usd for e in side.take()), 10)
        self.last = SentTurn(index, turn.start, turn.end, turn.messages, reply=text, payload=payload, usage=usage,
                             cost_usd=event.cost_usd, side_cost_usd=side_cost, request_id=reservation.request_id,
                             stop_reason=response.stop_reason, resent=tuple(m.id for m in resent), response=response)
        return self.last

    def stats(self, events: list[UsageEvent]) -> dict[str, Any]:
        """Turns, messages, tokens and cost from this conversation's ledger ``events``, and what the
        last payload sent and left out."""
        last = self.last.payload if self.last else None
        return {
            "strategy": self.strategy.name,
            "turns": self.turns,
            "messages": len(self.conversation.messages),
            "requests": len(events),
            "input_tokens": sum(e.input_tokens for e in events),
            "cache_write_tokens": sum(e.cache_creation_input_tokens for e in events),
            "cache_read_tokens": sum(e.cache_read_input_tokens for e in events),
            "output_tokens": sum(e.output_tokens for e in events),
            "cost_usd": round(sum(e.cost_usd for e in events), 6),
            "side_cost_usd": round(sum(e.cost_usd for e in events if e.kind != "reply"), 6),
            "unconfirmed_usd": round(sum(e.cost_usd for e in events if not e.confirmed), 6),
            "last_input_tokens": last.input_tokens if last else None,
            "last_sent_messages": len(last.sent) if last else None,
            "last_left_out": len(last.left_out) if last else None,
            "reply_requests": sum(1 for e in events if e.kind == "reply"),
        }

    # -- the conversation in memory ------------------------------------------------------------
    def _add(self, role: str, content: Any, **kwargs: Any) -> Message:
        message = self.conversation.add(role, content, seq=self._next_seq, **kwargs)
        self._next_seq += 1
        self.turns += is_plain_user(message)
        return message

    def _take_back(self, messages: list[Message], *, stored: bool) -> None:
        """Remove the newest ``messages`` from memory (unsent ones, or rejected ones that stay
        stored) and bring the strategy's indexes back in step."""
        for m in reversed(messages):
            self.conversation.discard_last(m)
            self.turns -= is_plain_user(m)
            self._next_seq -= not stored
        self.strategy.retract(self.conversation)


class SessionView:
    """What ``ChatSession`` and ``AsyncChatSession`` show of their ``SessionCore`` (``_core``)."""

    _core: SessionCore

    store = property(lambda self: self._core.store)
    user_id = property(lambda self: self._core.user_id)
    strategy = property(lambda self: self._core.strategy, doc="The strategy building the next request.")
    conversation = property(lambda self: self._core.conversation,
                            doc="The conversation as the strategy sees it (rejected messages left out).")
    recovered = property(lambda self: self._core.recovered, doc="What opening the conversation settled.")
    last = property(lambda self: self._core.last, doc="The last ``SentTurn``.")
    tracker = property(lambda self: self._core.metering.tracker)

    @property
    def conversation_id(self) -> str:
        return self._core.conversation.session_id

    @property
    def daily_budget_usd(self) -> float | None:
        """The user's daily limit in USD (None: no limit); every request is reserved against it."""
        return self._core.metering.daily_budget_usd

    @daily_budget_usd.setter
    def daily_budget_usd(self, value: float | None) -> None:
        self._core.metering.daily_budget_usd = value

    def unanswered(self) -> list[Message]:
        """User messages at the end of the history with no reply yet (sent with the next one)."""
        return unanswered(self._core.conversation.messages)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(conversation_id={self.conversation_id!r}, user_id={self.user_id!r}, "
                f"strategy={self.strategy.name!r}, messages={len(self.conversation.messages)})")


__all__ = ["Recovery", "SentTurn", "SessionCore", "SessionView", "as_strategy"]
