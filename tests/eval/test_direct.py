"""``DirectClient``: the simulator's handler without HTTP, billing and answering like the SDK client."""

from __future__ import annotations

import anthropic
import pytest

from convolab.eval import DirectClient
from convolab.model import Conversation
from convolab.sim import ManualClock, Simulator
from convolab.strategies import FullHistory, StructuredMemory


def test_same_reply_and_usage_as_the_sdk_client_and_blocks_store_back():
    a, b = Simulator(clock=ManualClock()), Simulator(clock=ManualClock())
    direct, sdk = DirectClient(a), b.client()
    conv = Conversation(system_prompt="You are terse and exact. " * 300)
    for text in ["I'm Ada and I fly to Lisbon on 12 May.", "When do I fly to Lisbon?"]:
        conv.add("user", text)
        payload = FullHistory().build(conv)
        r1, r2 = payload.create(direct), payload.create(sdk)
        assert [blk.model_dump(exclude_none=True) for blk in r1.content] == [
            blk.model_dump(mode="json", exclude_none=True) for blk in r2.content]
        assert vars(r1.usage)["input_tokens"] == r2.usage.input_tokens
        assert r1.usage.cache_read_input_tokens == r2.usage.cache_read_input_tokens
        assert r1.usage.cache_creation.ephemeral_5m_input_tokens == r2.usage.cache_creation.ephemeral_5m_input_tokens
        assert r1.stop_reason == r2.stop_reason  # ids differ: they hash the body bytes, encoded differently
        conv.add("assistant", r1.content)  # SDK-like blocks store as the API's dicts
    assert conv.messages[-1].content[0]["type"] == "text"
    assert r1.usage.cache_read_input_tokens > 0


def test_tool_calls_come_back_as_blocks_with_attributes():
    sim = Simulator(clock=ManualClock())
    memory = StructuredMemory(budget_tokens=4000)
    conv = Conversation()
    conv.add("user", "My name is Ada and I live in Lisbon.")
    conv.add("assistant", "Noted.")
    memory.observe(conv.turns()[-1], client=DirectClient(sim), conversation=conv)
    assert {f["topic"] for f in memory.facts()["facts"]} == {"name", "home"} and memory.side_usage


def test_errors_are_the_sdks_exceptions():
    client = DirectClient(Simulator(clock=ManualClock()))
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="claude-nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404
    with pytest.raises(anthropic.BadRequestError, match="messages"):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[])
    with pytest.raises(TypeError):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[], betas=["x"])


def test_the_request_is_only_read_and_usage_matches_the_http_path():
    """No JSON round trip any more: the simulator must leave the strategy's request (shared with
    later payloads) as it was, and bill it exactly as a request through HTTP and the SDK."""
    import copy

    from convolab.datasets import synthetic
    from convolab.eval import replay_sample

    sample = synthetic(80, seed=4)  # tool exchanges, dated sessions
    for name in ("full", "retrieval", "memory"):
        direct = replay_sample(sample, name, budget_tokens=2500, keep_requests=True)
        via_sdk = replay_sample(sample, name, budget_tokens=2500, keep_requests=True, sdk=True)
        assert direct.total.as_dict() == via_sdk.total.as_dict()
        assert [i["reply"] for i in direct.items] == [i["reply"] for i in via_sdk.items]
    sim = Simulator(clock=ManualClock())
    request = direct.items[-1]["request"]
    before = copy.deepcopy(request)
    DirectClient(sim).messages.create(**request)
    assert request == before
