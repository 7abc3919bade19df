"""Token counters: the chars/4 estimate, the calibrated estimate, and exact API counts.

Exact counts run against a fake ``/v1/messages/count_tokens`` (an ``httpx2.MockTransport``
handler) whose toy tokenizer is additive: a word is a token (twice that for ``claude-big``),
each message costs 4 tokens of framing, each request 3, and tools add a hidden 50-token
prompt. It validates requests like the API does (alternation, tool pairs, tool definitions,
no empty text) and records every call.
"""

from __future__ import annotations

import json
import random
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Usage

import convolab.tokens as tokens_mod
from convolab.errors import ConfigurationError, InvalidConversation
from convolab.model import Conversation, Message
from convolab.tokens import (
    CalibratedEstimate,
    CharEstimate,
    ExactCounter,
    TokenCounter,
    billed_input_tokens,
    count_conversation,
    count_request,
    request_chars,
)

MODEL = "claude-sonnet-4-6"
BIG = "claude-big"  # the toy server counts every word twice for this model
REQUEST_FRAMING, MESSAGE_FRAMING, TOOL_PROMPT = 3, 4, 50

SYSTEM = "You are a terse assistant for a research lab."
TOOLS = [{"name": "get_weather", "description": "Weather for a city.",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


# ---------------------------------------------------------------- the fake API


def toy_tokens(obj: Any) -> int:
    if isinstance(obj, str):
        return len(obj.split())
    if isinstance(obj, list):
        return sum(toy_tokens(b) for b in obj)
    kind = obj.get("type")
    if kind == "text":
        return toy_tokens(obj["text"])
    if kind == "tool_use":
        return 2 + toy_tokens(obj["name"]) + toy_tokens(json.dumps(obj["input"]))
    if kind == "tool_result":
        return 3 + toy_tokens(obj.get("content", ""))
    return toy_tokens(json.dumps(obj))


class BadRequest(Exception):
    pass


def validate(body: dict[str, Any]) -> None:
    msgs = body["messages"]
    if not msgs or msgs[0]["role"] != "user":
        raise BadRequest("messages: first message must use the user role")
    pending: set[str] = set()
    for i, m in enumerate(msgs):
        if i and m["role"] == msgs[i - 1]["role"]:
            raise BadRequest("messages: roles must alternate")
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        if any(b["type"] == "text" and not b["text"] for b in blocks):
            raise BadRequest(f"messages.{i}: text content blocks must be non-empty")
        results = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
        uses = {b["id"] for b in blocks if b["type"] == "tool_use"}
        if (uses or results) and not body.get("tools"):
            raise BadRequest("requests which include tool_use or tool_result blocks must define tools")
        if results != pending or (pending and m["role"] != "user"):
            raise BadRequest(f"messages.{i}: tool_use ids without tool_result blocks immediately after")
        pending = uses


def toy_count(body: dict[str, Any]) -> int:
    scale = 2 if body["model"] == BIG else 1
    n = REQUEST_FRAMING + sum(MESSAGE_FRAMING + scale * toy_tokens(m["content"]) for m in body["messages"])
    if body.get("system"):
        n += 2 + scale * toy_tokens(body["system"])
    if body.get("tools"):
        n += TOOL_PROMPT + scale * sum(toy_tokens(json.dumps(t)) for t in body["tools"])
    return n


class FakeAPI:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages/count_tokens"
        body = json.loads(request.content)
        self.calls.append(body)
        try:
            validate(body)
        except BadRequest as e:
            return httpx2.Response(400, json={"type": "error", "error": {"type": "invalid_request_error", "message": str(e)}})
        return httpx2.Response(200, json={"input_tokens": toy_count(body)})


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def counter(api: FakeAPI) -> ExactCounter:
    client = anthropic.Anthropic(api_key="x", max_retries=0,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(api)))
    return ExactCounter(client)


def chat(n: int) -> Conversation:
    conv = Conversation(system_prompt=SYSTEM, tools=TOOLS, model=MODEL)
    for i in range(n):
        conv.add("user" if i % 2 == 0 else "assistant", f"message number {i} says " + "word " * (i % 7))
    return conv


def tool_chat() -> Conversation:
    conv = Conversation(system_prompt=SYSTEM, tools=TOOLS, model=MODEL)
    conv.add("user", "What is the weather in Paris and Rome?")
    conv.add("assistant", [
        {"type": "text", "text": "Let me check both."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}},
    ])
    conv.add("user", [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny, 24 C"},
        {"type": "tool_result", "tool_use_id": "toolu_02", "content": [{"type": "text", "text": "rain"}]},
    ])
    conv.add("assistant", "Paris is sunny at 24 C; Rome has rain.")
    conv.add("user", "Thanks!")
    return conv


# ---------------------------------------------------------------- CharEstimate and the protocol


def test_every_counter_satisfies_the_protocol(counter: ExactCounter) -> None:
    for c in (CharEstimate(), CalibratedEstimate(), counter):
        assert isinstance(c, TokenCounter)
    assert len({CharEstimate().name, CalibratedEstimate().name, counter.name}) == 3


def test_char_estimate_is_chars_over_four() -> None:
    est = CharEstimate()
    assert est.count_message(Message("user", "x" * 40), model=MODEL) == 10
    assert est.count_system(SYSTEM, model=MODEL) == len(SYSTEM) // 4


@pytest.mark.parametrize("make", [CharEstimate, CalibratedEstimate])
def test_system_and_tools_are_billed_on_every_request(make: Any) -> None:
    """Each request of a conversation carries the system prompt and tools again."""
    est = make()
    conv = chat(6)
    fixed = est.count_system(SYSTEM, model=MODEL) + est.count_tools(TOOLS, model=MODEL)
    assert fixed > 0
    for k in range(1, len(conv) + 1):
        req = count_request(est, model=MODEL, system=SYSTEM, tools=TOOLS, messages=conv.messages[:k])
        bare = count_request(est, model=MODEL, messages=conv.messages[:k])
        assert req - bare == fixed
    assert count_conversation(est, conv) == count_request(est, model=MODEL, system=SYSTEM, tools=TOOLS,
                                                       messages=conv.messages)


# ---------------------------------------------------------------- CalibratedEstimate


def test_unseen_models_start_at_the_prior() -> None:
    est = CalibratedEstimate(priors={"claude-5": 3.0})
    assert est.chars_per_token("anything") == 4.0
    assert est.chars_per_token("claude-5") == 3.0
    assert est.count_message(Message("user", "x" * 40), model="anything") == 10
    assert est.count_message(Message("user", "x" * 30), model="claude-5") == 10


def test_calibration_converges_to_the_true_ratio() -> None:
    rng = random.Random(7)
    est = CalibratedEstimate()
    true_ratio = 3.1
    errors = [abs(est.chars_per_token(MODEL) - true_ratio)]  # 0.9 before any evidence
    for _ in range(200):
        chars = rng.randint(500, 20_000)
        est.observe(MODEL, chars, round(chars / true_ratio * rng.uniform(0.9, 1.1)))
        errors.append(abs(est.chars_per_token(MODEL) - true_ratio))
    assert errors[0] == pytest.approx(0.9)
    assert max(errors[50:]) < 0.1
    assert errors[-1] < 0.03
    assert est.observations(MODEL) == 200
    assert est.chars_per_token("other-model") == 4.0  # per model


def test_prior_weight_controls_how_fast_evidence_wins() -> None:
    slow, fast = CalibratedEstimate(prior_tokens=10_000), CalibratedEstimate(prior_tokens=10)
    for est in (slow, fast):
        est.observe(MODEL, 3000, 1000)  # 3.0 chars/token
    assert fast.chars_per_token(MODEL) == pytest.approx((40 + 3000) / 1010)
    assert abs(fast.chars_per_token(MODEL) - 3.0) < abs(slow.chars_per_token(MODEL) - 3.0)


def test_observe_request_uses_all_billed_input_tokens() -> None:
    usage = Usage(input_tokens=50, cache_creation_input_tokens=200, cache_read_input_tokens=750, output_tokens=9)
    assert billed_input_tokens(usage) == 1000
    assert billed_input_tokens({"input_tokens": 7, "cache_read_input_tokens": None}) == 7
    assert billed_input_tokens(12) == 12

    conv = chat(10)
    est = CalibratedEstimate(prior_tokens=0)
    est.observe_request(MODEL, usage, system=SYSTEM, tools=TOOLS, messages=conv.messages)
    chars = request_chars(system=SYSTEM, tools=TOOLS, messages=conv.messages)
    assert chars == len(SYSTEM) + len(json.dumps(TOOLS)) + sum(len(m.text) for m in conv)
    assert est.chars_per_token(MODEL) == pytest.approx(chars / 1000)


def test_bad_observations_are_rejected() -> None:
    est = CalibratedEstimate()
    with pytest.raises(InvalidConversation, match="observation"):
        est.observe(MODEL, 100, 0)
    with pytest.raises(InvalidConversation, match="observation"):
        est.observe(MODEL, -1, 10)
    with pytest.raises(ConfigurationError, match="priors"):
        CalibratedEstimate(0)


def test_state_round_trips_through_json() -> None:
    est = CalibratedEstimate(3.5, priors={"claude-5": 3.0}, prior_tokens=500)
    est.observe(MODEL, 9000, 2500)
    est.observe("claude-5", 1000, 400)
    saved = json.loads(json.dumps(est.state()))
    again = CalibratedEstimate.from_state(saved)
    assert again.state() == est.state()
    msg = Message("user", "hello there " * 50)
    for model in (MODEL, "claude-5", "unseen"):
        assert again.chars_per_token(model) == est.chars_per_token(model)
        assert again.count_message(msg, model=model) == est.count_message(msg, model=model)
    with pytest.raises(ConfigurationError, match="format"):
        CalibratedEstimate().load_state({"format": 99})


def test_char_counts_are_memoized_and_counts_follow_the_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[Any] = []
    real = tokens_mod.text_chars

    def recording(content: Any) -> int:
        scans.append(content)
        return real(content)

    monkeypatch.setattr(tokens_mod, "text_chars", recording)
    conv = chat(100)
    est = CalibratedEstimate(prior_tokens=0)
    before = [est.count_message(m, model=MODEL) for m in conv]
    assert len(scans) == 100
    version = est.version
    est.observe(MODEL, 2000, 1000)  # 2 chars/token: counts double
    assert est.version > version
    after = [est.count_message(m, model=MODEL) for m in conv]
    assert len(scans) == 100  # recalibration re-scanned nothing
    chars = [len(m.text) for m in conv]
    assert before == [round(c / 4) for c in chars]
    assert after == [round(c / 2) for c in chars]


# ---------------------------------------------------------------- ExactCounter


def test_exact_parts_plus_framing_equal_the_whole_request(counter: ExactCounter, api: FakeAPI) -> None:
    for conv in (chat(9), tool_chat()):
        parts = count_request(counter, model=MODEL, system=SYSTEM, tools=TOOLS, messages=conv.messages)
        whole = counter.count_request_exact(model=MODEL, system=SYSTEM, tools=TOOLS, messages=conv.messages)
        assert parts + counter.framing_tokens(MODEL) == whole == toy_count(
            {"model": MODEL, "system": SYSTEM, "tools": TOOLS, "messages": conv.to_api_messages()})
    assert counter.framing_tokens(MODEL) == REQUEST_FRAMING


def test_exact_message_counts_include_their_framing(counter: ExactCounter) -> None:
    assert counter.count_message(Message("user", "one two three"), model=MODEL) == MESSAGE_FRAMING + 3
    assert counter.count_message({"role": "assistant", "content": "four five"}, model=MODEL) == MESSAGE_FRAMING + 2


def test_tool_messages_are_counted_in_valid_requests(counter: ExactCounter, api: FakeAPI) -> None:
    conv = tool_chat()
    call, results = conv.messages[1], conv.messages[2]
    pair = counter.count_message(call, model=MODEL) + counter.count_message(results, model=MODEL)
    assert pair == 2 * MESSAGE_FRAMING + toy_tokens(call.content) + toy_tokens(results.content)
    assert all(validate(body) is None for body in api.calls)  # the server accepted every probe


def test_system_and_tools_are_counted_by_difference(counter: ExactCounter) -> None:
    assert counter.count_system(SYSTEM, model=MODEL) == 2 + toy_tokens(SYSTEM)
    assert counter.count_tools(TOOLS, model=MODEL) == TOOL_PROMPT + toy_tokens(json.dumps(TOOLS[0]))
    assert counter.count_system(None, model=MODEL) == counter.count_tools([], model=MODEL) == 0
    blocks = [{"type": "text", "text": SYSTEM}]
    assert counter.count_system(blocks, model=MODEL) == counter.count_system(SYSTEM, model=MODEL)


def test_counting_twice_makes_no_new_calls(counter: ExactCounter) -> None:
    conv = chat(100)
    first = count_conversation(counter, conv)
    calls = counter.api_calls
    assert calls == 2 + 100 + 2  # two baselines, one per message, system, tools
    assert count_conversation(counter, conv) == first
    assert counter.api_calls == calls
    conv.add("user", "one more message")
    assert count_conversation(counter, conv) > first
    assert counter.api_calls == calls + 1


def test_cache_is_keyed_by_content_hash(counter: ExactCounter) -> None:
    a, b = Message("user", "same words here"), Message("user", "same words here")
    assert a.id != b.id
    n = counter.count_message(a, model=MODEL)
    calls = counter.api_calls
    assert counter.count_message(b, model=MODEL) == n
    assert counter.count_message({"role": "user", "content": "same words here"}, model=MODEL) == n
    assert counter.api_calls == calls
    counter.count_message(Message("assistant", "same words here"), model=MODEL)  # role is part of the key
    assert counter.api_calls == calls + 1


def test_counts_are_kept_per_model(counter: ExactCounter) -> None:
    msg = Message("user", "one two three four")
    small = counter.count_message(msg, model=MODEL)
    calls = counter.api_calls
    big = counter.count_message(msg, model=BIG)
    assert counter.api_calls > calls  # its own baselines and probe
    assert (small, big) == (MESSAGE_FRAMING + 4, MESSAGE_FRAMING + 8)
    assert counter.count_message(msg, model=MODEL) == small


def test_lru_evicts_the_oldest_entries(api: FakeAPI, counter: ExactCounter) -> None:
    small = ExactCounter(counter.client, maxsize=4)
    msgs = [Message("user", f"message {i}") for i in range(6)]
    for m in msgs:
        small.count_message(m, model=MODEL)
    calls = small.api_calls
    small.count_message(msgs[-1], model=MODEL)
    assert small.api_calls == calls
    small.count_message(msgs[0], model=MODEL)  # evicted: asked again
    assert small.api_calls == calls + 1


def test_count_request_exact_is_one_call(counter: ExactCounter, api: FakeAPI) -> None:
    conv = tool_chat()
    n = counter.count_request_exact(model=MODEL, system=SYSTEM, tools=TOOLS, messages=conv.messages)
    assert counter.api_calls == 1
    assert api.calls[-1] == {"model": MODEL, "system": SYSTEM, "tools": TOOLS, "messages": conv.to_api_messages()}
    assert counter.count_request_exact(model=MODEL, system=SYSTEM, tools=TOOLS, messages=conv.to_api_messages()) == n
    assert counter.api_calls == 1


def test_api_errors_propagate_and_are_not_cached(counter: ExactCounter) -> None:
    bad = Message("user", [{"type": "text", "text": ""}])
    for _ in range(2):
        with pytest.raises(anthropic.BadRequestError, match="non-empty"):
            counter.count_message(bad, model=MODEL)
    assert counter.api_calls == 2  # the failing probe each time: nothing cached
    assert counter.count_message(Message("user", ""), model=MODEL) == 0  # empty string: nothing to ask


def test_a_strategy_counts_like_a_fresh_one_after_the_counter_learns() -> None:
    """Cached sums are keyed on the counter's version: after observe() the strategy's payload
    counts what a new strategy with the same counter counts."""
    from convolab.strategies import FullHistory, SlidingWindow

    conv = chat(31)  # ends with a user message: a clean window, counted from the index
    for make in (lambda c: FullHistory(counter=c), lambda c: SlidingWindow(budget_tokens=150_000, counter=c)):
        est = CalibratedEstimate()
        used = make(est)
        before = used.build(conv).input_tokens
        est.observe(MODEL, 10_000, 4_000)  # 2.5 characters a token, not 4: counts go up
        after = used.build(conv).input_tokens
        assert after == make(est).build(conv).input_tokens > before
        conv.add("assistant", "More.")
        conv.add("user", "And more?")
        est.observe(MODEL, 10_000, 5_000)
        assert used.build(conv).input_tokens == make(est).build(conv).input_tokens
