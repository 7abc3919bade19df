"""``ChatSession``: one persistent conversation, a strategy, a client and a store, crash-safe.

``send(content) -> SentTurn`` runs the turn written once in ``convolab.turn`` (checked content,
two transactions around the API call, every request reserved before it is sent and booked
after; ``docs/persistence.md`` has what a crash at each point leaves). ``ChatSession`` is its
synchronous driver; ``convolab.AsyncChatSession`` is the same session for ``asyncio``.
"""

from __future__ import annotations

from typing import Any

from convolab.costs import CostTracker
from convolab.metering import IDEMPOTENCY_HEADER
from convolab.model import DEFAULT_MODEL, Conversation
from convolab.sending import create_message
from convolab.steps import run
from convolab.stores.base import Store, UsageEvent
from convolab.strategies.base import Strategy
from convolab.tokens import TokenCounter
from convolab.turn import Recovery, SentTurn, SessionCore, SessionView

__all__ = ["IDEMPOTENCY_HEADER", "ChatSession", "Recovery", "SentTurn"]


class ChatSession(SessionView):
    """A conversation that persists every message before it answers.

    ``ChatSession(store=, user_id=, strategy=, client=, system_prompt=, model=, conversation_id=None,
    daily_budget_usd=None)`` starts a new conversation (or continues ``conversation_id``);
    ``send(content) -> SentTurn``; ``chat(text) -> str`` and ``stats`` for quick use.
    ``strategy`` is a ``Strategy`` or its name (``"full"``, ``"sliding"``, ...; default
    ``Summarizing()``); the client defaults to ``convolab.client()``; ``counter`` counts the
    strategy's side calls for their reservations (default ``local_counter()``: ``SimTokenCounter``,
    local and request-free; ``convolab.strategies.base.local_counter`` says why).
    """

    def __init__(self, *, store: Store, user_id: str, strategy: Strategy | str | None = None, client: Any = None,
                 system_prompt: str | list[dict[str, Any]] = "", model: str = DEFAULT_MODEL,
                 conversation_id: str | None = None, daily_budget_usd: float | None = None,
                 tools: list[dict[str, Any]] | None = None, title: str | None = None,
                 metadata: dict[str, Any] | None = None, tracker: CostTracker | None = None,
                 counter: TokenCounter | None = None):
        if client is None:
            from convolab.clients import client as make_client

            client = make_client()
        self.client = client
        self._core = SessionCore(store=store, user_id=user_id, strategy=strategy, system_prompt=system_prompt,
                                 model=model, conversation_id=conversation_id, daily_budget_usd=daily_budget_usd,
                                 tools=tools, title=title, metadata=metadata, tracker=tracker, counter=counter)
        self._side = self._core.side_client(
            lambda request, betas, headers: create_message(self.client, request, betas=betas, extra_headers=headers))
        run(self._core.open_steps(), client)

    @classmethod
    def resume(cls, store: Store, conversation_id: str, *, user_id: str, strategy: Strategy | str | None = None,
               client: Any = None, daily_budget_usd: float | None = None, **kwargs: Any) -> ChatSession:
        """Continue a stored conversation: history and strategy state restored; what a crash
        left behind is settled and reported in ``session.recovered``."""
        return cls(store=store, user_id=user_id, strategy=strategy, client=client, conversation_id=conversation_id,
                   daily_budget_usd=daily_budget_usd, **kwargs)

    def switch_strategy(self, strategy: Strategy | str) -> None:
        """Use ``strategy`` (an object or a name) from the next turn on, on the same conversation.
        Its state stored for this conversation (from an earlier switch or session) is restored; a
        strategy never used here starts fresh (a summary or memory builds up from the turns that follow)."""
        run(self._core.switch_steps(strategy), self.client)

    def fork(self, *, at_turn: int, strategy: Strategy | str, client: Any = None) -> ChatSession:
        """What if this conversation had used ``strategy``? A new stored conversation that
        repeats this one's first ``at_turn`` turns (messages copied with new ids) and goes on
        under ``strategy``; this conversation is left untouched.

        The new strategy reads the copied turns as if it had been in use from the start, so a
        summary or memory holds what it would have held by then: ``Summarizing`` and
        ``StructuredMemory`` make their side calls now, with ``client`` (default: this session's),
        reserved against the daily budget and booked in the fork's ledger. The fork's metadata
        records ``forked_from`` (this conversation's id) and ``fork_at_turn``. Returns a session on
        the fork with this session's user, daily budget and tracker. ``at_turn=0`` keeps only the
        system prompt; a turn still waiting for its reply cannot be forked at
        (``InvalidConversation``); a refused side call (``BudgetExceeded``) archives the fork.
        """
        fork_id = run(self._core.fork_steps(at_turn), self.client)
        fork = ChatSession(store=self.store, user_id=self.user_id, strategy=strategy, client=client or self.client,
                           conversation_id=fork_id, daily_budget_usd=self.daily_budget_usd, tracker=self.tracker,
                           counter=self._core.counter)
        run(fork._core.warm_steps(fork._side), fork.client)
        return fork

    # -- the turn ----------------------------------------------------------------------------
    def send(self, content: str | list[dict[str, Any]]) -> SentTurn:
        """Send a user message and return the exchange; persisted before it returns.

        Content the API would refuse raises ``InvalidMessage`` and stores nothing; see
        ``convolab.turn`` for how a failed request is settled."""
        return run(self._core.send_steps(content, self._side), self.client)

    def chat(self, text: str) -> str:
        """Send ``text`` and return the reply's text."""
        return self.send(text).reply

    # -- what reads the store (the other state is in SessionView) ----------------------------
    def history(self) -> Conversation:
        """The whole stored conversation, rejected messages included (``Message.rejected``)."""
        return self.store.load_conversation(self.conversation_id, user_id=self.user_id)

    def usage(self) -> list[UsageEvent]:
        """This conversation's ledger rows, oldest first."""
        return self.store.usage_events(self.user_id, conversation_id=self.conversation_id)

    @property
    def stats(self) -> dict[str, Any]:
        """Turns, messages, tokens and cost from the ledger, and what the last payload sent and left out."""
        return self._core.stats(self.usage())
