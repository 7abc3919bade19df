"""MessageRetrieval: recent turns plus older turns ranked for the new message, sent as dated
runs of messages; budget kept, tool pairs whole, index incremental, cache expectations honest."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from retrieval_conversations import (
    MODEL,
    POLICY,
    T0,
    TOOLS,
    WORDS,
    _turn,
    billed,
    planted,
    random_conversation,
    small_talk,
    tool_ids,
)

import convolab.strategies.retrieval_index as index_module
from convolab import ContextOverflow, Conversation
from convolab.errors import ConfigurationError
from convolab.lexical import TermIndex, tokenize
from convolab.model import group_turns
from convolab.sim import ManualClock, SimTokenCounter, Simulator
from convolab.strategies import MessageRetrieval, SlidingWindow, Strategy
from convolab.strategies.registry import make_strategy
from convolab.strategies.retrieval_index import turn_text

# -- the contract ------------------------------------------------------------------------------

def test_satisfies_the_protocol_and_is_registered():
    s = MessageRetrieval()
    assert isinstance(s, Strategy) and s.name == "retrieval-messages"
    made = make_strategy("retrieval-messages", budget_tokens=3000, keep_recent_turns=2, neighbours=0)
    assert isinstance(made, MessageRetrieval)
    assert (made.budget_tokens, made.keep_recent_turns, made.neighbours) == (3000, 2, 0)


def test_planted_fact_is_retrieved_and_answered_where_the_sliding_window_forgets_it():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = planted(200, at=2)
    s = MessageRetrieval(budget_tokens=1500, keep_recent_turns=4)
    p = s.build(conv)
    answer = p.create(client).content[0].text
    assert billed(sim, p) == p.input_tokens <= 1500
    assert s.last_hits[0].unit == 2 and s.last_hits[0].sent
    assert {"sister"} <= set(s.last_hits[0].terms)
    assert s.last_retrieved == [1, 2, 3]  # the hit and its neighbours
    assert conv.messages[4].id in p.sent and conv.messages[4].id not in p.left_out
    assert "Ilse" in p.to_json() and "Ilse" in answer
    assert p.breakdown["retrieved"] > 0
    assert sum(p.breakdown[k] for k in ("system", "tools", "retrieved", "recent")) == p.input_tokens

    window = SlidingWindow(budget_tokens=1500).build(conv)
    forgotten = window.create(client).content[0].text
    assert "Ilse" not in window.to_json() and "Ilse" not in forgotten


def test_retrieved_runs_are_dated_and_temporal_questions_get_the_date():
    sim = Simulator(clock=ManualClock())
    conv = small_talk(90, per_day=10)  # nine days of small talk
    fact = conv.messages[2 * 23]  # turn 23, on day 2 (10 May 2023)
    conv2 = Conversation(system_prompt=conv.system_prompt, model=MODEL)
    for m in conv.messages:
        text = "I adopted a puppy named Rex at the shelter." if m is fact else m.text
        conv2.add(m.role, text, created_at=m.created_at)
    conv2.add("user", "When did I adopt Rex?", created_at=T0 + timedelta(days=12))
    s = MessageRetrieval(budget_tokens=1200, keep_recent_turns=3)
    p = s.build(conv2)
    assert s.last_retrieved == [22, 23, 24]
    first = p.messages[0]["content"]
    assert first == f"[Earlier in the conversation, 2023-05-10 14:18 UTC] {conv.messages[44].text}"  # turn 22
    recent = [m["content"] for m in p.messages if m["role"] == "user" and "[Recent conversation, " in m["content"]]
    assert len(recent) == 1 and recent[0].startswith("[Recent conversation, 2023-05-16 ")  # turn 88, day 8
    assert "Rex" in p.to_json()
    answer = p.create(sim.client()).content[0].text
    assert "Rex" in answer and "10 May 2023" in answer
    assert "puppy" not in SlidingWindow(budget_tokens=1200).build(conv2).to_json()


def test_a_change_of_day_inside_a_run_gets_its_own_header():
    conv = small_talk(40, per_day=10)
    conv.add("user", "Tell me about Small talk 9 again?")  # turn 9 is the last of day 0
    s = MessageRetrieval(budget_tokens=2000, keep_recent_turns=2, max_hits=1)
    p = s.build(conv)
    assert s.last_retrieved == [8, 9, 10]
    texts = [m["content"] for m in p.messages if m["role"] == "user"]
    assert texts[0].startswith("[Earlier in the conversation, 2023-05-08 ")
    assert texts[2].startswith("[Conversation continued, 2023-05-09 ")  # turn 10 is on the next day


def test_a_message_that_opens_with_its_own_date_keeps_it():
    """LoCoMo-style text carries its session date: a header in front would hide it (and the speaker)."""
    sim = Simulator(clock=ManualClock())
    conv = small_talk(60)
    conv.add("user", "[8 May, 2023 1:56 pm] Caroline: I went to the LGBTQ support group yesterday.")
    conv.add("assistant", "Melanie: That sounds wonderful!")
    conv.extend(small_talk(60, start=61).messages)
    conv.add("user", "When did Caroline go to the LGBTQ support group?")
    s = MessageRetrieval(budget_tokens=1500, keep_recent_turns=2)
    p = s.build(conv)
    assert s.last_hits[0].unit == 60 and 60 in s.last_retrieved
    user_texts = [m["content"] for m in p.messages if m["role"] == "user"]
    assert "[8 May, 2023 1:56 pm] Caroline: I went to the LGBTQ support group yesterday." in user_texts
    assert user_texts[0].startswith("[Earlier in the conversation, ")  # the neighbour before still gets one
    assert "7 May 2023" in p.create(sim.client()).content[0].text  # "yesterday", from the message's own date


def test_without_matches_it_is_a_budgeted_sliding_window_and_has_no_headers():
    conv = small_talk(80)
    conv.add("user", "Anything new about quantum chromodynamics?")
    s = MessageRetrieval(budget_tokens=1500, keep_recent_turns=4)
    p = s.build(conv)
    assert s.last_hits == [] and s.last_retrieved == [] and p.breakdown["retrieved"] == 0
    assert p.messages == SlidingWindow(max_turns=4, budget_tokens=1500).build(conv).messages
    off = MessageRetrieval(budget_tokens=1500, keep_recent_turns=4, date_headers=False)
    conv.add("assistant", "No.")
    conv.add("user", "What did we say about cycling and music?")
    q = off.build(conv)
    assert off.last_retrieved and "[Earlier in the conversation" not in q.to_json() and "[Recent" not in q.to_json()


def test_a_fact_in_a_tool_result_comes_with_its_tool_call():
    sim = Simulator(clock=ManualClock())
    conv = small_talk(30)
    conv.tools = TOOLS
    conv.add("user", "Can you check our storage location?")
    conv.add("assistant", [{"type": "text", "text": "Let me check."},
                           {"type": "tool_use", "id": "toolu_wh", "name": "lookup", "input": {"q": "storage"}}])
    conv.add("user", [{"type": "tool_result", "tool_use_id": "toolu_wh", "content": "The warehouse code is K77."}])
    conv.add("assistant", "Done.")
    more = small_talk(30, start=31)
    conv.extend(more.messages)
    conv.add("user", "What was the warehouse code?")
    s = MessageRetrieval(budget_tokens=2500, keep_recent_turns=3)
    p = s.build(conv)
    assert s.last_hits[0].unit == 30 and 30 in s.last_retrieved
    uses, results = tool_ids(p)
    assert uses == results == {"toolu_wh"}
    assert billed(sim, p) <= p.input_tokens <= 2500
    assert "K77" in p.create(sim.client()).content[0].text


def test_overflow_when_the_newest_turn_alone_exceeds_the_budget():
    conv = small_talk(5)
    conv.add("user", "hello " * 400)
    with pytest.raises(ContextOverflow) as info:
        MessageRetrieval(budget_tokens=300).build(conv)
    assert info.value.over_by > 0 and info.value.available == 300
    assert "retrieval" in str(info.value)


def test_state_round_trip_rebuilds_the_same_request():
    conv = planted(120, at=5)
    s = MessageRetrieval(budget_tokens=1500, keep_recent_turns=3, neighbours=2)
    first = s.build(conv)
    state = json.loads(json.dumps(s.state()))  # JSON-able
    assert state["strategy"] == "retrieval-messages" and state["neighbours"] == 2 and state["last_retrieved"]
    t = MessageRetrieval(budget_tokens=1500, keep_recent_turns=3, neighbours=2)
    t.load_state(state)
    assert t.last_hits == s.last_hits and t.last_retrieved == s.last_retrieved and t.last_query == s.last_query
    assert t.build(conv).request == first.request == s.build(conv).request
    assert t.state() == state
    with pytest.raises(ValueError, match="belongs to strategy"):
        t.load_state({"strategy": "sliding"})


def test_build_never_mutates_the_conversation():
    conv = planted(50, at=3)
    before = [(m.id, m.role, repr(m.content), m.created_at) for m in conv]
    MessageRetrieval(budget_tokens=900, keep_recent_turns=2).build(conv)
    assert [(m.id, m.role, repr(m.content), m.created_at) for m in conv] == before


def test_unanswered_user_messages_stay_in_the_recent_window():
    """A crash left a user message without a reply: it is sent again with the new one."""
    sim = Simulator(clock=ManualClock())
    conv = small_talk(40)
    lost = conv.add("user", "My locker code is 4417.")
    conv.add("user", "Did you get that?")
    s = MessageRetrieval(budget_tokens=1500, keep_recent_turns=1)
    p = s.build(conv)
    assert lost.id in p.sent and "4417" in p.messages[-1]["content"]
    assert "4417" in s.last_query
    p.create(sim.client())


def test_a_first_turn_opened_by_the_assistant_is_never_a_run_start():
    sim = Simulator(clock=ManualClock())
    conv = Conversation(system_prompt="Be brief.", model=MODEL)
    conv.add("assistant", "Welcome! Ask me anything about Porto.")
    conv.extend(small_talk(40).messages)
    conv.add("user", "What about Porto?")
    s = MessageRetrieval(budget_tokens=1500, keep_recent_turns=2)
    p = s.build(conv)
    assert all(h.unit != 0 for h in s.last_hits) and 0 not in s.last_retrieved
    assert p.messages[0]["role"] == "user"
    p.create(sim.client())


def test_forget_after_a_message_is_taken_back():
    conv = planted(30, at=1)
    s = MessageRetrieval(budget_tokens=1200, keep_recent_turns=2)
    s.build(conv)
    conv.discard_last(conv.messages[-1])
    s.forget(conv)
    conv.add("user", "Where does my sister live?")
    p = s.build(conv)
    assert "Ghent" in p.to_json()
    assert len(s.retrieval_index(conv)) == len(group_turns(conv.messages)) - 1


def test_rejects_nonsense_settings():
    for bad in ({"keep_recent_turns": 0}, {"neighbours": -1}, {"max_hits": -1}, {"b": 1.5}, {"k1": -1},
                {"ranker": "sideways"}, {"semantic_weight": -1}, {"embedder": "wordllama"}):
        with pytest.raises(ConfigurationError):
            MessageRetrieval(**bad)


def test_a_build_indexes_only_the_new_messages_and_counts_only_what_it_sends(monkeypatch):
    class Counting(SimTokenCounter):
        calls = 0

        def count_message(self, message, *, model):
            Counting.calls += 1
            return super().count_message(message, model=model)

    tokenized = []
    real = index_module.tokenize
    monkeypatch.setattr(index_module, "tokenize", lambda text: tokenized.append(text) or real(text))
    conv = small_talk(5000)
    conv.add("user", "What about cycling?")
    s = MessageRetrieval(budget_tokens=3000, keep_recent_turns=3, counter=Counting())
    s.build(conv)  # indexes 10,000 messages (5,000 turns) once
    assert len(tokenized) == 10_000 + 1  # every older message, and the query
    conv.add("assistant", "Cycling is fun.")
    conv.add("user", "And what about tea?")
    tokenized.clear()
    Counting.calls = 0
    p = s.build(conv)
    assert len(tokenized) == 2 + 1  # the two messages that became final, and the query
    assert len(s.retrieval_index(conv)) == 5001
    assert Counting.calls <= 3 * len(p.sent) + 10  # headers and the exact check, never the history


@settings(deadline=None)
@given(turns=st.lists(_turn, min_size=0, max_size=35), opener=st.booleans(),
       question=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), tool_loop=st.booleans(),
       budget=st.integers(300, 3000), keep=st.integers(1, 4), neighbours=st.integers(0, 2))
def test_budget_kept_tool_pairs_whole_runs_dated_and_payload_accepted(turns, opener, question, tool_loop, budget, keep,
                                                                      neighbours):
    sim = Simulator(clock=ManualClock())
    conv = random_conversation(turns, opener=opener, question=question, tool_loop=tool_loop)
    s = MessageRetrieval(budget_tokens=budget, keep_recent_turns=keep, neighbours=neighbours)
    try:
        p = s.build(conv)
    except ContextOverflow as e:
        assert e.needed > budget
        return
    assert billed(sim, p) <= p.input_tokens <= budget
    uses, results = tool_ids(p)
    assert uses == results
    assert p.messages[0]["role"] == "user"
    p.create(sim.client())  # the strict simulator accepts it

    text = p.to_json(indent=None)
    aside = {json.dumps(a.message, sort_keys=True) for a in p.repair.set_aside}  # an opener, as for any window
    for m in conv.messages:  # nothing sent was lost in repair's merges
        if m.id in p.sent and m.text.strip() and json.dumps(m.to_api(), sort_keys=True) not in aside:
            assert json.dumps(m.text, ensure_ascii=False)[1:-1] in text
    starts = [t.start for t in group_turns(conv.messages)] + [len(conv.messages)]
    chosen = set(s.last_retrieved)
    for t in chosen:  # whole turns, each run dated
        assert all(m.id in p.sent for m in conv.messages[starts[t]:starts[t + 1]])
        if t - 1 not in chosen:
            when = conv.messages[starts[t]].created_at.strftime("%Y-%m-%d %H:%M")
            assert f"[Earlier in the conversation, {when} UTC]" in text
    assert p.breakdown["retrieved"] > 0 if chosen else p.breakdown["retrieved"] == 0
    assert {h.unit for h in s.last_hits if h.sent} <= chosen


@settings(deadline=None)
@given(turns=st.lists(_turn, min_size=1, max_size=30), builds=st.lists(st.booleans(), min_size=30, max_size=30),
       question=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), budget=st.integers(400, 2500))
def test_incremental_index_equals_one_built_from_scratch(turns, builds, question, budget):
    full = random_conversation(turns, opener=False, question=question, tool_loop=False)
    conv = Conversation(session_id=full.session_id, system_prompt=full.system_prompt, model=MODEL, tools=full.tools)
    grown = MessageRetrieval(budget_tokens=budget, keep_recent_turns=2)
    for i, m in enumerate(full.messages):  # grow message by message, building at random points
        conv.add(m.role, m.content, id=m.id, created_at=m.created_at)
        if builds[i % len(builds)] and m.role == "user":
            with contextlib.suppress(ContextOverflow):
                grown.build(conv)
    fresh = MessageRetrieval(budget_tokens=budget, keep_recent_turns=2)
    a, b = grown.retrieval_index(conv).terms, fresh.retrieval_index(conv).terms
    scratch = TermIndex()
    for turn in group_turns(conv.messages)[:-1]:
        scratch.add([t for m in turn.messages for t in tokenize(turn_text([m]))])
    for ti in (a, b):
        assert ti.postings == scratch.postings and ti.lengths == scratch.lengths and ti.cum == scratch.cum
    try:
        expected = fresh.build(conv).request
    except ContextOverflow:
        return
    assert grown.build(conv).request == expected
    assert grown.last_hits == fresh.last_hits


# -- cache ------------------------------------------------------------------------------------------


def test_cache_expectations_are_honest_and_the_system_prefix_is_read(chat):
    sim = Simulator(clock=ManualClock())
    conv = Conversation(system_prompt=POLICY, model=MODEL)
    conv.add("user", "My sister's name is Ilse.")
    conv.add("assistant", "Noted.")
    s = MessageRetrieval(budget_tokens=4000, keep_recent_turns=3, cache_messages=True)
    questions = ["How is the garden?", "And the tea?", "Any football news?", "What is my sister's name?",
                 "What about the garden again?", "Where does Ilse live?", "Tea or football?"]
    results = chat(s, conv, sim, questions)
    for k, (p, r) in enumerate(results):
        assert r.usage.cache_read_input_tokens >= p.cache.expected_read  # never promises a read that won't happen
        assert r.usage.input_tokens + r.usage.cache_read_input_tokens + r.usage.cache_creation_input_tokens \
            == p.input_tokens
        if k:
            assert p.cache.expected_read >= p.cache.stable_prefix_tokens >= 1024
    p, r = results[1]  # nothing older than the window yet: the whole previous prompt is read
    assert p.cache.expected_read == results[0][0].input_tokens == r.usage.cache_read_input_tokens
    p, r = results[3]
    assert p.breakdown["retrieved"] > 0 and "Ilse" in r.content[0].text


def test_cache_messages_off_keeps_only_the_system_breakpoint(chat):
    sim = Simulator(clock=ManualClock())
    conv = Conversation(system_prompt=POLICY, model=MODEL)
    s = MessageRetrieval(budget_tokens=4000, keep_recent_turns=2, cache_messages=False)
    results = chat(s, conv, sim, ["How is the garden?", "And the tea?", "What about the garden?", "More tea?"])
    for k, (p, r) in enumerate(results):
        assert "cache_control" not in p.request and "cache_control" in p.request["system"][-1]
        assert p.cache.breakpoints == ["system"]
        assert r.usage.cache_creation_input_tokens == p.cache.expected_write
        assert r.usage.cache_read_input_tokens == p.cache.expected_read == (p.cache.stable_prefix_tokens if k else 0)


