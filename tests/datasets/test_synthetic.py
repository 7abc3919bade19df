"""The synthetic generator: deterministic, LoCoMo-format, valid for the strict API, and its
planted facts and QA items point at the turns that state them."""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab.datasets import (
    TOOLS,
    load_locomo,
    parse_locomo_date,
    synthetic,
    synthetic_record,
    write_locomo_json,
)
from convolab.repair import repair_messages
from convolab.sim import Simulator

COMMITTED = Path(__file__).parents[2] / "data/synthetic/synthetic-300-seed0.json"


@pytest.fixture(scope="module")
def sample():
    return synthetic(300, seed=0)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9$,]+", text.lower().replace(",", "")))


def dialogue(record: dict) -> list[list[dict]]:
    conv = record["conversation"]
    n = sum(1 for k in conv if re.fullmatch(r"session_\d+", k))
    return [conv[f"session_{k}"] for k in range(1, n + 1)]


# -- determinism, format, round trip -------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_locomo_json([synthetic(300, seed=0)], tmp_path / "a.json").read_bytes()
    b = write_locomo_json([synthetic(300, seed=0)], tmp_path / "b.json").read_bytes()
    c = write_locomo_json([synthetic(300, seed=1)], tmp_path / "c.json").read_bytes()
    assert a == b and a != c


def test_the_committed_file_is_what_the_generator_makes(tmp_path):
    fresh = write_locomo_json([synthetic(300, seed=0)], tmp_path / "x.json").read_bytes()
    assert COMMITTED.read_bytes() == fresh, "regenerate it as data/synthetic/README.md says"
    assert len(fresh) < 1_000_000


def test_write_then_load_gives_the_same_sample(sample, tmp_path):
    (loaded,) = load_locomo(write_locomo_json([sample], tmp_path / "s.json"))
    a, b = sample.conversation, loaded.conversation
    assert a.messages == b.messages  # ids, roles, content (tool blocks included), order
    assert [(m.created_at, m.metadata) for m in a] == [(m.created_at, m.metadata) for m in b]
    assert (a.system_prompt, a.tools, a.model) == (b.system_prompt, b.tools, b.model)
    assert loaded.qa == sample.qa and loaded.facts == sample.facts and loaded.sessions == sample.sessions
    assert loaded.dia_index == sample.dia_index and loaded.dia_text == sample.dia_text


def test_the_record_has_locomos_shape(sample):
    rec = sample.raw
    assert set(rec) >= {"sample_id", "conversation", "qa", "event_summary", "observation", "session_summary"}
    turns = [t for s in dialogue(rec) for t in s]
    assert len(turns) == 300 == len(sample.dia_index)
    for n, session in enumerate(dialogue(rec), 1):
        assert [t["dia_id"] for t in session] == [f"D{n}:{k}" for k in range(1, len(session) + 1)]
        parse_locomo_date(rec["conversation"][f"session_{n}_date_time"])
    for q in rec["qa"]:
        assert ("answer" in q) != (q["category"] == 5) and set(q) <= {
            "question", "answer", "adversarial_answer", "evidence", "category"}


def test_sessions_and_turns_look_like_a_long_chat(sample):
    sizes = [len(s.dia_ids) for s in sample.sessions]
    assert len(sizes) >= 8 and all(10 <= k <= 39 for k in sizes)
    gaps = [b.date_time.date() - a.date_time.date() for a, b in itertools.pairwise(sample.sessions)]
    assert all(timedelta(days=1) <= g <= timedelta(days=9) for g in gaps)
    lengths = [len(t["text"].split()) for s in dialogue(sample.raw) for t in s if "convolab_tool_use" not in t]
    assert all(20 <= n <= 120 for n in lengths) and max(lengths) - min(lengths) > 60
    assert len(set(sample.dia_text.values())) == 300


def test_runs_are_merged_and_roles_alternate_between_plain_messages(sample):
    msgs = sample.conversation.messages
    assert msgs[0].role == "user" and msgs[-1].role == "assistant"
    assert all(a.role != b.role for a, b in itertools.pairwise(msgs))
    merged = [m for m in msgs if len(m.metadata["dia_ids"]) == 2]
    assert merged and all(m.role == "user" for m in merged)
    assert len(msgs) == 300 - len(merged) + len(sample.conversation.tool_exchanges())


def test_generating_300_turns_is_fast():
    start = time.perf_counter()
    synthetic(300, seed=7)
    assert time.perf_counter() - start < 1.0


# -- tools -----------------------------------------------------------------------------------------

def test_tool_exchanges_are_valid_pairs(sample):
    conv = sample.conversation
    exchanges = conv.tool_exchanges()
    assert len(exchanges) == 4 and {e.name for e in exchanges} == {t["name"] for t in TOOLS}
    for e in exchanges:
        call, result, after = conv.messages[e.call_index:e.call_index + 3]
        assert e.result_index == e.call_index + 1
        assert call.content[0]["type"] == "text" and call.content[1]["type"] == "tool_use"
        assert result.content[0] == {**result.content[0], "type": "tool_result", "tool_use_id": e.tool_use_id}
        assert after.role == "assistant" and isinstance(after.content, str)
    _, report = repair_messages(conv.messages, for_request=True)
    assert report.tool_fixes == [] and report.merged == [] and report.dropped == []
    assert sample.tools is conv.tools and conv.tools == TOOLS


def test_the_strict_simulator_accepts_the_whole_conversation_and_needs_the_tools(sample):
    conv = sample.conversation
    request = {"model": "claude-sonnet-4-6", "system": conv.system_prompt, "tools": sample.tools,
               "messages": [*conv.to_api_messages(), {"role": "user", "content": sample.qa[0].question}]}
    sim = Simulator()
    assert sim.count(request) > 20_000
    with pytest.raises(Exception, match="must define tools"):
        sim.count({k: v for k, v in request.items() if k != "tools"})


# -- facts and questions -----------------------------------------------------------------------------

def test_planted_facts_are_stated_where_recorded(sample):
    assert len(sample.facts) == 20 and sum(f.updated for f in sample.facts) == 5
    for f in sample.facts:
        for value, dia_id in zip(f.values, f.dia_ids, strict=True):
            assert sample.message(dia_id).role == "user"
            if f.kind != "event":
                assert value in sample.dia_text[dia_id]
        if f.updated:
            old, new = f.values
            assert old != new and sample.message(f.dia_ids[0]).seq < sample.message(f.dia_id).seq
            assert new not in sample.message(f.dia_ids[0]).text
    everything = " ".join(sample.dia_text.values())
    for f in sample.facts:
        if f.kind in ("name", "place", "preference"):  # stated only where planted, never in filler
            for value in f.values:
                assert len(re.findall(rf"\b{re.escape(value)}\b", everything)) == 1


def test_questions_point_at_turns_holding_their_answers(sample):
    by_dia = {f.dia_id: f for f in sample.facts}
    assert {q.category for q in sample.qa} == {1, 2, 3, 4, 5}
    user, assistant = sample.speakers
    for q in sample.qa:
        evidence = " ".join(m.text for m in sample.evidence_messages(q))
        assert q.evidence and all(d in by_dia for d in q.evidence)  # always the current value's turn
        if q.category in (1, 4):
            assert words(q.answer) - {"and"} <= words(evidence)
            assert all(by_dia[d].value in q.answer for d in q.evidence)
        elif q.category == 2:
            session = sample.sessions[sample.message(q.evidence[0]).metadata["sessions"][-1] - 1]
            d = session.date_time
            assert q.answer == f"{d.day} {d.strftime('%B')} {d.year}"
        elif q.category == 3:
            assert by_dia[q.evidence[0]].value in q.answer and by_dia[q.evidence[0]].value in evidence
        else:
            assert q.answer == "" and q.adversarial_answer == by_dia[q.evidence[0]].value
            assert assistant in q.question and user not in q.question


def test_updated_facts_are_asked_about_with_their_new_value(sample):
    for f in (f for f in sample.facts if f.updated):
        (single,) = [q for q in sample.qa if q.category == 4 and q.evidence == [f.dia_id]]
        assert single.answer == f.value != f.values[0]


# -- any arguments ---------------------------------------------------------------------------------

@given(turns=st.integers(20, 160), seed=st.integers(0, 2**32), facts=st.integers(0, 25),
       updates=st.integers(0, 8), tools=st.integers(0, 6), doubles=st.integers(0, 6))
def test_any_arguments_give_a_valid_sample(turns, seed, facts, updates, tools, doubles):
    s = synthetic(turns, seed=seed, facts=facts, updates=updates, tool_exchanges=tools, double_texts=doubles)
    assert len(s.dia_index) == turns
    msgs = s.conversation.messages
    assert msgs[0].role == "user" and all(a.role != b.role for a, b in itertools.pairwise(msgs))
    assert all(e.result_index == e.call_index + 1 for e in s.conversation.tool_exchanges())
    _, report = repair_messages(msgs, for_request=True)
    assert report.tool_fixes == [] and report.merged == []
    assert len(s.facts) <= facts and sum(f.updated for f in s.facts) <= updates
    assert all(d in s.dia_index for q in s.qa for d in q.evidence)
    json.dumps(s.raw)


def test_too_few_turns_is_refused():
    with pytest.raises(ValueError, match="at least 20 turns"):
        synthetic_record(10)
    with pytest.raises(ValueError, match="session_turns"):
        synthetic_record(100, session_turns=(30, 10))
