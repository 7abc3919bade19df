"""Tests for ``convolab.model``: roles, messages, content kept exactly, turns and tool pairs."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from datetime import UTC, datetime

import anthropic.types as sdk
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab.blocks import content_text
from convolab.errors import InvalidConversation, NotFound
from convolab.model import (
    Conversation,
    Message,
    Role,
    as_role,
    blocks_of,
    content_hash,
    group_turns,
    is_plain_user,
    normalize_content,
    tool_exchanges,
    tool_result_ids,
    tool_use_ids,
)


def use(tid: str, name: str = "lookup") -> dict:
    return {"type": "tool_use", "id": tid, "name": name, "input": {"q": tid}}


def result(tid: str, text: str = "ok") -> dict:
    return {"type": "tool_result", "tool_use_id": tid, "content": text}


# -- roles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [("user", Role.USER), ("assistant", Role.ASSISTANT),
                                             (Role.USER, Role.USER)])
def test_role_accepts_plain_strings(value, expected):
    role = as_role(value)
    assert role is expected
    assert role == value and str(role) == expected.value
    assert Message(value, "hi").role is expected


def test_role_compares_and_hashes_like_its_string():
    assert Role.USER == "user" and Role.ASSISTANT == "assistant"
    assert {"user": 1}[Role.USER] == 1
    assert f"{Role.ASSISTANT}" == "assistant"


@pytest.mark.parametrize("bad", ["system", "User", "", " user", "tool", None, 1, ["user"]])
def test_invalid_roles_raise_invalid_conversation(bad):
    with pytest.raises(InvalidConversation, match="invalid role"):
        as_role(bad)
    with pytest.raises(InvalidConversation):
        Message(bad, "hi")


def test_system_role_error_points_to_system_prompt():
    with pytest.raises(InvalidConversation, match="system_prompt"):
        Conversation().add("system", "Be terse.")


# -- ids, seq, timestamps --------------------------------------------------------------------

def test_message_ids_are_unique_uuid4_and_timestamps_utc():
    a, b = Message("user", "a"), Message("user", "b")
    assert a.id != b.id
    assert uuid.UUID(a.id).version == 4
    assert a.created_at.tzinfo is not None and a.created_at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - a.created_at).total_seconds()) < 60


def test_conversation_assigns_increasing_seq_and_tracks_last_updated():
    conv = Conversation()
    msgs = [conv.add("user", "a"), conv.add("assistant", "b"), conv.add("user", "c")]
    assert [m.seq for m in msgs] == [0, 1, 2]
    assert conv.last_updated == msgs[-1].created_at
    assert conv.get(msgs[1].id) is msgs[1]
    assert len(conv) == 3 and list(conv) == msgs


def test_seq_may_skip_but_never_go_back():
    conv = Conversation()
    conv.add("user", "a")
    assert conv.add("assistant", "b", seq=10).seq == 10
    assert conv.add("user", "c").seq == 11
    with pytest.raises(InvalidConversation, match="seq 5"):
        conv.add("assistant", "d", seq=5)


def test_duplicate_ids_are_rejected_and_unknown_ids_not_found():
    conv = Conversation()
    conv.add("user", "a", id="m1")
    with pytest.raises(InvalidConversation, match="already"):
        conv.add("assistant", "b", id="m1")
    with pytest.raises(NotFound, match="nope"):
        conv.get("nope")


def test_extend_takes_messages_and_dicts_keeping_ids_and_metadata():
    src = Message("user", "hi", metadata={"k": 1}, input_tokens=3)
    conv = Conversation()
    added = conv.extend([src, {"role": "assistant", "content": "hello", "id": "a1"}])
    assert added[0].id == src.id and added[0].metadata == {"k": 1} and added[0].input_tokens == 3
    assert added[0].metadata is not src.metadata
    assert added[1].id == "a1" and [m.seq for m in added] == [0, 1]


# -- content kept exactly --------------------------------------------------------------------

def test_content_is_kept_exactly_including_cache_control():
    blocks = [
        {"type": "text", "text": "long document", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "text", "text": "  keep my spaces  "},
    ]
    msg = Message("user", blocks)
    assert msg.content == blocks
    assert msg.to_api() == {"role": "user", "content": blocks}
    assert Message("user", "  exactly  ").content == "  exactly  "


def test_content_is_copied_on_the_way_in_and_out():
    blocks = [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    msg = Message("user", blocks)
    blocks[0]["cache_control"]["ttl"] = "1h"
    blocks.append({"type": "text", "text": "later"})
    assert msg.content == [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    api = msg.to_api()
    api["content"][0]["text"] = "changed"
    api["content"].append({"type": "text", "text": "x"})
    assert msg.content[0]["text"] == "hi" and len(msg.content) == 1


def test_a_single_block_dict_becomes_a_list():
    assert normalize_content({"type": "text", "text": "x"}) == [{"type": "text", "text": "x"}]


def test_sdk_block_objects_are_converted_to_dicts():
    content = [sdk.TextBlock(type="text", text="Let me look."),
               sdk.ToolUseBlock(type="tool_use", id="toolu_1", name="lookup", input={"q": "x"})]
    msg = Message("assistant", content)
    assert msg.content == [{"type": "text", "text": "Let me look."},
                           {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]
    assert all(type(b) is dict for b in msg.content)
    assert tool_use_ids(msg) == ["toolu_1"]


@pytest.mark.parametrize("bad", [5, None, b"bytes", {"text": "no type"}, ["a string"],
                                 [{"text": "no type"}], [{"type": 3}], [None]])
def test_invalid_content_raises_invalid_conversation(bad):
    with pytest.raises(InvalidConversation):
        Message("user", bad)


def test_text_and_hash():
    msg = Message("assistant", [{"type": "text", "text": "a"}, use("t1"), {"type": "text", "text": "b"}])
    assert msg.text == "a\n\nb"
    assert content_text("plain") == "plain"
    same = Message("assistant", copy.deepcopy(msg.content))
    assert msg.content_hash == same.content_hash == content_hash("assistant", msg.content)
    assert Message("user", "a").content_hash != Message("assistant", "a").content_hash


def test_equality_is_by_id_role_content_and_seq():
    m = Message("user", "hi")
    assert m == Message("user", "hi", id=m.id)
    assert m != Message("user", "hi")
    with pytest.raises(TypeError):
        hash(m)


# -- per-message memo ------------------------------------------------------------------------

def test_memo_computes_once_per_message_and_key():
    calls = []
    m, other = Message("user", "hi"), Message("user", "hi")

    def compute():
        calls.append(1)
        return 42

    assert m.memo(("tokens", "model-a"), compute) == 42
    assert m.memo(("tokens", "model-a"), compute) == 42
    assert len(calls) == 1
    m.memo(("tokens", "model-b"), compute)
    other.memo(("tokens", "model-a"), compute)
    assert len(calls) == 3


def test_memo_caches_falsy_values():
    m = Message("user", "hi")
    calls = []
    assert m.memo("k", lambda: calls.append(1)) is None
    assert m.memo("k", lambda: calls.append(1)) is None
    assert len(calls) == 1


def test_replace_does_not_share_memo():
    m = Message("user", "old")
    old_hash = m.content_hash
    new = dataclasses.replace(m, content="new content")
    assert new.content_hash != old_hash


def test_extend_with_unknown_keys_raises_invalid_conversation():
    with pytest.raises(InvalidConversation):
        Conversation().extend([{"role": "user", "content": "hi", "timestamp": "2026-01-01"}])


# -- tool helpers ----------------------------------------------------------------------------

def test_tool_helpers():
    a = {"role": "assistant", "content": [{"type": "text", "text": "x"}, use("t1"), use("t2")]}
    u = {"role": "user", "content": [result("t1"), result("t2"), {"type": "text", "text": "and"}]}
    assert tool_use_ids(a) == ["t1", "t2"] and tool_result_ids(a) == []
    assert tool_result_ids(u) == ["t1", "t2"] and tool_use_ids(u) == []
    assert not is_plain_user(u) and is_plain_user({"role": "user", "content": "hi"})
    assert not is_plain_user(a)
    assert blocks_of({"role": "user", "content": "s"}) == [{"type": "text", "text": "s"}]
    assert is_plain_user(Message(Role.USER, [{"type": "text", "text": "x"}]))


def test_tool_exchanges_find_results_and_unanswered_calls():
    msgs = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [use("t1", "weather"), use("t2", "time")]},
        {"role": "user", "content": [result("t1"), result("t2")]},
        {"role": "assistant", "content": [use("t3", "weather")]},
    ]
    ex = tool_exchanges(msgs)
    assert [(e.tool_use_id, e.name, e.call_index, e.result_index) for e in ex] == [
        ("t1", "weather", 1, 2), ("t2", "time", 1, 2), ("t3", "weather", 3, None)]
    conv = Conversation()
    conv.extend(msgs)
    assert conv.tool_exchanges() == ex


def test_tool_exchanges_ignore_results_before_the_call():
    msgs = [{"role": "user", "content": [result("t1")]}, {"role": "assistant", "content": [use("t1")]}]
    assert tool_exchanges(msgs)[0].result_index is None


# -- turns -----------------------------------------------------------------------------------

def test_group_turns_basic():
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [use("t1")]},
        {"role": "user", "content": [result("t1")]},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
    ]
    turns = group_turns(msgs)
    assert [(t.index, t.start, t.end, len(t)) for t in turns] == [(0, 0, 4, 4), (1, 4, 6, 2)]
    assert list(turns[0].messages) == msgs[:4]
    assert group_turns([]) == []


def test_group_turns_leading_assistant_and_message_ids():
    conv = Conversation()
    a = conv.add("assistant", "hello first")
    u = conv.add("user", "hi")
    turns = conv.turns()
    assert [(t.start, t.end) for t in turns] == [(0, 1), (1, 2)]
    assert turns[0].ids == [a.id] and turns[1].ids == [u.id]


def build_sequence(codes: list[int], as_messages: bool) -> list:
    """A valid conversation from small integers, one per turn: user text, 0-2 tool loops of
    1-3 calls (results in rotated order, sometimes with text after them), maybe a reply."""
    msgs: list = []
    tid = 0
    for c in codes:
        msgs.append({"role": "user", "content": f"question {c}"})
        for loop in range(c % 3):
            ids = [f"t{tid + j}" for j in range(1 + (c + loop) % 3)]
            tid += len(ids)
            msgs.append({"role": "assistant", "content": [{"type": "text", "text": "let me look"},
                                                          *(use(i) for i in ids)]})
            order = ids[c % len(ids):] + ids[:c % len(ids)]
            extra = [{"type": "text", "text": "and"}] if c & 4 else []
            msgs.append({"role": "user", "content": [*(result(i) for i in order), *extra]})
        if c & 8:
            msgs.append({"role": "assistant", "content": f"answer {c}"})
    if as_messages:
        msgs = [Message(m["role"], m["content"]) if k % 2 else m for k, m in enumerate(msgs)]
    return msgs


valid_sequences = st.builds(build_sequence, st.lists(st.integers(0, 63), max_size=8), st.booleans())


@given(valid_sequences)
def test_group_turns_never_splits_a_tool_pair(msgs):
    turns = group_turns(msgs)
    # turns tile the sequence, in order
    assert [i for t in turns for i in range(t.start, t.end)] == list(range(len(msgs)))
    assert all(t.index == k for k, t in enumerate(turns))
    for t in turns[1:]:
        assert is_plain_user(msgs[t.start])
    turn_of = {i: t.index for t in turns for i in range(t.start, t.end)}
    for ex in tool_exchanges(msgs):
        assert ex.result_index == ex.call_index + 1
        assert turn_of[ex.call_index] == turn_of[ex.result_index]


def test_a_reused_tool_id_is_matched_to_the_result_after_each_call():
    msgs = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "1"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "2"}]},
    ]
    assert [(e.call_index, e.result_index) for e in tool_exchanges(msgs)] == [(1, 2), (3, 4)]


def test_conversation_refuses_duplicate_ids_and_unordered_seq():
    a = Message("user", "a", id="x", seq=0)
    with pytest.raises(InvalidConversation, match="appears twice"):
        Conversation(messages=[a, Message("assistant", "b", id="x", seq=1)])
    with pytest.raises(InvalidConversation, match="increasing seq"):
        Conversation(messages=[Message("user", "a", seq=3), Message("assistant", "b", seq=1)])
