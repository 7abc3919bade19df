"""The simulator through the real anthropic SDK: strict rules, honest usage, streaming, async."""

from __future__ import annotations

import asyncio
import contextlib
import json

import anthropic
import pytest

from convolab.sim import (
    ManualClock,
    SimTokenCounter,
    Simulator,
    simulated_async_client,
    simulated_client,
)
from convolab.sim.responder import Reply

MODEL = "claude-sonnet-4-6"


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_plain_message_round_trip_through_the_sdk(client: anthropic.Anthropic):
    r = client.messages.create(model=MODEL, max_tokens=100, messages=[user("Hello there")])
    assert isinstance(r, anthropic.types.Message)
    assert r.content[0].text == "You said: Hello there"
    assert r.stop_reason == "end_turn"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.cache_read_input_tokens == 0 and r.usage.cache_creation_input_tokens == 0


def test_same_request_same_reply_and_id(client: anthropic.Anthropic):
    a = client.messages.create(model=MODEL, max_tokens=50, messages=[user("same")])
    b = client.messages.create(model=MODEL, max_tokens=50, messages=[user("same")])
    assert a.id == b.id and a.content == b.content


def test_max_tokens_truncates_honestly(client: anthropic.Anthropic):
    long = "word " * 200
    r = client.messages.create(model=MODEL, max_tokens=10, messages=[user(long)])
    assert r.stop_reason == "max_tokens"
    assert r.usage.output_tokens <= 10
    assert len(r.content[0].text) < len(long)


def test_stop_sequence(client: anthropic.Anthropic):
    r = client.messages.create(model=MODEL, max_tokens=100, stop_sequences=["STOP"],
                               messages=[user("alpha STOP beta")])
    assert r.stop_reason == "stop_sequence" and r.stop_sequence == "STOP"
    assert "beta" not in r.content[0].text


# ---- strict rules -------------------------------------------------------------------------
BAD_REQUESTS = [
    ({"messages": [user("x")]}, anthropic.BadRequestError, "max_tokens: Field required"),
    ({"max_tokens": 10**7, "messages": [user("x")]}, anthropic.BadRequestError, "maximum allowed number of output tokens"),
    ({"max_tokens": 10, "messages": []}, anthropic.BadRequestError, "at least one message"),
    ({"max_tokens": 10, "messages": [{"role": "assistant", "content": "hi"}, user("x")]},
     anthropic.BadRequestError, 'first message must use the "user" role'),
    ({"max_tokens": 10, "messages": [user("")]}, anthropic.BadRequestError, "non-empty content"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
     anthropic.BadRequestError, "text content blocks must be non-empty"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]},
     anthropic.BadRequestError, "non-whitespace text"),
    ({"max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]}, anthropic.BadRequestError,
     "Input should be 'user', 'assistant' or 'system'"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]},
     anthropic.BadRequestError, "Input tag 'video'"),
    ({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [user("x"), {"role": "assistant", "content": "Sure "}]},
     anthropic.BadRequestError, "trailing whitespace"),
    ({"max_tokens": 10, "messages": [user("x"), {"role": "assistant", "content": "Sure"}]},
     anthropic.BadRequestError, "does not support assistant message prefill"),
    ({"model": "claude-opus-5-5", "max_tokens": 10, "messages": [user("x")], "tool_choice": {"type": "any"},
      "tools": [{"name": "t", "input_schema": {"type": "object"}}]},
     anthropic.BadRequestError, "forced tool use (type 'any') is not supported"),
    ({"max_tokens": 10, "messages": [user("x")], "thinking": {"type": "enabled", "budget_tokens": 2048}},
     anthropic.BadRequestError, "`max_tokens` must be greater than `thinking.budget_tokens`"),
    ({"max_tokens": 4000, "messages": [user("x")], "thinking": {"type": "enabled", "budget_tokens": 100}},
     anthropic.BadRequestError, "greater than or equal to 1024"),
    ({"model": "claude-opus-5-5", "max_tokens": 10, "messages": [user("x")], "thinking": {"type": "disabled"}},
     anthropic.BadRequestError, "thinking cannot be disabled"),
    ({"model": "claude-opus-4-7", "max_tokens": 4000, "messages": [user("x")],
      "thinking": {"type": "enabled", "budget_tokens": 2048}},
     anthropic.BadRequestError, "'enabled' is not supported for claude-opus-4-7"),
    ({"max_tokens": 10, "messages": [user("x")], "compaction": {"type": "summarize"}},
     anthropic.BadRequestError, "compaction: Extra inputs are not permitted"),
    ({"max_tokens": 10, "messages": [user("x")], "frobnicate": 1}, anthropic.BadRequestError,
     "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("extra", "error", "message"), BAD_REQUESTS)
def test_rejects_like_the_api(client: anthropic.Anthropic, extra: dict, error: type, message: str):
    with pytest.raises(error) as info:  # client.post: the SDK's own request path, minus its argument checks
        client.post("/v1/messages", body={"model": MODEL, **extra}, cast_to=anthropic.types.Message)
    assert message in str(info.value)
    assert info.value.status_code == 400
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_not_found(client: anthropic.Anthropic):
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="claude-nonexistent-9", max_tokens=10, messages=[user("x")])
    assert "claude-nonexistent-9" in str(info.value)


TOOLS = [{"name": "lookup", "description": "Look something up", "input_schema": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]


def tool_use(tid: str = "toolu_1") -> dict:
    return {"role": "assistant", "content": [{"type": "tool_use", "id": tid, "name": "lookup", "input": {"q": "x"}}]}


def tool_result(tid: str = "toolu_1", extra: list | None = None) -> dict:
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": "42"}, *(extra or [])]}


def test_tool_pairs_valid_sequence_is_accepted(client: anthropic.Anthropic):
    r = client.messages.create(model=MODEL, max_tokens=50, tools=TOOLS,
                               messages=[user("find x"), tool_use(), tool_result()])
    assert r.stop_reason == "end_turn"


@pytest.mark.parametrize(("messages", "message"), [
    ([user("find x"), tool_use(), user("no result")], "`tool_use` ids were found without `tool_result`"),
    ([user("find x"), {"role": "assistant", "content": "ok"}, tool_result("toolu_9")],
     "unexpected `tool_use_id` found in `tool_result`"),
    ([user("find x"), tool_use(), {"role": "user", "content": [{"type": "text", "text": "first"},
                                                             {"type": "tool_result", "tool_use_id": "toolu_1",
                                                              "content": "42"}]}],
     "`tool_use` ids were found without `tool_result`"),
])
def test_tool_pair_violations(client: anthropic.Anthropic, messages: list, message: str):
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=messages)


def test_tool_blocks_need_tools(client: anthropic.Anthropic):
    with pytest.raises(anthropic.BadRequestError, match="must define tools"):
        client.messages.create(model=MODEL, max_tokens=50, messages=[user("find x"), tool_use(), tool_result()])


def test_more_than_four_breakpoints(client: anthropic.Anthropic):
    cc = {"type": "ephemeral"}
    system = [{"type": "text", "text": f"part {i}", "cache_control": cc} for i in range(4)]
    with pytest.raises(anthropic.BadRequestError, match=r"A maximum of 4 blocks with cache_control may be provided\. Found 5"):
        client.messages.create(model=MODEL, max_tokens=10, system=system, cache_control=cc, messages=[user("x")])


def test_ttl_order_1h_before_5m(client: anthropic.Anthropic):
    system = [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
              {"type": "text", "text": "b", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    with pytest.raises(anthropic.BadRequestError, match="must not come after"):
        client.messages.create(model=MODEL, max_tokens=10, system=system, messages=[user("x")])


def test_prompt_longer_than_window(client: anthropic.Anthropic):
    big = "lorem " * 260_000  # ~260K tokens > a 200K window
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[user(big)])


def _filled(sim: Simulator, model: str, room: int) -> tuple[list[dict], int]:
    """One user message filling the model's window but ``room`` tokens, and its count."""
    from convolab.catalog import get_model

    window = get_model(model).context_window
    n = sim.count({"model": model, "messages": [user("lorem " * 10)]})
    messages = [user("lorem " * (window - n - room))]
    return messages, sim.count({"model": model, "messages": messages})


def test_window_counts_max_tokens_too_before_claude_4_5(client: anthropic.Anthropic, sim: Simulator):
    """Claude Opus 4.1 (before 4.5): input + max_tokens over the window is a 400, unless the
    request opts in with the beta header that later models have by default."""
    messages, n = _filled(sim, "claude-opus-4-1", 100)
    with pytest.raises(anthropic.BadRequestError, match="exceed context limit"):
        client.messages.create(model="claude-opus-4-1", max_tokens=200_000 - n + 1, messages=messages)
    r = client.beta.messages.create(model="claude-opus-4-1", max_tokens=200_000 - n + 1, messages=messages,
                                    betas=["model-context-window-exceeded-2025-08-26"])
    assert r.usage.output_tokens <= 200_000 - n


def test_consecutive_same_role_messages_are_merged_like_the_api(client: anthropic.Anthropic, sim: Simulator):
    r = client.messages.create(model=MODEL, max_tokens=50, messages=[user("one"), user("two")])
    assert "one" in r.content[0].text and "two" in r.content[0].text
    merged = sim.count({"model": MODEL, "messages": [user("one"), user("two")]})
    single = sim.count({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}]})
    assert merged == single


# ---- usage and caching ----------------------------------------------------------------------
def long_system(n_words: int = 3000) -> list[dict]:
    text = " ".join(f"rule{i} applies" for i in range(n_words // 2))
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def test_count_tokens_equals_billed_input(client: anthropic.Anthropic):
    kwargs = {"model": MODEL, "system": long_system(), "messages": [user("What applies?")]}
    counted = client.messages.count_tokens(**kwargs).input_tokens
    r = client.messages.create(max_tokens=50, **kwargs)
    u = r.usage
    assert counted == u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
    assert u.cache_creation_input_tokens > 0  # first time: written


def test_cache_write_then_read_then_expiry(client: anthropic.Anthropic, sim: Simulator):
    kwargs = {"model": MODEL, "max_tokens": 20, "system": long_system()}
    first = client.messages.create(messages=[user("q1")], **kwargs).usage
    assert first.cache_creation_input_tokens > 2048 and first.cache_read_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    sim.clock.advance(240)
    second = client.messages.create(messages=[user("q2")], **kwargs).usage
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    sim.clock.advance(240)  # 8 minutes after the write, 4 after the refreshing hit
    third = client.messages.create(messages=[user("q3")], **kwargs).usage
    assert third.cache_read_input_tokens == first.cache_creation_input_tokens
    sim.clock.advance(301)
    fourth = client.messages.create(messages=[user("q4")], **kwargs).usage
    assert fourth.cache_read_input_tokens == 0 and fourth.cache_creation_input_tokens > 0


def test_one_hour_ttl(client: anthropic.Anthropic, sim: Simulator):
    system = long_system()
    system[0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    kwargs = {"model": MODEL, "max_tokens": 20, "system": system}
    first = client.messages.create(messages=[user("q1")], **kwargs).usage
    assert first.cache_creation.ephemeral_1h_input_tokens == first.cache_creation_input_tokens > 0
    sim.clock.advance(50 * 60)
    assert client.messages.create(messages=[user("q2")], **kwargs).usage.cache_read_input_tokens > 0


def test_below_minimum_is_not_cached(client: anthropic.Anthropic):
    kwargs = {"model": MODEL, "max_tokens": 20,
              "system": [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}]}
    a = client.messages.create(messages=[user("q")], **kwargs).usage
    b = client.messages.create(messages=[user("q")], **kwargs).usage
    assert a.cache_creation_input_tokens == 0 and b.cache_read_input_tokens == 0


def test_automatic_caching_moves_forward_across_turns(client: anthropic.Anthropic, sim: Simulator):
    """Top-level cache_control: each turn reads the previous turn's prefix and writes the new part."""
    msgs = [user(" ".join(f"fact {i} is true" for i in range(800)))]
    auto = {"type": "ephemeral"}
    r1 = client.messages.create(model=MODEL, max_tokens=30, cache_control=auto, messages=msgs)
    assert r1.usage.cache_creation_input_tokens > 0 and r1.usage.input_tokens == 0
    msgs += [{"role": "assistant", "content": r1.content[0].text}, user("and next?")]
    sim.clock.advance(10)
    r2 = client.messages.create(model=MODEL, max_tokens=30, cache_control=auto, messages=msgs)
    assert r2.usage.cache_read_input_tokens == r1.usage.cache_creation_input_tokens
    assert r2.usage.cache_creation_input_tokens > 0  # the new turn


def test_lookback_is_limited_to_20_blocks(client: anthropic.Anthropic, sim: Simulator):
    base = " ".join(f"fact {i} is true" for i in range(800))
    msgs = [{"role": "user", "content": [{"type": "text", "text": base, "cache_control": {"type": "ephemeral"}}]}]
    client.messages.create(model=MODEL, max_tokens=10, messages=msgs)
    near = [{"role": "user", "content": [{"type": "text", "text": base}] +
             [{"type": "text", "text": f"extra {k}"} for k in range(19)]}]
    near[0]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    assert client.messages.create(model=MODEL, max_tokens=10, messages=near).usage.cache_read_input_tokens > 0
    far = [{"role": "user", "content": [{"type": "text", "text": base}] +
            [{"type": "text", "text": f"more {k}"} for k in range(25)]}]
    far[0]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    assert client.messages.create(model=MODEL, max_tokens=10, messages=far).usage.cache_read_input_tokens == 0


def test_fresh_simulator_starts_cold(echo):
    kwargs = {"model": MODEL, "max_tokens": 20, "system": long_system(), "messages": [user("q")]}
    shared = Simulator(clock=ManualClock(), responder=echo)
    shared.client().messages.create(**kwargs)
    assert shared.client().messages.create(**kwargs).usage.cache_read_input_tokens > 0
    cold = Simulator(clock=ManualClock(), responder=echo)
    assert cold.client().messages.create(**kwargs).usage.cache_read_input_tokens == 0


def test_sim_token_counter_adds_up_to_count_tokens(sim: Simulator):
    from convolab import Conversation
    from convolab.tokens import count_request

    conv = Conversation(system_prompt="Be brief.", model=MODEL, tools=TOOLS)
    conv.add("user", "find x please")
    conv.add("assistant", [{"type": "text", "text": "Looking."},
                           {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}])
    conv.add("user", [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}])
    conv.add("assistant", "It is 42.")
    conv.add("user", "thanks, and y?")
    local = count_request(SimTokenCounter(), model=MODEL, system=conv.system_prompt, tools=conv.tools,
                          messages=conv.messages)
    billed = sim.count({"model": MODEL, "system": conv.system_prompt, "tools": TOOLS,
                        "messages": conv.to_api_messages()})
    assert local == billed


# ---- streaming and async ----------------------------------------------------------------------
def test_stream_helper_sync(client: anthropic.Anthropic):
    with client.messages.stream(model=MODEL, max_tokens=100, messages=[user("stream me please")]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "You said: stream me please" == final.content[0].text
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_raw_stream_events(client: anthropic.Anthropic):
    events = list(client.messages.create(model=MODEL, max_tokens=100, stream=True, messages=[user("raw")]))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and kinds[-2] == "message_delta"


def test_async_client_create_and_stream(echo):
    async def go():
        client = simulated_async_client(responder=echo, clock=ManualClock())
        r = await client.messages.create(model=MODEL, max_tokens=50, messages=[user("async hi")])
        async with client.messages.stream(model=MODEL, max_tokens=50, messages=[user("async stream")]) as s:
            final = await s.get_final_message()
        return r, final

    r, final = asyncio.run(go())
    assert r.content[0].text == "You said: async hi"
    assert final.content[0].text == "You said: async stream"


def test_tool_use_streams_as_json_deltas():
    def tool_responder(request):
        return Reply([{"type": "tool_use", "id": "toolu_s", "name": "lookup", "input": {"q": "a long query " * 5}}],
                     "tool_use")

    client = simulated_client(responder=tool_responder, clock=ManualClock())
    with client.messages.stream(model=MODEL, max_tokens=200, tools=TOOLS, messages=[user("go")]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"q": "a long query " * 5}


# ---- models ------------------------------------------------------------------------------------
def test_models_list_and_get(client: anthropic.Anthropic):
    from convolab.catalog import list_models

    ids = [m.id for m in client.models.list(limit=3)]  # auto-paginates through every page
    assert sorted(ids) == sorted(m.id for m in list_models())
    info = client.models.retrieve(MODEL)
    assert info.id == MODEL and info.max_input_tokens > 0 and info.max_tokens > 0
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-none")


# ---- faults -------------------------------------------------------------------------------------
def test_sdk_retries_a_429_then_succeeds(echo):
    sim = Simulator(responder=echo, faults=[429, None])
    r = sim.client(max_retries=2).messages.create(model=MODEL, max_tokens=20, messages=[user("x")])
    assert r.content[0].text == "You said: x"
    assert [e.status for e in sim.history] == [429, 200]


@pytest.mark.parametrize(("fault", "error"), [(529, anthropic.OverloadedError), (500, anthropic.InternalServerError),
                                              (429, anthropic.RateLimitError), ("timeout", anthropic.APITimeoutError)])
def test_faults_surface_as_the_sdk_errors(fault, error, echo):
    sim = Simulator(responder=echo, faults=[fault] * 5)
    with pytest.raises(error):
        sim.client(max_retries=0).messages.create(model=MODEL, max_tokens=20, messages=[user("x")])


def test_fault_rates_are_seeded(echo):
    def statuses(seed):
        sim = Simulator(responder=echo, faults={"529": 0.3}, seed=seed)
        c = sim.client(max_retries=0)
        for _ in range(30):
            with contextlib.suppress(anthropic.APIStatusError):
                c.messages.create(model=MODEL, max_tokens=5, messages=[user("x")])
        return [e.status for e in sim.history]

    assert statuses(1) == statuses(1)
    assert 0 < statuses(1).count(529) < 30


def test_latency_moves_the_clock_not_the_wall(echo):
    clock = ManualClock()
    sim = Simulator(responder=echo, clock=clock, latency={"base": 0.5, "per_output_token": 0.01})
    before = clock.now()
    r = sim.client().messages.create(model=MODEL, max_tokens=50, messages=[user("x")])
    assert (clock.now() - before).total_seconds() == pytest.approx(0.5 + 0.01 * r.usage.output_tokens)


def test_error_body_has_the_api_shape(sim: Simulator):
    resp = sim.handle("POST", "/v1/messages", {}, json.dumps({"model": MODEL, "messages": []}).encode())
    body = resp.json()
    assert resp.status_code == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["request_id"].startswith("req_sim_")
