"""The LoCoMo loader, on the two published conversations in ../shared and on made-up records."""

from __future__ import annotations

import copy
import itertools
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab import InvalidConversation, NotFound
from convolab.datasets import (
    MESSAGE_SPACING,
    format_locomo_date,
    load_locomo,
    parse_locomo,
    parse_locomo_date,
    write_locomo_json,
)
from convolab.repair import repair_messages
from convolab.sim import Simulator

# From ../shared/data/locomo/README.md: sessions, dialogue turns, QA items.
PUBLISHED = {"conv-26": (19, 419, 199), "conv-30": (19, 369, 105)}


@pytest.fixture(scope="module")
def raw(locomo_dev) -> list[dict]:
    return json.loads(locomo_dev.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def samples(raw, locomo_dev):
    return load_locomo(locomo_dev)


def sessions_of(record: dict) -> list[tuple[int, list[dict]]]:
    conv = record["conversation"]
    numbers = sorted(int(m[1]) for k in conv if (m := re.fullmatch(r"session_(\d+)", k)))
    return [(n, conv[f"session_{n}"]) for n in numbers]


def turns_of(record: dict) -> list[dict]:
    return [t for _, turns in sessions_of(record) for t in turns]


# -- the two published conversations ------------------------------------------------------------

def test_counts_match_the_published_file(raw, samples):
    assert [s.sample_id for s in samples] == [r["sample_id"] for r in raw] == list(PUBLISHED)
    for s, r in zip(samples, raw, strict=True):
        n_sessions, n_turns, n_qa = PUBLISHED[s.sample_id]
        turns = turns_of(r)
        assert (len(s.sessions), len(turns), len(s.qa)) == (n_sessions, n_turns, n_qa)
        assert len(s.dia_index) == len(s.dia_text) == n_turns
        same_speaker = sum(a["speaker"] == b["speaker"] for a, b in itertools.pairwise(turns))
        opener = turns[0]["speaker"] == r["conversation"]["speaker_b"]
        assert len(s.conversation) == n_turns - same_speaker + opener
    assert [len(s.conversation) for s in samples] == [411, 362]


def test_every_turn_is_in_exactly_one_message_in_order(raw, samples):
    for s, r in zip(samples, raw, strict=True):
        holders: dict[str, list[str]] = {}
        for m in s.conversation.messages:
            for d in m.metadata["dia_ids"]:
                holders.setdefault(d, []).append(m.id)
        order = [d for m in s.conversation.messages for d in m.metadata["dia_ids"]]
        assert order == [t["dia_id"] for t in turns_of(r)]  # nothing dropped, nothing reordered
        for t in turns_of(r):
            assert holders[t["dia_id"]] == [s.dia_index[t["dia_id"]]]
            text = s.message(t["dia_id"]).text
            assert s.dia_text[t["dia_id"]] in text
            assert f"{t['speaker']}: {t['text'].strip()}" in text
            if t.get("blip_caption"):
                assert f"[shares a photo: {t['blip_caption'].strip()}]" in s.dia_text[t["dia_id"]]


def test_speakers_map_to_roles_and_roles_alternate(samples):
    for s in samples:
        user = s.speakers[0]
        msgs = s.conversation.messages
        assert msgs[0].role == "user"
        for m in msgs:
            if "speaker" in m.metadata:
                assert m.role == ("user" if m.metadata["speaker"] == user else "assistant")
                parts = re.sub(r"\[[^\]\n]+\]\n", "", m.text).split("\n\n")
                assert all(p.startswith(f"{m.metadata['speaker']}: ") for p in parts)
        assert all(a.role != b.role for a, b in itertools.pairwise(msgs))


def test_runs_of_one_speaker_are_merged_with_both_texts_kept(raw, samples):
    # In both conversations every run is one speaker ending a session and opening the next.
    for s in samples:
        merged = [m for m in s.conversation.messages if len(m.metadata["dia_ids"]) > 1]
        assert len(merged) == 8
        for m in merged:
            first, second = m.metadata["sessions"]
            header = f"[{s.sessions[second - 1].date_text}]\n"
            assert header in m.text and not m.text.startswith(header)
            assert m.id in s.sessions[first - 1].message_ids and m.id in s.sessions[second - 1].message_ids
            assert m.created_at == s.sessions[second - 1].date_time


def test_each_session_starts_with_its_date(raw, samples):
    for s, r in zip(samples, raw, strict=True):
        conv = r["conversation"]
        for info, (n, turns) in zip(s.sessions, sessions_of(r), strict=True):
            assert info.index == n and info.date_text == conv[f"session_{n}_date_time"]
            assert info.date_time == parse_locomo_date(info.date_text)
            assert info.dia_ids == [t["dia_id"] for t in turns]
            first = s.conversation.get(info.first_message_id)
            if len(first.metadata["sessions"]) == 1:
                assert first.text.startswith(f"[{info.date_text}]\n")
            assert f"[{info.date_text}]\n" in first.text
        stamps = [m.created_at for m in s.conversation.messages]
        assert stamps == sorted(stamps) and all(t.tzinfo is UTC for t in stamps)


def test_a_conversation_opened_by_speaker_b_gets_a_dated_user_opener(samples):
    conv30 = samples[1].conversation
    opener, first = conv30.messages[:2]
    assert (opener.role, opener.metadata["dia_ids"]) == ("user", [])
    assert opener.text == "[4:04 pm on 20 January, 2023]\n(Gina speaks first.)"
    assert first.role == "assistant" and first.text.startswith("Gina: Hey Jon!")
    assert first.created_at - opener.created_at == MESSAGE_SPACING
    assert samples[0].conversation.messages[0].text.startswith("[1:56 pm on 8 May, 2023]\nCaroline: ")


def test_qa_items_keep_their_fields(raw, samples):
    for s, r in zip(samples, raw, strict=True):
        for item, q in zip(s.qa, r["qa"], strict=True):
            assert item.question == q["question"] and item.category == q["category"]
            assert item.answer == ("" if q.get("answer") is None else str(q["answer"]))
            assert item.adversarial_answer == q.get("adversarial_answer")
            assert item.evidence == [p.strip() for e in q["evidence"] for p in e.split(";") if p.strip()]
            if item.category == 5:
                assert item.is_adversarial and item.adversarial_answer
        assert s.missing_evidence() == []
    assert {q.category for s in samples for q in s.qa} == {1, 2, 3, 4, 5}
    split = next(q for q in samples[0].qa if "D8:6" in q.evidence and "D9:17" in q.evidence)
    assert split.evidence == ["D8:6", "D9:17"]  # published as one string "D8:6; D9:17"
    assert [m.id for m in samples[0].evidence_messages(split)] == ["conv-26:D8:6", "conv-26:D9:17"]


def test_the_strict_simulator_accepts_each_conversation_and_a_question(samples):
    sim = Simulator()
    for s in samples:
        conv = s.conversation
        _, report = repair_messages(conv.messages, for_request=True)
        assert report.tool_fixes == [] and report.merged == [] and report.dropped == []
        messages = [*conv.to_api_messages(), {"role": "user", "content": s.qa[0].question}]
        assert sim.count({"model": conv.model, "system": conv.system_prompt, "messages": messages}) > 10_000
    assert samples[0].conversation.system_prompt.startswith("You are Melanie, in a long-running chat with Caroline")


def test_written_samples_load_back_the_same(samples, tmp_path):
    path = write_locomo_json(samples, tmp_path / "copy.json")
    again = load_locomo(tmp_path)  # a directory: every *.json in it
    for a, b in zip(samples, again, strict=True):
        assert a.conversation.messages == b.conversation.messages and a.qa == b.qa
        assert [m.created_at for m in a.conversation] == [m.created_at for m in b.conversation]
    write_locomo_json(samples[:1], tmp_path / "dup.json")
    with pytest.raises(InvalidConversation, match=r"sample_id 'conv-26' is also in .*copy.json"):
        load_locomo(tmp_path)
    assert path.read_text().startswith("[")


def test_message_lookup_by_dia_id(samples):
    s = samples[0]
    assert s.message("D1:1").id == "conv-26:D1:1"
    with pytest.raises(NotFound, match="D99:1"):
        s.message("D99:1")


# -- dates -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
    ("12:09 am on 13 September, 2023", datetime(2023, 9, 13, 0, 9, tzinfo=UTC)),
    ("12:30 pm on 1 January, 2024", datetime(2024, 1, 1, 12, 30, tzinfo=UTC)),
    ("  9:05 A.M. on 3rd Sept 2022 ", datetime(2022, 9, 3, 9, 5, tzinfo=UTC)),
    ("2023-05-08T13:56:00", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
    ("2023-05-08T15:56:00+02:00", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
])
def test_dates_parse(text, expected):
    assert parse_locomo_date(text) == expected


@pytest.mark.parametrize("text", ["13:56 pm on 8 May, 2023", "1:56 pm on 31 February, 2023",
                                  "1:56 pm on 8 Mayo, 2023", "yesterday", ""])
def test_bad_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_locomo_date(text)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)))
def test_dates_format_and_parse_back(dt):
    dt = dt.replace(second=0, microsecond=0, tzinfo=UTC)
    assert parse_locomo_date(format_locomo_date(dt)) == dt


def test_every_published_date_parses(raw):
    for r in raw:
        for key, value in r["conversation"].items():
            if key.endswith("_date_time"):
                assert 2022 <= parse_locomo_date(value).year <= 2024


# -- malformed records -------------------------------------------------------------------------------

def record(sample_id: str = "s1") -> dict:
    """A small valid record in the published format (made up here, not LoCoMo's data)."""
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Ann", "speaker_b": "Bo",
            "session_2_date_time": "9:00 am on 2 March, 2024",
            "session_2": [{"speaker": "Bo", "dia_id": "D2:1", "text": "Morning!"},
                          {"speaker": "Ann", "dia_id": "D2:2", "text": "Hi Bo."}],
            "session_1_date_time": "8:15 pm on 1 March, 2024",
            "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": "Hello."},
                          {"speaker": "Bo", "dia_id": "D1:2", "text": "Look!", "img_url": ["http://x/y.jpg"],
                           "blip_caption": "a photo of a cat"},
                          {"speaker": "Bo", "dia_id": "D1:3", "text": "Cute, right?"}],
        },
        "qa": [{"question": "What did Bo share?", "answer": "a cat photo", "evidence": ["D1:2"], "category": 4},
               {"question": "How many cats?", "answer": 1, "evidence": ["D1:2"], "category": 1},
               {"question": "What did Ann share?", "adversarial_answer": "a cat", "evidence": ["D1:2"],
                "category": 5}],
    }


def test_a_small_record_maps_as_documented():
    (s,) = parse_locomo([record()])
    texts = [(m.role.value, m.text) for m in s.conversation.messages]
    assert texts == [
        ("user", "[8:15 pm on 1 March, 2024]\nAnn: Hello."),
        ("assistant", "Bo: Look! [shares a photo: a photo of a cat]\n\nBo: Cute, right?\n\n"
                      "[9:00 am on 2 March, 2024]\nBo: Morning!"),
        ("user", "Ann: Hi Bo."),
    ]
    assert s.dia_index == {"D1:1": "s1:D1:1", "D1:2": "s1:D1:2", "D1:3": "s1:D1:2", "D2:1": "s1:D1:2",
                           "D2:2": "s1:D2:2"}
    assert [q.answer for q in s.qa] == ["a cat photo", "1", ""]
    # A message is timed by the last session it holds text of; then MESSAGE_SPACING apart.
    second = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
    assert [m.created_at for m in s.conversation] == [datetime(2024, 3, 1, 20, 15, tzinfo=UTC), second,
                                                     second + MESSAGE_SPACING]
    assert s.sessions[1].message_ids == ["s1:D1:2", "s1:D2:2"]


def _set(path: str, value):
    def edit(r: dict) -> None:
        *parents, last = path.split(".")
        target = r
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (_set("sample_id", KeyError), r"sample 1: sample_id: missing"),
    (_set("conversation.speaker_a", KeyError), r"sample 1 \(s1\): conversation\.speaker_a: missing"),
    (_set("conversation.session_1_date_time", "sometime in spring"),
     r"sample 1 \(s1\): conversation\.session_1_date_time: cannot read 'sometime in spring'"),
    (_set("conversation.session_2_date_time", KeyError), r"\(s1\): conversation\.session_2_date_time: missing"),
    (_set("conversation.session_1", "oops"), r"\(s1\): conversation\.session_1: expected a JSON list, got str"),
    (_set("conversation.session_1.0.text", 7), r"\(s1\): conversation\.session_1\[0\]: text: expected a JSON string"),
    (_set("conversation.session_1.0.speaker", "Cy"), r"conversation\.session_1\[0\]\.speaker: 'Cy' is neither"),
    (_set("conversation.session_1.1.dia_id", "D1:1"), r"conversation\.session_1\[1\]\.dia_id: 'D1:1'"),
    (_set("conversation.session_1.1.blip_caption", ["a cat"]), r"session_1\[1\]\.blip_caption: expected a string"),
    (_set("qa.0.category", "4"), r"sample 1 \(s1\): qa\[0\]: category: expected a JSON integer"),
    (_set("qa.0.category", 6), r"\(s1\): qa\[0\]\.category: expected an integer 1 to 5, got 6"),
    (_set("qa.1.answer", KeyError), r"\(s1\): qa\[1\]\.answer: missing \(only category 5"),
    (_set("qa.1.answer", True), r"qa\[1\]\.answer: expected a string or a number, got bool"),
    (_set("qa.0.evidence", "D1:2"), r"qa\[0\]: evidence: expected a JSON list"),
    (_set("qa.0.evidence", [["D1:2"]]), r"qa\[0\]\.evidence\[0\]: expected a dia_id string"),
    (_set("qa", KeyError), r"sample 1 \(s1\): qa: missing"),
    (_set("conversation.session_1.0.convolab_tool_use", {"id": "t1", "name": "x", "input": {}}),
     r"session_1\[0\]\.convolab_tool_use: only speaker_b \('Bo', the assistant\) can call a tool"),
    (_set("conversation.session_1.1.convolab_tool_use", {"id": "t1", "name": "x", "input": {}}),
     r"session_1\[2\]\.convolab_tool_result: the tool call in turn D1:2 needs its result"),
    (_set("conversation.session_1.2.convolab_tool_use", {"id": "t1", "name": "x", "input": {}}),
     r"conversation\.session_1: the tool call in turn D1:3 has no turn with its convolab_tool_result"),
    (_set("conversation.session_1.2.convolab_tool_result", {"tool_use_id": "t1", "content": "x"}),
     r"session_1\[2\]\.convolab_tool_result: no tool call in the turn before"),
])
def test_malformed_records_name_the_item_and_field(edit, message):
    r = record()
    edit(r)
    with pytest.raises(InvalidConversation, match=message) as e:
        parse_locomo([record("s0"), r], source="f.json")
    assert str(e.value).startswith("f.json: sample 1")


def test_malformed_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidConversation, match=r"bad\.json: not valid JSON"):
        load_locomo(bad)
    bad.write_text(json.dumps({"sample_id": "x"}), encoding="utf-8")
    with pytest.raises(InvalidConversation, match=r"bad\.json: expected a JSON list of samples, got dict"):
        load_locomo(bad)
    bad.write_text(json.dumps([record(), record()]), encoding="utf-8")
    with pytest.raises(InvalidConversation, match=r"bad\.json: sample_id 's1' appears more than once"):
        load_locomo(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidConversation, match=r"empty: no \*\.json files"):
        load_locomo(tmp_path / "empty")


# -- any record in the format ----------------------------------------------------------------------

@st.composite
def records(draw):
    """Records with random speakers per turn (runs anywhere), photos, and empty sessions."""
    text = st.text(max_size=12).filter(str.strip)  # an empty turn is refused (test below)
    sessions = draw(st.lists(st.lists(st.tuples(st.booleans(), st.sampled_from(["", "a dog", None]),
                                                text), max_size=8), min_size=1, max_size=5))
    conv: dict = {"speaker_a": "Ann", "speaker_b": "Bo"}
    day = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    for n, turns in enumerate(sessions, 1):
        conv[f"session_{n}_date_time"] = format_locomo_date(day + timedelta(days=n))
        conv[f"session_{n}"] = [{"speaker": "Bo" if b else "Ann", "dia_id": f"D{n}:{k}", "text": text,
                                 **({"blip_caption": cap} if cap is not None else {})}
                                for k, (b, cap, text) in enumerate(turns, 1)]
    return {"sample_id": "h", "conversation": conv, "qa": []}


@pytest.mark.parametrize("turn", [{"text": ""}, {"text": "  \n"}, {"text": " ", "blip_caption": " "}])
def test_a_turn_with_no_text_and_no_photo_is_refused(turn):
    rec = {"sample_id": "h", "qa": [], "conversation": {
        "speaker_a": "Ann", "speaker_b": "Bo", "session_1_date_time": "10:00 am on 2 January, 2024",
        "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": "hi"}, {"speaker": "Bo", "dia_id": "D1:2", **turn}]}}
    with pytest.raises(InvalidConversation, match=r"sample 0 \(h\): conversation.session_1\[1\].text: empty"):
        parse_locomo([rec])
    rec["conversation"]["session_1"][1] |= {"text": "", "img_url": "https://example.com/a.jpg"}
    assert "Bo: [shares a photo]" in parse_locomo([rec])[0].conversation.messages[-1].text


@given(records())
def test_any_record_keeps_every_turn_and_alternates(rec):
    (s,) = parse_locomo([copy.deepcopy(rec)])
    turns = turns_of(rec)
    msgs = s.conversation.messages
    assert [d for m in msgs for d in m.metadata["dia_ids"]] == [t["dia_id"] for t in turns]
    for t in turns:
        assert f"{t['speaker']}: {t['text'].strip()}" in s.message(t["dia_id"]).text
    assert all(a.role != b.role for a, b in itertools.pairwise(msgs))
    if msgs:
        assert msgs[0].role == "user"
        assert all(m.text.strip() for m in msgs)
    same = sum(a["speaker"] == b["speaker"] for a, b in itertools.pairwise(turns))
    assert len(msgs) == len(turns) - same + bool(turns and turns[0]["speaker"] == "Bo")
    for info in s.sessions:
        if info.dia_ids:
            assert f"[{info.date_text}]\n" in s.conversation.get(info.first_message_id).text
