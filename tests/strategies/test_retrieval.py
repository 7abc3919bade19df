"""Retrieval (the default layout): a cache-aware recent window plus excerpts of the older
messages quoted into the newest one; rankers, passes, budget, tool pairs and cache."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from retrieval_conversations import (
    MODEL,
    POLICY,
    T0,
    WORDS,
    _turn,
    billed,
    planted,
    random_conversation,
    small_talk,
    tool_ids,
)

from convolab import ContextOverflow, Conversation
from convolab.errors import ConfigurationError
from convolab.sim import ManualClock, Simulator
from convolab.strategies import Retrieval, SlidingWindow, Strategy
from convolab.strategies.registry import make_strategy

# -- the contract ------------------------------------------------------------------------------

def test_satisfies_the_protocol_and_is_registered_as_retrieval():
    s = Retrieval()
    assert isinstance(s, Strategy) and s.name == "retrieval"
    made = make_strategy("retrieval", budget_tokens=3000, excerpt_share=0.5, ranker="bm25")
    assert isinstance(made, Retrieval) and (made.budget_tokens, made.excerpt_share, made.ranker) == (3000, 0.5, "bm25")


def test_rejects_nonsense_settings():
    for bad in ({"excerpt_share": 1.0}, {"excerpt_share": 0}, {"headroom": 1}, {"neighbours": -1},
                {"ranker": "sideways"}, {"b": 1.5}, {"keep_recent_turns": 2}):
        with pytest.raises((ConfigurationError, TypeError)):
            Retrieval(**bad)


# -- excerpts quoted into the newest message -------------------------------------------------

def test_quoted_is_the_default_and_puts_the_fact_in_the_newest_message_only():
    sim = Simulator(clock=ManualClock())
    conv = planted(200, at=2)
    s = Retrieval(budget_tokens=1500)
    p = s.build(conv, client=sim.client())
    *older, last = p.messages
    assert "Ilse" not in json.dumps(older) and "Ilse" in last["content"][0]["text"]
    assert last["content"][-1]["text"] == "What is my sister's name?"  # the message itself, unchanged, last
    assert last["content"][0]["text"].startswith("[Excerpts from earlier in our conversation")
    said = conv.messages[4].created_at  # turn 2, the planted fact
    run = next(r for r in last["content"][0]["text"].split("\n\n") if "My sister's name is Ilse." in r)
    assert run.startswith(f"[{said.day} May 2023, ")  # the run holding it is dated on its day
    assert "\nMy sister's name is Ilse." in run  # one message a line, as it was written
    assert s.last_retrieved and s.last_hits[0].sent
    assert billed(sim, p) <= p.input_tokens <= 1500
    assert p.breakdown["retrieved"] > 0
    assert "Ilse" in p.create(sim.client()).content[0].text
    gone = SlidingWindow(budget_tokens=1500).build(conv)
    assert "Ilse" not in gone.to_json()


def test_quoted_excerpts_resolve_relative_dates_against_the_day_said():
    sim = Simulator(clock=ManualClock())
    conv = small_talk(120)
    conv.add("user", "I flew to Lisbon yesterday for the conference.", created_at=T0 + timedelta(days=3, hours=9))
    conv.add("assistant", "How exciting!", created_at=T0 + timedelta(days=3, hours=9))
    conv.extend(small_talk(60, start=200).messages)
    conv.add("user", "When did I fly to Lisbon?", created_at=T0 + timedelta(days=40))
    p = Retrieval(budget_tokens=1500).build(conv)
    text = p.messages[-1]["content"][0]["text"]
    assert "[yesterday = 10 May 2023]" in text
    assert "10 May 2023" in p.create(sim.client()).content[0].text
    off = Retrieval(budget_tokens=1500, resolve_dates=False).build(conv)
    assert "yesterday =" not in off.to_json()


@settings(deadline=None)
@given(turns=st.lists(_turn, min_size=0, max_size=35), opener=st.booleans(),
       question=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), tool_loop=st.booleans(),
       budget=st.integers(300, 3000), share=st.sampled_from([0.2, 0.4, 0.7]), neighbours=st.integers(0, 2))
def test_quoted_keeps_the_budget_and_tool_pairs_and_is_accepted(turns, opener, question, tool_loop, budget, share,
                                                                 neighbours):
    sim = Simulator(clock=ManualClock())
    conv = random_conversation(turns, opener=opener, question=question, tool_loop=tool_loop)
    s = Retrieval(budget_tokens=budget, excerpt_share=share, neighbours=neighbours)
    try:
        p = s.build(conv)
    except ContextOverflow as e:
        assert e.needed > budget
        return
    assert billed(sim, p) == p.input_tokens <= budget
    uses, results = tool_ids(p)
    assert uses == results
    p.create(sim.client())  # tool results still lead their message; one breakpoint at most per message
    quoted = [m for m in p.messages if isinstance(m["content"], list) and m["content"]
              and str(m["content"][0].get("text", "")).startswith("[Excerpts")]
    assert len(quoted) == (1 if s.last_retrieved else 0)
    if quoted:  # the message that opened the newest turn, not a tool result
        assert all(b["type"] != "tool_result" for b in quoted[0]["content"])
    assert "cache_control" not in p.request
    for u in s.last_retrieved:  # only messages older than the window are quoted (a unit: a message and the one before)
        assert all(m.id not in p.sent for m in conv.messages[max(u - 1, 0):u + 1])


def test_quoted_cache_reads_the_window_and_expectations_are_honest(chat):
    sim = Simulator(clock=ManualClock())
    conv = Conversation(system_prompt=POLICY, model=MODEL)
    conv.add("user", "My sister's name is Ilse.")
    conv.add("assistant", "Noted.")
    s = Retrieval(budget_tokens=6000)
    questions = ["How is the garden? " * 20, "And the tea? " * 20, "Any football news? " * 20,
                 "What is my sister's name?", "What about the garden again? " * 20, "Tea or football? " * 20]
    results = chat(s, conv, sim, questions)
    for k, (p, r) in enumerate(results):
        assert r.usage.cache_read_input_tokens == p.cache.expected_read
        assert r.usage.cache_creation_input_tokens == p.cache.expected_write
        assert r.usage.input_tokens + r.usage.cache_read_input_tokens + r.usage.cache_creation_input_tokens \
            == p.input_tokens
        if k:
            assert p.cache.breakpoints[-1].endswith("(before the newest turn)")
            assert p.cache.expected_read > p.cache.stable_prefix_tokens  # the window is read, not only the system
    assert results[3][0].breakdown["retrieved"] == 0  # Ilse is still in the window

