"""Summarizing: append-only summaries, pinned requirements, budget kept, cache prefix stable."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from convolab import Conversation
from convolab.sim import ManualClock, Simulator
from convolab.strategies import FullHistory, Summarizing

MODEL = "claude-sonnet-4-6"


def long_chat(turns: int) -> Conversation:
    conv = Conversation(system_prompt="You are a project assistant.", model=MODEL)
    conv.add("user", "I'm Priya. The report must always use metric units. Our budget is 4,200 euros.")
    conv.add("assistant", "Understood: metric units, budget 4,200 euros.")
    for t in range(turns):
        conv.add("user", f"Status update {t}: task {t} moved forward and Omar reviewed draft {t} on day {t + 1}.")
        conv.add("assistant", f"Noted update {t}.")
    return conv


def test_keeps_the_budget_and_the_early_requirement(chat):
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = long_chat(80)
    s = Summarizing(budget_tokens=1500, keep_recent_turns=3)
    (p, r), = chat(s, conv, sim, client=client, questions=["Which units must the report use?"])
    assert s.summaries, "the older history was compressed"
    assert sim.count({k: v for k, v in p.request.items() if k != "max_tokens"}) <= p.input_tokens <= 1500
    assert "metric units" in p.to_json()  # pinned verbatim
    assert any("metric" in pin.text for pin in s.pins)
    assert "metric" in r.content[0].text
    assert p.breakdown["summary"] > 0
    assert len(p.left_out) > 100
    assert len(s.side_usage) == len(s.summaries)  # every summary call's usage is kept for the ledger


def test_summary_blocks_are_appended_never_rewritten_and_cover_disjoint_messages(chat):
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = long_chat(40)
    s = Summarizing(budget_tokens=1200, keep_recent_turns=2, compress_at=300, max_summary_tokens=10_000)
    first_texts = []
    for k in range(12):
        chat(s, conv, sim, client=client, questions=[f"Any news on task {k}?"])
        first_texts.append([b.text for b in s.summaries])
    for before, after in itertools.pairwise(first_texts):
        assert after[:len(before)] == before
    covered = [mid for b in s.summaries for mid in b.covers]
    assert len(covered) == len(set(covered))
    assert [b.version for b in s.summaries] == list(range(1, len(s.summaries) + 1))


def test_the_stable_prefix_is_read_from_cache_between_compressions(chat):
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = Conversation(system_prompt="Policy. " + " ".join(f"Rule {i} applies to every reply." for i in range(300)),
                        model=MODEL)
    conv.add("user", "Hello, I'm Priya.")
    conv.add("assistant", "Hi Priya.")
    s = Summarizing(budget_tokens=6000, keep_recent_turns=2, compress_at=10_000)
    results = chat(s, conv, sim, client=client, questions=[f"Question {k}?" for k in range(4)])
    reads = [r.usage.cache_read_input_tokens for _, r in results]
    assert reads[0] == 0 and all(x >= 1024 for x in reads[1:])


def test_state_round_trip_resumes_the_same_payload(chat):
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = long_chat(60)
    s = Summarizing(budget_tokens=1500, keep_recent_turns=3)
    chat(s, conv, sim, client=client, questions=["What is the budget?"])
    conv.add("user", "And the units?")
    t = Summarizing(budget_tokens=1500, keep_recent_turns=3)
    t.load_state(s.state())
    assert t.build(conv).request == s.build(conv).request


def test_without_a_client_it_never_summarizes_and_still_fits():
    conv = long_chat(80)
    conv.add("user", "Budget?")
    s = Summarizing(budget_tokens=1500, keep_recent_turns=3)
    p = s.build(conv)
    assert not s.summaries and p.input_tokens <= 1500
    assert "4,200" not in p.to_json()  # dropped, as a sliding window would, since nothing was summarized
    assert "4,200" in FullHistory().build(conv).to_json()


def test_rejects_nonsense_settings():
    with pytest.raises(ValueError, match="keep_recent_turns"):
        Summarizing(keep_recent_turns=0)


def test_summaries_are_consolidated_before_they_outgrow_the_budget():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = Conversation(system_prompt="You are a shopping assistant.", model=MODEL)
    s = Summarizing(budget_tokens=900, keep_recent_turns=2, compress_at=200)
    versions = []
    for i in range(120):
        conv.add("user", f"Message {i}: item {i} costs {i * 7} euros and ships on day {i % 28 + 1}.")
        p = s.build(conv, client=client)  # never ContextOverflow: the summary stays bounded
        assert p.input_tokens <= 900
        conv.add("assistant", p.create(client).content)
        s.observe(conv.turns()[-1], client=client, conversation=conv)
        versions.append(s.summaries[-1].version if s.summaries else 0)
    assert len(s.summaries) < max(versions), "some compressions were consolidated"
    assert s._summary_tokens(conv) <= s.max_summary_tokens + 200
    assert versions == sorted(versions)  # versions only grow
    covered = [i for b in s.summaries for i in b.covers]
    assert covered == [m.id for m in conv.messages[:len(covered)]]  # every older message, in order


def test_a_folded_summary_keeps_most_of_what_the_summaries_held():
    """Folding is written to a share of max_summary_tokens, not to one compression's size."""
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = Conversation(system_prompt="You are a shopping assistant.", model=MODEL)
    s = Summarizing(budget_tokens=2400, keep_recent_turns=2, compress_at=300, summary_words=60)
    folded = []
    for i in range(160):
        conv.add("user", f"Message {i}: item {i} costs {i * 7} euros and ships on day {i % 28 + 1}.")
        before = len(s.summaries)
        p = s.build(conv, client=client)
        conv.add("assistant", p.create(client).content)
        s.observe(conv.turns()[-1], client=client, conversation=conv)
        if before > 1 and len(s.summaries) == 1:  # folded while building or after the reply
            folded.append(len(s.summaries[0].text.split()))
    assert folded, "the summaries were folded at least once"
    assert min(folded) > 3 * s.summary_words  # a fold down to summary_words would keep 60


def test_the_summary_model_reads_dated_turns_and_writes_prose():
    sim = Simulator(clock=ManualClock(), keep_requests=True)
    client = sim.client()
    conv = Conversation(system_prompt="You are a project assistant.", model=MODEL)
    day = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    conv.add("user", "I'm Priya. I met the supplier in Porto yesterday.", created_at=day)
    conv.add("assistant", "Noted: you met the supplier in Porto yesterday.", created_at=day)
    for t in range(30):
        conv.add("user", f"Status update {t}: task {t} moved forward on day {t + 1}.", created_at=day)
        conv.add("assistant", f"Noted update {t}.", created_at=day)
    s = Summarizing(budget_tokens=800, keep_recent_turns=2)
    s.build(conv, client=client)
    prompt = next(ex.request["messages"][0]["content"] for ex in sim.history if ex.request["model"] == "claude-haiku-4-5")
    assert "[8 May 2023, 13:56]\nUser: I'm Priya." in prompt
    text = s.summaries[0].text
    assert "The user is Priya. The user met the supplier in Porto yesterday (7 May 2023)." in text
    assert "User:" not in text and "Assistant:" not in text and "Noted" not in text


def test_feelings_are_not_pinned_as_requirements():
    conv = Conversation(system_prompt="x", model=MODEL)
    for text in ("I'll never forget that trip!", "That must have been fun.", "The report must use metric units.",
                 "Please never book a red-eye flight.", "Can you always reply in French?"):
        conv.add("user", text)
        conv.add("assistant", "ok")
    s = Summarizing()
    s._pin(conv.messages)
    assert [p.text for p in s.pins] == ["The report must use metric units.", "Please never book a red-eye flight."]


# -- property: random conversations with tool exchanges ---------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convolab import ContextOverflow  # noqa: E402
from convolab.strategies import ServerCompaction  # noqa: E402

LOOKUP = [{"name": "lookup", "description": "Look something up", "input_schema": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]


def tool_chat(turns: int, tools_every: int) -> Conversation:
    conv = Conversation(system_prompt="You are helpful.", model="claude-haiku-4-5", tools=LOOKUP)
    for t in range(turns):
        conv.add("user", f"Turn {t}: the parcel {t} weighs {t + 2} kilograms and goes to depot {t % 7}.")
        if tools_every and t % tools_every == 0:
            conv.add("assistant", [{"type": "text", "text": "Checking."},
                                   {"type": "tool_use", "id": f"toolu_{t}", "name": "lookup", "input": {"q": str(t)}}])
            conv.add("user", [{"type": "tool_result", "tool_use_id": f"toolu_{t}", "content": f"depot {t} is open"}])
        conv.add("assistant", f"Parcel {t} noted.")
    conv.add("user", "Which depot gets parcel 3?")
    return conv


def pairs_intact(request: dict) -> bool:
    blocks = [b for m in request["messages"] if isinstance(m["content"], list) for b in m["content"]]
    return ({b["id"] for b in blocks if b["type"] == "tool_use"}
            == {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"})


@given(turns=st.integers(1, 30), tools_every=st.integers(0, 3), budget=st.integers(400, 2500),
       kind=st.sampled_from(["summarizing", "compaction"]))
def test_budget_kept_tool_pairs_whole_and_payload_accepted(turns, tools_every, budget, kind):
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = tool_chat(turns, tools_every)
    strategy = Summarizing(budget_tokens=budget, keep_recent_turns=2, compress_at=budget // 3)
    if kind == "compaction":  # Haiku 4.5 has no server-side compaction: the fallback builds the payload
        strategy = ServerCompaction(fallback=strategy)
    try:
        p = strategy.build(conv, client=client)
    except ContextOverflow as e:
        assert e.needed > e.available
        return
    counted = {k: v for k, v in p.request.items() if k != "max_tokens"}
    assert sim.count(counted) <= p.input_tokens <= budget
    assert pairs_intact(p.request)
    assert p.request["messages"][0]["role"] == "user"
    p.create(client)
