"""``ChatSession``: one persistent conversation, a strategy, a client and a store, crash-safe.

A turn (``send``) is two transactions around the API call (``docs/persistence.md``):

1. the strategy builds the payload; the user's message and the request's budget reservation
   are committed (``Store.begin_turn``). A refused budget or an over-long message writes
   nothing and raises (``BudgetExceeded``, ``ContextOverflow``);
2. the request is sent with an ``Idempotency-Key`` (the SDK's own retries reuse it, so a lost
   answer is not billed twice where the API honours it; the simulator does);
3. the strategy observes the exchange (summaries, memory), then the reply, the usage events
   of the reply and of the strategy's side calls, the strategy's state and the release of the
   reservation are committed together (``Store.finish_turn``). Only then does ``send`` return.

A crash or an API error between 1 and 3 leaves the user's message stored without a reply.
It is never lost: the next request sends it again, before the new text (the API sees one
merged user message), and ``ChatSession.resume`` reports it in ``recovered``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from convolab.costs import CostTracker, usage_event, worst_case_usd
from convolab.model import (
    DEFAULT_MODEL,
    Conversation,
    Message,
    Turn,
    is_plain_user,
    new_id,
    unanswered,
)
from convolab.stores.base import Reservation, Store, UsageEvent
from convolab.strategies.base import Payload, Strategy

log = logging.getLogger("convolab")

IDEMPOTENCY_HEADER = "Idempotency-Key"
SIDE_KINDS = {"summarizing": "summary", "memory": "memory", "compaction": "summary"}


@dataclass(frozen=True)
class SentTurn(Turn):
    """What ``send`` returns: the exchange (a ``convolab.Turn``: the user message, any earlier
    unanswered ones sent with it, and the reply) plus the request and what it cost."""

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
    """What ``resume`` found after a crash: user messages stored without a reply (sent again
    with the next message) and budget reservations of requests whose outcome is unknown (they
    may have been billed by the API; they are released, not recorded as spent)."""

    unanswered: list[Message] = field(default_factory=list)
    released: list[Reservation] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.unanswered or self.released)

    def __str__(self) -> str:
        if not self:
            return "nothing to recover"
        return (f"{len(self.unanswered)} unanswered user message(s) will be sent again with the next one; "
                f"{len(self.released)} interrupted request reservation(s) released")


def _default_strategy() -> Strategy:
    from convolab.strategies import Summarizing

    return Summarizing()


class ChatSession:
    """A conversation that persists every message before it answers.

    ``ChatSession(store=, user_id=, strategy=, client=, system_prompt=, model=, conversation_id=None,
    daily_budget_usd=None)`` starts a new conversation (or continues ``conversation_id``);
    ``send(text) -> SentTurn``; ``chat(text) -> str`` and ``stats`` keep the chapter's API.
    The strategy defaults to ``Summarizing()``, the client to ``convolab.client()``.
    """

    def __init__(self, *, store: Store, user_id: str, strategy: Strategy | None = None, client: Any = None,
                 system_prompt: str | list[dict[str, Any]] = "", model: str = DEFAULT_MODEL,
                 conversation_id: str | None = None, daily_budget_usd: float | None = None,
                 tools: list[dict[str, Any]] | None = None, title: str | None = None,
                 metadata: dict[str, Any] | None = None, tracker: CostTracker | None = None):
        if client is None:
            from convolab.clients import client as make_client

            client = make_client()
        self.store = store
        self.user_id = user_id
        self.strategy = strategy or _default_strategy()
        self.client = client
        self.daily_budget_usd = daily_budget_usd
        self.tracker = tracker or CostTracker(store)
        if conversation_id is None:
            conversation_id = store.create_conversation(user_id, system_prompt, model, title, metadata, tools=tools)
            self.conversation = Conversation(session_id=conversation_id, system_prompt=system_prompt, model=model,
                                             tools=tools)
        else:
            self.conversation = store.load_conversation(conversation_id, user_id=user_id)
            state = store.load_strategy_state(conversation_id, user_id=user_id, strategy=self.strategy.name)
            if state:
                self.strategy.load_state(state)
        self._turns = sum(1 for m in self.conversation.messages if is_plain_user(m))
        self._side_seen = len(getattr(self.strategy, "side_usage", []))
        self.recovered = self._recover()
        self.last: SentTurn | None = None

    @classmethod
    def resume(cls, store: Store, conversation_id: str, *, user_id: str, strategy: Strategy | None = None,
               client: Any = None, daily_budget_usd: float | None = None, **kwargs: Any) -> ChatSession:
        """Continue a stored conversation: history and strategy state restored; what a crash
        left behind is in ``session.recovered``."""
        return cls(store=store, user_id=user_id, strategy=strategy, client=client, conversation_id=conversation_id,
                   daily_budget_usd=daily_budget_usd, **kwargs)

    def switch_strategy(self, strategy: Strategy) -> None:
        """Use ``strategy`` from the next turn on, on the same conversation. Its state stored for
        this conversation (from an earlier switch or session) is restored; a strategy never used
        here starts fresh (a summary or memory builds up from the turns that follow)."""
        state = self.store.load_strategy_state(self.conversation_id, user_id=self.user_id, strategy=strategy.name)
        if state:
            strategy.load_state(state)
        self.strategy = strategy
        self._side_seen = len(getattr(strategy, "side_usage", []))

    def fork(self, *, at_turn: int, strategy: Strategy, client: Any = None) -> ChatSession:
        """What if this conversation had used ``strategy``? A new stored conversation that
        repeats this one's first ``at_turn`` turns (messages copied with new ids) and goes on
        under ``strategy``; this conversation is left untouched.

        The new strategy reads the copied turns as if it had been in use from the start, so a
        summary or memory holds what it would have held by then (``Summarizing`` and
        ``StructuredMemory`` make their side calls now, with ``client``, default this session's,
        and they go into the fork's ledger). The fork's conversation metadata records
        ``forked_from`` (this conversation's id) and ``fork_at_turn``. Returns a session on the
        fork, with this session's user, client and daily budget. ``at_turn=0`` keeps only the
        system prompt; a turn still waiting for its reply cannot be forked at
        (``InvalidConversation``).
        """
        from convolab.errors import InvalidConversation

        turns = self.conversation.turns()
        answered = [t for t in turns if t.messages and t.messages[-1].role == "assistant"]
        if not 0 <= at_turn <= len(turns) or (at_turn and turns[at_turn - 1] not in answered):
            raise InvalidConversation(
                f"cannot fork conversation {self.conversation_id!r} at turn {at_turn}: it has {len(answered)} "
                f"answered turn(s); pick at_turn from 0 to {len(answered)}")
        upto = turns[at_turn - 1].end if at_turn else 0
        fork_id = self._fork_copy(self.conversation.messages[:upto], at_turn)
        client = client or self.client
        self._fork_warm(fork_id, strategy, client)
        return ChatSession(store=self.store, user_id=self.user_id, strategy=strategy, client=client,
                           conversation_id=fork_id, daily_budget_usd=self.daily_budget_usd, tracker=self.tracker)

    def _fork_copy(self, messages: list[Message], at_turn: int) -> str:
        """A new conversation holding copies of ``messages``; archived again if copying fails."""
        record = self.store.get_conversation(self.conversation_id, user_id=self.user_id)
        metadata = {**record.metadata, "forked_from": self.conversation_id, "fork_at_turn": at_turn}
        fork_id = self.store.create_conversation(self.user_id, record.system_prompt, record.model, record.title,
                                                 metadata, tools=record.tools)
        try:
            for m in messages:
                self.store.append_message(fork_id, m.role.value, m.content, user_id=self.user_id,
                                          input_tokens=m.input_tokens, output_tokens=m.output_tokens,
                                          metadata={**m.metadata, "forked_from_message": m.id},
                                          created_at=m.created_at)
        except BaseException:
            self.store.archive_conversation(fork_id, user_id=self.user_id)
            raise
        return fork_id

    def _fork_warm(self, fork_id: str, strategy: Strategy, client: Any) -> None:
        """Let ``strategy`` observe the fork's turns; record its side calls and its state."""
        conversation = self.store.load_conversation(fork_id, user_id=self.user_id)
        for turn in conversation.turns():
            strategy.observe(turn, client=client, conversation=conversation)
        side = getattr(strategy, "side_usage", None)
        kind = SIDE_KINDS.get(strategy.name, f"{strategy.name}-side")
        for model, usage in side or []:
            self.store.record_usage(usage_event(self.user_id, model, usage, conversation_id=fork_id, kind=kind,
                                                response_id=None))
        if side:
            del side[:]  # recorded here: the fork's session must not record them again
        self.store.save_strategy_state(fork_id, strategy.name, strategy.state(), user_id=self.user_id)

    # -- state -------------------------------------------------------------------------------
    @property
    def conversation_id(self) -> str:
        return self.conversation.session_id

    def unanswered(self) -> list[Message]:
        """User messages at the end of the history with no reply yet (sent with the next one)."""
        return unanswered(self.conversation.messages)

    def _recover(self) -> Recovery:
        rec = Recovery(unanswered=self.unanswered())
        for r in self.store.open_reservations(self.user_id, conversation_id=self.conversation_id):
            self.store.release(r.request_id, user_id=self.user_id)
            rec.released.append(r)
        if rec:
            log.warning("convolab: conversation %s: %s", self.conversation_id, rec)
        return rec

    # -- the turn ----------------------------------------------------------------------------
    def send(self, content: str | list[dict[str, Any]]) -> SentTurn:
        """Send a user message and return the exchange; persisted before it returns."""
        conv, strategy = self.conversation, self.strategy
        resent = self.unanswered()
        msg = conv.add("user", content)
        try:
            payload = strategy.build(conv, client=self.client)
            request_id = new_id()
            reservation = None
            if self.daily_budget_usd is not None:
                model = payload.request["model"]
                reservation = Reservation(
                    request_id, self.user_id,
                    worst_case_usd(model, payload.input_tokens, payload.request["max_tokens"],
                                   cache_ttl=getattr(strategy, "cache_ttl", "5m")),
                    conversation_id=self.conversation_id, message_id=msg.id, model=model)
            self.store.begin_turn(self.conversation_id, [msg], user_id=self.user_id, reservation=reservation,
                                  daily_limit_usd=self.daily_budget_usd,
                                  day_start=self.tracker.day_start() if reservation else None)
        except BaseException:
            self._unsend(msg)
            raise
        self._turns += 1
        try:
            response = payload.create(self.client, extra_headers={IDEMPOTENCY_HEADER: request_id})
        except BaseException:
            if reservation is not None:
                self._release_quietly(request_id)
            raise  # the user message stays stored: it goes again with the next one
        return self._complete(payload, response, request_id, msg, resent, reservation)

    def _complete(self, payload: Payload, response: Any, request_id: str, msg: Message, resent: list[Message],
                  reservation: Reservation | None) -> SentTurn:
        conv, strategy = self.conversation, self.strategy
        model = payload.request["model"]
        usage = response.usage
        reply = conv.add("assistant", response.content or "", input_tokens=usage.input_tokens,
                         output_tokens=usage.output_tokens,
                         metadata={"model": response.model, "stop_reason": response.stop_reason,
                                   "request_id": request_id, "response_id": response.id})
        start = conv.index_of(resent[0].id if resent else msg.id)
        turn = Turn(self._turns - 1, start, len(conv.messages), tuple(conv.messages[start:]))
        try:
            strategy.observe(turn, client=self.client, conversation=conv)
        except Exception as e:  # an API error in a side call must not lose the reply
            log.warning("convolab: %s.observe failed (%s); the reply is kept, the strategy skipped this turn",
                        strategy.name, e)
        events = [usage_event(self.user_id, model, usage, request_id=request_id,
                              conversation_id=self.conversation_id, response_id=response.id)]
        events += self._side_events()
        try:
            self.store.finish_turn(self.conversation_id, [reply], user_id=self.user_id, usage=events,
                                   strategy=strategy.name, strategy_state=strategy.state(),
                                   release=reservation.request_id if reservation else None)
        except BaseException:
            self._unsend(reply)
            raise
        text = "".join(getattr(b, "text", "") for b in response.content if getattr(b, "type", "") == "text")
        self.last = SentTurn(turn.index, turn.start, turn.end, turn.messages, reply=text, payload=payload,
                             usage=usage, cost_usd=events[0].cost_usd,
                             side_cost_usd=round(sum(e.cost_usd for e in events[1:]), 10), request_id=request_id,
                             stop_reason=response.stop_reason, resent=tuple(m.id for m in resent),
                             response=response)
        return self.last

    def _side_events(self) -> list[UsageEvent]:
        side = getattr(self.strategy, "side_usage", [])
        new, self._side_seen = side[self._side_seen:], len(side)
        kind = SIDE_KINDS.get(self.strategy.name, f"{self.strategy.name}-side")
        return [usage_event(self.user_id, model, usage, conversation_id=self.conversation_id, kind=kind,
                            response_id=None) for model, usage in new]

    def _unsend(self, message: Message) -> None:
        """Take back a message that was never stored (in memory only)."""
        self.conversation.discard_last(message)
        forget = getattr(self.strategy, "forget", None)
        if forget is not None:
            forget(self.conversation)

    def _release_quietly(self, request_id: str) -> None:
        try:
            self.store.release(request_id, user_id=self.user_id)
        except Exception as e:  # resume releases it later
            log.warning("convolab: could not release reservation %s (%s); resume will", request_id, e)

    # -- the chapter's API -------------------------------------------------------------------
    def chat(self, text: str) -> str:
        """Send ``text`` and return the reply's text (the chapter's ``chat``)."""
        return self.send(text).reply

    @property
    def stats(self) -> dict[str, Any]:
        """The chapter's ``stats``, from the ledger: turns, messages, tokens, cost, and what the
        last payload sent and left out."""
        events = self.store.usage_events(self.user_id, conversation_id=self.conversation_id)
        replies = [e for e in events if e.kind == "reply"]
        last = self.last
        return {
            "strategy": self.strategy.name,
            "turns": self._turns,
            "messages": len(self.conversation.messages),
            "requests": len(events),
            "input_tokens": sum(e.input_tokens for e in events),
            "cache_write_tokens": sum(e.cache_creation_input_tokens for e in events),
            "cache_read_tokens": sum(e.cache_read_input_tokens for e in events),
            "output_tokens": sum(e.output_tokens for e in events),
            "cost_usd": round(sum(e.cost_usd for e in events), 6),
            "side_cost_usd": round(sum(e.cost_usd for e in events if e.kind != "reply"), 6),
            "last_input_tokens": last.payload.input_tokens if last and last.payload else None,
            "last_sent_messages": len(last.payload.sent) if last and last.payload else None,
            "last_left_out": len(last.payload.left_out) if last and last.payload else None,
            "reply_requests": len(replies),
        }

    def usage(self) -> list[UsageEvent]:
        """This conversation's ledger rows, oldest first."""
        return self.store.usage_events(self.user_id, conversation_id=self.conversation_id)

    def __repr__(self) -> str:
        return (f"ChatSession(conversation_id={self.conversation_id!r}, user_id={self.user_id!r}, "
                f"strategy={self.strategy.name!r}, messages={len(self.conversation.messages)})")
