"""The Message Batches API of the simulated Claude (``/v1/messages/batches``), as documented.

Routes: ``POST /v1/messages/batches`` (create), ``GET /v1/messages/batches`` (list, newest
first, ``limit`` 1-1000, ``after_id``, ``before_id``), ``GET .../{id}`` (retrieve),
``POST .../{id}/cancel``, ``DELETE .../{id}`` (an ended batch only) and ``GET .../{id}/results``
(JSON Lines, one ``{"custom_id", "result"}`` per request, once the batch has ended). The SDK's
``client.messages.batches`` and ``client.beta.messages.batches`` work unchanged.

Time comes from the simulator's clock, so a ``ManualClock`` drives a batch through its life:
requests finish evenly spread over ``batch_seconds`` after creation (0: all of them at the
first look after creation). Work is done lazily, at each call to a batch route: every request
whose time has come is processed exactly once by the simulator's own Messages handler (same
checks, cache, reply; its usage says ``"service_tier": "batch"``, which convolab.pricing prices
at the batch discount) and written to the simulator's journal with its batch and custom id. A
request whose time falls after ``expires_at`` (24 hours after creation) ends ``expired``; a
request not yet done when ``cancel`` is called ends ``canceled``; one the Messages API would
refuse ends ``errored`` with that error. As documented, ``request_counts`` shows every request
as ``processing`` until the whole batch has ended; results stay available for 29 days
(``archived_at``), then the results route answers 404.

Limits checked at creation (400 ``invalid_request_error``): 1 to 100,000 requests, at most
256 MB, each ``custom_id`` unique and matching ``^[a-zA-Z0-9_-]{1,64}$``, ``params`` an object.
Sources: https://platform.claude.com/docs/en/build-with-claude/batch-processing and the API
reference of each route (checked 2026-12-02).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from convolab.errors import ConfigurationError
from convolab.sim.api_error import ApiError, invalid
from convolab.sim.exchange import Exchange
from convolab.sim.pagination import page

if TYPE_CHECKING:
    from convolab.sim.exchange import Request

__all__ = ["BATCH_TTL", "MAX_BATCH_BYTES", "MAX_BATCH_REQUESTS", "RESULTS_KEPT", "Batch", "BatchQueue", "JSONLines"]

BATCH_TTL = timedelta(hours=24)
RESULTS_KEPT = timedelta(days=29)
MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PREFIX = "/v1/messages/batches"


class JSONLines(list):
    """A response body sent as JSON Lines (one object per line), not as one JSON document."""

    def encode(self) -> bytes:
        return b"".join(json.dumps(x).encode() + b"\n" for x in self)


@dataclass
class _Request:
    custom_id: str
    params: Any
    due: datetime  # when its processing finishes
    result: dict[str, Any] | None = None


@dataclass
class Batch:
    """One batch: its requests, their results, and the times of its life."""

    id: str
    created_at: datetime
    requests: list[_Request]
    beta: bool
    betas: set[str]
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    results_base: str = ""
    done: int = field(default=0)  # requests processed so far, in order

    @property
    def expires_at(self) -> datetime:
        return self.created_at + BATCH_TTL

    def counts(self) -> dict[str, int]:
        keys = ("processing", "succeeded", "errored", "canceled", "expired")
        if self.ended_at is None:
            return {k: len(self.requests) if k == "processing" else 0 for k in keys}
        out = dict.fromkeys(keys, 0)
        for r in self.requests:
            out[r.result["type"]] += 1
        return out

    def as_json(self, now: datetime) -> dict[str, Any]:
        ended = self.ended_at is not None
        status = "ended" if ended else "canceling" if self.cancel_initiated_at else "in_progress"
        archived = self.created_at + RESULTS_KEPT if now >= self.created_at + RESULTS_KEPT else None
        return {"id": self.id, "type": "message_batch", "processing_status": status,
                "request_counts": self.counts(), "created_at": _iso(self.created_at),
                "expires_at": _iso(self.expires_at), "ended_at": _iso(self.ended_at),
                "cancel_initiated_at": _iso(self.cancel_initiated_at), "archived_at": _iso(archived),
                "results_url": f"{self.results_base}{_PREFIX}/{self.id}/results" if ended else None}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


class BatchQueue:
    """The batches of one ``Simulator``; ``route`` answers the batch routes (called by the
    simulator's handler, under its lock). ``seconds``: how long a batch takes to process."""

    def __init__(self, simulator: Any, *, seconds: float = 0.0, base_url: str = ""):
        if seconds < 0:
            raise ConfigurationError("batch_seconds must be >= 0")
        self.sim = simulator
        self.seconds = seconds
        self.base_url = base_url  # results_url = base_url + /v1/messages/batches/{id}/results
        self.batches: dict[str, Batch] = {}

    def route(self, request: Request) -> tuple[int, Any, bool]:
        """Serve one request under ``/v1/messages/batches`` (registered by the ``Simulator``)."""
        method, path, query, payload = request.method, request.path, request.query, request.payload
        now = self.sim.clock.now()
        for b in self.batches.values():
            self._advance(b, now)
        parts = path[len(_PREFIX):].strip("/").split("/") if path != _PREFIX else []
        if method == "POST" and not parts:
            batch = self._create(payload, now, request.beta, set(request.betas))
            return 200, batch.as_json(now), False
        if method == "GET" and not parts:
            return 200, self._list(query, now), False
        batch = self._get(parts[0])
        if method == "GET" and len(parts) == 1:
            return 200, batch.as_json(now), False
        if method == "POST" and parts[1:] == ["cancel"]:
            if batch.ended_at is None and batch.cancel_initiated_at is None:
                batch.cancel_initiated_at = now
            return 200, batch.as_json(now), False
        if method == "DELETE" and len(parts) == 1:
            if batch.ended_at is None:
                raise invalid(f"message batch {batch.id} is still {batch.as_json(now)['processing_status']}; "
                              "cancel it and wait until it has ended before deleting it")
            del self.batches[batch.id]
            return 200, {"id": batch.id, "type": "message_batch_deleted"}, False
        if method == "GET" and parts[1:] == ["results"]:
            return 200, self._results(batch, now), False
        raise ApiError(404, "not_found_error", f"{method} {path}: not found")

    # -- routes ------------------------------------------------------------------------------
    def _create(self, payload: Any, now: datetime, beta: bool, betas: set[str]) -> Batch:
        requests = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(requests, list) or not requests:
            raise invalid("requests: a list of at least one request is required")
        if len(requests) > MAX_BATCH_REQUESTS:
            raise invalid(f"requests: at most {MAX_BATCH_REQUESTS:,} requests in a batch (got {len(requests):,})")
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        if len(body) > MAX_BATCH_BYTES:
            raise invalid(f"request body is {len(body):,} bytes; a batch may hold at most 256 MB")
        seen: set[str] = set()
        for k, r in enumerate(requests):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
                raise invalid(f"requests.{k}.custom_id: 1 to 64 letters, digits, '-' or '_' are required")
            if cid in seen:
                raise invalid(f"requests.{k}.custom_id: {cid!r} is used by an earlier request; each must be unique")
            seen.add(cid)
            if not isinstance(r.get("params"), dict):
                raise invalid(f"requests.{k}.params: an object with the Messages API parameters is required")
        bid = "msgbatch_sim_" + hashlib.blake2b(body + f"{self.sim.seed}:{len(self.batches)}:{now}".encode(),
                                                digest_size=12).hexdigest()
        n = len(requests)
        batch = Batch(bid, now, [_Request(r["custom_id"], r["params"], now + timedelta(seconds=self.seconds * (k + 1) / n))
                                 for k, r in enumerate(requests)], beta, set(betas), results_base=self.base_url)
        self.batches[bid] = batch
        return batch

    def _get(self, batch_id: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, "not_found_error", f"message batch {batch_id!r} not found")
        return batch

    def _list(self, query: dict[str, str], now: datetime) -> dict[str, Any]:
        ordered = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
        shown, more = page(ordered, [b.id for b in ordered], query)
        return {"data": [b.as_json(now) for b in shown], "has_more": more,
                "first_id": shown[0].id if shown else None, "last_id": shown[-1].id if shown else None}

    def _results(self, batch: Batch, now: datetime) -> JSONLines:
        if batch.ended_at is None:
            raise invalid(f"message batch {batch.id} has not ended yet; its results are available once "
                          "processing_status is 'ended'")
        if now >= batch.created_at + RESULTS_KEPT:
            raise ApiError(404, "not_found_error", f"the results of message batch {batch.id} were archived "
                           "29 days after it was created and are no longer available")
        return JSONLines({"custom_id": r.custom_id, "result": r.result} for r in batch.requests)

    # -- processing --------------------------------------------------------------------------
    def _advance(self, batch: Batch, now: datetime) -> None:
        """Process every request whose time has come; end the batch when nothing is left."""
        if batch.ended_at is not None:
            return
        stop = batch.cancel_initiated_at or now
        while batch.done < len(batch.requests):
            r = batch.requests[batch.done]
            if r.due > min(stop, batch.expires_at):
                break
            r.result = self._process(batch, r)
            batch.done += 1
        rest = batch.requests[batch.done:]
        if not rest:
            batch.ended_at = min(max(batch.requests[-1].due, batch.created_at), now)
        elif batch.cancel_initiated_at is not None or now >= batch.expires_at:
            kind = "canceled" if batch.cancel_initiated_at is not None else "expired"
            for r in rest:
                r.result = {"type": kind}
            batch.ended_at = batch.cancel_initiated_at or batch.expires_at

    def _process(self, batch: Batch, r: _Request) -> dict[str, Any]:
        """One request through the simulator's Messages handler, billed at the batch price."""
        sim = self.sim
        where = f"{_PREFIX}/{batch.id}/requests/{r.custom_id}"
        sim._body_digest = hashlib.blake2b(f"{batch.id}:{r.custom_id}".encode(), digest_size=10).hexdigest()
        try:
            if r.params.get("stream"):
                raise invalid("stream: streaming is not supported inside a message batch")
            message, _ = sim._messages(r.params, batch.beta, batch.betas)
        except ApiError as e:
            sim._record(Exchange(where, e.status, model=r.params.get("model"), error=e.message))
            return {"type": "errored", "error": {"type": "error", "request_id": None,
                                                 "error": {"type": e.type, "message": e.message}}}
        message["usage"]["service_tier"] = "batch"
        sim._record(Exchange(where, 200, model=r.params.get("model"), usage=message["usage"]))
        return {"type": "succeeded", "message": message}
