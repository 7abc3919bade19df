"""ServerCompaction: the API's compaction edit, history sent from the last compaction, fallback."""

from __future__ import annotations

import pytest

from convolab import Conversation
from convolab.sim import ManualClock, Simulator
from convolab.strategies import ServerCompaction, Summarizing


def big_chat(model: str, facts: int) -> Conversation:
    conv = Conversation(system_prompt="You are a logistics assistant.", model=model)
    conv.add("user", "My name is Priya. " + " ".join(f"Crate {i} holds {i * 7} bolts." for i in range(facts)))
    conv.add("assistant", "Noted the crates.")
    conv.add("user", "How many bolts are in crate 12?")
    return conv


def test_compacts_past_the_trigger_and_then_sends_only_what_follows():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = big_chat("claude-sonnet-4-6", 7000)
    s = ServerCompaction(trigger_tokens=50_000)
    first = s.build(conv, client=client)
    assert first.betas == ["compact-2026-01-12"]
    assert first.request["context_management"]["edits"][0]["trigger"]["value"] == 50_000
    assert first.input_tokens > 50_000
    reply = first.create(client)
    assert reply.content[0].type == "compaction"
    conv.add("assistant", reply.content)
    conv.add("user", "And crate 40?")
    second = s.build(conv, client=client)
    assert second.input_tokens < 50_000 < first.input_tokens
    assert len(second.left_out) == 2  # the first exchange, summarized by the compaction block
    r2 = second.create(client)  # accepted by the strict simulator
    assert all(b.type != "compaction" for b in r2.content)


def test_model_without_server_compaction_falls_back_to_summarizing():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = big_chat("claude-haiku-4-5", 100)
    s = ServerCompaction(trigger_tokens=50_000, fallback=Summarizing(budget_tokens=3000))
    p = s.build(conv, client=client)
    assert p.strategy == "compaction" and not p.betas and "context_management" not in p.request
    assert any("fallback: summarizing" in b for b in p.cache.breakpoints)
    p.create(client)


def test_clear_tool_uses_edit_is_added_on_request():
    s = ServerCompaction(trigger_tokens=60_000, clear_tool_uses=True, keep_tool_uses=2)
    edits = s.edits()
    assert [e["type"] for e in edits] == ["clear_tool_uses_20250919", "compact_20260112"]
    assert edits[0]["keep"]["value"] == 2


def test_trigger_below_the_api_floor_is_refused():
    with pytest.raises(ValueError, match="at least 50,000"):
        ServerCompaction(trigger_tokens=10_000)
