"""Talking to the real API during an evaluation: recorded, capped, concurrent.

``LiveClient`` answers every request of an evaluation (turns, questions, side calls, judge
calls), in this order of preference:

1. from the recording (``convolab.eval.recording``), when the exact request is there: it is
   never sent again;
2. when a replay may not send (``--replay-from``): from the task's local simulator, counted as
   missing (the run then ends with ``NotRecorded`` naming how many);
3. else it is sent through ``Sender`` (the async SDK client on an event loop of its own, at most
   ``concurrency`` requests in flight, each with an ``Idempotency-Key`` equal to its request
   key, so that a retried lost answer is not billed twice by an API that honours the key; the
   SDK retries 429 after its ``retry-after`` and 529 with backoff), and the response is
   recorded (committed) before the evaluation sees it.

``Spend`` keeps the evaluation's spend: every response it uses, fresh or recorded, at the cost
recorded with it. Before sending, a request reserves an upper bound of its cost (its body's
characters / 3 as prompt tokens at the dearest prompt rate, plus ``max_tokens`` at the output
rate); if spend plus reservations would pass ``--max-usd``, ``SpendCapReached`` is raised and
no further request is sent by any task. The run can be resumed: what was answered is recorded.

Identical requests from different tasks (two strategies that send the same payload) are sent
once: the second waits for the first and takes its recorded answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

from convolab.errors import SpendCapReached
from convolab.eval import kinds
from convolab.eval.recording import Responses, request_key
from convolab.eval.replay import UsageTotals
from convolab.pricing import batch_multiplier, cost_usd, price_for, usage_tokens

__all__ = ["LiveClient", "Sender", "SimulatorSender", "Spend", "TaskClient", "upper_cost"]

CHARS_PER_TOKEN = 3  # fewer than any Claude tokenizer gives for text: an over-estimate of the prompt


def upper_cost(body: dict[str, Any], at: date | None = None, *, batch: bool = False) -> float:
    """An upper bound of what ``body`` can cost: its prompt as ``CHARS_PER_TOKEN`` characters per
    token at the dearest prompt rate (1-hour cache write), plus ``max_tokens`` at the output rate."""
    prompt = len(json.dumps({k: v for k, v in body.items() if k != "model"}, ensure_ascii=False)) // CHARS_PER_TOKEN
    p = price_for(body["model"], at=at, prompt_tokens=prompt)
    usd = (prompt * max(p.input, p.cache_write_5m, p.cache_write_1h) + int(body.get("max_tokens") or 0) * p.output) / 1e6
    return usd * (batch_multiplier() if batch else 1.0)


class Spend:
    """The spend of one evaluation against its cap (thread-safe)."""

    def __init__(self, limit_usd: float | None = None):
        self.limit_usd = limit_usd
        self.spent = 0.0
        self.reserved = 0.0
        self.stopped = False
        self._lock = threading.Lock()

    def reserve(self, estimate: float) -> None:
        with self._lock:
            if self.stopped or (self.limit_usd is not None and self.spent + self.reserved + estimate > self.limit_usd):
                self.stopped = True
                raise SpendCapReached(self.spent, estimate, self.limit_usd or 0.0)
            self.reserved += estimate

    def settle(self, estimate: float, cost: float) -> None:
        with self._lock:
            self.reserved -= estimate
            self.spent += cost

    def add(self, cost: float) -> None:
        with self._lock:
            self.spent += cost

    def stop(self) -> None:
        """Send nothing more (another task failed): the next send raises ``SpendCapReached``."""
        with self._lock:
            self.stopped = True


class Sender:
    """``send(body, betas, key)`` from any thread: the async SDK client, on its own event loop,
    with at most ``concurrency`` requests in flight. Key and base URL come from the environment
    (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``) as the SDK reads them."""

    def __init__(self, concurrency: int = 4, *, max_retries: int = 8, **options: Any):
        import anthropic

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="convolab-live", daemon=True)
        self._thread.start()
        self.client = anthropic.AsyncAnthropic(max_retries=max_retries, **options)
        self.sync = anthropic.Anthropic(max_retries=max_retries, **options)  # batches: few, slow calls
        self._slots = asyncio.Semaphore(concurrency)

    def send(self, body: dict[str, Any], betas: Sequence[str], key: str) -> str:
        """The API's JSON answer to ``body`` (raises the SDK's errors once its retries are spent)."""
        return asyncio.run_coroutine_threadsafe(self._send(body, betas, key), self.loop).result()

    async def _send(self, body: dict[str, Any], betas: Sequence[str], key: str) -> str:
        headers = {"Idempotency-Key": key}
        async with self._slots:
            if betas:
                raw = await self.client.beta.messages.with_raw_response.create(**body, betas=list(betas),
                                                                               extra_headers=headers)
            else:
                raw = await self.client.messages.with_raw_response.create(**body, extra_headers=headers)
        return raw.http_response.text

    def close(self) -> None:
        """Cancel what is still in flight (its callers get ``CancelledError``, nobody waits
        forever: Ctrl-C ends the run), close the clients, stop the loop."""
        async def shutdown() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await self.client.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=30)
        self.sync.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)


class SimulatorSender:
    """A ``Sender`` answered by an in-process simulator: the plan's dry run goes through the
    same client, recording and order as a live run, only the transport differs."""

    sync = None  # no Message Batches client: a plan prices batches, it does not send them

    def __init__(self, simulator: Any):
        self.simulator = simulator

    def send(self, body: dict[str, Any], betas: Sequence[str], key: str) -> str:
        from convolab.eval.direct import status_error

        headers = {"anthropic-beta": ",".join(betas)} if betas else {}
        status, data = self.simulator.handle_json("/v1/messages", body, headers)
        if status >= 400:
            raise status_error(status, data)
        return json.dumps(data)

    def close(self) -> None:
        """Nothing to release."""


def _parse(text: str, beta: bool) -> Any:
    from anthropic.types import Message
    from anthropic.types.beta import BetaMessage

    return (BetaMessage if beta else Message).model_validate_json(text)


def _usage(text: str) -> dict[str, Any]:
    return json.loads(text).get("usage") or {}


class LiveClient:
    """Answers an evaluation's requests from its recording, else from the API (see the module
    docstring). ``sender=None``: a replay, which never sends. ``on_answer(cost, sent)`` is
    called after each answer (for a progress bar)."""

    def __init__(self, recording: Responses, *, sender: Sender | SimulatorSender | None = None,
                 spend: Spend | None = None,
                 run_id: str | None = None, priced_at: date | None = None,
                 on_answer: Callable[[float, bool], None] | None = None):
        self.recording = recording
        self.sender = sender
        self.spend = spend or Spend()
        self.run_id = run_id
        self.priced_at = priced_at
        self.on_answer = on_answer
        self.requests = 0
        self.sent = 0
        self.missing = 0
        self.sent_by_kind: dict[str, UsageTotals] = {}  # what was sent (and billed), by kind of request
        self._inflight: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def for_task(self, fallback: Any = None) -> TaskClient:
        """A client for one task; ``fallback`` (a simulator client) answers what a replay lacks."""
        return TaskClient(self, fallback)

    def answer(self, body: dict[str, Any], betas: Sequence[str], fallback: Any = None) -> Any:
        """The response to one request (an SDK ``Message``; ``BetaMessage`` with betas)."""
        key = request_key(body, betas)
        with self._lock:
            self.requests += 1
            waiting = self._inflight.get(key)
            if waiting is None:
                self._inflight[key] = threading.Event()
        if waiting is not None:
            waiting.wait()
        try:
            return self._answer(key, body, betas, fallback)
        finally:
            if waiting is None:
                with self._lock:
                    self._inflight.pop(key).set()

    def _answer(self, key: str, body: dict[str, Any], betas: Sequence[str], fallback: Any) -> Any:
        found = self.recording.get(key)
        if found is not None:
            self.spend.add(found.cost_usd)
            self._done(found.cost_usd, False)
            return _parse(found.response, bool(betas))
        if self.sender is None:
            with self._lock:
                self.missing += 1
            if fallback is None:
                raise LookupError("request not recorded and no fallback to answer it")
            return fallback.beta.messages.create(**body, betas=list(betas)) if betas else \
                fallback.messages.create(**body)
        estimate = upper_cost(body, self.priced_at) if self.spend.limit_usd is not None else 0.0
        self.spend.reserve(estimate)
        cost = 0.0
        try:
            text = self.sender.send(body, betas, key)
            cost = self.record(key, body, betas, text)
        finally:
            self.spend.settle(estimate, cost)
        self._done(cost, True)
        return _parse(text, bool(betas))

    def record(self, key: str, body: dict[str, Any], betas: Sequence[str], text: str) -> float:
        """Store one answer in the recording (committed before it is used), count it as sent,
        by the kind of request being made; returns its cost."""
        usage = _usage(text)
        cost = cost_usd(body["model"], usage, self.priced_at)
        t = usage_tokens(usage)
        tokens = {"input_tokens": t["input"], "cache_write_tokens": t["cache_write_5m"] + t["cache_write_1h"],
                  "cache_read_tokens": t["cache_read"], "output_tokens": t["output"]}
        what = kinds.current()
        self.recording.put(key, body, betas, text, tokens, cost, usage.get("service_tier"), self.run_id, what)
        with self._lock:
            self.sent += 1
            self.sent_by_kind.setdefault(what, UsageTotals()).add(body["model"], usage, self.priced_at)
        return cost

    def _done(self, cost: float, sent: bool) -> None:
        if self.on_answer is not None:
            self.on_answer(cost, sent)


class TaskClient:
    """What one task's strategy and replay see: ``messages.create`` and
    ``beta.messages.create``, answered by the shared ``LiveClient``."""

    def __init__(self, live: LiveClient, fallback: Any = None):
        self.live = live
        self.fallback = fallback
        self.messages = SimpleNamespace(create=self._create)
        self.beta = SimpleNamespace(messages=SimpleNamespace(create=self._create_beta))

    def _create(self, **body: Any) -> Any:
        return self.live.answer(body, (), self.fallback)

    def _create_beta(self, *, betas: Sequence[str] = (), **body: Any) -> Any:
        return self.live.answer(body, tuple(betas), self.fallback)
