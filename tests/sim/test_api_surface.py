"""The simulator's API surface beyond plain messages: models with capabilities, retired
models, the beta compaction request, streaming (sync and async, raw and helper), the SDK's
retries against injected faults, and cache TTL edges."""

from __future__ import annotations

import asyncio
import time

import anthropic
import pytest

from convolab.sim import ManualClock, Simulator, simulated_async_client
from convolab.sim.responder import Reply

MODEL = "claude-sonnet-4-6"
COMPACT_BETA = ["compact-2026-01-12"]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


# ---- models ------------------------------------------------------------------------------------
def test_model_info_carries_capabilities_from_the_catalog(client: anthropic.Anthropic):
    info = client.models.retrieve("claude-opus-5-5")
    assert info.type == "model" and info.line == "opus" and info.lifecycle == "active"
    assert info.capabilities is not None
    assert info.capabilities.thinking.types.disabled.supported is False  # thinking always on
    assert info.capabilities.context_management.compact_20260112.supported is True
    haiku = client.models.retrieve("claude-haiku-4-5-20251001")  # an alias resolves to the id
    assert haiku.id == "claude-haiku-4-5"
    assert haiku.capabilities.thinking.types.enabled.supported is True


def test_models_pages_newest_first_without_overlap(client: anthropic.Anthropic):
    first = client.models.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    assert first.data[0].created_at >= first.data[1].created_at
    second = client.models.list(limit=2, after_id=first.last_id)
    assert not {m.id for m in first.data} & {m.id for m in second.data}
    back = client.models.list(limit=2, before_id=second.first_id)
    assert [m.id for m in back.data] == [m.id for m in first.data]
    with pytest.raises(anthropic.BadRequestError, match="between 1 and 1000"):
        client.models.list(limit=0)


def test_a_model_retires_on_its_date_by_the_simulators_clock(echo):
    """Claude Sonnet 4.5's page: deprecated, "retires on November 30, 2026". The day before it
    answers (and is listed as deprecated); from that day on inference fails and the listing
    says retired."""
    from datetime import UTC, datetime

    sim = Simulator(clock=ManualClock(datetime(2026, 11, 29, 12, tzinfo=UTC)), responder=echo)
    client = sim.client(max_retries=0)
    info = client.models.retrieve("claude-sonnet-4-5")
    assert (info.lifecycle, info.retires_at.date().isoformat(), info.deprecated_at.date().isoformat()) == (
        "deprecated", "2026-11-30", "2026-09-30")
    assert client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[user("x")]).content
    sim.clock.set(datetime(2026, 11, 30, tzinfo=UTC))
    assert client.models.retrieve("claude-sonnet-4-5-20250929").lifecycle == "retired"
    with pytest.raises(anthropic.NotFoundError, match="retired on 2026-11-30"):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[user("x")])
    with pytest.raises(anthropic.NotFoundError, match="retired"):
        client.messages.count_tokens(model="claude-sonnet-4-5-20250929", messages=[user("x")])
    early = Simulator(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC))).client()
    assert early.models.retrieve("claude-sonnet-4-5").lifecycle == "active"  # before its deprecation


# ---- the beta compaction request ----------------------------------------------------------------
def history(turns: int = 4) -> list[dict]:
    msgs = []
    for i in range(turns):
        msgs += [user(f"Fact {i}: the build server in Lisbon has {i + 3} cores."),
                 {"role": "assistant", "content": f"Noted fact {i}."}]
    return [*msgs, user("What did we say about Lisbon?")]


def test_compaction_request_returns_the_block_alone(client: anthropic.Anthropic):
    r = client.beta.messages.create(model=MODEL, max_tokens=500, messages=history(), betas=COMPACT_BETA,
                                    compaction={"type": "summarize"})
    assert r.stop_reason == "compaction"
    assert [b.type for b in r.content] == ["compaction"] and "Lisbon" in r.content[0].content
    assert r.usage.output_tokens > 0
    # later requests send the block first, in place of the messages it summarizes
    later = [{"role": "assistant", "content": [r.content[0].model_dump(exclude_none=True)]}, user("And now?")]
    again = client.beta.messages.create(model=MODEL, max_tokens=2000, messages=later, betas=COMPACT_BETA)
    assert again.content[0].text.endswith("And now?") and "Lisbon" in again.content[0].text  # summary leads


def test_compaction_request_rules(client: anthropic.Anthropic):
    with pytest.raises(anthropic.BadRequestError, match="cannot be combined with `context_management`"):
        client.beta.messages.create(model=MODEL, max_tokens=50, messages=history(), betas=COMPACT_BETA,
                                    compaction={"type": "summarize"},
                                    context_management={"edits": [{"type": "compact_20260112"}]})
    with pytest.raises(anthropic.BadRequestError, match="not supported by claude-haiku-4-5"):
        client.beta.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=history(),
                                    betas=COMPACT_BETA, compaction={"type": "summarize"})
    counted = client.beta.messages.count_tokens(model=MODEL, messages=history(), betas=COMPACT_BETA,
                                                compaction={"type": "summarize"})
    assert counted.input_tokens == client.messages.count_tokens(model=MODEL, messages=history()).input_tokens


def test_compaction_block_streams_as_a_compaction_delta(client: anthropic.Anthropic):
    with client.beta.messages.stream(model=MODEL, max_tokens=500, messages=history(), betas=COMPACT_BETA,
                                     compaction={"type": "summarize"}) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert "content_block_delta" in kinds
    assert final.content[0].type == "compaction" and "Lisbon" in final.content[0].content
    assert final.stop_reason == "compaction"


def test_beta_stream_reports_applied_context_edits(client: anthropic.Anthropic):
    tools = [{"name": "read", "input_schema": {"type": "object"}}]
    msgs = [user("Read them.")]
    for i in range(5):
        msgs += [{"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "read", "input": {}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "data " * 300}]}]
    msgs[-1]["content"].append({"type": "text", "text": "Done?"})
    edit = {"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 2},
            "keep": {"type": "tool_uses", "value": 1}}
    with client.beta.messages.stream(model=MODEL, max_tokens=50, messages=msgs, tools=tools,
                                     betas=["context-management-2025-06-27"],
                                     context_management={"edits": [edit]}) as stream:
        final = stream.get_final_message()
    assert final.context_management.applied_edits[0].cleared_tool_uses == 4


# ---- streaming, async ----------------------------------------------------------------------------
def test_async_raw_stream_and_text_stream(echo):
    async def go():
        client = simulated_async_client(responder=echo, clock=ManualClock())
        raw = await client.messages.create(model=MODEL, max_tokens=50, stream=True, messages=[user("raw async")])
        kinds = [e.type async for e in raw]
        async with client.messages.stream(model=MODEL, max_tokens=50, messages=[user("text async")]) as s:
            text = "".join([t async for t in s.text_stream])
            final = await s.get_final_message()
        return kinds, text, final

    kinds, text, final = asyncio.run(go())
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert text == final.content[0].text == "You said: text async"


def test_stream_usage_equals_the_plain_response(sim: Simulator, echo):
    kwargs = {"model": MODEL, "max_tokens": 50, "messages": [user("same usage")]}
    plain = Simulator(clock=ManualClock(), responder=echo).client().messages.create(**kwargs)
    with sim.client().messages.stream(**kwargs) as s:
        final = s.get_final_message()
    assert final.usage.model_dump() == plain.usage.model_dump()


# ---- faults and the SDK's retries ------------------------------------------------------------------
def test_sdk_waits_the_retry_after_the_429_gives(echo):
    sim = Simulator(responder=echo, faults=[429, None], retry_after=0.3)
    t0 = time.perf_counter()
    r = sim.client(max_retries=2).messages.create(model=MODEL, max_tokens=20, messages=[user("x")])
    assert time.perf_counter() - t0 >= 0.3
    assert r.content[0].text == "You said: x"


@pytest.mark.parametrize("fault", [529, 500, "timeout"])
def test_sdk_retries_transient_faults(fault, echo):
    sim = Simulator(responder=echo, faults=[fault, None])
    client = sim.client(max_retries=1).with_options(timeout=5)
    assert client.messages.create(model=MODEL, max_tokens=20, messages=[user("x")]).content[0].text == "You said: x"
    assert sim.requests == 2


def test_retries_run_out(echo):
    sim = Simulator(responder=echo, faults=[529, 529, 529, None])
    with pytest.raises(anthropic.OverloadedError):
        sim.client(max_retries=2).messages.create(model=MODEL, max_tokens=20, messages=[user("x")])
    assert sim.requests == 3


def test_bad_fault_specs_are_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        Simulator(faults=[418])
    with pytest.raises(ValueError, match="more than 1"):
        Simulator(faults={"429": 0.7, "529": 0.6})


# ---- cache TTL edges ---------------------------------------------------------------------------------
def big_system(ttl: str) -> list[dict]:
    text = " ".join(f"rule{i} applies" for i in range(1500))
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


def test_one_hour_entries_expire_after_an_hour(client: anthropic.Anthropic, sim: Simulator):
    kwargs = {"model": MODEL, "max_tokens": 10, "system": big_system("1h")}
    client.messages.create(messages=[user("a")], **kwargs)
    sim.clock.advance(59 * 60)
    assert client.messages.create(messages=[user("b")], **kwargs).usage.cache_read_input_tokens > 0
    sim.clock.advance(59 * 60)  # refreshed by the hit: still alive
    assert client.messages.create(messages=[user("c")], **kwargs).usage.cache_read_input_tokens > 0
    sim.clock.advance(61 * 60)
    assert client.messages.create(messages=[user("d")], **kwargs).usage.cache_read_input_tokens == 0


def test_mixed_ttls_split_the_write(client: anthropic.Anthropic):
    system = [*big_system("1h"), {"type": "text", "text": " ".join(f"note{i}" for i in range(900)),
                                  "cache_control": {"type": "ephemeral", "ttl": "5m"}}]
    u = client.messages.create(model=MODEL, max_tokens=10, system=system, messages=[user("q")]).usage
    assert u.cache_creation.ephemeral_1h_input_tokens > 0 and u.cache_creation.ephemeral_5m_input_tokens > 0
    assert u.cache_creation_input_tokens == (u.cache_creation.ephemeral_1h_input_tokens
                                             + u.cache_creation.ephemeral_5m_input_tokens)


def test_newer_tokenizer_bills_about_30_percent_more(sim: Simulator):
    body = {"messages": [user(" ".join(f"the quick brown fox number {i}" for i in range(400)))]}
    old = sim.count({"model": "claude-sonnet-4-6", **body})
    new = sim.count({"model": "claude-sonnet-5", **body})
    assert 1.25 < new / old < 1.35


def test_the_token_counting_pages_tool_example_counts_near_the_documented_403(sim: Simulator):
    """https://platform.claude.com/docs/en/build-with-claude/token-counting: 403 input tokens on
    claude-opus-5. The tool-use prompt is the pricing page's (286 auto, 406 forced on Opus 5);
    the rest is the stand-in tokenizer, so the total is near the page's figure, not equal."""
    tool = {"name": "get_weather", "description": "Get the current weather in a given location",
            "input_schema": {"type": "object", "properties": {"location": {
                "type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                "required": ["location"]}}
    body = {"model": "claude-opus-5", "tools": [tool],
            "messages": [user("What's the weather like in San Francisco?")]}
    auto = sim.count(body)
    assert abs(auto - 403) / 403 < 0.05
    assert sim.count({**body, "tool_choice": {"type": "any"}}) - auto == 406 - 286


def test_thinking_blocks_stream_with_their_signature():
    def thinker(request: dict) -> Reply:
        return Reply([{"type": "thinking", "thinking": "Let me weigh this.", "signature": "sig_abc"},
                      {"type": "text", "text": "Done."}])

    client = Simulator(clock=ManualClock(), responder=thinker).client()
    kwargs = {"model": "claude-haiku-4-5", "max_tokens": 3000, "messages": [user("think")],
              "thinking": {"type": "enabled", "budget_tokens": 1024}}
    with client.messages.stream(**kwargs) as s:
        final = s.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking == "Let me weigh this."
    assert final.content[0].signature == "sig_abc" and final.content[1].text == "Done."
    assert final.model_dump(exclude={"id"}) == client.messages.create(**kwargs).model_dump(exclude={"id"})
