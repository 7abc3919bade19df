"""The LongMemEval reader, on files generated in the published format and on made-up records."""

from __future__ import annotations

import copy
import io
import itertools
import json
from datetime import UTC, datetime

import pytest

from convolab import InvalidConversation
from convolab.datasets import (
    iter_longmemeval,
    load_longmemeval,
    longmemeval_records,
    write_longmemeval_json,
)
from convolab.datasets import longmemeval as lme
from convolab.datasets.longmemeval_synthetic import KINDS, longmemeval_record
from convolab.model import group_turns
from convolab.repair import repair_messages
from convolab.sim import Simulator

FIELDS = ["question_id", "question_type", "question", "answer", "question_date", "haystack_session_ids",
          "haystack_dates", "haystack_sessions", "answer_session_ids"]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return longmemeval_records(14, seed=3)


@pytest.fixture(scope="module")
def path(records, tmp_path_factory):
    return write_longmemeval_json(records, tmp_path_factory.mktemp("lme") / "longmemeval_s.json")


# -- the generator writes the published format -----------------------------------------------------

def test_generated_instances_have_the_published_fields_and_types(records):
    assert {r["question_type"] for r in records} == set(lme.QUESTION_TYPES)
    assert sum(r["question_id"].endswith("_abs") for r in records) == 2 and len(KINDS) == 7
    for r in records:
        assert list(r) == FIELDS
        assert len(r["haystack_session_ids"]) == len(r["haystack_dates"]) == len(r["haystack_sessions"]) == 8
        assert set(r["answer_session_ids"]) <= set(r["haystack_session_ids"])
        assert r["haystack_dates"] == sorted(r["haystack_dates"])
        for d in (*r["haystack_dates"], r["question_date"]):
            assert datetime.strptime(d, "%Y/%m/%d (%a) %H:%M").strftime("%Y/%m/%d (%a) %H:%M") == d
        for sid, turns in zip(r["haystack_session_ids"], r["haystack_sessions"], strict=True):
            assert [t["role"] for t in turns] == ["user", "assistant"] * (len(turns) // 2)
            assert all(set(t) <= {"role", "content", "has_answer"} for t in turns)
            assert (sid in r["answer_session_ids"]) == any(t.get("has_answer") for t in turns)
    assert longmemeval_records(14, seed=3) == records  # seeded
    oracle = longmemeval_record("knowledge-update", seed=5, variant="oracle")
    assert oracle["haystack_session_ids"] == oracle["answer_session_ids"] and len(oracle["haystack_sessions"]) == 2


def test_an_s_sized_history_is_about_115k_tokens():
    (sample,) = load_longmemeval(write_longmemeval_json(
        [longmemeval_record("multi-session", seed=1, sessions=50, session_turns=(10, 14))], _tmp() / "big.json"))
    conv = sample.conversation
    tokens = Simulator().count({"model": conv.model, "system": conv.system_prompt,
                                "messages": [*conv.to_api_messages(), {"role": "user", "content": "?"}]})
    assert 90_000 <= tokens <= 140_000, tokens


def _tmp():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="convolab-lme-"))


# -- reading ---------------------------------------------------------------------------------------

def test_each_instance_is_one_sample_with_one_question(records, path):
    samples = load_longmemeval(path)
    assert [s.sample_id for s in samples] == [r["question_id"] for r in records]
    for s, r in zip(samples, records, strict=True):
        (item,) = s.qa
        assert (item.question, item.answer, item.question_type, item.question_id) == (
            r["question"], r["answer"], r["question_type"], r["question_id"])
        assert item.asked_at == datetime.strptime(r["question_date"], "%Y/%m/%d (%a) %H:%M").replace(tzinfo=UTC)
        assert item.category == (5 if r["question_id"].endswith("_abs") else lme.CATEGORIES[r["question_type"]])
        assert item.category_name == r["question_type"]
        assert s.raw is not None and s.conversation.metadata["answer_session_ids"] == r["answer_session_ids"]


def test_evidence_is_the_has_answer_turns_and_points_at_their_messages(records, path):
    for s, r in zip(load_longmemeval(path), records, strict=True):
        want = [f"{sid}:{k}" for sid, turns in zip(r["haystack_session_ids"], r["haystack_sessions"], strict=True)
                for k, t in enumerate(turns) if t.get("has_answer")]
        (item,) = s.qa
        assert item.evidence == want and want  # every generated instance has a has_answer turn
        for d in item.evidence:
            sid, k = d.rsplit(":", 1)
            text = r["haystack_sessions"][r["haystack_session_ids"].index(sid)][int(k)]["content"]
            assert s.dia_text[d] == text.strip() and text.strip() in s.message(d).text
        if not r["question_id"].endswith("_abs") and r["question_type"] != "temporal-reasoning":
            for value in r["answer"].split(" and "):
                assert any(value in s.dia_text[d] for d in item.evidence)


def test_every_turn_is_kept_in_order_roles_alternate_and_sessions_are_dated(records, path):
    for s, r in zip(load_longmemeval(path), records, strict=True):
        msgs = s.conversation.messages
        assert [m.role.value for m in msgs] == ["user", "assistant"] * (len(msgs) // 2)
        assert [d for m in msgs for d in m.metadata["dia_ids"]] == [
            f"{sid}:{k}" for sid, turns in zip(r["haystack_session_ids"], r["haystack_sessions"], strict=True)
            for k in range(len(turns))]
        for info, date_text in zip(s.sessions, r["haystack_dates"], strict=True):
            first = s.conversation.get(info.message_ids[0])
            assert info.date_text == date_text
            assert first.text.startswith(f"[{lme.format_locomo_date(info.date_time)}]\n")
            assert first.created_at == info.date_time
        assert all(b.created_at >= a.created_at for a, b in itertools.pairwise(msgs))
        assert len(group_turns(msgs)) == len(msgs) // 2


def test_the_strict_simulator_accepts_each_history_and_its_question(path):
    sim = Simulator()
    for s in load_longmemeval(path):
        conv = s.conversation
        _, report = repair_messages(conv.messages, for_request=True)
        assert report.tool_fixes == [] and report.merged == [] and report.dropped == []
        messages = [*conv.to_api_messages(), {"role": "user", "content": s.qa[0].question}]
        assert sim.count({"model": conv.model, "system": conv.system_prompt, "messages": messages}) > 1_000


def test_sessions_are_replayed_in_date_order_and_runs_of_one_role_merge():
    r = copy.deepcopy(longmemeval_record("knowledge-update", seed=2, variant="oracle"))
    older, newer = r["haystack_session_ids"]
    for key in ("haystack_session_ids", "haystack_dates", "haystack_sessions"):  # the oracle file is unsorted
        r[key].reverse()
    r["haystack_sessions"][1].insert(0, {"role": "assistant", "content": "Hello!"})  # opens the older session
    r["haystack_sessions"][0].insert(0, {"role": "assistant", "content": "Welcome back!"})  # and the newer
    (s,) = lme.load_longmemeval(write_longmemeval_json([r], _tmp() / "o.json"))
    assert [i.date_text for i in s.sessions] == sorted(r["haystack_dates"])
    opener, hello = s.conversation.messages[:2]
    assert opener.role.value == "user" and opener.text.endswith("(The assistant speaks first.)")
    assert opener.text.startswith(f"[{lme.format_locomo_date(s.sessions[0].date_time)}]\n") and opener.metadata[
        "dia_ids"] == []
    assert hello.text == "Hello!" and hello.metadata["dia_ids"] == [f"{older}:0"]
    # the newer session starts with an assistant turn: it joins the older session's last reply
    merged = s.message(f"{newer}:0")
    assert merged.metadata["dia_ids"] == [f"{older}:{len(r['haystack_sessions'][1]) - 1}", f"{newer}:0"]
    assert merged.text.endswith(f"[{lme.format_locomo_date(s.sessions[1].date_time)}]\nWelcome back!")
    assert merged.created_at == s.sessions[1].date_time


def test_written_records_and_samples_load_back_the_same(path, tmp_path):
    samples = load_longmemeval(path)
    again = load_longmemeval(write_longmemeval_json(samples, tmp_path / "again.json"))
    assert [s.conversation.messages for s in again] == [s.conversation.messages for s in samples]
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    assert json.loads(path.read_text()) == [s.raw for s in samples]


def test_the_file_is_read_one_instance_at_a_time(path, monkeypatch):
    whole = load_longmemeval(path)
    monkeypatch.setattr(lme, "_READ", 7)  # chunks far smaller than an instance, and than a token
    assert [s.qa for s in iter_longmemeval(path)] == [s.qa for s in whole]
    read = []
    with path.open(encoding="utf-8") as f:
        for _ in lme._records(f, str(path)):
            read.append(f.tell())
            if len(read) == 2:
                break
    assert read[0] < path.stat().st_size  # the first instance came before the file was read through


def test_selection_by_id_type_and_limit(records, path):
    ids = [records[3]["question_id"], records[0]["question_id"]]
    assert [s.sample_id for s in load_longmemeval(path, question_ids=ids)] == [ids[1], ids[0]]
    picked = load_longmemeval(path, question_types=["temporal-reasoning"])
    assert {s.qa[0].question_type for s in picked} == {"temporal-reasoning"} and len(picked) == 2
    assert len(load_longmemeval(path, limit=3)) == 3
    with pytest.raises(InvalidConversation, match=r"unknown question type 'temporal'; LongMemEval's are "):
        load_longmemeval(path, question_types=["temporal"])


# -- malformed input names the file, the instance and the field ------------------------------------

def _set(key, value, *index):
    def edit(r: dict) -> None:
        target = r
        for k in (key, *index[:-1]) if index else ():
            target = target[k]
        last = index[-1] if index else key
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (_set("question_id", KeyError), r"instance 1: question_id: missing"),
    (_set("question_type", "trivia"), r"question_type: 'trivia' is not one of single-session-user, "),
    (_set("question", "  "), r"question: empty"),
    (_set("answer", None), r"answer: expected a string or a number, got NoneType"),
    (_set("question_date", "last Tuesday"), r"question_date: cannot read 'last Tuesday' as a date like "),
    (_set("haystack_dates", "2023/05/02 (Tue) 10:00"), r"haystack_dates: expected a JSON list, got str"),
    (_set("haystack_session_ids", ["a"]), r"have 1, 2 and 2 entries: they must match"),
    (_set("haystack_dates", "someday", 0), r"haystack_dates\[0\]: cannot read 'someday'"),
    (lambda r: r["haystack_session_ids"].__setitem__(1, r["haystack_session_ids"][0]),
     r"haystack_session_ids: a session id appears more than once"),
    (_set("haystack_sessions", "x", 0), r"haystack_sessions\[0\]: expected a session \(a list of turns\)"),
    (_set("haystack_sessions", "system", 0, 0, "role"), r"turn 0: role: 'system' is neither 'user' nor 'assistant'"),
    (_set("haystack_sessions", KeyError, 0, 1, "content"), r"turn 1: content: missing"),
    (_set("haystack_sessions", " \n", 0, 1, "content"), r"turn 1: content: empty \(load with empty_turns='skip'"),
    (_set("haystack_sessions", []), r"have 2, 2 and 0 entries"),
])
def test_malformed_instances_name_the_file_instance_and_field(tmp_path, edit, message):
    good = longmemeval_record("knowledge-update", seed=9, variant="oracle")
    bad = copy.deepcopy(good)
    bad["question_id"] = "b0b0b0b0"
    edit(bad)
    path = write_longmemeval_json([good, bad], tmp_path / "longmemeval_oracle.json")
    with pytest.raises(InvalidConversation, match=message) as err:
        load_longmemeval(path)
    assert str(err.value).startswith(f"{path}: instance 1")


def test_empty_turns_can_be_skipped_and_are_listed():
    r = longmemeval_record("single-session-user", seed=4, variant="oracle")
    sid = r["haystack_session_ids"][0]
    r["haystack_sessions"][0][2]["content"] = "   "
    (s,) = load_longmemeval(write_longmemeval_json([r], _tmp() / "e.json"), empty_turns="skip")
    assert s.conversation.metadata["empty_turns"] == [f"{sid}:2"]
    assert f"{sid}:2" not in s.dia_index and f"{sid}:3" in s.dia_index


def test_malformed_files_name_the_file(tmp_path):
    bad = tmp_path / "longmemeval_s.json"
    for text, says in (('{"question_id": "x"}', r"expected a JSON list of instances \(LongMemEval's format\)"),
                       ('[{"question_id": "x", ', r"not valid JSON \(.* in the instance starting '\{\"question_id"),
                       ("[", r"not valid JSON: the file ends inside the list of instances"),
                       ("[7]", r"instance 0: expected an instance as a JSON object, got int")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidConversation, match=says):
            load_longmemeval(bad)
    with pytest.raises(InvalidConversation, match=r"f: not valid JSON: expected ',' between instances"):
        list(lme._records(io.StringIO("[1 2]"), "f"))
    twice = longmemeval_record(seed=1)
    write_longmemeval_json([twice, twice], bad)
    with pytest.raises(InvalidConversation, match=rf"instance 1: question_id '{twice['question_id']}' appears more"):
        load_longmemeval(bad)
    with pytest.raises(InvalidConversation, match=r"a folder; pass one of its files \(longmemeval_s\.json\)"):
        load_longmemeval(tmp_path)
    assert load_longmemeval(write_longmemeval_json([], tmp_path / "none.json")) == []


def test_the_replay_harness_takes_longmemeval_samples(path):
    from convolab.eval.replay import replay_sample

    for sample in load_longmemeval(path, limit=7):  # one of each kind
        run = replay_sample(sample, "full", budget_tokens=None)
        (item,) = run.items
        assert item["category_name"] == sample.qa[0].question_type
        if sample.qa[0].category == 5:
            assert item["declines"] is not None
        else:
            assert item["evidence_recall"] == 1.0  # the full history holds every has_answer turn
