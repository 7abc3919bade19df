"""The simulated Messages API: one handler that branches on the URL path, plugged into the
real anthropic SDK as its ``httpx2`` transport (sync and async).

Routes: ``POST /v1/messages`` (plain or ``stream=True``), ``POST /v1/messages/count_tokens``,
``GET /v1/models``, ``GET /v1/models/{id}`` and the Message Batches API under
``/v1/messages/batches`` (``convolab.sim.batches``); ``Simulator.add_route`` plugs in more (a handler
takes a ``Request`` and returns ``(status, JSON, stream)``). A ``Simulator`` owns the prompt cache,
the clock, the fault plan and the responder; every client made from it shares them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

from convolab import catalog
from convolab.errors import UnknownModel
from convolab.sim import context as cm
from convolab.sim import models_api
from convolab.sim.api_error import ApiError, invalid
from convolab.sim.batches import BatchQueue, JSONLines
from convolab.sim.billing import Prompt, block_tokens, flatten
from convolab.sim.cache import CacheUsage, PromptCache, tier_salts
from convolab.sim.clock import Clock, SystemClock
from convolab.sim.exchange import Exchange, Handler, Request
from convolab.sim.faults import FaultPlan, Latency, SimulatedTimeout
from convolab.sim.rules import Checked, ValidationMemo, validate
from convolab.sim.streaming import sse_body
from convolab.sim.thinking import strip_earlier_thinking
from convolab.sim.tokenizer import Tokenizer

BASE_URL = "http://convolab-sim.invalid"
Responder = Callable[[dict[str, Any]], Any]
IDEMPOTENCY_SECONDS = 24 * 3600  # how long an Idempotency-Key's answer is kept
MB = 1024 * 1024
# Request size limits (errors page, "Request size limits"): a larger body is a 413 request_too_large.
MAX_REQUEST_BYTES = {"/v1/messages": 32 * MB, "/v1/messages/count_tokens": 32 * MB}
COMPACT_BETA = "compact-2026-01-12"  # responses carry usage.iterations under this beta
WINDOW_STOP_BETA = "model-context-window-exceeded-2025-08-26"  # the window stop on models before 4.5


def _default_responder() -> Responder:
    from convolab.sim.judge import with_judge
    from convolab.sim.responder import respond

    return with_judge(respond)  # a forced ``verdict`` call gets the judge stand-in (sim/judge.py)


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
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/messages"): self._post_messages,
            ("POST", "/v1/messages/count_tokens"): self._post_count_tokens,
            ("GET", "/v1/models"): self._get_models}
        self._prefix_routes: list[tuple[str, str, Handler]] = [("GET", "/v1/models/", self._get_model)]
        self.batches = BatchQueue(self, seconds=batch_seconds, base_url=BASE_URL)  # batch_seconds: see sim/batches.py
        for method in ("GET", "POST", "DELETE"):
            self.add_route(method, "/v1/messages/batches", self.batches.route, prefix=True)

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
        headers = headers or {}
        with self._lock:
            n = self.requests
            self.requests += 1
            rid = "req_sim_" + hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=10).hexdigest()
            payload: Any = None
            key = headers.get("idempotency-key") if method == "POST" else None
            extra_headers: dict[str, str] = {}
            try:
                fault = self.faults.pick(n)
                self.faults.raise_for(fault, self.clock.now())
                _check_size(path, body)
                payload = parse()
                betas = frozenset(b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip())
                if body is None:  # parsed by the caller: hash what identifies the request cheaply
                    body = (json.dumps(payload, sort_keys=True).encode() if key
                            else f"{self.seed}:{n}:parsed".encode())
                self._body_digest = hashlib.blake2b(body, digest_size=10).hexdigest()
                replay = self._replay(key, self._body_digest) if key else None
                if replay is not None:
                    status, data, stream = replay
                    extra_headers["idempotent-replayed"] = "true"
                else:
                    status, data, stream = self._route(Request(method, path, query, payload, betas))
                    if key:
                        self._idempotent[key] = (self._body_digest, self.clock.now(), status, data, stream)
            except ApiError as e:
                self._record(Exchange(path, e.status, error=e.message, request=payload if isinstance(payload, dict) else None,
                                      idempotency_key=key))
                return e.status, e.body(rid), False, {"request-id": rid, **e.headers}
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

    # -- routing -----------------------------------------------------------------------------
    def add_route(self, method: str, path: str, handler: Handler, *, prefix: bool = False) -> None:
        """Serve ``method path`` (or, with ``prefix``, every path starting with it) by
        ``handler(request) -> (status, JSON, stream)``; later routes win over earlier ones."""
        if prefix:
            self._prefix_routes.insert(0, (method, path, handler))
        else:
            self._routes[(method, path)] = handler

    def _route(self, request: Request) -> tuple[int, Any, bool]:
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            handler = next((h for m, p, h in self._prefix_routes
                            if m == request.method and request.path.startswith(p)), None)
        if handler is None:
            served = ", ".join(sorted({p for _, p in self._routes}))
            raise ApiError(404, "not_found_error", f"{request.method} {request.path}: not found (the "
                           f"simulator serves {served})")
        return handler(request)

    def _post_messages(self, request: Request) -> tuple[int, Any, bool]:
        return 200, *self._messages(request.payload, request.beta, request.betas)

    def _post_count_tokens(self, request: Request) -> tuple[int, Any, bool]:
        return 200, self._count_tokens(request.payload, request.beta, request.betas), False

    def _get_models(self, request: Request) -> tuple[int, Any, bool]:
        return 200, models_api.list_models(request.query, self.clock.now().date()), False

    def _get_model(self, request: Request) -> tuple[int, Any, bool]:
        spec = self._spec(request.path.rsplit("/", 1)[1], inference=False)
        return 200, models_api.model_info(spec, self.clock.now().date()), False

    # -- endpoints ---------------------------------------------------------------------------
    def _spec(self, model: Any, *, inference: bool = True) -> catalog.ModelSpec:
        if not isinstance(model, str) or not model:
            raise invalid("model: Field required")
        try:
            spec = catalog.get_model(model)
        except UnknownModel:
            raise ApiError(404, "not_found_error", f"model: {model}") from None
        if inference and spec.lifecycle_on(self.clock.now().date()) == "retired":
            # ModelInfo.lifecycle: "inference requests naming it fail"
            raise ApiError(404, "not_found_error", f"model: {model} was retired on {spec.retires_at}; see "
                           "https://platform.claude.com/docs/en/about-claude/model-deprecations")
        return spec

    def _checked(self, payload: Any, endpoint: str, beta: bool,
                 betas: frozenset[str]) -> tuple[catalog.ModelSpec, Checked, Prompt]:
        """Validate, then read the messages as the API does before billing: earlier turns'
        thinking stripped on models that drop it, and a compaction block standing in for the
        messages before it (``count_tokens`` and ``/v1/messages`` alike)."""
        spec = self._spec(payload.get("model") if isinstance(payload, dict) else None)
        checked = validate(payload, spec, endpoint=endpoint, beta=beta, betas=betas, memo=self._validation_memo)
        checked.messages = strip_earlier_thinking(checked.messages, spec)
        if any(b.get("type") == "compaction" for m in checked.messages for b in m["content"]):
            checked.messages = cm.drop_before_compaction(checked.messages)
        return spec, checked, self._flatten(spec, checked, checked.messages, payload)

    def count(self, payload: dict[str, Any]) -> int:
        """Input tokens the request ``payload`` would be billed (what ``count_tokens`` returns)."""
        return self._checked(payload, "count_tokens", False, frozenset())[2].total

    def _count_tokens(self, payload: Any, beta: bool, betas: frozenset[str]) -> dict[str, Any]:
        if isinstance(payload, dict):  # the beta ``compaction`` parameter is accepted and ignored here
            payload = {k: v for k, v in payload.items() if k not in ("max_tokens", "stream", "compaction")}
        spec, checked, prompt = self._checked(payload, "count_tokens", beta, betas)
        if not (beta and payload.get("context_management")):
            return {"input_tokens": prompt.total}
        edited, _, _ = self._edit(spec, checked, prompt, payload, betas)
        return {"input_tokens": edited.total, "context_management": {"original_input_tokens": prompt.total}}

    def _flatten(self, spec: catalog.ModelSpec, checked: Checked, messages: list[dict[str, Any]],
                 payload: dict[str, Any]) -> Prompt:
        """Flatten, reusing the units of the previous request's identical leading messages."""
        salts = tier_salts(payload, spec)
        key = (spec.id, salts, checked.tools, checked.system)
        resume, same = None, 0
        last = self._last_flat
        if last is not None and last[0] == key:
            prev_msgs, resume = last[1], last[2]
            limit = min(len(prev_msgs), len(messages))
            while same < limit and messages[same] == prev_msgs[same]:
                same += 1
        tool_prompt = spec.tool_prompt(payload.get("tool_choice")) if checked.tools else 0
        prompt = flatten(spec.id, self.tokenizer(spec), tools=checked.tools, system=checked.system,
                         messages=messages, tool_prompt=tool_prompt, cache_control=payload.get("cache_control"),
                         salts=salts, resume=resume, resume_messages=same)
        self._last_flat = (key, messages, prompt)
        return prompt

    def _edit(self, spec: catalog.ModelSpec, checked: Checked, prompt: Prompt, payload: dict[str, Any],
              betas: frozenset[str]) -> tuple[Prompt, list[dict[str, Any]], dict[str, Any] | None]:
        """Apply server-side context management in the order the edits run (thinking, tool
        results, compaction); returns the edited prompt, the applied edits and, when compaction
        ran, ``{"block": ..., "usage": ..., "paused": bool}``."""
        edits = cm.parse(payload["context_management"], spec, betas)
        tok = self.tokenizer(spec)
        cost = functools.partial(block_tokens, tok)
        messages, applied, compaction = checked.messages, [], None
        for edit, run in ((edits.clear_thinking, cm.clear_thinking), (edits.clear, cm.clear_tool_uses)):
            if edit is None:
                continue
            messages, done = run(messages, edit, prompt.total, cost)
            if done:
                applied.append(done)
                prompt = self._flatten(spec, checked, messages, payload)
        if edits.compact and cm.compaction_needed(edits.compact, prompt.total) and len(messages) > 1:
            messages, compaction = self._compact(messages, edits.compact, prompt, tok)
            prompt = self._flatten(spec, checked, messages, payload)
        checked.messages = messages
        return prompt, applied, compaction

    @staticmethod
    def _compact(messages: list[dict[str, Any]], edit: dict[str, Any], prompt: Prompt,
                 tok: Tokenizer) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """``compact_20260112``: the history summarized into a block that stands in for it."""
        from convolab.sim.responder import summarize

        summary = summarize(cm.transcript(messages[:-1]), max_words=400)
        block = {"type": "compaction", "content": summary}
        usage = {"type": "compaction", "input_tokens": prompt.total, "output_tokens": block_tokens(tok, block),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        last = messages[-1]
        head = [{"type": "text", "text": f"[Summary of earlier conversation]\n{summary}"}]
        messages = [{"role": "user", "content": head + (last["content"] if last["role"] == "user" else [])}]
        return messages, {"block": block, "usage": usage, "paused": bool(edit.get("pause_after_compaction"))}

    def _output_limit(self, spec: catalog.ModelSpec, prompt: Prompt, max_tokens: int,
                      betas: frozenset[str]) -> int:
        """Tokens the reply may take. Input over the window is a 400; input + ``max_tokens``
        over it is a 400 on models before Claude 4.5 (without the beta header) and, from Claude
        4.5 on, a reply cut at the window (``model_context_window_exceeded``)."""
        window = spec.context_window
        if prompt.total > window:
            raise invalid(f"prompt is too long: {prompt.total} tokens > {window} maximum")
        room = window - prompt.total
        if max_tokens <= room:
            return max_tokens
        if spec.supports("context_window_stop") or WINDOW_STOP_BETA in betas:
            return room
        raise invalid(f"input length and `max_tokens` exceed context limit: {prompt.total} + {max_tokens} > "
                      f"{window}, decrease input length or `max_tokens` and try again")

    def _messages(self, payload: Any, beta: bool, betas: frozenset[str]) -> tuple[dict[str, Any], bool]:
        spec, checked, prompt = self._checked(payload, "messages", beta, betas)
        max_tokens = payload["max_tokens"]
        compact_request = cm.parse_compaction_request(payload, spec) if beta else None
        applied: list[dict[str, Any]] = []
        compaction = None
        managed = beta and bool(payload.get("context_management"))
        if managed:
            prompt, applied, compaction = self._edit(spec, checked, prompt, payload, betas)
        limit = self._output_limit(spec, prompt, max_tokens, betas)
        usage = self.cache.apply(prompt, self.clock.now(), spec.min_cacheable_tokens)
        tok = self.tokenizer(spec)
        if compact_request is not None:
            blocks, stop_reason, stop_seq = self._compaction_request(checked, tok, limit), "compaction", None
        elif compaction and compaction["paused"]:
            blocks, stop_reason, stop_seq = [], "compaction", None
        elif max_tokens == 0:  # cache pre-warming: prefill only, nothing generated
            blocks, stop_reason, stop_seq = [], "max_tokens", None
        else:
            blocks, stop_reason, stop_seq = self._reply(payload, checked, tok, limit, max_tokens)
        out = sum(block_tokens(tok, b) for b in blocks)
        self._spend_time(prompt.total, out)
        message = {"id": "msg_sim_" + self._body_digest, "type": "message", "role": "assistant",  # same bytes, same id
                   "model": payload["model"], "content": blocks, "stop_reason": stop_reason,
                   "stop_sequence": stop_seq, "usage": usage_json(usage, out)}
        if managed:
            message["context_management"] = {"applied_edits": applied}
        if compaction:
            message["content"] = [compaction["block"], *blocks]
        if compaction or COMPACT_BETA in betas:
            message["usage"]["iterations"] = [*([compaction["usage"]] if compaction else []),
                                              {"type": "message", **usage_json(usage, out, detail=False)}]
        return message, bool(payload.get("stream"))

    def _spend_time(self, input_tokens: int, output_tokens: int) -> None:
        seconds = self.latency.seconds(input_tokens, output_tokens)
        if seconds:
            self.clock.advance(seconds)
            if self.real_sleep:
                time.sleep(seconds)

    def _compaction_request(self, checked: Checked, tok: Tokenizer, max_tokens: int) -> list[dict[str, Any]]:
        """The beta ``compaction`` parameter: the whole conversation summarized into one block."""
        from convolab.sim.responder import summarize

        summary = tok.truncate(summarize(cm.transcript(checked.messages), max_words=400), max_tokens)
        return [{"type": "compaction", "content": summary}]

    def _reply(self, payload: dict[str, Any], checked: Checked, tok: Tokenizer, limit: int,
               max_tokens: int) -> tuple[list[dict[str, Any]], str, str | None]:
        """The responder's reply, cut by stop sequences and by ``limit`` tokens (``max_tokens``,
        or less when the context window ends first). System-role messages reach the responder
        as system text: they are operator instructions, not turns."""
        system, messages = list(checked.system), checked.messages
        if any(m["role"] == "system" for m in messages):
            system += [b for m in messages if m["role"] == "system" for b in m["content"]]
            messages = [m for m in messages if m["role"] != "system"]
        reply = self.responder({**payload, "system": system, "messages": messages})
        blocks, stop_reason = [dict(b) for b in reply.blocks], reply.stop_reason
        stop_seq = None
        for seq in payload.get("stop_sequences") or []:
            for b in blocks:
                if b["type"] == "text" and seq in b["text"]:
                    b["text"] = b["text"].split(seq, 1)[0]
                    stop_reason, stop_seq = "stop_sequence", seq
        budget, kept = limit, []
        for b in blocks:
            n = block_tokens(tok, b)
            if n <= budget:
                kept.append(b)
                budget -= n
                continue
            if b["type"] == "text" and budget > 0:
                kept.append({**b, "text": tok.truncate(b["text"], budget)})
            stop_reason = "max_tokens" if limit == max_tokens else "model_context_window_exceeded"
            stop_seq = None
            break
        kept = [b for b in kept if b["type"] != "text" or b["text"]]
        return kept, stop_reason, stop_seq


def usage_json(usage: CacheUsage, output_tokens: int, *, detail: bool = True) -> dict[str, Any]:
    """The response's ``usage`` (``detail=False``: the fields of one ``usage.iterations`` entry)."""
    out = {"input_tokens": usage.input_tokens, "output_tokens": output_tokens,
           "cache_creation_input_tokens": usage.cache_creation_input_tokens,
           "cache_read_input_tokens": usage.cache_read_input_tokens}
    if detail:
        out["cache_creation"] = {"ephemeral_5m_input_tokens": usage.ephemeral_5m_input_tokens,
                                 "ephemeral_1h_input_tokens": usage.ephemeral_1h_input_tokens}
        out["service_tier"] = "standard"
    return out


def _check_size(path: str, body: bytes | None) -> None:
    """413 ``request_too_large`` above the endpoint's limit (only where the raw body is known:
    ``handle_json`` callers pass parsed JSON and are not measured)."""
    limit = MAX_REQUEST_BYTES.get(path)
    if body is not None and limit is not None and len(body) > limit:
        raise ApiError(413, "request_too_large", f"Request exceeds the maximum allowed number of bytes: "
                       f"{len(body):,} > {limit:,} for {path}")


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
