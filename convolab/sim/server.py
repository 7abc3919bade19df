"""The simulated Messages API: one handler that branches on the URL path, plugged into the
real anthropic SDK as its ``httpx2`` transport (sync and async).

Routes: ``POST /v1/messages`` (plain or ``stream=True``), ``POST /v1/messages/count_tokens``,
``GET /v1/models`` and ``GET /v1/models/{id}``, and the Message Batches API under
``/v1/messages/batches`` (``convolab.sim.batches``). A ``Simulator`` owns the prompt cache, the
clock, the fault plan and the responder; every client made from it shares them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2

from convolab import catalog
from convolab.errors import UnknownModel
from convolab.sim import context as cm
from convolab.sim import models_api
from convolab.sim.batches import BatchQueue, JSONLines
from convolab.sim.billing import Prompt, block_tokens, flatten
from convolab.sim.cache import CacheUsage, PromptCache
from convolab.sim.clock import Clock, SystemClock
from convolab.sim.faults import FaultPlan, Latency, SimulatedTimeout
from convolab.sim.rules import ApiError, Checked, ValidationMemo, invalid, validate
from convolab.sim.streaming import sse_body
from convolab.sim.tokenizer import Tokenizer

BASE_URL = "http://convolab-sim.invalid"
Responder = Callable[[dict[str, Any]], Any]
IDEMPOTENCY_SECONDS = 24 * 3600  # how long an Idempotency-Key's answer is kept


def _default_responder() -> Responder:
    from convolab.sim.judge import with_judge
    from convolab.sim.responder import respond

    return with_judge(respond)  # a forced ``verdict`` call gets the judge stand-in (sim/judge.py)


@dataclass
class Exchange:
    """What one request did, kept for tests and notebooks (``Simulator.history``, the last
    ``keep_history`` requests; the request body only with ``keep_requests=True``)."""

    path: str
    status: int
    model: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    request: dict[str, Any] | None = field(default=None, repr=False)
    idempotency_key: str | None = None
    replayed: bool = False  # answered from the idempotency store: not processed, not billed


class Simulator:
    """A deterministic, strict, cache-aware stand-in for the Messages API.

    Options: ``clock`` (``SystemClock`` by default; ``ManualClock`` to move time by hand),
    ``seed`` (fault draws and request ids), ``latency`` and ``faults`` (see
    ``convolab.sim.faults``), ``responder`` (a function from request body to ``Reply``; the
    default answers from the payload), ``real_sleep``, ``keep_history``/``keep_requests``, ``journal`` (a file that gets one JSON
line per request, flushed before the answer leaves: what was billed survives any client crash).
    ``client()`` and ``async_client()`` return real SDK clients that share this simulator's
    prompt cache; ``count(body)`` is ``count_tokens`` without HTTP.
    """

    def __init__(self, *, clock: Clock | None = None, seed: int = 0, latency: Any = None,
                 faults: Any = None, responder: Responder | None = None, real_sleep: bool = False,
                 keep_history: int = 1000, keep_requests: bool = False, retry_after: float = 0.01,
                 journal: str | None = None, batch_seconds: float = 0.0):
        self.clock = clock or SystemClock()
        self.seed = seed
        self.cache = PromptCache()
        self.faults = FaultPlan(faults, seed=seed, retry_after=retry_after)
        self.latency = Latency(latency)
        self.real_sleep = real_sleep
        self._responder = responder
        self.requests = 0
        self.history: list[Exchange] = []
        self.keep_history = keep_history
        self.keep_requests = keep_requests  # store each request body in history (memory-hungry)
        self._lock = threading.Lock()
        self._tokenizers: dict[str, Tokenizer] = {}
        self._body_digest = ""
        self._last_flat: tuple[Any, list[dict[str, Any]], Prompt] | None = None
        self._validation_memo = ValidationMemo()
        self.journal = journal  # a JSON Lines file: one line per request (status, usage, key, replayed)
        self._idempotent: dict[str, tuple[str, Any, int, Any, bool]] = {}  # key -> (digest, time, status, data, stream)
        self.batches = BatchQueue(self, seconds=batch_seconds, base_url=BASE_URL)  # batch_seconds: see sim/batches.py

    # -- clients ---------------------------------------------------------------------------
    def client(self, *, max_retries: int = 2, **kwargs: Any) -> anthropic.Anthropic:
        """A real ``anthropic.Anthropic`` whose HTTP goes to this simulator."""
        return anthropic.Anthropic(api_key="sim-no-key", base_url=BASE_URL, max_retries=max_retries,
                                   http_client=httpx2.Client(transport=SimTransport(self)), **kwargs)

    def async_client(self, *, max_retries: int = 2, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """A real ``anthropic.AsyncAnthropic`` whose HTTP goes to this simulator."""
        return anthropic.AsyncAnthropic(api_key="sim-no-key", base_url=BASE_URL, max_retries=max_retries,
                                        http_client=httpx2.AsyncClient(transport=AsyncSimTransport(self)),
                                        **kwargs)

    @property
    def responder(self) -> Responder:
        if self._responder is None:
            self._responder = _default_responder()
        return self._responder

    def tokenizer(self, spec: catalog.ModelSpec) -> Tokenizer:
        tok = self._tokenizers.get(spec.tokenizer)
        if tok is None:
            tok = self._tokenizers[spec.tokenizer] = Tokenizer(spec.tokenizer)
        return tok

    # -- the handler -------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: bytes,
               headers: dict[str, str] | None = None) -> httpx2.Response:
        """Answer one HTTP request (the transports call this): JSON body in, response out."""
        def parse() -> Any:
            if method != "POST":
                return None
            try:
                return json.loads(body or b"null")
            except json.JSONDecodeError as e:
                raise invalid(f"request body is not valid JSON: {e.msg}") from None

        status, data, stream, headers_out = self._serve(method, path, query, parse, body or b"", headers)
        if stream:
            return httpx2.Response(status, content=sse_body(data),
                                   headers={**headers_out, "content-type": "text/event-stream"})
        if isinstance(data, JSONLines):  # batch results
            return httpx2.Response(status, content=data.encode(),
                                   headers={**headers_out, "content-type": "application/x-jsonl"})
        return httpx2.Response(status, json=data, headers=headers_out)

    def handle_json(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """``POST path`` with an already parsed body: ``(status, response JSON)``, the same
        checks, bill and reply as ``handle``, without encoding and decoding JSON (for in-process
        clients such as ``convolab.eval.DirectClient``; ``payload`` is only read). The reply's id
        is derived from the request's number instead of its bytes; an ``Idempotency-Key`` is
        compared on the body's canonical JSON."""
        status, data, stream, _ = self._serve("POST", path, {}, lambda: payload, None, headers)
        if stream:
            raise invalid("stream: handle_json returns whole responses; use handle for streaming")
        return status, data

    def _serve(self, method: str, path: str, query: dict[str, str], parse: Callable[[], Any], body: bytes | None,
               headers: dict[str, str] | None) -> tuple[int, Any, bool, dict[str, str]]:
        with self._lock:
            n = self.requests
            self.requests += 1
            rid = "req_sim_" + hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=10).hexdigest()
            payload: Any = None
            key = (headers or {}).get("idempotency-key") if method == "POST" else None
            extra_headers: dict[str, str] = {}
            try:
                fault = self.faults.pick(n)
                self.faults.raise_for(fault)
                payload = parse()
                betas = {b.strip() for b in (headers or {}).get("anthropic-beta", "").split(",") if b.strip()}
                if body is None:  # parsed by the caller: hash what identifies the request cheaply
                    body = (json.dumps(payload, sort_keys=True).encode() if key
                            else f"{self.seed}:{n}:parsed".encode())
                self._body_digest = hashlib.blake2b(body, digest_size=10).hexdigest()
                replay = self._replay(key, self._body_digest) if key else None
                if replay is not None:
                    status, data, stream = replay
                    extra_headers["idempotent-replayed"] = "true"
                else:
                    status, data, stream = self._route(method, path, query, payload, betas)
                    if key:
                        self._idempotent[key] = (self._body_digest, self.clock.now(), status, data, stream)
            except ApiError as e:
                self._record(Exchange(path, e.status, error=e.message, request=payload if isinstance(payload, dict) else None,
                                      idempotency_key=key))
                err = {"type": "error", "error": {"type": e.type, "message": e.message}, "request_id": rid}
                return e.status, err, False, {"request-id": rid, **e.headers}
            self._record(Exchange(path, status, model=(payload or {}).get("model") if isinstance(payload, dict) else None,
                                  usage=None if replay is not None else data.get("usage") if isinstance(data, dict) else None,
                                  request=payload if isinstance(payload, dict) else None,
                                  idempotency_key=key, replayed=replay is not None))
        if fault == "lost":  # processed and billed above; the client never sees the answer
            raise SimulatedTimeout("simulated lost response (the request was processed and billed)")
        return status, data, stream, {"request-id": rid, **extra_headers}

    def _replay(self, key: str, digest: str) -> tuple[int, Any, bool] | None:
        """The stored answer to an earlier request with this ``Idempotency-Key`` (24 hours), or
        None. The same key with a different body is refused, as idempotency layers do."""
        if len(key) > 255:
            raise invalid("Idempotency-Key: at most 255 characters")
        hit = self._idempotent.get(key)
        if hit is None or (self.clock.now() - hit[1]).total_seconds() > IDEMPOTENCY_SECONDS:
            return None
        if hit[0] != digest:
            raise invalid(f"Idempotency-Key {key!r} was already used with a different request body; "
                          "use a new key for a new request")
        return hit[2], hit[3], hit[4]

    def _record(self, ex: Exchange) -> None:
        if self.journal:
            line = {"path": ex.path, "status": ex.status, "model": ex.model, "usage": ex.usage, "error": ex.error,
                    "idempotency_key": ex.idempotency_key, "replayed": ex.replayed}
            with open(self.journal, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        if not self.keep_requests:
            ex.request = None
        if self.keep_history:
            self.history.append(ex)
            del self.history[:-self.keep_history]

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any,
               betas: set[str]) -> tuple[int, Any, bool]:
        if method == "POST" and path == "/v1/messages":
            return 200, *self._messages(payload, query.get("beta") == "true" or bool(betas), betas)
        if method == "POST" and path == "/v1/messages/count_tokens":
            return 200, self._count_tokens(payload, query.get("beta") == "true" or bool(betas), betas), False
        if method == "GET" and path == "/v1/models":
            return 200, models_api.list_models(query), False
        if method == "GET" and path.startswith("/v1/models/"):
            return 200, models_api.model_info(self._spec(path.rsplit("/", 1)[1], inference=False)), False
        if path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/"):
            return self.batches.route(method, path, query, payload, betas)
        raise ApiError(404, "not_found_error", f"{method} {path}: not found (the simulator serves "
                       "/v1/messages, /v1/messages/count_tokens, /v1/messages/batches and /v1/models)")

    # -- endpoints ---------------------------------------------------------------------------
    def _spec(self, model: Any, *, inference: bool = True) -> catalog.ModelSpec:
        if not isinstance(model, str) or not model:
            raise invalid("model: Field required")
        try:
            spec = catalog.get_model(model)
        except UnknownModel:
            raise ApiError(404, "not_found_error", f"model: {model}") from None
        if inference and spec.lifecycle == "retired":  # ModelInfo.lifecycle: "inference requests naming it fail"
            raise ApiError(404, "not_found_error", f"model: {model} has been retired; see "
                           "https://platform.claude.com/docs/en/about-claude/model-deprecations")
        return spec

    def _checked(self, payload: Any, endpoint: str, beta: bool) -> tuple[catalog.ModelSpec, Checked, Prompt]:
        spec = self._spec(payload.get("model") if isinstance(payload, dict) else None)
        checked = validate(payload, spec, endpoint=endpoint, beta=beta, memo=self._validation_memo)
        return spec, checked, self._flatten(spec, checked, checked.messages, payload)

    def count(self, payload: dict[str, Any]) -> int:
        """Input tokens the request ``payload`` would be billed (what ``count_tokens`` returns)."""
        return self._checked(payload, "count_tokens", False)[2].total

    def _count_tokens(self, payload: Any, beta: bool, betas: set[str]) -> dict[str, Any]:
        if isinstance(payload, dict):  # the beta ``compaction`` parameter is accepted and ignored here
            payload = {k: v for k, v in payload.items() if k not in ("max_tokens", "stream", "compaction")}
        spec, checked, prompt = self._checked(payload, "count_tokens", beta)
        if not (beta and payload.get("context_management")):
            return {"input_tokens": prompt.total}
        edited, _, _ = self._edit(spec, checked, prompt, payload, betas, count_only=True)
        return {"input_tokens": edited.total, "context_management": {"original_input_tokens": prompt.total}}

    def _flatten(self, spec: catalog.ModelSpec, checked: Checked, messages: list[dict[str, Any]],
                 payload: dict[str, Any]) -> Prompt:
        """Flatten, reusing the units of the previous request's identical leading messages."""
        key = (spec.id, (payload.get("tool_choice") or {}).get("type"), checked.tools, checked.system)
        resume, same = None, 0
        last = self._last_flat
        if last is not None and last[0] == key:
            prev_msgs, resume = last[1], last[2]
            limit = min(len(prev_msgs), len(messages))
            while same < limit and messages[same] == prev_msgs[same]:
                same += 1
        prompt = flatten(spec.id, self.tokenizer(spec), tools=checked.tools, system=checked.system,
                         messages=messages, tool_choice=payload.get("tool_choice"),
                         cache_control=payload.get("cache_control"), resume=resume, resume_messages=same)
        self._last_flat = (key, messages, prompt)
        return prompt

    def _edit(self, spec: catalog.ModelSpec, checked: Checked, prompt: Prompt, payload: dict[str, Any],
              betas: set[str], *, count_only: bool = False) -> tuple[Prompt, list[dict[str, Any]], dict[str, Any] | None]:
        """Apply server-side context management; returns the edited prompt, the applied
        edits and, when compaction ran, ``{"block": ..., "usage": ..., "paused": bool}``."""
        edits = cm.parse(payload["context_management"], spec, betas)
        tok = self.tokenizer(spec)
        messages, applied, compaction = checked.messages, [], None
        if edits.clear:
            messages, done = cm.clear_tool_uses(messages, edits.clear, prompt.total, lambda b: block_tokens(tok, b))
            if done:
                applied.append(done)
                prompt = self._flatten(spec, checked, messages, payload)
        if edits.compact and cm.compaction_needed(edits.compact, prompt.total) and len(messages) > 1:
            from convolab.sim.responder import summarize

            words = 400
            summary = summarize(cm.transcript(messages[:-1]), max_words=words)
            block = {"type": "compaction", "content": summary}
            out_tokens = block_tokens(tok, block)
            usage = {"type": "compaction", "input_tokens": prompt.total, "output_tokens": out_tokens,
                     "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            last = messages[-1]
            head = [{"type": "text", "text": f"[Summary of earlier conversation]\n{summary}"}]
            messages = [{"role": "user", "content": head + (last["content"] if last["role"] == "user" else [])}]
            compaction = {"block": block, "usage": usage, "paused": bool(edits.compact.get("pause_after_compaction"))}
            prompt = self._flatten(spec, checked, messages, payload)
        checked.messages = messages
        return prompt, applied, compaction

    def _messages(self, payload: Any, beta: bool, betas: set[str]) -> tuple[dict[str, Any], bool]:
        spec, checked, prompt = self._checked(payload, "messages", beta)
        max_tokens = payload["max_tokens"]
        managed = beta and bool(payload.get("context_management"))
        compact_request = cm.parse_compaction_request(payload, spec) if beta else None
        if any(b.get("type") == "compaction" for m in checked.messages for b in m["content"]):
            checked.messages = cm.drop_before_compaction(checked.messages)
            prompt = self._flatten(spec, checked, checked.messages, payload)
        applied: list[dict[str, Any]] = []
        compaction = None
        if managed:
            prompt, applied, compaction = self._edit(spec, checked, prompt, payload, betas)
        if prompt.total > spec.context_window:
            raise invalid(f"prompt is too long: {prompt.total} tokens > {spec.context_window} maximum")
        if prompt.total + max_tokens > spec.context_window:
            raise invalid(f"input length and `max_tokens` exceed context limit: {prompt.total} + {max_tokens} > "
                          f"{spec.context_window}, decrease input length or `max_tokens` and try again")
        now = self.clock.now()
        usage = self.cache.apply(prompt, now, spec.min_cacheable_tokens)
        tok = self.tokenizer(spec)
        if compact_request is not None:
            blocks, stop_reason, stop_seq = self._compaction_request(checked, tok, max_tokens), "compaction", None
        elif compaction and compaction["paused"]:
            blocks, stop_reason, stop_seq = [], "compaction", None
        else:
            blocks, stop_reason, stop_seq = self._reply(payload, checked, tok, max_tokens)
        out = sum(block_tokens(tok, b) for b in blocks)
        seconds = self.latency.seconds(prompt.total, out)
        if seconds:
            self.clock.advance(seconds)
            if self.real_sleep:
                time.sleep(seconds)
        msg_id = "msg_sim_" + self._body_digest  # same request bytes, same id
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": payload["model"],
                   "content": blocks, "stop_reason": stop_reason, "stop_sequence": stop_seq,
                   "usage": usage_json(usage, out)}
        if managed:
            message["context_management"] = {"applied_edits": applied}
        if compaction:
            message["content"] = [compaction["block"], *blocks]
            message["usage"]["iterations"] = [compaction["usage"], {
                "type": "message", "input_tokens": usage.input_tokens, "output_tokens": out,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens}]
        return message, bool(payload.get("stream"))

    def _compaction_request(self, checked: Checked, tok: Tokenizer, max_tokens: int) -> list[dict[str, Any]]:
        """The beta ``compaction`` parameter: the whole conversation summarized into one block."""
        from convolab.sim.responder import summarize

        summary = tok.truncate(summarize(cm.transcript(checked.messages), max_words=400), max_tokens)
        return [{"type": "compaction", "content": summary}]

    def _reply(self, payload: dict[str, Any], checked: Checked, tok: Tokenizer,
               max_tokens: int) -> tuple[list[dict[str, Any]], str, str | None]:
        request = {**payload, "system": checked.system, "messages": checked.messages}
        reply = self.responder(request)
        blocks, stop_reason = [dict(b) for b in reply.blocks], reply.stop_reason
        stop_seq = None
        for seq in payload.get("stop_sequences") or []:
            for b in blocks:
                if b["type"] == "text" and seq in b["text"]:
                    b["text"] = b["text"].split(seq, 1)[0]
                    stop_reason, stop_seq = "stop_sequence", seq
        budget, kept = max_tokens, []
        for b in blocks:
            n = block_tokens(tok, b)
            if n <= budget:
                kept.append(b)
                budget -= n
                continue
            if b["type"] == "text" and budget > 0:
                kept.append({**b, "text": tok.truncate(b["text"], budget)})
            stop_reason, stop_seq = "max_tokens", None
            break
        kept = [b for b in kept if b["type"] != "text" or b["text"]]
        return kept, stop_reason, stop_seq


def usage_json(usage: CacheUsage, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": usage.input_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": usage.ephemeral_5m_input_tokens,
                               "ephemeral_1h_input_tokens": usage.ephemeral_1h_input_tokens},
            "service_tier": "standard"}


def _split(request: httpx2.Request) -> tuple[str, str, dict[str, str]]:
    return request.method, request.url.path, dict(request.url.params)


class SimTransport(httpx2.BaseTransport):
    """Sync transport: hands each request to the simulator."""

    def __init__(self, simulator: Simulator):
        self.simulator = simulator

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        method, path, query = _split(request)
        try:
            return self.simulator.handle(method, path, query, request.read(), dict(request.headers))
        except SimulatedTimeout as e:
            raise httpx2.ReadTimeout(str(e), request=request) from None


class AsyncSimTransport(httpx2.AsyncBaseTransport):
    """Async transport: the same handler, for ``AsyncAnthropic``."""

    def __init__(self, simulator: Simulator):
        self.simulator = simulator

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        method, path, query = _split(request)
        try:
            return self.simulator.handle(method, path, query, await request.aread(), dict(request.headers))
        except SimulatedTimeout as e:
            raise httpx2.ReadTimeout(str(e), request=request) from None
