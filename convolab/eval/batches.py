"""``--batch``: independent requests (a task's questions, the judge's calls) sent through the
Message Batches API at its price, recorded and resumable like every other live request.

``BatchSender.send(requests)`` answers a list of ``(body, betas)``:

1. requests already in the recording are not sent again;
2. batches an interrupted run created (the recording's ``batches`` table, written right after
   each batch is created) are collected first, so a rerun does not pay for them twice;
3. the rest go out as new batches (one per set of beta headers, at most 100,000 requests
   each; ``custom_id`` is the request key), after reserving their upper-bound cost against the
   spend cap; the batch is polled (every ``poll`` seconds, growing to a minute) until it ends;
   every succeeded result is recorded; expired, canceled and errored ones (but invalid
   requests, which fail for good) are sent again in a new batch, ``rounds`` times at most,
   then one by one at the standard price.

Replies are then read back from the recording (``LiveClient.answer``), which counts their cost.
Two tasks asking the same request at once share one copy of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

from convolab.errors import ConvolabError
from convolab.eval.live import LiveClient, upper_cost
from convolab.eval.recording import request_key

__all__ = ["MAX_PER_BATCH", "BatchFailed", "BatchSender"]

MAX_PER_BATCH = 100_000
Request = tuple[dict[str, Any], tuple[str, ...]]


class BatchFailed(ConvolabError):
    """A request of a batch was refused as invalid; sending it again cannot help."""


class BatchSender:
    """Sends requests through ``client.messages.batches`` (a sync ``anthropic.Anthropic``) for
    ``live``, which records them and keeps the spend."""

    def __init__(self, live: LiveClient, client: Any, *, poll: float = 1.0, max_poll: float = 60.0, rounds: int = 3,
                 on_batch: Callable[[str, str], None] | None = None):
        self.live = live
        self.client = client
        self.poll, self.max_poll, self.rounds = poll, max_poll, rounds
        self.on_batch = on_batch  # (batch id, "created" | "ended"), for the progress display
        self._claims: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def sender_for(self, task_client: Any) -> Callable[[list[Any]], list[Any]]:
        """``send`` for one task's question payloads (``Payload.request``/``.betas``)."""
        return lambda payloads: self.send([(p.request, tuple(p.betas)) for p in payloads], task_client.fallback)

    def send(self, requests: Sequence[Request], fallback: Any = None) -> list[Any]:
        """The replies to ``requests``, in order (see the module docstring)."""
        if self.live.sender is not None:
            keys = {request_key(b, betas): (b, betas) for b, betas in requests}
            todo = {k: r for k, r in keys.items() if self.live.recording.get(k) is None}
            mine, theirs = self._claim(todo)
            try:
                self._fill({k: todo[k] for k in mine})
            finally:
                self._release(mine)
            for event in theirs:
                event.wait()
        return [self.live.answer(b, betas, fallback) for b, betas in requests]

    def _claim(self, todo: dict[str, Request]) -> tuple[list[str], list[threading.Event]]:
        with self._lock:
            mine = [k for k in todo if k not in self._claims]
            theirs = [self._claims[k] for k in todo if k in self._claims]
            for k in mine:
                self._claims[k] = threading.Event()
        return mine, theirs

    def _release(self, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._claims.pop(k).set()

    def _fill(self, todo: dict[str, Request]) -> None:
        """Record an answer for every request of ``todo``."""
        for batch_id, keys in self.live.recording.open_batches().items():
            if todo.keys() & set(keys):
                self._collect(batch_id, todo)
        for _ in range(self.rounds):
            if not todo:
                return
            for betas, group in groupby(sorted(todo.items(), key=lambda kv: kv[1][1]), key=lambda kv: kv[1][1]):
                items = list(group)
                for start in range(0, len(items), MAX_PER_BATCH):
                    self._run(dict(items[start:start + MAX_PER_BATCH]), betas, todo)
        for key, (body, betas) in list(todo.items()):  # what batches would not do: one by one
            self.live.answer(body, betas)
            del todo[key]

    def _run(self, chunk: dict[str, Request], betas: tuple[str, ...], todo: dict[str, Request]) -> None:
        estimate = sum(upper_cost(body, self.live.priced_at, batch=True) for body, _ in chunk.values())
        self.live.spend.reserve(estimate)
        try:
            requests = [{"custom_id": k, "params": body} for k, (body, _) in chunk.items()]
            api = self.client.beta.messages.batches if betas else self.client.messages.batches
            batch = api.create(requests=requests, **({"betas": list(betas)} if betas else {}))
            self.live.recording.add_batch(batch.id, list(chunk))
            if self.on_batch:
                self.on_batch(batch.id, "created")
            self._collect(batch.id, todo)
        finally:
            self.live.spend.settle(estimate, 0.0)  # each reply's cost is counted when it is used

    def _collect(self, batch_id: str, todo: dict[str, Request]) -> None:
        """Wait for ``batch_id`` to end, record its succeeded results, drop them from ``todo``."""
        import anthropic

        api = self.client.messages.batches
        wait = self.poll
        try:
            while api.retrieve(batch_id).processing_status != "ended":
                time.sleep(wait)
                wait = min(wait * 2, self.max_poll)
            results = list(api.results(batch_id))
        except anthropic.NotFoundError:  # gone (deleted, or its results archived): send again
            self.live.recording.batch_collected(batch_id)
            return
        for r in results:
            if r.result.type == "succeeded":  # paid for: recorded, also when no task waits for it now
                body, betas = todo.pop(r.custom_id, ({"model": r.result.message.model}, ()))
                self.live.record(r.custom_id, body, betas, r.result.message.model_dump_json())
            elif r.result.type == "errored" and r.result.error.error.type == "invalid_request_error":
                raise BatchFailed(f"message batch {batch_id}: request {r.custom_id} was refused: "
                                  f"{r.result.error.error.message}")
        self.live.recording.batch_collected(batch_id)
        if self.on_batch:
            self.on_batch(batch_id, "ended")
