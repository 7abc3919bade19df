"""``AsyncChatSession``: ``ChatSession`` for ``asyncio``, the same turn written once.

``AsyncChatSession(store=, user_id=, strategy=, client=, system_prompt=, ...)`` takes what
``ChatSession`` takes (the client is an ``anthropic.AsyncAnthropic``); ``await s.send(content)``
returns the same ``SentTurn`` and ``await AsyncChatSession.resume(...)`` continues a stored
conversation. Both run the steps of ``convolab.turn``: the request goes out on the async client
(``Payload.acreate``, streamed past the SDK's non-streaming limit); the store and the strategy
run in a worker thread, so the event loop never waits on the database, and the strategy's side
calls are sent on the same async client from there. One turn at a time per session (a lock);
many sessions run side by side.

``PersistentAssistant`` keeps the classic shape of a persistent assistant over it: one object
serving many conversations by id (``start_session``, ``chat(session_id, text, user_id=)``), each
sending its recent turns plus a running summary (``Summarizing``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from convolab.costs import CostTracker
from convolab.metering import Sender
from convolab.model import DEFAULT_MODEL, Conversation
from convolab.sending import acreate_message
from convolab.steps import arun
from convolab.stores.base import Store, UsageEvent
from convolab.strategies.base import Strategy
from convolab.tokens import TokenCounter
from convolab.turn import SentTurn, SessionCore, SessionView

__all__ = ["AsyncChatSession", "PersistentAssistant"]


class AsyncChatSession(SessionView):
    """A conversation that persists every message before it answers, for ``asyncio``.

    The conversation is created (or loaded, and what a crash left settled) by ``await s.open()``
    or the first ``send``; ``resume`` does it at once, so ``recovered`` is there to read.
    """

    def __init__(self, *, store: Store, user_id: str, strategy: Strategy | str | None = None, client: Any = None,
                 system_prompt: str | list[dict[str, Any]] = "", model: str = DEFAULT_MODEL,
                 conversation_id: str | None = None, daily_budget_usd: float | None = None,
                 tools: list[dict[str, Any]] | None = None, title: str | None = None,
                 metadata: dict[str, Any] | None = None, tracker: CostTracker | None = None,
                 counter: TokenCounter | None = None):
        if client is None:
            from convolab.clients import async_client

            client = async_client()
        self.client = client
        self._core = SessionCore(store=store, user_id=user_id, strategy=strategy, system_prompt=system_prompt,
                                 model=model, conversation_id=conversation_id, daily_budget_usd=daily_budget_usd,
                                 tools=tools, title=title, metadata=metadata, tracker=tracker, counter=counter)
        self._lock = asyncio.Lock()

    @classmethod
    async def resume(cls, store: Store, conversation_id: str, *, user_id: str, strategy: Strategy | str | None = None,
                     client: Any = None, daily_budget_usd: float | None = None, **kwargs: Any) -> AsyncChatSession:
        """Continue a stored conversation (``ChatSession.resume``, awaited)."""
        session = cls(store=store, user_id=user_id, strategy=strategy, client=client, conversation_id=conversation_id,
                      daily_budget_usd=daily_budget_usd, **kwargs)
        return await session.open()

    async def open(self) -> AsyncChatSession:
        """Create or load the conversation (once); returns the session."""
        async with self._lock:
            if not self._core.opened:
                await arun(self._core.open_steps(), self.client)
        return self

    async def send(self, content: str | list[dict[str, Any]]) -> SentTurn:
        """Send a user message and return the exchange; persisted before it returns."""
        await self.open()
        async with self._lock:
            side = self._core.side_client(self._sender(asyncio.get_running_loop()))
            return await arun(self._core.send_steps(content, side), self.client)

    async def chat(self, text: str) -> str:
        """Send ``text`` and return the reply's text."""
        return (await self.send(text)).reply

    async def switch_strategy(self, strategy: Strategy | str) -> None:
        """Use ``strategy`` from the next turn on (``ChatSession.switch_strategy``)."""
        await self.open()
        async with self._lock:
            await arun(self._core.switch_steps(strategy), self.client)

    async def fork(self, *, at_turn: int, strategy: Strategy | str, client: Any = None) -> AsyncChatSession:
        """A new stored conversation repeating this one's first ``at_turn`` turns under
        ``strategy`` (``ChatSession.fork``, awaited); returns an open session on it."""
        await self.open()
        async with self._lock:
            fork_id = await arun(self._core.fork_steps(at_turn), self.client)
        fork = await AsyncChatSession(store=self.store, user_id=self.user_id, strategy=strategy,
                                      client=client or self.client, conversation_id=fork_id,
                                      daily_budget_usd=self.daily_budget_usd, tracker=self.tracker,
                                      counter=self._core.counter).open()
        side = fork._core.side_client(fork._sender(asyncio.get_running_loop()))
        await arun(fork._core.warm_steps(side), fork.client)
        return fork

    def _sender(self, loop: asyncio.AbstractEventLoop) -> Sender:
        """How the strategy's side calls go out: from the worker thread the strategy runs in, on
        this loop's async client, the thread waiting for the answer."""
        def send(request: dict[str, Any], betas: list[str], headers: dict[str, str]) -> Any:
            call = acreate_message(self.client, request, betas=betas, extra_headers=headers)
            return asyncio.run_coroutine_threadsafe(call, loop).result()

        return send

    # -- what reads the store (the other state is in SessionView) ----------------------------
    async def history(self) -> Conversation:
        """The whole stored conversation, rejected messages included (``Message.rejected``)."""
        return await asyncio.to_thread(self.store.load_conversation, self.conversation_id, user_id=self.user_id)

    async def usage(self) -> list[UsageEvent]:
        """This conversation's ledger rows, oldest first."""
        return await asyncio.to_thread(self.store.usage_events, self.user_id, conversation_id=self.conversation_id)

    async def stats(self) -> dict[str, Any]:
        """``ChatSession.stats``."""
        return self._core.stats(await self.usage())


class PersistentAssistant:
    """Many persistent conversations through one async client, by conversation id.

    ``await start_session(user_id, system_prompt)`` returns a new conversation's id;
    ``await chat(session_id, text, user_id=)`` is one turn of it (``SentTurn``). Each conversation
    is an ``AsyncChatSession`` with its own ``strategy()`` (default: ``Summarizing()``, the recent
    turns plus a running summary); the ``max_open`` most recently used stay in memory, others are
    resumed from the store when they speak again.
    """

    def __init__(self, store: Store, *, client: Any = None, model: str = DEFAULT_MODEL,
                 strategy: Callable[[], Strategy | str] = lambda: "summarizing",
                 daily_budget_usd: float | None = None, max_open: int = 256):
        if client is None:
            from convolab.clients import async_client

            client = async_client()
        self.store, self.client, self.model = store, client, model
        self.strategy = strategy
        self.daily_budget_usd = daily_budget_usd
        self.max_open = max_open
        self._open: OrderedDict[tuple[str, str], AsyncChatSession] = OrderedDict()

    async def start_session(self, user_id: str, system_prompt: str | list[dict[str, Any]] = "", **kwargs: Any) -> str:
        """A new conversation (``title``, ``metadata``, ``tools``, ``model`` may be given); its id."""
        kwargs.setdefault("model", self.model)
        session = await AsyncChatSession(store=self.store, user_id=user_id, strategy=self.strategy(),
                                         client=self.client, system_prompt=system_prompt,
                                         daily_budget_usd=self.daily_budget_usd, **kwargs).open()
        self._keep(session)
        return session.conversation_id

    async def chat(self, session_id: str, user_message: str | list[dict[str, Any]], *, user_id: str) -> SentTurn:
        """One turn of conversation ``session_id``; stored before it returns."""
        session = self._open.get((user_id, session_id))
        if session is None:
            session = await AsyncChatSession.resume(self.store, session_id, user_id=user_id, strategy=self.strategy(),
                                                    client=self.client, daily_budget_usd=self.daily_budget_usd)
        self._keep(session)
        return await session.send(user_message)

    def _keep(self, session: AsyncChatSession) -> None:
        key = (session.user_id, session.conversation_id)
        self._open[key] = session
        self._open.move_to_end(key)
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)

