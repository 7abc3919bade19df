"""Token counting: one protocol, several ways to count.

A ``TokenCounter`` counts the three things every request bills as input: the system
prompt, the tool definitions (both billed on *every* request, not once per conversation),
and each message. Message counts are memoized on the ``Message`` itself (``Message.memo``)
so a conversation's count is a sum of cached numbers, never a re-count of its history.

Implementations:

- ``CharEstimate``: the common rule of thumb, characters / 4.
- ``CalibratedEstimate``: characters / a per-model ratio learnt from the usage the API reports.
- ``ExactCounter``: asks the API (``messages.count_tokens``), caching by content hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from convolab.errors import ConfigurationError, InvalidConversation
from convolab.model import (
    Conversation,
    Message,
    MessageLike,
    content_hash,
    content_of,
    normalize_content,
    role_of,
    tool_result_ids,
    tool_use_ids,
)


@runtime_checkable
class TokenCounter(Protocol):
    """Counts input tokens of the parts of a request.

    ``name`` identifies the counting method (it keys the per-message memo); counts must
    not change for the same content, model, name and ``version``. A counter that learns
    (``CalibratedEstimate``) raises ``version`` whenever its counts change, so whatever caches
    sums of counts (``HistoryIndex``) knows to add them up again.
    """

    name: str
    version: int

    def count_message(self, message: MessageLike, *, model: str) -> int: ...

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int: ...

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str) -> int: ...


def text_chars(content: Any) -> int:
    """Characters of text a request carries for ``content`` (strings, blocks, tool JSON)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, dict):
        kind = content.get("type")
        if kind == "text":
            return len(content.get("text", ""))
        if kind == "tool_use":
            return len(content.get("name", "")) + len(json.dumps(content.get("input", {}), ensure_ascii=False))
        if kind == "tool_result":
            return text_chars(content.get("content", ""))
        if kind == "thinking":
            return len(content.get("thinking", ""))
        # other blocks (images, documents, server tool results): their JSON, less the source data
        slim = {k: v for k, v in content.items() if k not in ("source", "cache_control", "signature", "data")}
        return len(json.dumps(slim, ensure_ascii=False))
    if isinstance(content, list):
        return sum(text_chars(b) for b in content)
    return len(str(content))


class CharEstimate:
    """The rule-of-thumb estimate: characters / 4, for text in messages, system and tools."""

    name = "chars/4"
    version = 0  # counts never change

    def __init__(self, chars_per_token: float = 4.0):
        self.chars_per_token = chars_per_token
        if chars_per_token != 4.0:
            self.name = f"chars/{chars_per_token:g}"

    def _count(self, chars: int) -> int:
        return int(chars // self.chars_per_token)

    def count_message(self, message: MessageLike, *, model: str) -> int:
        if isinstance(message, Message):
            return message.memo(self.name, lambda: self._count(text_chars(message.content)))
        return self._count(text_chars(content_of(message)))

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int:
        return self._count(text_chars(system))

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str) -> int:
        return self._count(len(json.dumps(tools, ensure_ascii=False))) if tools else 0


def count_request(
    counter: TokenCounter,
    *,
    model: str,
    system: str | list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    messages: Iterable[MessageLike] = (),
) -> int:
    """Input tokens of a request: system + tools + every message, by ``counter``."""
    total = counter.count_system(system, model=model) + counter.count_tools(tools, model=model)
    return total + sum(counter.count_message(m, model=model) for m in messages)


def count_conversation(counter: TokenCounter, conversation: Conversation) -> int:
    """Input tokens a request with the whole of ``conversation`` would bill, its system prompt
    and tools included. Each message's count is memoized on the message, so this costs one
    addition per message once the history has been counted."""
    return count_request(counter, model=conversation.model, system=conversation.system_prompt,
                         tools=conversation.tools, messages=conversation.messages)


# ---------------------------------------------------------------- calibrated estimate

_CHARS_KEY = ("chars", "text_chars")


def message_chars(message: MessageLike) -> int:
    """Characters of text in ``message`` (``text_chars``), memoized on a ``Message``."""
    if isinstance(message, Message):
        return message.memo(_CHARS_KEY, lambda: text_chars(message.content))
    return text_chars(content_of(message))


def tools_chars(tools: list[dict[str, Any]] | None) -> int:
    """Characters of the tool definitions as sent (their JSON)."""
    return len(json.dumps(tools, ensure_ascii=False)) if tools else 0


def request_chars(
    *,
    system: str | list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    messages: Iterable[MessageLike] = (),
) -> int:
    """Characters of a whole request: system + tools + every message (memoized per message)."""
    return text_chars(system) + tools_chars(tools) + sum(message_chars(m) for m in messages)


def billed_input_tokens(usage: Any) -> int:
    """All input tokens a response's ``usage`` reports: uncached + cache writes + cache reads.

    ``usage.input_tokens`` alone leaves out tokens read from or written to the prompt cache.
    Takes an SDK ``Usage``, a mapping with the same keys, or a plain int.
    """
    if isinstance(usage, int):
        return usage
    if isinstance(usage, Mapping):
        get: Callable[[str], Any] = usage.get
    else:
        def get(key: str) -> Any:
            return getattr(usage, key, None)
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(int(get(k) or 0) for k in keys)


class CalibratedEstimate:
    """Characters / a per-model characters-per-token ratio learnt from real usage.

    Each model starts from a prior ratio (``priors[model]``, else ``default``, 4.0) worth
    ``prior_tokens`` tokens of evidence. ``observe(model, chars, tokens)`` adds a request's
    characters and the input tokens the API billed for it to running sums, so

        chars_per_token(model) = (prior * prior_tokens + Σ chars) / (prior_tokens + Σ tokens)

    converges to the true ratio as evidence outweighs the prior. ``observe_request`` does the
    bookkeeping from a request's parts and the response's ``usage``.

    Caching: what is memoized on a ``Message`` is its *character count*, not its token count,
    so a new ratio applies at once without re-scanning history: a count is
    ``round(chars / ratio)``, one division per message.

    Counts shift after calibration, by design: the same message may count 25 tokens before an
    observation and 27 after, because the ratio (not the message) changed. ``version`` goes up
    on every change of ratio, and ``HistoryIndex`` (the strategies' cached sums) adds its counts
    up again when it sees a new version, so a strategy reports what a fresh one would count.

    Usage includes tokens that have no characters here (per-message framing, the hidden
    system prompt tool use adds, images), so the learnt ratio folds them in: it predicts the
    bill of requests like the observed ones, not the tokenizer's ratio on bare text.
    ``state()``/``load_state()`` persist the sums as JSON-able dicts.
    """

    name = "calibrated"
    STATE_FORMAT = 1

    def __init__(
        self,
        default: float = 4.0,
        *,
        priors: Mapping[str, float] | None = None,
        prior_tokens: float = 1000.0,
    ):
        if default <= 0 or prior_tokens < 0 or any(v <= 0 for v in (priors or {}).values()):
            raise ConfigurationError("chars-per-token priors must be > 0 and prior_tokens >= 0")
        self.default = float(default)
        self.priors = dict(priors or {})
        self.prior_tokens = float(prior_tokens)
        self._sums: dict[str, list[int]] = {}  # model -> [chars, tokens, observations]
        self.version = 0

    def chars_per_token(self, model: str) -> float:
        """The current ratio for ``model``: its prior blended with every observation."""
        prior = self.priors.get(model, self.default)
        chars, tokens, _ = self._sums.get(model, (0, 0, 0))
        denominator = self.prior_tokens + tokens
        return (prior * self.prior_tokens + chars) / denominator if denominator else prior

    def observations(self, model: str) -> int:
        """How many observations of ``model`` the ratio rests on."""
        return self._sums.get(model, (0, 0, 0))[2]

    def observe(self, model: str, chars: int, tokens: int) -> None:
        """Record that a request of ``chars`` characters billed ``tokens`` input tokens."""
        if chars < 0 or tokens <= 0:
            raise InvalidConversation(f"an observation needs chars >= 0 and tokens > 0, got {chars}, {tokens}")
        sums = self._sums.setdefault(model, [0, 0, 0])
        sums[0] += int(chars)
        sums[1] += int(tokens)
        sums[2] += 1
        self.version += 1

    def observe_request(
        self,
        model: str,
        usage: Any,
        *,
        system: str | list[dict[str, Any]] | None = None,
        tools: list[dict[str, Any]] | None = None,
        messages: Iterable[MessageLike] = (),
    ) -> None:
        """Record a sent request (its parts) and the ``usage`` of its response.

        ``usage`` is the response's ``Usage`` (cache reads and writes are added back, see
        ``billed_input_tokens``), a mapping, or the total input tokens as an int.
        """
        chars = request_chars(system=system, tools=tools, messages=messages)
        self.observe(model, chars, billed_input_tokens(usage))

    def state(self) -> dict[str, Any]:
        """The calibration as a JSON-able dict, for ``load_state``."""
        return {
            "format": self.STATE_FORMAT,
            "default": self.default,
            "priors": dict(self.priors),
            "prior_tokens": self.prior_tokens,
            "models": {m: {"chars": c, "tokens": t, "observations": n}
                       for m, (c, t, n) in sorted(self._sums.items())},
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Replace the calibration with one saved by ``state()``."""
        if state.get("format") != self.STATE_FORMAT:
            raise ConfigurationError(f"unknown calibration state format {state.get('format')!r}; "
                             f"expected {self.STATE_FORMAT} (a dict saved by CalibratedEstimate.state())")
        self.default = float(state["default"])
        self.priors = {str(k): float(v) for k, v in state["priors"].items()}
        self.prior_tokens = float(state["prior_tokens"])
        self._sums = {str(m): [int(v["chars"]), int(v["tokens"]), int(v["observations"])]
                      for m, v in state["models"].items()}
        self.version += 1

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CalibratedEstimate:
        """A new estimate with the calibration saved by ``state()``."""
        est = cls()
        est.load_state(state)
        return est

    def _count(self, chars: int, model: str) -> int:
        return round(chars / self.chars_per_token(model))

    def count_message(self, message: MessageLike, *, model: str) -> int:
        return self._count(message_chars(message), model)

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int:
        return self._count(text_chars(system), model)

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str) -> int:
        return self._count(tools_chars(tools), model)


# ---------------------------------------------------------------- exact counts from the API

_DOT_USER: dict[str, Any] = {"role": "user", "content": "."}
_DOT_ASSISTANT: dict[str, Any] = {"role": "assistant", "content": "."}


def _json_hash(obj: Any) -> str:
    raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _stub_tool_pair(ids: list[str], names: list[str]) -> tuple[dict, dict, list[dict]]:
    """A minimal assistant tool call, the user message answering it, and tool definitions."""
    call = {"role": "assistant", "content": [
        {"type": "tool_use", "id": i, "name": n, "input": {}} for i, n in zip(ids, names, strict=True)]}
    answer = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": i, "content": "."} for i in ids]}
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in dict.fromkeys(names)]
    return call, answer, tools


class ExactCounter:
    """Counts with the API's ``messages.count_tokens``, cached per (model, content hash).

    The API counts whole requests, so per-part counts are derived by difference, each from
    one call, against baselines counted once per model (and cached):

    - ``B1`` = ``[user "."]`` and ``B3`` = ``[user ".", assistant ".", user "."]``; a
      one-character message costs ``p = (B3 - B1) / 2``, its framing included.
    - a user message ``m``: ``count([m]) - B1 + p``; an assistant message is wrapped so
      the request is valid: ``count([user ".", m, user "."]) - B3 + p``.
    - a message with ``tool_use``/``tool_result`` blocks is counted against a stub of its
      pair (the API rejects a call without its result and needs tool definitions): the
      pair's cost is split between its two halves, so a call plus its result sums right.
    - system prompt and tools: ``count([user "."], system=s)`` (or ``tools=t``) ``- B1``;
      tools include the hidden tool-use system prompt the API adds.

    Approximation: per-message sums can differ from the whole-request count by a few
    tokens (request framing, ``framing_tokens(model)``, is in no part; tokens can merge
    across boundaries; stub pairs differ from real ones by a token or two). Use
    ``count_request_exact`` when the exact total of one request is needed: one API call.

    Counts are cached in an LRU of ``maxsize`` entries keyed by (model, kind, hash), so two
    ``Message`` objects with equal role and content share an entry, and one counter can be
    shared across conversations. ``api_calls`` counts calls made. Errors from the SDK
    (``anthropic.APIError`` and subclasses) propagate unchanged and nothing is cached.
    Not thread-safe; synchronous clients only.
    """

    name = "exact"
    version = 0  # counts never change

    def __init__(self, client: Any, *, maxsize: int = 65_536):
        self.client = client
        self.maxsize = maxsize
        self.api_calls = 0
        self._cache: OrderedDict[tuple[str, str, str], int] = OrderedDict()

    # -- plumbing
    def _cached(self, key: tuple[str, str, str], compute: Callable[[], int]) -> int:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = self._cache[key] = compute()
        if len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return value

    def _api(self, model: str, messages: list[dict[str, Any]], *, system: Any = None,
             tools: list[dict[str, Any]] | None = None) -> int:
        kwargs: dict[str, Any] = {"model": model, "messages": messages}
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = tools
        self.api_calls += 1
        return self.client.messages.count_tokens(**kwargs).input_tokens

    def _base(self, model: str, messages: list[dict[str, Any]],
              tools: list[dict[str, Any]] | None = None) -> int:
        key = (model, "base", _json_hash([messages, tools]))
        return self._cached(key, lambda: self._api(model, messages, tools=tools))

    def _dot(self, model: str) -> float:
        """Tokens of a one-character message, framing included."""
        return (self._base(model, [_DOT_USER, _DOT_ASSISTANT, _DOT_USER]) - self._base(model, [_DOT_USER])) / 2

    def framing_tokens(self, model: str) -> float:
        """Tokens a request bills beyond its parts (in no per-part count)."""
        return self._base(model, [_DOT_USER]) - self._dot(model)

    def _message_cost(self, model: str, msg: dict[str, Any]) -> int:
        uses, results = tool_use_ids(msg), tool_result_ids(msg)
        if uses or results:
            return self._tool_message_cost(model, msg, uses, results)
        if msg["role"] == "user":
            probe, base = [msg], [_DOT_USER]
        else:
            probe, base = [_DOT_USER, msg, _DOT_USER], [_DOT_USER, _DOT_ASSISTANT, _DOT_USER]
        return round(self._api(model, probe) - self._base(model, base) + self._dot(model))

    def _tool_message_cost(self, model: str, msg: dict[str, Any], uses: list[str], results: list[str]) -> int:
        if uses:  # an assistant call: answer it with stub results
            names = [b.get("name", "_") for b in msg["content"] if b.get("type") == "tool_use" and "id" in b]
            call, answer, tools = _stub_tool_pair(uses, names)
            probe, half = [_DOT_USER, msg, answer], math.ceil
        else:  # a user message of results: precede it with stub calls
            call, answer, tools = _stub_tool_pair(results, ["_"] * len(results))
            probe, half = [_DOT_USER, call, msg], math.floor
        pair = self._base(model, [_DOT_USER, call, answer], tools)
        pair_cost = pair - self._base(model, [_DOT_USER], tools)
        return self._api(model, probe, tools=tools) - pair + half(pair_cost / 2)

    # -- the TokenCounter protocol
    def count_message(self, message: MessageLike, *, model: str) -> int:
        """Tokens of one message (with its framing), from the API once per model and content."""
        if isinstance(message, Message):
            role, content, digest = message.role.value, message.content, message.content_hash
        else:
            role, content = role_of(message), normalize_content(content_of(message))
            digest = content_hash(role, content)
        if not content:
            return 0
        msg = {"role": role, "content": content}
        return self._cached((model, "message", digest), lambda: self._message_cost(model, msg))

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int:
        """Tokens the system prompt adds to a request."""
        if not system:
            return 0
        key = (model, "system", _json_hash(system))
        return self._cached(key, lambda: self._api(model, [_DOT_USER], system=system) - self._base(model, [_DOT_USER]))

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str) -> int:
        """Tokens the tool definitions add to a request (the hidden tool prompt included)."""
        if not tools:
            return 0
        key = (model, "tools", _json_hash(tools))
        return self._cached(key, lambda: self._api(model, [_DOT_USER], tools=tools) - self._base(model, [_DOT_USER]))

    def count_request_exact(
        self,
        *,
        model: str,
        system: str | list[dict[str, Any]] | None = None,
        tools: list[dict[str, Any]] | None = None,
        messages: Iterable[MessageLike] = (),
    ) -> int:
        """The API's count of one whole request: one call (cached by the request's hash)."""
        msgs = [m.to_api() if isinstance(m, Message) else {"role": role_of(m), "content": normalize_content(content_of(m))}
                for m in messages]
        key = (model, "request", _json_hash([system or None, tools or None, msgs]))
        return self._cached(key, lambda: self._api(model, msgs, system=system, tools=tools))


__all__ = [
    "CalibratedEstimate",
    "CharEstimate",
    "ExactCounter",
    "TokenCounter",
    "billed_input_tokens",
    "count_request",
    "message_chars",
    "request_chars",
    "text_chars",
    "tools_chars",
]
