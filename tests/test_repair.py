"""Tests for ``convolab.repair``: every rule by example, then properties over random sequences.

Hypothesis settings come from the profiles in ``tests/conftest.py`` (``dev``: 200 examples,
``ci``: 2,000 when ``CI=true``); no test here sets ``max_examples``.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import anthropic.types as sdk
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab import catalog
from convolab.errors import InvalidConversation
from convolab.model import Message, Role
from convolab.repair import MISSING_RESULT, RepairReport, repair_messages
from convolab.sim.rules import validate

SPEC = catalog.get_model("claude-sonnet-4-6")
TOOLS = [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {}}}]


def U(content: Any) -> dict:
    return {"role": "user", "content": content}


def A(content: Any) -> dict:
    return {"role": "assistant", "content": content}


def text(t: str, **extra: Any) -> dict:
    return {"type": "text", "text": t, **extra}


def use(tid: str) -> dict:
    return {"type": "tool_use", "id": tid, "name": "lookup", "input": {"q": tid}}


def result(tid: str, content: Any = "42", **extra: Any) -> dict:
    return {"type": "tool_result", "tool_use_id": tid, "content": content, **extra}


def api(messages: list) -> list[dict]:
    """The API form of a mixed list of dicts and Messages (what a clean repair returns)."""
    return [m.to_api() if isinstance(m, Message) else {"role": str(m["role"]), "content": m["content"]}
            for m in messages]


def snapshot(messages: list) -> list:
    """A deep copy of the input's observable state, to check that repair did not mutate it."""
    return [(m.id, m.role, copy.deepcopy(m.content)) if isinstance(m, Message) else copy.deepcopy(m)
            for m in messages]


def validate_message_sequence(messages: list[dict]) -> list[dict]:
    """A common validator that drops a message when two of the same role meet, and a trailing
    assistant message: kept here to show what it loses."""
    if not messages:
        return []
    cleaned = [messages[0]]
    for msg in messages[1:]:
        if msg["role"] != cleaned[-1]["role"]:
            cleaned.append(msg)
    if cleaned and cleaned[-1]["role"] == "assistant":
        cleaned = cleaned[:-1]
    return cleaned


# -- what dropping loses ------------------------------------------------------------------------

def test_crash_between_two_saves_keeps_both_user_texts():
    # the process died after saving the user's message and before saving Claude's reply;
    # the user, seeing no answer, wrote again
    stored = [U("My name is Ada and I'm allergic to peanuts."), A("Noted, Ada."),
              U("Suggest a snack for the trip."), U("Hello? Did my last message arrive?")]
    dropped = validate_message_sequence(stored)
    assert "Hello? Did my last message arrive?" not in str(dropped)  # dropping loses it

    fixed, report = repair_messages(stored, for_request=True)
    assert fixed == [stored[0], stored[1],
                     U("Suggest a snack for the trip.\n\nHello? Did my last message arrive?")]
    assert [(m.kept, m.absorbed) for m in report.merged] == [(2, (3,))]
    assert report.changed and not report.is_clean
    assert "merged" in str(report) and "2+3" in str(report)


def test_two_user_messages_in_a_row_at_the_start():
    fixed, report = repair_messages([U("first"), U("second")], for_request=True)
    assert fixed == [U("first\n\nsecond")]
    assert len(report.merged) == 1


# -- merging ---------------------------------------------------------------------------------

def test_strings_join_with_a_blank_line_and_assistant_runs_merge_too():
    fixed, report = repair_messages([U("q"), A("part one"), A("part two"), A("part three")])
    assert fixed == [U("q"), A("part one\n\npart two\n\npart three")]
    assert [(m.kept, m.absorbed, m.role) for m in report.merged] == [(1, (2, 3), "assistant")]


def test_a_string_meeting_blocks_becomes_a_text_block_and_cache_control_survives():
    cc = {"type": "ephemeral"}
    fixed, _ = repair_messages([U("plain"), U([text("cached", cache_control=cc)]), U("tail")])
    assert fixed == [U([text("plain"), text("cached", cache_control=cc), text("tail")])]


def test_merged_user_messages_put_tool_results_first():
    msgs = [U("go"), A([text("checking"), use("t1"), use("t2")]),
            U([text("while you look: hurry")]), U([result("t1")]), U([text("also"), result("t2")])]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed[2] == U([result("t1"), result("t2"), text("while you look: hurry"), text("also")])
    assert report.merged and not [f for f in report.tool_fixes if f.action != "moved_first"]


def test_a_single_user_message_with_a_late_tool_result_is_reordered():
    msgs = [U("go"), A([use("t1")]), U([text("here:"), result("t1")])]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed[2] == U([result("t1"), text("here:")])
    assert [f.action for f in report.tool_fixes] == ["moved_first"]


def test_merging_is_not_done_for_alternating_roles():
    msgs = [A("hi"), U("a"), A("b")]
    fixed, report = repair_messages(msgs)
    assert fixed == msgs and report.is_clean


# -- empty text ------------------------------------------------------------------------------

def test_empty_and_blank_text_is_dropped_and_reported():
    msgs = [U("hello"), A(""), U("  \n\t"), A([text(" "), text("kept"), text("")]), U("bye")]
    fixed, report = repair_messages(msgs)
    assert fixed == [U("hello"), A([text("kept")]), U("bye")]
    assert sorted((d.index, d.block) for d in report.dropped) == [(1, None), (2, None), (3, 0), (3, 2)]
    assert all(d.reason for d in report.dropped)


def test_a_dropped_message_can_bring_two_user_messages_together():
    fixed, report = repair_messages([U("one"), A("   "), U("two")], for_request=True)
    assert fixed == [U("one\n\ntwo")]
    assert report.dropped and report.merged


def test_message_with_only_empty_blocks_is_dropped():
    fixed, report = repair_messages([U("q"), A([text(""), text("  ")]), A("answer"), U("next")],
                                    for_request=True)
    assert fixed == [U("q"), A("answer"), U("next")]
    assert any(d.index == 1 and d.block is None for d in report.dropped)


def test_non_text_blocks_are_never_dropped():
    img = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
    fixed, report = repair_messages([U([img])], for_request=True)
    assert fixed == [U([img])] and report.is_clean


# -- for_request: start and end -------------------------------------------------------------

def test_leading_assistant_messages_are_set_aside_not_lost():
    msgs = [A("Welcome!"), A("How can I help?"), U("hi")]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed == [U("hi")]
    [aside] = report.set_aside
    assert aside.indices == (0, 1)
    assert aside.message == A("Welcome!\n\nHow can I help?")
    assert aside.reason
    # without for_request they stay (merged)
    fixed, _ = repair_messages(msgs)
    assert fixed == [A("Welcome!\n\nHow can I help?"), U("hi")]


def test_trailing_assistant_message_is_set_aside_and_listed():
    msgs = [U("hi"), A("hello"), U("how are you?"), A("fine")]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed == msgs[:3]
    [aside] = report.set_aside
    assert aside.indices == (3,) and aside.message == A("fine")
    assert "set aside" in str(report)
    # not merged away into the previous assistant message either
    assert fixed[1] == A("hello")


def test_trailing_assistant_with_an_unanswered_tool_use_is_set_aside_whole():
    msgs = [U("weather?"), A([text("checking"), use("t1")])]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed == [U("weather?")]
    assert report.set_aside[0].message == msgs[1] and not report.tool_fixes


def test_only_assistant_messages_give_an_empty_request_with_everything_set_aside():
    fixed, report = repair_messages([A("a"), A("b")], for_request=True)
    assert fixed == []
    assert [s.message for s in report.set_aside] == [A("a\n\nb")]


def test_empty_input():
    for for_request in (False, True):
        fixed, report = repair_messages([], for_request=for_request)
        assert fixed == [] and report.is_clean and not report.changed
        assert str(report) == str(RepairReport())


# -- for_request: tool pairs ------------------------------------------------------------------

def test_unanswered_tool_use_gets_a_synthetic_error_result_and_keeps_the_assistant_text():
    msgs = [U("weather in Oslo?"), A([text("Let me check."), use("t1")]), U("never mind, thanks")]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed[1] == msgs[1]
    synthetic = fixed[2]["content"][0]
    assert synthetic["type"] == "tool_result" and synthetic["tool_use_id"] == "t1"
    assert synthetic["is_error"] is True and synthetic["content"] == MISSING_RESULT
    assert fixed[2]["content"][1:] == [text("never mind, thanks")]
    [fix] = report.tool_fixes
    assert (fix.action, fix.tool_use_id, fix.index) == ("synthetic_result", "t1", 1)


def test_partly_answered_tool_uses_get_only_the_missing_results():
    msgs = [U("go"), A([use("t1"), use("t2"), use("t3")]), U([result("t2"), text("t1, t3 crashed")])]
    fixed, report = repair_messages(msgs, for_request=True)
    content = fixed[2]["content"]
    assert [b.get("tool_use_id") for b in content[:3]] == ["t2", "t1", "t3"]
    assert content[0] == result("t2") and content[3] == text("t1, t3 crashed")
    assert sorted(f.tool_use_id for f in report.tool_fixes) == ["t1", "t3"]


def test_orphan_tool_result_becomes_text_keeping_its_content():
    img = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
    msgs = [U("hi"), A("hello"), U([result("ghost", [text("the answer is 7"), img], is_error=True),
                                    text("what now?")])]
    fixed, report = repair_messages(msgs, for_request=True)
    content = fixed[2]["content"]
    assert all(b["type"] != "tool_result" for b in content)
    assert "the answer is 7" in content[0]["text"] and "ghost" in content[0]["text"]
    assert img in content and content[-1] == text("what now?")
    [fix] = report.tool_fixes
    assert (fix.action, fix.tool_use_id, fix.index) == ("result_to_text", "ghost", 2)


def test_tool_result_in_the_first_message_is_an_orphan():
    fixed, report = repair_messages([U([result("t0", "leftover")])], for_request=True)
    assert fixed[0]["content"][0]["type"] == "text" and "leftover" in fixed[0]["content"][0]["text"]
    assert report.tool_fixes[0].action == "result_to_text"


def test_result_answering_an_older_assistant_message_is_an_orphan_and_the_new_call_is_answered():
    msgs = [U("a"), A([use("t1")]), U([result("t1")]), A([use("t2")]), U([result("t1", "again")])]
    fixed, report = repair_messages(msgs, for_request=True)
    last = fixed[4]["content"]
    assert last[0]["tool_use_id"] == "t2" and last[0]["is_error"] is True
    assert last[1]["type"] == "text" and "again" in last[1]["text"]
    assert sorted(f.action for f in report.tool_fixes) == ["result_to_text", "synthetic_result"]


def test_duplicate_tool_result_keeps_the_first_and_turns_the_second_into_text():
    msgs = [U("a"), A([use("t1")]), U([result("t1", "first"), result("t1", "second")])]
    fixed, report = repair_messages(msgs, for_request=True)
    content = fixed[2]["content"]
    assert content[0] == result("t1", "first")
    assert content[1]["type"] == "text" and "second" in content[1]["text"]
    assert [f.action for f in report.tool_fixes] == ["result_to_text"]


def test_leading_assistant_tool_use_set_aside_makes_its_result_text():
    msgs = [A([use("t1")]), U([result("t1", "sunny")]), A("ok"), U("thanks")]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed[0]["role"] == "user" and "sunny" in fixed[0]["content"][0]["text"]
    assert report.set_aside[0].indices == (0,)


def test_an_assistant_reply_saved_twice_keeps_one_call_per_id():
    reply = A([text("Checking."), use("t1")])
    msgs = [U("go"), reply, copy.deepcopy(reply), U([result("t1")])]
    fixed, report = repair_messages(msgs, for_request=True)
    assert fixed[1] == A([text("Checking."), use("t1"), text("Checking.")])
    assert fixed[2] == U([result("t1")])
    assert [(f.action, f.tool_use_id, f.index) for f in report.tool_fixes] == [
        ("repeated_use_dropped", "t1", 1)]
    assert_valid_request(fixed)


def test_tool_fixes_are_not_made_without_for_request():
    msgs = [U("a"), A([use("t1")])]  # a stored conversation waiting for its tool result
    fixed, report = repair_messages(msgs)
    assert fixed == msgs and report.is_clean


# -- inputs ----------------------------------------------------------------------------------

def test_messages_and_dicts_mix_and_roles_may_be_enum_members():
    conv_msgs = [Message("user", "hi"), {"role": Role.ASSISTANT, "content": "hello"},
                 Message(Role.USER, [text("and you?")])]
    fixed, report = repair_messages(conv_msgs, for_request=True)
    assert fixed == [U("hi"), A("hello"), U([text("and you?")])]
    assert all(type(m["role"]) is str for m in fixed) and report.is_clean
    assert all(set(m) == {"role", "content"} for m in fixed)


def test_extra_keys_of_stored_dicts_are_left_out():
    fixed, _ = repair_messages([{"role": "user", "content": "hi", "id": "m1", "seq": 3}])
    assert fixed == [U("hi")]


def test_sdk_block_objects_in_dicts_are_converted():
    blocks = [sdk.TextBlock(type="text", text="Checking."),
              sdk.ToolUseBlock(type="tool_use", id="t1", name="lookup", input={})]
    fixed, report = repair_messages([U("q"), A(blocks), U([result("t1")])], for_request=True)
    assert fixed[1]["content"] == [text("Checking."), {"type": "tool_use", "id": "t1", "name": "lookup",
                                                       "input": {}}]
    assert report.is_clean


def test_a_generator_is_accepted():
    fixed, _ = repair_messages(m for m in [U("a"), U("b")])
    assert fixed == [U("a\n\nb")]


@pytest.mark.parametrize("bad", [
    {"role": "system", "content": "be terse"},
    {"role": "user"},
    {"content": "no role"},
    {"role": "user", "content": 5},
    {"role": "user", "content": [{"text": "no type"}]},
    {"role": "user", "content": ["bare string block"]},
    "just a string",
])
def test_invalid_messages_raise_invalid_conversation(bad):
    with pytest.raises(InvalidConversation):
        repair_messages([U("ok"), bad])


# -- copying, idempotence, report -------------------------------------------------------------

def test_input_is_never_mutated_and_new_lists_are_not_shared():
    msgs = [U([text("a", cache_control={"type": "ephemeral"})]), U([text(" "), result("x")]),
            A([use("t1")]), Message("user", [text("b")]), A("end")]
    before = snapshot(msgs)
    fixed, _ = repair_messages(msgs, for_request=True)
    assert snapshot(msgs) == before
    inputs = {id(m["content"] if isinstance(m, dict) else m.content) for m in msgs}
    for m in fixed:  # the output list and dicts are new; merged content is never an input list
        assert not any(m is x for x in msgs)
    assert id(fixed[0]["content"]) not in inputs
    fixed[0]["content"].append(text("mine"))
    fixed[0]["content"][0]["text"] = "changed"
    assert snapshot(msgs) == before


def test_valid_request_comes_back_equal_with_a_clean_report():
    msgs = [U("hi"), A([text("checking", cache_control={"type": "ephemeral"}), use("t1"), use("t2")]),
            U([result("t2"), result("t1", [text("r")]), text("thanks")]), A("done"), U("bye")]
    for for_request in (False, True):
        fixed, report = repair_messages(msgs, for_request=for_request)
        assert fixed == msgs and report.is_clean
        assert str(report) == "clean: nothing to repair"


def test_repair_is_idempotent_on_a_messy_example():
    msgs = [A("x"), U(""), U([result("ghost")]), U("a"), A([use("t1")]), A(" "), U("b"), A("y")]
    once, report = repair_messages(msgs, for_request=True)
    assert report.changed
    twice, report2 = repair_messages(once, for_request=True)
    assert twice == once and report2.is_clean


def test_report_str_lists_every_kind_of_entry():
    msgs = [A("lead"), U("a"), U(""), U("b"), A([use("t1")]), U([result("zz")]), A("tail")]
    _, report = repair_messages(msgs, for_request=True)
    s = str(report)
    assert s.startswith("repaired:")
    for word in ("merged", "dropped", "set aside", "synthetic_result", "result_to_text"):
        assert word in s
    assert len(s.splitlines()) == 1 + len(report.merged) + len(report.dropped) + len(
        report.set_aside) + len(report.tool_fixes)
    for entry in [*report.merged, *report.dropped, *report.set_aside, *report.tool_fixes]:
        assert entry.reason


# -- speed -----------------------------------------------------------------------------------

def _valid_long(n: int) -> list:
    msgs: list = []
    i = 0
    while len(msgs) < n - 4:
        msgs += [U(f"question {i}"), A([text(f"let me look {i}"), use(f"t{i}")]),
                 U([result(f"t{i}", f"result {i}")]), A(f"answer {i}")]
        i += 1
    return [*msgs, U("last")]


def test_ten_thousand_valid_messages_come_back_clean():
    """Speed is measured by benchmarks/bench_repair.py; this checks the long case's result."""
    msgs = _valid_long(10_000)
    objs = [Message(m["role"], m["content"]) for m in msgs]
    for data in (msgs, objs):
        fixed, report = repair_messages(data, for_request=True)
        assert report.is_clean and len(fixed) == len(data)


def test_a_long_run_of_one_role_merges_into_one_message():
    n = 5_000
    msgs = [U(f"line {i} " + "x" * 200) for i in range(n)]
    fixed, report = repair_messages(msgs)
    assert len(fixed) == 1 and fixed[0]["content"].count("\n\n") == n - 1
    assert len(report.merged) == 1 and len(report.merged[0].absorbed) == n - 1


# -- properties ------------------------------------------------------------------------------
# Strategies are built from a few cheap draws (sampled texts, ``st.builds``) so that the ``ci``
# profile's 2,000 examples per test stay fast; ``st.text`` adds arbitrary unicode.

BLANKS = ["", " ", "\n", "\t \n", "\u3000", "\u00a0 "]
SAMPLES = ["hi", "I'm Ada", "allergic to peanuts 🥜", "漢字かな", "two\nlines", " padded ", "é", "x" * 40]
TOOL_IDS = ["t0", "t1", "t2", "t3"]
texts = st.one_of(st.sampled_from(BLANKS), st.sampled_from(SAMPLES), st.text(max_size=6))
cache_controls = st.sampled_from([None, None, {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}])


def _text_block(t: str, cc: dict | None) -> dict:
    return text(t, cache_control=cc) if cc else text(t)


def _result_block(tid: str, content: Any, is_error: bool) -> dict:
    return result(tid, content, is_error=True) if is_error else result(tid, content)


def _message(role: Any, content: Any, as_message: bool) -> Any:
    return Message(role, content) if as_message else {"role": role, "content": content}


text_blocks = st.builds(_text_block, texts, cache_controls)
tool_results = st.builds(_result_block, st.sampled_from(TOOL_IDS),
                         st.one_of(texts, st.lists(text_blocks, max_size=2)), st.booleans())
tool_uses = st.sampled_from(TOOL_IDS).map(use)
# ids are unique within one generated message (a merge may still repeat them)
assistant_blocks = st.lists(st.one_of(text_blocks, tool_uses), max_size=4,
                            unique_by=lambda b: b["id"] if b["type"] == "tool_use" else id(b))
messages = st.one_of(
    st.builds(_message, st.sampled_from(["user", Role.USER]),
              st.one_of(texts, st.lists(st.one_of(text_blocks, tool_results), max_size=4)),
              st.integers(0, 3).map(lambda n: n == 0)),
    st.builds(_message, st.sampled_from(["assistant", Role.ASSISTANT]), st.one_of(texts, assistant_blocks),
              st.integers(0, 3).map(lambda n: n == 0)),
)
sequences = st.lists(messages, max_size=12)

WORDS = ["hello", "what's the weather?", "Ada 👋", "naïve café", "漢字", "ok\nthanks", "42"]


def build_valid_request(codes: list[int], as_messages: int) -> list:
    """A valid request from a list of small integers, one per turn (cheap to generate and to
    shrink): each code picks the user content, 0-2 tool loops of 1-3 calls answered in a
    rotated order with or without trailing text, and the assistant's reply."""
    msgs: list = []
    tid = 0
    for n, c in enumerate(codes):
        w = WORDS[c % len(WORDS)]
        msgs.append(U(w if c & 8 else [text(w), *([text(WORDS[n % len(WORDS)])] if c & 16 else [])]))
        for loop in range((c >> 5) % 3):
            ids = [f"toolu_{tid + j}" for j in range(1 + (c + loop) % 3)]
            tid += len(ids)
            msgs.append(A([*([text(w)] if c & 1 else []), *map(use, ids)]))
            order = ids[c % len(ids):] + ids[:c % len(ids)]
            msgs.append(U([*(result(i, f"result {i}") for i in order), *([text(w)] if c & 2 else [])]))
        msgs.append(A(w if c & 4 else [text(w)]))
    msgs.pop()  # end on a user message
    if as_messages == 0:
        return msgs
    return [Message(m["role"], m["content"]) if as_messages == 1 or k % 2 else m for k, m in enumerate(msgs)]


valid_requests = st.builds(build_valid_request, st.lists(st.integers(0, 255), min_size=1, max_size=6),
                           st.integers(0, 2))


def _role(m: Any) -> str:
    return str(m.role if isinstance(m, Message) else m["role"])


def _content(m: Any) -> Any:
    return m.content if isinstance(m, Message) else m["content"]


def _texts(content: Any) -> list[str]:
    """Every text a message's content carries, tool_result text included."""
    if isinstance(content, str):
        return [content]
    out = []
    for b in content:
        if b["type"] == "text":
            out.append(b["text"])
        elif b["type"] == "tool_result":
            out += _texts(b["content"]) if isinstance(b.get("content"), str | list) else []
    return out


def _blocks(m: dict) -> list[dict]:
    c = m["content"]
    return [text(c)] if isinstance(c, str) else c


def assert_valid_request(out: list[dict]) -> None:
    """The API's rules on the message list, checked here and by the strict simulator."""
    if not out:
        return
    # the simulator's rules.validate (cache_control stripped: random inputs may hold more than
    # the 4 breakpoints a request allows, which is the strategies' business, not repair's)
    plain = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else
              [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]} for m in out]
    validate({"model": SPEC.id, "max_tokens": 16, "messages": plain, "tools": TOOLS}, SPEC)
    assert out[0]["role"] == "user" and out[-1]["role"] == "user"
    for k, m in enumerate(out):
        assert set(m) == {"role", "content"} and m["content"]
        if k:
            assert m["role"] != out[k - 1]["role"]
        blocks = _blocks(m)
        for b in blocks:
            if b["type"] == "text":
                assert b["text"].strip()
        if m["role"] == "assistant":
            uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
            assert len(uses) == len(set(uses))
            if uses:
                nxt = _blocks(out[k + 1])
                lead = [b["tool_use_id"] for b in nxt[:len(uses)] if b["type"] == "tool_result"]
                assert sorted(lead) == sorted(uses)
        else:
            kinds = [b["type"] == "tool_result" for b in blocks]
            assert kinds == sorted(kinds, reverse=True)  # tool_results first
            ids = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
            prev = [b["id"] for b in _blocks(out[k - 1]) if b["type"] == "tool_use"] if k else []
            assert len(ids) == len(set(ids)) and set(ids) <= set(prev)


# Each property is a named check; two hypothesis tests run them all, so that one generated
# example serves every check (generation dominates the cost of the ``ci`` profile).

def check_alternates(out: list[dict], for_request: bool) -> None:
    """Roles alternate; a request starts and ends with user (unless empty)."""
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(out))
    assert all(set(m) == {"role", "content"} and type(m["role"]) is str and m["content"] for m in out)
    if for_request and out:
        assert out[0]["role"] == "user" and out[-1]["role"] == "user"


def check_nothing_lost(msgs: list, out: list[dict], report: RepairReport) -> None:
    """Every non-blank user text (tool_result text included) is in the output; every
    non-blank assistant text is in the output or set aside; only assistants are set aside."""
    assert all(s.message["role"] == "assistant" for s in report.set_aside)
    kept = [*out, *(s.message for s in report.set_aside)]
    for role in ("user", "assistant"):
        joined = "\x00".join(t for m in kept if m["role"] == role for t in _texts(m["content"]))
        for m in msgs:
            if _role(m) == role:
                for t in _texts(_content(m)):
                    assert not t.strip() or t in joined, (role, t)


def check_idempotent(out: list[dict], for_request: bool) -> None:
    again, report = repair_messages(out, for_request=for_request)
    assert again == out
    assert report.is_clean, str(report)


def check_report(msgs: list, out: list[dict], report: RepairReport) -> None:
    """A clean report means the output equals the input; indices point into the input."""
    assert report.changed is not report.is_clean
    if report.is_clean:
        assert out == api(msgs)
    n = len(msgs)
    for m in report.merged:
        assert all(0 <= i < n for i in (m.kept, *m.absorbed)) and list(m.absorbed) == sorted(m.absorbed)
    assert all(0 <= d.index < n for d in report.dropped)
    assert all(0 <= i < n for s in report.set_aside for i in s.indices)
    assert all(0 <= f.index < n and f.reason for f in report.tool_fixes)
    synthetic = [b for m in out if m["role"] == "user" for b in _blocks(m)
                 if b["type"] == "tool_result" and b.get("content") == MISSING_RESULT]
    assert len(synthetic) == sum(f.action == "synthetic_result" for f in report.tool_fixes)


@given(sequences)
def test_random_sequences_are_repaired_safely(msgs):
    """Over random sequences (empty and blank text, cache_control, matched, orphaned and
    unanswered tool calls, dicts and Messages), in both modes: the output alternates, a
    request is valid for the API (every tool_use answered first thing in the next user
    message, every tool_result answering the previous assistant message), no text is lost,
    repair is idempotent, the input is not mutated and the report is consistent."""
    before = snapshot(msgs)
    for for_request in (False, True):
        out, report = repair_messages(msgs, for_request=for_request)
        check_alternates(out, for_request)
        if for_request:
            assert_valid_request(out)
        check_nothing_lost(msgs, out, report)
        check_report(msgs, out, report)
        check_idempotent(out, for_request)
        assert snapshot(msgs) == before
        for m in out:  # editing the output's structure never reaches the input
            m["content"] = "replaced"
        assert snapshot(msgs) == before


@given(valid_requests, st.integers(0, 20))
def test_valid_input_is_unchanged_and_a_crash_loses_no_user_text(msgs, crash_at):
    """Valid requests come back equal with a clean report (both modes). Then one assistant
    reply is deleted, as a crash between two saves would: the request stays valid and
    every user text survives."""
    for for_request in (False, True):
        out, report = repair_messages(msgs, for_request=for_request)
        assert report.is_clean, str(report)
        assert out == api(msgs)
    assert_valid_request(out)
    replies = [i for i, m in enumerate(msgs) if _role(m) == "assistant"]
    if replies:
        del msgs[replies[crash_at % len(replies)]]
    out, report = repair_messages(msgs, for_request=True)
    assert_valid_request(out)
    check_nothing_lost(msgs, out, report)
    check_idempotent(out, True)
