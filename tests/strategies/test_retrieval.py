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

from convolab import ContextOverflow, Conversation, DuckDBStore
from convolab.embeddings import HashingEmbedder
from convolab.errors import ConfigurationError
from convolab.sim import ManualClock, Simulator
from convolab.strategies import MemoryRetrieval, Retrieval, SlidingWindow, Strategy
from convolab.strategies.memory_retrieval import MEMORY_INTRO
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
       budget=st.integers(300, 3000), share=st.sampled_from([0.2, 0.4, 0.7]), neighbours=st.integers(0, 2),
       memory=st.booleans(), ranker=st.sampled_from(["bm25", "hybrid"]))
def test_quoted_keeps_the_budget_and_tool_pairs_and_is_accepted(turns, opener, question, tool_loop, budget, share,
                                                                 neighbours, memory, ranker):
    sim = Simulator(clock=ManualClock())
    conv = random_conversation(turns, opener=opener, question=question, tool_loop=tool_loop)
    if memory:  # MemoryRetrieval, its memory filled as an extraction would: the same rules
        s = MemoryRetrieval(budget_tokens=budget, excerpt_share=share, neighbours=neighbours, ranker=ranker,
                            embedder=HashingEmbedder())
        s.memory.merge({"activities": [f"Ada: {w} with {v}" for w in WORDS for v in WORDS[:3]]}, [])
    else:
        s = Retrieval(budget_tokens=budget, excerpt_share=share, neighbours=neighbours, ranker=ranker,
                      embedder=HashingEmbedder())
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
              and str(m["content"][0].get("text", "")).startswith(("[Excerpts", MEMORY_INTRO))]
    assert len(quoted) <= 1 and (quoted or not s.last_retrieved)
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


# -- rankers, passes and vectors -----------------------------------------------------------------

class CountingEmbedder(HashingEmbedder):
    """A hashing embedder that counts the texts it embeds."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return super().embed(texts)


def with_fact(fact: str, question: str, turns: int = 120, at: int = 10) -> Conversation:
    conv = small_talk(turns)
    conv.messages[2 * at].content = fact  # before anything is indexed: the fact replaces a filler line
    conv.add("user", question, created_at=T0 + timedelta(days=30))
    return conv


def test_semantic_and_hybrid_find_a_fact_in_other_words_where_bm25_finds_nothing():
    conv = with_fact("I adopted a kitten last week, a tiny grey one.", "Which pet did I get recently?")
    found = {}
    for ranker in ("bm25", "semantic", "hybrid"):
        s = Retrieval(budget_tokens=1500, ranker=ranker)
        p = s.build(conv)
        found[ranker] = "kitten" in json.dumps(p.messages[-1])
    assert found == {"bm25": False, "semantic": True, "hybrid": True}


def test_the_multi_hop_pass_follows_a_name_from_the_first_hits():
    conv = small_talk(150)
    conv.messages[40].content = "My best friend Ilse moved to Ghent in March."
    conv.messages[200].content = "Ilse just started a pottery class."  # shares no word with the question
    conv.add("user", "Where did my best friend move to, and what is she up to now?", created_at=T0 + timedelta(days=30))
    one = Retrieval(budget_tokens=2500, ranker="bm25", multi_hop=False)
    two = Retrieval(budget_tokens=2500, ranker="bm25", multi_hop=True)
    one.build(conv)
    p = two.build(conv)
    assert 200 not in {h.unit for h in one.last_hits}
    second = [h for h in two.last_hits if h.hop == 2]
    assert 200 in {h.unit for h in second} and "pottery" in p.messages[-1]["content"][0]["text"]
    assert all(h.hop == 1 for h in two.last_hits[:len(one.last_hits)])  # the first pass comes first, unchanged


def test_a_follow_up_is_read_with_the_previous_question():
    conv = with_fact("My sister Lena lives in Porto and works as a nurse.", "Where does my sister live?")
    conv.add("assistant", "In Porto.")
    conv.add("user", "And what does she do?")
    plain = Retrieval(budget_tokens=1500, ranker="bm25", rewrite_followups=False)
    plain.build(conv)
    s = Retrieval(budget_tokens=1500, ranker="bm25")
    p = s.build(conv)
    assert "sister" not in plain.last_query and {"sister", "liv"} <= set(s.last_query)
    assert "nurse" in p.messages[-1]["content"][0]["text"]


def test_neighbours_bring_the_message_after_a_hit():
    conv = small_talk(100)
    conv.messages[60].content = "What did the vet say about Rex?"
    conv.messages[61].content = "Everything is fine, he just needs a lighter diet."
    conv.add("user", "What did the vet say about Rex?", created_at=T0 + timedelta(days=30))
    quoted = {}
    for n in (0, 1):
        s = Retrieval(budget_tokens=2500, ranker="bm25", neighbours=n, max_hits=1)
        quoted[n] = s.build(conv).messages[-1]["content"][0]["text"]
    assert "lighter diet" not in quoted[0] and "lighter diet" in quoted[1]


def test_a_message_that_asks_nothing_gets_no_excerpts_unless_asked_to():
    conv = with_fact("My sister Lena lives in Porto.", "My sister Lena called from Porto today.")
    assert Retrieval(budget_tokens=1500).build(conv).breakdown["retrieved"] == 0
    assert Retrieval(budget_tokens=1500, retrieve_on="every message").build(conv).breakdown["retrieved"] > 0


def test_vectors_are_computed_once_and_survive_a_store_round_trip(chat):
    store = DuckDBStore()
    cid = store.create_conversation("ada", "You are a friendly assistant.")
    sim = Simulator(clock=ManualClock())
    conv = small_talk(60)
    conv.session_id = cid
    for m in conv.messages:
        store.append_message(cid, m.role, m.content, user_id="ada", message_id=m.id, created_at=m.created_at)
    first = CountingEmbedder()
    s = Retrieval(budget_tokens=1500, ranker="hybrid", embedder=first, vectors=store.vector_store(user_id="ada"))
    chat(s, conv, sim, ["What did we say about tea?"])
    embedded = len(first.texts)
    assert embedded >= 120 and len(store.load_vectors(cid, first.name, user_id="ada")) == 120  # saved on observe
    again = CountingEmbedder()
    t = Retrieval(budget_tokens=1500, ranker="hybrid", embedder=again, vectors=store.vector_store(user_id="ada"))
    conv.add("user", "And what about the garden?")
    t.build(conv)
    assert again.texts[-1] == "What did we say about tea?\nAnd what about the garden?"  # the query, a follow-up
    assert not set(again.texts) & {m.text for m in conv.messages[:120]}  # the stored messages were not embedded again
    before = len(first.texts)
    s.build(conv)
    assert first.texts[before:] == again.texts  # the new exchange and the query: each message once
