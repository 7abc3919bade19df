"""``AsyncChatSession``: the chapter's ``PersistentAssistant``, async, crash-safe and honest.

Like the chapter's assistant it serves many conversations from one object: ``start_session``,
``chat`` with the recent 30 messages from the store, and a summary of older messages injected
when the recent ones no longer fit ``max_context_tokens``, refreshed in the background. Unlike
it, the user's message is stored *before* the API call, the reply with its usage event after it
in one transaction (the same two transactions as ``ChatSession``), the budget is checked before
spending, the summary goes into the system prompt (not a made-up user/assistant exchange), the
recent window starts on a user turn, and background summaries are awaited by ``aclose()`` so
shutting down never loses one that was under way.

The store is synchronous; its calls run in a worker thread (``asyncio.to_thread``) so the event
loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from convolab.costs import CostTracker, usage_event, worst_case_usd
from convolab.errors import ContextOverflow
from convolab.history import HistoryIndex
from convolab.model import DEFAULT_MODEL, Conversation, Message, content_text, new_id, unanswered
from convolab.repair import repair_messages
from convolab.session import IDEMPOTENCY_HEADER, SentTurn
from convolab.stores.base import Reservation, Store
from convolab.strategies.base import default_counter
from convolab.strategies.summarizing import SUMMARY_MARKER

log = logging.getLogger("convolab")


class AsyncChatSession:
    """Many persistent conversations through one async client.

    ``max_context_tokens`` caps the input of each request (system prompt and summary included);
    ``recent_limit`` messages are read from the store per turn; once a conversation has more than
    ``summarize_after`` recent messages, the older two thirds of them are folded into its summary
    by ``summary_model`` in a background task.
    """

    def __init__(self, store: Store, *, client: Any = None, model: str = DEFAULT_MODEL,
                 max_context_tokens: int = 10_000, summary_model: str = "claude-haiku-4-5",
                 recent_limit: int = 30, summarize_after: int = 24, max_tokens: int = 1024,
                 summary_words: int = 150, daily_budget_usd: float | None = None,
                 tracker: CostTracker | None = None, counter: Any = None):
        if client is None:
            from convolab.clients import async_client

            client = async_client()
        self.store = store
        self.client = client
        self.model = model
        self.max_context_tokens = max_context_tokens
        self.summary_model = summary_model
        self.recent_limit = recent_limit
        self.summarize_after = summarize_after
        self.max_tokens = max_tokens
        self.summary_words = summary_words
        self.daily_budget_usd = daily_budget_usd
        self.tracker = tracker or CostTracker(store)
        self.counter = counter or default_counter()
        self._tasks: dict[str, asyncio.Task[None]] = {}  # conversation id -> its running summary
        self.errors: list[BaseException] = []  # background summaries that failed (also logged)

    async def start_session(self, user_id: str, system_prompt: str, **kwargs: Any) -> str:
        """Create a conversation (``title``, ``metadata``, ``tools``, ``model`` may be given)."""
        model = kwargs.pop("model", self.model)
        return await asyncio.to_thread(self.store.create_conversation, user_id, system_prompt, model, **kwargs)

    async def chat(self, session_id: str, user_message: str | list[dict[str, Any]], *, user_id: str) -> SentTurn:
        """One turn of conversation ``session_id``; stored before it returns."""
        record = await asyncio.to_thread(self.store.get_conversation, session_id, user_id=user_id)
        rows = await asyncio.to_thread(self.store.get_recent_messages, session_id, self.recent_limit, user_id=user_id)
        conv = Conversation(session_id=session_id, system_prompt=record.system_prompt, model=record.model,
                            tools=record.tools, messages=[_message(r) for r in rows])
        resent = unanswered(conv.messages)
        msg = conv.add("user", user_message)
        request, input_tokens, _ = await self._build(conv, user_id)

        request_id = new_id()
        reservation = None
        if self.daily_budget_usd is not None:
            reservation = Reservation(request_id, user_id, worst_case_usd(record.model, input_tokens, self.max_tokens),
                                      conversation_id=session_id, message_id=msg.id, model=record.model)
        await asyncio.to_thread(self.store.begin_turn, session_id, [msg], user_id=user_id,
                                reservation=reservation, daily_limit_usd=self.daily_budget_usd,
                                day_start=self.tracker.day_start() if reservation else None)
        try:
            response = await self.client.messages.create(**request, extra_headers={IDEMPOTENCY_HEADER: request_id})
        except BaseException:
            if reservation is not None:
                await asyncio.to_thread(self.store.release, request_id, user_id=user_id)
            raise
        usage = response.usage
        reply = conv.add("assistant", response.content or "", input_tokens=usage.input_tokens,
                         output_tokens=usage.output_tokens,
                         metadata={"model": response.model, "stop_reason": response.stop_reason,
                                   "request_id": request_id, "response_id": response.id})
        event = usage_event(user_id, record.model, usage, request_id=request_id, conversation_id=session_id,
                            response_id=response.id)
        await asyncio.to_thread(self.store.finish_turn, session_id, [reply], user_id=user_id, usage=[event],
                                release=reservation.request_id if reservation else None)
        if len(rows) + 2 > self.summarize_after and session_id not in self._tasks:
            task = asyncio.create_task(self._summarize(session_id, user_id), name=f"convolab-summary-{session_id}")
            self._tasks[session_id] = task
            task.add_done_callback(lambda t, sid=session_id: self._done(sid, t))
        start = conv.index_of(resent[0].id if resent else msg.id)
        text = "".join(getattr(b, "text", "") for b in response.content if getattr(b, "type", "") == "text")
        return SentTurn(0, start, len(conv.messages), tuple(conv.messages[start:]), reply=text, usage=usage,
                        cost_usd=event.cost_usd, request_id=request_id, stop_reason=response.stop_reason,
                        resent=tuple(m.id for m in resent), response=response)

    async def _build(self, conv: Conversation, user_id: str) -> tuple[dict[str, Any], int, int]:
        """The request: recent whole turns that fit, with the summary in the system prompt when
        they do not all fit. Returns (request, input tokens, messages sent)."""
        idx = HistoryIndex(conv, self.counter, conv.model)
        starts = idx.turn_starts
        first = next((s for s in starts if conv.messages[s].role == "user"), len(conv.messages) - 1)
        system: list[dict[str, Any]] = [{"type": "text", "text": conv.system_prompt}] if isinstance(
            conv.system_prompt, str) and conv.system_prompt else list(conv.system_prompt or [])
        fixed = self.counter.count_system(system or None, model=conv.model) + self.counter.count_tools(
            conv.tools, model=conv.model)
        if fixed + idx.tokens(first) > self.max_context_tokens:
            summary = await asyncio.to_thread(self.store.get_latest_summary, conv.session_id, user_id=user_id)
            if summary:
                system = [*system, {"type": "text", "text": f"[Summary of the earlier conversation]\n{summary}"}]
                fixed = self.counter.count_system(system, model=conv.model) + self.counter.count_tools(
                    conv.tools, model=conv.model)
            w = idx.window(budget_tokens=max(self.max_context_tokens - fixed, 0), min_start=first)
            if w.empty:
                raise ContextOverflow(fixed + idx.tokens(starts[-1]), self.max_context_tokens,
                                      hint="The system prompt, summary and this message exceed max_context_tokens.")
            first = w.start
        messages, _ = repair_messages(conv.messages[first:], for_request=True)
        request: dict[str, Any] = {"model": conv.model, "max_tokens": self.max_tokens, "messages": messages}
        if system:
            request["system"] = system
        if conv.tools:
            request["tools"] = conv.tools
        return request, fixed + idx.tokens(first), len(conv.messages) - first

    async def _summarize(self, session_id: str, user_id: str) -> None:
        """Fold the older two thirds of the recent messages into a new summary version."""
        rows = await asyncio.to_thread(self.store.get_recent_messages, session_id, self.recent_limit, user_id=user_id)
        older = rows[: len(rows) * 2 // 3]
        summaries = await asyncio.to_thread(self.store.get_summaries, session_id, user_id=user_id)
        done = set(summaries[-1]["covers"] or []) if summaries else set()
        fresh = [r for r in older if r["id"] not in done]
        if len(fresh) < 6:
            return
        previous = summaries[-1]["summary"] if summaries else ""
        transcript = "\n".join(f"{'User' if r['role'] == 'user' else 'Assistant'}: {content_text(r['content'])[:1000]}"
                               for r in fresh)
        prompt = (f"{SUMMARY_MARKER} Update the summary of our conversation with the new part below, keeping "
                  f"names, numbers, dates, decisions and what the user requires, in at most {self.summary_words} "
                  f"words.\n\nSummary so far:\n{previous or '(none)'}\n\nNew part:\n{transcript}")
        response = await self.client.messages.create(model=self.summary_model, max_tokens=self.summary_words * 3,
                                                     messages=[{"role": "user", "content": prompt}])
        text = "".join(getattr(b, "text", "") for b in response.content if getattr(b, "type", "") == "text").strip()
        covers = [*(summaries[-1]["covers"] or [] if summaries else []), *(r["id"] for r in fresh)]
        event = usage_event(user_id, self.summary_model, response.usage, conversation_id=session_id, kind="summary",
                            response_id=response.id)
        await asyncio.to_thread(self.store.record_usage, event)
        await asyncio.to_thread(self.store.save_summary, session_id, text or previous, len(covers), user_id=user_id,
                                covers=covers, model=self.summary_model)

    def _done(self, session_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(session_id, None)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())
            log.warning("convolab: background summary of %s failed: %s", session_id, task.exception())

    async def aclose(self) -> None:
        """Wait for background summaries to be saved (call before shutting down)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def __aenter__(self) -> AsyncChatSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _message(row: dict[str, Any]) -> Message:
    return Message(row["role"], row["content"], id=row["id"], seq=row["seq"], created_at=row["created_at"],
                   input_tokens=row.get("input_tokens") or 0, output_tokens=row.get("output_tokens") or 0,
                   metadata=row.get("metadata") or {})


__all__ = ["AsyncChatSession"]
