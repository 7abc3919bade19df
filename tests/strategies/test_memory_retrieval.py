"""MemoryRetrieval: Retrieval plus a per-person, per-topic memory written by StructuredMemory's
extraction; one side call per exchange, budget and tool pairs kept, memory quoted after the cache."""

from __future__ import annotations

import json

import pytest
from retrieval_conversations import MODEL, TOOLS, billed, small_talk, tool_ids

from convolab import Conversation
from convolab.errors import ConfigurationError
from convolab.sim import ManualClock, Simulator
from convolab.strategies import MemoryRetrieval, Strategy, StructuredMemory
from convolab.strategies.memory_retrieval import MEMORY_INTRO
from convolab.strategies.registry import make_strategy


def lived(sim: Simulator, strategy, facts: list[str], filler: int = 30) -> Conversation:
    """A conversation in which each of ``facts`` is said by the user, among small talk; the
    strategy builds, the simulator replies and the strategy observes every turn."""
    client = sim.client()
    conv = Conversation(system_prompt="You are a friendly assistant.", model=MODEL, tools=TOOLS)
    step = filler // len(facts)
    for k, m in enumerate(small_talk(filler).messages[::2]):
        said = facts[k // step] if k % step == 0 and k // step < len(facts) else m.text
        conv.add("user", said)
        p = strategy.build(conv, client=client)
        conv.add("assistant", p.create(client).content)
        strategy.observe(conv.turns()[-1], client=client, conversation=conv)
        sim.clock.advance(20)
    return conv


def test_satisfies_the_protocol_and_is_registered():
    s = make_strategy("memory-retrieval", budget_tokens=2000, memory_share=0.4)
    assert isinstance(s, MemoryRetrieval) and isinstance(s, Strategy) and s.name == "memory-retrieval"
    assert (s.budget_tokens, s.memory_share) == (2000, 0.4)
    assert isinstance(s.memory, StructuredMemory)  # the same extraction path
    with pytest.raises(ConfigurationError):
        MemoryRetrieval(memory_share=1.0)


def test_the_memory_grows_by_one_extraction_per_exchange_and_is_quoted_for_a_question():
    sim = Simulator(clock=ManualClock())
    s = MemoryRetrieval(budget_tokens=2500, ranker="bm25")
    facts = ["I went kayaking with my sister Lena last weekend.", "We visited Porto and loved the bridges.",
             "My dog Rex turned three on 2 May 2024.", "I took a pottery class on Tuesday."]
    conv = lived(sim, s, facts)
    assert len(s.side_usage) == 30 and all(model == "claude-haiku-4-5" for model, _ in s.side_usage)
    remembered = json.dumps(s.memory.facts())
    assert "kayaking" in remembered and "Porto" in remembered
    conv.add("user", "What activities have I done with Lena?")
    p = s.build(conv, client=sim.client())
    quoted = p.messages[-1]["content"][0]["text"]
    assert quoted.startswith(MEMORY_INTRO) and "kayaking" in quoted.split("[Excerpts")[0]
    assert billed(sim, p) <= p.input_tokens <= 2500
    uses, results = tool_ids(p)
    assert uses == results
    p.create(sim.client())  # the strict simulator accepts it


def test_memory_lines_stay_within_their_share_and_a_statement_gets_none():
    sim = Simulator(clock=ManualClock())
    s = MemoryRetrieval(budget_tokens=1500, memory_share=0.2, ranker="bm25")
    conv = lived(sim, s, ["I love hiking in the Alps.", "My brother Tom lives in Ghent.", "I play the cello."])
    conv.add("user", "Where does Tom live?")
    notes = s.notes(conv, 1000)
    assert notes.startswith(MEMORY_INTRO)
    assert s.counter.count_message({"role": "user", "content": notes}, model=MODEL) <= 200
    conv.discard_last(conv.messages[-1])
    s.retract(conv)
    conv.add("user", "I had a quiet day at home.")
    p = s.build(conv, client=sim.client())
    assert MEMORY_INTRO not in p.to_json() and p.breakdown["retrieved"] == 0


def test_state_round_trip_keeps_the_memory():
    sim = Simulator(clock=ManualClock())
    s = MemoryRetrieval(budget_tokens=2000, ranker="bm25")
    conv = lived(sim, s, ["I went kayaking with Lena.", "We visited Porto."], filler=10)
    state = json.loads(json.dumps(s.state()))
    t = MemoryRetrieval(budget_tokens=2000, ranker="bm25")
    t.load_state(state)
    assert t.memory.facts() == s.memory.facts() and t.state() == state
    conv.add("user", "Where did we go?")
    assert t.build(conv).request == s.build(conv).request
