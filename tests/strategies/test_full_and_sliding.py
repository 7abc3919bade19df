"""FullHistory and SlidingWindow against the strict simulator."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab import ConfigurationError, ContextOverflow, Conversation
from convolab.sim import ManualClock, Simulator
from convolab.strategies import FullHistory, SlidingWindow, Strategy

MODEL = "claude-sonnet-4-6"
TOOLS = [{"name": "lookup", "description": "Look something up", "input_schema": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]


def chat(turns: int, *, tools_every: int = 0, words: int = 30, system: str = "You are helpful.") -> Conversation:
    conv = Conversation(system_prompt=system, model=MODEL, tools=TOOLS if tools_every else None)
    for t in range(turns):
        conv.add("user", f"Turn {t}: " + " ".join(f"w{t}_{k}" for k in range(words)))
        if tools_every and t % tools_every == 0:
            conv.add("assistant", [{"type": "text", "text": "Let me check."},
                                   {"type": "tool_use", "id": f"toolu_{t}", "name": "lookup", "input": {"q": str(t)}}])
            conv.add("user", [{"type": "tool_result", "tool_use_id": f"toolu_{t}", "content": f"result {t}"}])
        conv.add("assistant", f"Answer to turn {t}.")
    conv.add("user", "What now?")
    return conv


@pytest.fixture
def sim() -> Simulator:
    return Simulator(clock=ManualClock())


def billed(sim: Simulator, payload) -> int:
    return sim.count({k: v for k, v in payload.request.items() if k != "max_tokens"})


def test_both_satisfy_the_protocol():
    assert isinstance(FullHistory(), Strategy) and isinstance(SlidingWindow(), Strategy)
    assert (FullHistory.name, SlidingWindow.name) == ("full", "sliding")


def test_full_history_sends_everything_and_counts_it_exactly(sim: Simulator):
    conv = chat(12, tools_every=4)
    p = FullHistory().build(conv)
    assert len(p.messages) == len(conv) and p.left_out == []
    assert p.input_tokens == billed(sim, p)
    assert p.breakdown["system"] + p.breakdown["tools"] + p.breakdown["recent"] == p.input_tokens
    r = p.create(sim.client())
    assert r.usage.input_tokens + r.usage.cache_creation_input_tokens == p.input_tokens


def test_full_history_reads_the_previous_turn_from_cache(sim: Simulator):
    conv = chat(60, words=40)
    strategy, client = FullHistory(), sim.client()
    first = strategy.build(conv)
    r1 = first.create(client)
    conv.add("assistant", r1.content[0].text)
    conv.add("user", "And then?")
    sim.clock.advance(30)
    second = strategy.build(conv)
    assert second.cache.expected_read == first.input_tokens
    r2 = second.create(client)
    assert r2.usage.cache_read_input_tokens == second.cache.expected_read
    assert r2.usage.cache_creation_input_tokens == second.input_tokens - second.cache.expected_read


def test_full_history_refuses_an_over_window_request():
    conv = Conversation(model="claude-haiku-4-5")
    conv.add("user", "lorem " * 260_000)
    with pytest.raises(ContextOverflow, match="over by"):
        FullHistory().build(conv)


def test_sliding_window_by_turns_starts_on_a_plain_user_message(sim: Simulator):
    conv = chat(20, tools_every=3)
    p = SlidingWindow(max_turns=4).build(conv)
    first = p.messages[0]
    assert first["role"] == "user" and isinstance(first["content"], str)
    plain_users = [m for m in p.messages if m["role"] == "user" and isinstance(m["content"], str)]
    assert len(plain_users) == 4
    p.create(sim.client())  # accepted by the strict simulator
    assert set(p.left_out).isdisjoint(p.sent)
    assert len(p.left_out) + len(p.sent) == len(conv)


@settings(deadline=None)
@given(turns=st.integers(1, 40), tools_every=st.integers(0, 4), budget=st.integers(200, 3000))
def test_sliding_budget_is_never_exceeded_and_tool_pairs_stay_whole(turns, tools_every, budget):
    sim = Simulator(clock=ManualClock())
    conv = chat(turns, tools_every=tools_every, words=20)
    strategy = SlidingWindow(budget_tokens=budget)
    try:
        p = strategy.build(conv)
    except ContextOverflow as e:
        assert e.needed > budget
        return
    assert billed(sim, p) <= p.input_tokens <= budget
    uses = {b["id"] for m in p.messages if isinstance(m["content"], list) for b in m["content"] if b["type"] == "tool_use"}
    results = {b["tool_use_id"] for m in p.messages if isinstance(m["content"], list) for b in m["content"]
               if b["type"] == "tool_result"}
    assert uses == results
    p.create(sim.client())


def test_planted_early_fact_is_dropped_by_the_window():
    conv = Conversation(system_prompt="Be brief.", model=MODEL)
    conv.add("user", "My locker code is 4417.")
    conv.add("assistant", "Noted.")
    for t in range(30):
        conv.add("user", f"Small talk {t}.")
        conv.add("assistant", "Sure.")
    conv.add("user", "What is my locker code?")
    full = FullHistory().build(conv)
    window = SlidingWindow(max_turns=5).build(conv)
    assert "4417" in full.to_json() and "4417" not in window.to_json()


def test_sliding_overflow_says_by_how_much():
    conv = Conversation(system_prompt="x " * 500, model=MODEL)
    conv.add("user", "hello " * 50)
    with pytest.raises(ContextOverflow) as info:
        SlidingWindow(budget_tokens=100).build(conv)
    assert info.value.over_by > 0 and info.value.available == 100


def test_build_never_mutates_the_conversation():
    conv = chat(10, tools_every=2)
    before = [(m.id, m.role, repr(m.content)) for m in conv]
    FullHistory().build(conv)
    SlidingWindow(max_turns=2).build(conv)
    assert [(m.id, m.role, repr(m.content)) for m in conv] == before


def test_state_round_trips():
    s = SlidingWindow(max_turns=3, budget_tokens=900)
    t = SlidingWindow(max_turns=3, budget_tokens=900)
    t.load_state(s.state())
    assert t.state() == s.state()
    with pytest.raises(ConfigurationError, match="belongs to strategy"):
        t.load_state(FullHistory().state())
    with pytest.raises(ConfigurationError, match="format version 2; this convolab reads version 1"):
        t.load_state({**s.state(), "version": 2})  # saved by a newer convolab: refused, not misread


def test_sliding_build_work_does_not_grow_with_history():
    """The work per build (messages counted) stays flat once the history is indexed."""
    from convolab.sim import SimTokenCounter

    class Counting(SimTokenCounter):
        calls = 0

        def count_message(self, message, *, model):
            Counting.calls += 1
            return super().count_message(message, model=model)

    big = chat(5000)
    s = SlidingWindow(max_turns=5, counter=Counting())
    s.build(big)  # indexes 10,001 messages once
    big.add("assistant", "ok")
    big.add("user", "and now?")
    Counting.calls = 0
    p = s.build(big)
    assert len(p.sent) == 2 * 4 + 1  # four whole turns and the new user message
    assert Counting.calls <= 2 + len(p.sent)


def test_stored_breakpoints_beyond_the_api_limit_are_dropped_earliest_first():
    from convolab.sim import Simulator

    sim = Simulator()
    conv = Conversation(system_prompt="You are terse.", model="claude-sonnet-4-6")
    for i in range(5):
        conv.add("user", [{"type": "text", "text": f"Note {i}.", "cache_control": {"type": "ephemeral"}}])
        conv.add("assistant", f"Noted {i}.")
    conv.add("user", "Which notes?")
    p = FullHistory().build(conv)
    marked = [i for i, m in enumerate(p.messages) if isinstance(m["content"], list)
              and any("cache_control" in b for b in m["content"])]
    assert marked == [6, 8]  # system + top-level + the two newest stored ones = 4
    assert "3 stored message breakpoint(s) dropped" in " ".join(p.cache.breakpoints)
    assert "cache_control" in conv.messages[0].content[0]  # the stored history is untouched
    assert p.create(sim.client()).content


def test_budgeted_window_moves_in_steps_so_the_cache_reads_the_previous_prompt():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = Conversation(system_prompt="You are helpful.", model=MODEL)  # caches from 1,024 tokens
    stepped, exact = SlidingWindow(budget_tokens=3000), SlidingWindow(budget_tokens=3000, headroom=0)
    starts, reads, total = [], 0, 0
    for t in range(80):
        conv.add("user", f"Turn {t}: " + " ".join(f"w{t}_{k}" for k in range(60)))
        p = stepped.build(conv)
        assert exact.build(conv).sent[-1] == p.sent[-1]  # both end at the newest message
        assert p.input_tokens <= 3000
        r = p.create(client)
        reads += r.usage.cache_read_input_tokens
        total += r.usage.input_tokens + r.usage.cache_creation_input_tokens + r.usage.cache_read_input_tokens
        starts.append(p.sent[0])
        conv.add("assistant", f"Answer {t}.")
        sim.clock.advance(10)
    moves = sum(a != b for a, b in itertools.pairwise(starts))
    assert moves < 20  # the window moved in steps, not every turn
    assert reads / total > 0.6
    again = SlidingWindow(budget_tokens=3000)
    again.load_state(stepped.state())
    conv.add("user", "And now?")
    assert again.build(conv).sent == stepped.build(conv).sent  # the start survives a resume


def test_max_turns_alone_keeps_the_last_n_user_turns_with_their_replies():
    conv = chat(30)
    p = SlidingWindow(max_turns=4).build(conv)
    assert sum(1 for m in p.messages if m["role"] == "user") == 4


@given(turns=st.integers(2, 25), tools_every=st.integers(0, 3), budget=st.integers(300, 2000),
       empties=st.lists(st.integers(0, 60), max_size=3))
def test_incremental_repair_equals_a_fresh_repair(turns, tools_every, budget, empties):
    """Builds reuse the previous build's repaired messages; the result must equal repairing the
    window from scratch, turn after turn (with empty messages that repair drops now and then)."""
    from convolab import repair_messages

    full_conv = chat(turns, tools_every=tools_every, words=8)
    for strategy in (FullHistory(), SlidingWindow(budget_tokens=budget)):
        conv = Conversation(system_prompt=full_conv.system_prompt, model=MODEL, tools=full_conv.tools)
        for i, m in enumerate(full_conv.messages):
            conv.add(m.role, "" if i in empties and m.role == "assistant" and isinstance(m.content, str) else m.content)
            if m.role != "user":
                continue
            try:
                p = strategy.build(conv)
            except ContextOverflow:
                continue
            fresh, _ = repair_messages(conv.messages[conv.index_of(p.sent[0]):], for_request=True)
            assert p.messages == [dict(x) for x in fresh] or _without_cache_control(p.messages) == fresh


def _without_cache_control(messages):
    return [{**m, "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]}
            if isinstance(m["content"], list) else m for m in messages]
