"""The store contract: every test here runs against DuckDBStore and PostgresStore alike."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convolab import BudgetExceeded, Conversation, InvalidConversation, Message, NotFound
from convolab.stores import ConversationRecord, Reservation, Store, UsageEvent
from convolab.stores.migrations import MIGRATIONS

MODEL = "claude-sonnet-4-6"
HOSTILE_IDS = ["'; DROP TABLE messages; --", 'quote"s and \'single\'', "emoji 🦜🔥", "back\\slash %s ? $1",
               "\u202eright-to-left", " ", "x" * 500]
ALL_BLOCKS = [
    {"type": "text", "text": "Look at this", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a\u0000b"},
     "title": "notes", "citations": {"enabled": True}},
    {"type": "thinking", "thinking": "Let me think.", "signature": "c2ln"},
    {"type": "redacted_thinking", "data": "b3BhcXVl"},
    {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
     "input": {"city": "Zürich", "units": ["c", None], "n": 1.5, "deep": {"z": 1, "a": [True, False]}}},
    {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "q"}},
]
TOOL_RESULT = [{"type": "tool_result", "tool_use_id": "toolu_01", "is_error": False,
                "content": [{"type": "text", "text": "18°C"}, {"type": "image", "source": {
                    "type": "url", "url": "https://example.com/x.png"}}], "cache_control": {"type": "ephemeral"}}]


def as_json(x) -> str:
    """Order-sensitive JSON: equal only if keys come back in the order they were given."""
    return json.dumps(x, ensure_ascii=False)


@pytest.fixture
def conv(store) -> str:
    return store.create_conversation("ada", "You are terse.", MODEL, title="chat")


def is_utc(dt: datetime) -> bool:
    return dt.tzinfo is not None and dt.utcoffset() == timedelta(0)


# -- conversations -----------------------------------------------------------------------------

def test_is_a_store_at_the_latest_schema(store):
    assert isinstance(store, Store)
    assert store.schema_version() == len(MIGRATIONS) == 5


def test_conversation_round_trip(store):
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    tools = [{"name": "get_weather", "description": "…", "input_schema": {"type": "object", "properties": {}},
              "cache_control": {"type": "ephemeral"}}]
    meta = {"source": "notebook", "tags": ["a", "ü"], "nested": {"nul": "x\u0000y", "n": 3}}
    cid = store.create_conversation("ada", system, "claude-haiku-4-5", title="Weather 🌦", metadata=meta,
                                    tools=tools, conversation_id="my-own-id")
    assert cid == "my-own-id"
    rec = store.get_conversation(cid, user_id="ada")
    assert isinstance(rec, ConversationRecord)
    assert (rec.id, rec.user_id, rec.title, rec.model, rec.is_archived, rec.message_count) == (
        cid, "ada", "Weather 🌦", "claude-haiku-4-5", False, 0)
    assert as_json(rec.system_prompt) == as_json(system)
    assert as_json(rec.tools) == as_json(tools)
    assert rec.metadata == meta
    assert is_utc(rec.created_at) and is_utc(rec.last_updated)
    plain = store.get_conversation(store.create_conversation("ada", "Plain."), user_id="ada")
    assert (plain.system_prompt, plain.tools, plain.metadata, plain.title, plain.model) == (
        "Plain.", None, {}, None, MODEL)


def test_conversation_ids_are_new_uuids_and_taken_ids_are_refused(store):
    a, b = store.create_conversation("ada", "s"), store.create_conversation("ada", "s")
    assert a != b and len(a) == 36
    store.create_conversation("ada", "s", conversation_id="fixed")
    for user in ("ada", "bob"):  # the same answer whoever owns it
        with pytest.raises(InvalidConversation, match="already taken"):
            store.create_conversation(user, "s", conversation_id="fixed")


@pytest.mark.parametrize("bad", [
    dict(user_id=""), dict(user_id="a\x00b"), dict(conversation_id="c\x00"), dict(title="t\x00"),
    dict(metadata=["not", "a", "dict"]), dict(metadata={"x": float("nan")}), dict(metadata={"t": datetime.now()}),
    dict(system_prompt=42), dict(tools="nope"), dict(model=""),
])
def test_create_conversation_rejects_bad_input(store, bad):
    kwargs = dict(user_id="ada", system_prompt="s") | bad
    with pytest.raises(InvalidConversation):
        store.create_conversation(**kwargs)
    assert store.list_conversations("ada") == []


def test_list_and_archive(store):
    ids = [store.create_conversation("ada", "s", title=f"c{i}") for i in range(4)]
    store.create_conversation("bob", "s")
    store.append_message(ids[1], "user", "bump", user_id="ada")  # now the most recently updated
    listed = store.list_conversations("ada")
    assert listed[0].id == ids[1]
    assert {c.id for c in listed} == set(ids)
    assert [c.message_count for c in listed if c.id == ids[1]] == [1]
    assert all(c.user_id == "ada" for c in listed)
    store.archive_conversation(ids[2], user_id="ada")
    assert ids[2] not in [c.id for c in store.list_conversations("ada")]
    assert ids[2] in [c.id for c in store.list_conversations("ada", include_archived=True)]
    assert store.get_conversation(ids[2], user_id="ada").is_archived
    store.archive_conversation(ids[2], user_id="ada", archived=False)
    assert ids[2] in [c.id for c in store.list_conversations("ada")]
    page = store.list_conversations("ada", limit=2) + store.list_conversations("ada", limit=2, offset=2)
    assert [c.id for c in page] == [c.id for c in store.list_conversations("ada")]
    assert store.list_conversations("nobody") == [] and store.list_conversations("a\x00") == []


def test_last_updated_follows_appends(store, conv):
    before = store.get_conversation(conv, user_id="ada").last_updated
    later = datetime.now(UTC) + timedelta(seconds=5)
    store.append_message(conv, "user", "hi", user_id="ada", created_at=later)
    assert store.get_conversation(conv, user_id="ada").last_updated == later > before
    store.append_message(conv, "user", "from the past", user_id="ada", created_at=later - timedelta(days=3))
    assert store.get_conversation(conv, user_id="ada").last_updated == later  # never moves back


# -- messages ----------------------------------------------------------------------------------

def test_every_block_type_round_trips_exactly(store, conv):
    store.append_message(conv, "user", "What's the weather?", user_id="ada")
    store.append_message(conv, "assistant", ALL_BLOCKS, user_id="ada", input_tokens=120, output_tokens=45,
                         model_used=MODEL, metadata={"stop_reason": "tool_use"})
    store.append_message(conv, "user", TOOL_RESULT, user_id="ada")
    got = store.get_recent_messages(conv, user_id="ada")
    assert [m["role"] for m in got] == ["user", "assistant", "user"]
    assert got[0]["content"] == "What's the weather?"  # a text message comes back as the same str
    assert as_json(got[1]["content"]) == as_json(ALL_BLOCKS)  # keys in the same order
    assert as_json(got[2]["content"]) == as_json(TOOL_RESULT)
    m = got[1]
    assert set(m) == {"id", "seq", "role", "content", "input_tokens", "output_tokens", "model_used", "metadata",
                      "created_at", "rejected"}
    assert (m["seq"], m["input_tokens"], m["output_tokens"], m["model_used"], m["metadata"]) == (
        1, 120, 45, MODEL, {"stop_reason": "tool_use"})
    assert all(is_utc(x["created_at"]) for x in got)
    assert store.get_messages(conv, user_id="ada") == got


def test_append_returns_the_stored_row(store, conv):
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    row = store.append_message(conv, "user", [{"type": "text", "text": "hi"}], user_id="ada", message_id="m-1",
                               created_at=at, metadata={"k": "v"})
    assert row == store.get_recent_messages(conv, user_id="ada")[0]
    assert (row["id"], row["seq"], row["created_at"]) == ("m-1", 0, at)


@pytest.mark.parametrize("content", [
    "a\u0000b\u0000",  # NUL characters
    "emoji 🦜🔥👩‍👩‍👧 and ZWJ",
    "'; DROP TABLE messages; -- \" ? %s $1",
    "x" * (1 << 20),  # 1 MB
    [{"type": "text", "text": "y" * (1 << 20) + "\u0000🦜"}],
    "",
])
def test_hostile_contents_round_trip(store, conv, content):
    store.append_message(conv, "user", content, user_id="ada")
    [got] = store.get_recent_messages(conv, 1, user_id="ada")
    assert got["content"] == content
    assert store.load_conversation(conv, user_id="ada").messages[0].content == content


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_ids(store, hostile):
    cid = store.create_conversation(hostile, hostile, hostile, title=hostile, conversation_id=hostile)
    store.append_message(cid, "user", hostile, user_id=hostile, message_id=hostile, model_used=hostile)
    assert store.get_recent_messages(cid, user_id=hostile)[0]["id"] == hostile
    assert store.get_conversation(cid, user_id=hostile).title == hostile
    store.save_strategy_state(cid, hostile, {hostile: hostile}, user_id=hostile)
    assert store.load_strategy_state(cid, user_id=hostile, strategy=hostile) == {hostile: hostile}
    assert store.record_usage(UsageEvent(hostile, hostile, hostile, conversation_id=cid, cost_usd=0.5))
    store.reserve(Reservation(hostile + "r", hostile, 0.25, conversation_id=cid))
    assert [r.request_id for r in store.open_reservations(hostile)] == [hostile + "r"]
    assert store.spent_usd(hostile, start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC)) == 0.5
    with pytest.raises(NotFound):
        store.get_conversation(cid, user_id=hostile + "'")
    # nothing else was touched: the tables are all still there
    other = store.create_conversation("ada", "s")
    assert store.append_message(other, "user", "still fine", user_id="ada")["seq"] == 0


def test_nul_in_ids_is_refused_on_write_and_not_found_on_read(store, conv):
    with pytest.raises(InvalidConversation, match="NUL"):
        store.append_message(conv, "user", "x", user_id="ada", message_id="m\x00")
    with pytest.raises(InvalidConversation, match="NUL"):
        store.save_summary(conv, "sum\x00mary", 1, user_id="ada")
    with pytest.raises(InvalidConversation, match="NUL"):
        store.record_usage(UsageEvent("r\x00", "ada", MODEL))
    for cid, user in ((conv + "\x00", "ada"), (conv, "ada\x00")):
        with pytest.raises(NotFound):
            store.get_recent_messages(cid, user_id=user)
    assert store.usage_events("ada\x00") == [] and store.open_reservations("ada\x00") == []
    assert store.spent_usd("ada\x00", start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime.now(UTC)) == 0
    store.release("r\x00", user_id="ada")  # nothing to release, no error


# every example goes through the database: at most 300 of them, even with the CI profile
DB_EXAMPLES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                       deadline=None, max_examples=min(settings.default.max_examples, 300))


@DB_EXAMPLES
@given(text=st.text())
def test_any_text_round_trips(store, conv, text):  # one conversation for all examples
    row = store.append_message(conv, "user", text, user_id="ada")
    [got] = store.get_messages(conv, user_id="ada", after_seq=row["seq"] - 1)
    assert got["content"] == text == row["content"]


JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False,
                    allow_infinity=False) | st.text(), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
BLOCK = st.builds(lambda t, extra: {"type": t, **extra}, st.sampled_from(["text", "tool_use", "tool_result", "x"]),
                  st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"), JSON, max_size=4))


@DB_EXAMPLES
@given(blocks=st.lists(BLOCK, min_size=1, max_size=4))
def test_any_blocks_round_trip_in_order(store, conv, blocks):
    row = store.append_message(conv, "assistant", blocks, user_id="ada")
    [got] = store.get_messages(conv, user_id="ada", after_seq=row["seq"] - 1)
    assert got["content"] == blocks and as_json(got["content"]) == as_json(blocks)


def test_order_is_seq_not_created_at(store, conv):
    now = datetime.now(UTC)
    for i, minutes in enumerate([30, 10, 20, 0, 40]):  # timestamps out of order on purpose
        store.append_message(conv, "user" if i % 2 == 0 else "assistant", f"m{i}", user_id="ada",
                             created_at=now - timedelta(minutes=minutes))
    expected = [f"m{i}" for i in range(5)]
    assert [m["content"] for m in store.get_recent_messages(conv, user_id="ada")] == expected
    assert [m["content"] for m in store.get_messages(conv, user_id="ada")] == expected
    assert [m.content for m in store.load_conversation(conv, user_id="ada").messages] == expected
    assert [m["seq"] for m in store.get_messages(conv, user_id="ada")] == [0, 1, 2, 3, 4]


def test_recent_and_paged_reads(store, conv):
    for i in range(30):
        store.append_message(conv, "user", f"m{i}", user_id="ada")
    recent = store.get_recent_messages(conv, 5, user_id="ada")
    assert [m["content"] for m in recent] == [f"m{i}" for i in range(25, 30)]
    assert len(store.get_recent_messages(conv, user_id="ada")) == 20
    assert len(store.get_recent_messages(conv, 100, user_id="ada")) == 30
    assert store.get_recent_messages(conv, 0, user_id="ada") == []
    page = store.get_messages(conv, user_id="ada", after_seq=9, limit=3)
    assert [m["seq"] for m in page] == [10, 11, 12]
    assert store.get_messages(conv, user_id="ada", after_seq=29) == []
    with pytest.raises(InvalidConversation):
        store.get_recent_messages(conv, -1, user_id="ada")


def test_append_is_idempotent_by_message_id(store, conv):
    first = store.append_message(conv, "user", [{"type": "text", "text": "hi"}], user_id="ada", message_id="m1")
    again = store.append_message(conv, "user", [{"type": "text", "text": "hi"}], user_id="ada", message_id="m1",
                                 input_tokens=99)
    assert again == first
    with pytest.raises(InvalidConversation, match="different"):
        store.append_message(conv, "user", "something else", user_id="ada", message_id="m1")
    with pytest.raises(InvalidConversation, match="different"):
        store.append_message(conv, "assistant", [{"type": "text", "text": "hi"}], user_id="ada", message_id="m1")
    other = store.create_conversation("ada", "s")  # an id is unique within its conversation
    assert store.append_message(other, "user", "hi", user_id="ada", message_id="m1")["seq"] == 0
    assert len(store.get_messages(conv, user_id="ada")) == 1


@pytest.mark.parametrize("role", ["system", "tool", "", None, "USER"])
def test_invalid_roles(store, conv, role):
    with pytest.raises(InvalidConversation, match="role") as err:
        store.append_message(conv, role, "x", user_id="ada")
    assert isinstance(err.value, ValueError)
    assert store.get_messages(conv, user_id="ada") == []


def test_invalid_content_is_refused(store, conv):
    for bad in (42, [{"no": "type"}], b"bytes", [{"type": "text", "text": float("inf")}]):
        with pytest.raises(InvalidConversation):
            store.append_message(conv, "user", bad, user_id="ada")
    assert store.get_messages(conv, user_id="ada") == []


def test_load_conversation(store):
    system = [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    cid = store.create_conversation("ada", system, "claude-opus-4-6", metadata={"k": 1},
                                    tools=[{"name": "t", "input_schema": {"type": "object"}}])
    at = datetime(2026, 3, 1, tzinfo=UTC)
    store.append_message(cid, "user", "q", user_id="ada", message_id="u1", created_at=at, metadata={"a": 1})
    store.append_message(cid, "assistant", ALL_BLOCKS, user_id="ada", input_tokens=10, output_tokens=20)
    conv = store.load_conversation(cid, user_id="ada")
    assert isinstance(conv, Conversation)
    assert (conv.session_id, conv.model, conv.metadata) == (cid, "claude-opus-4-6", {"k": 1})
    assert conv.system_prompt == system and conv.tools == [{"name": "t", "input_schema": {"type": "object"}}]
    u, a = conv.messages
    assert isinstance(u, Message)
    assert (u.id, u.seq, u.created_at, u.metadata, u.content) == ("u1", 0, at, {"a": 1}, "q")
    assert (a.seq, a.input_tokens, a.output_tokens, a.content) == (1, 10, 20, ALL_BLOCKS)
    assert conv.to_api_messages() == [{"role": "user", "content": "q"}, {"role": "assistant", "content": ALL_BLOCKS}]
    assert is_utc(conv.created_at) and is_utc(conv.last_updated)


def test_appends_from_threads_keep_every_message(store, conv):
    def worker(t: int) -> None:
        for i in range(25):
            store.append_message(conv, "user", f"{t}:{i}", user_id="ada")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    msgs = store.get_messages(conv, user_id="ada")
    assert [m["seq"] for m in msgs] == list(range(200))
    for t in range(8):
        assert [m["content"] for m in msgs if m["content"].startswith(f"{t}:")] == [f"{t}:{i}" for i in range(25)]


# -- scoping -----------------------------------------------------------------------------------

SCOPED = {
    "get_conversation": lambda s, c, u: s.get_conversation(c, user_id=u),
    "archive_conversation": lambda s, c, u: s.archive_conversation(c, user_id=u),
    "append_message": lambda s, c, u: s.append_message(c, "user", "x", user_id=u),
    "append_message_with_id": lambda s, c, u: s.append_message(c, "user", "x", user_id=u, message_id="m"),
    "get_recent_messages": lambda s, c, u: s.get_recent_messages(c, user_id=u),
    "get_messages": lambda s, c, u: s.get_messages(c, user_id=u),
    "load_conversation": lambda s, c, u: s.load_conversation(c, user_id=u),
    "begin_turn": lambda s, c, u: s.begin_turn(c, [Message("user", "x")], user_id=u,
                                               reservation=Reservation("rq", u, 0.1)),
    "finish_turn": lambda s, c, u: s.finish_turn(c, [Message("assistant", "x")], user_id=u,
                                                 usage=[UsageEvent("rq", u, MODEL)], strategy="w",
                                                 strategy_state={}, release="held"),
    "save_summary": lambda s, c, u: s.save_summary(c, "sum", 1, user_id=u),
    "get_latest_summary": lambda s, c, u: s.get_latest_summary(c, user_id=u),
    "get_summaries": lambda s, c, u: s.get_summaries(c, user_id=u),
    "save_strategy_state": lambda s, c, u: s.save_strategy_state(c, "w", {}, user_id=u),
    "load_strategy_state": lambda s, c, u: s.load_strategy_state(c, user_id=u),
    "record_usage": lambda s, c, u: s.record_usage(UsageEvent("rq", u, MODEL, conversation_id=c)),
    "usage_events": lambda s, c, u: s.usage_events(u, conversation_id=c),
    "reserve": lambda s, c, u: s.reserve(Reservation("rq", u, 0.1, conversation_id=c)),
    "open_reservations": lambda s, c, u: s.open_reservations(u, conversation_id=c),
}


@pytest.mark.parametrize("op", SCOPED)
def test_another_users_conversation_is_not_found_like_a_missing_one(store, conv, op):
    store.append_message(conv, "user", "ada's secret", user_id="ada")
    store.reserve(Reservation("held", "ada", 0.2, conversation_id=conv))
    snapshot = (store.get_messages(conv, user_id="ada"), store.get_conversation(conv, user_id="ada"),
                store.open_reservations("ada"))
    errors = []
    for cid, user in ((conv, "bob"), ("missing-id", "ada"), ("missing-id", "bob"), (conv, "ADA")):
        with pytest.raises(NotFound) as err:
            SCOPED[op](store, cid, user)
        errors.append(err.value)
    assert str(errors[0]).replace(conv, "ID") == str(errors[1]).replace("missing-id", "ID")
    assert all(e.what == "conversation" for e in errors)
    assert (store.get_messages(conv, user_id="ada"), store.get_conversation(conv, user_id="ada"),
            store.open_reservations("ada")) == snapshot
    assert store.usage_events("bob") == [] and store.open_reservations("bob") == []


# -- the turn ----------------------------------------------------------------------------------

def test_a_whole_turn(store, conv):
    user = Message("user", "What's 2+2?", metadata={"client": "cli"})
    r = Reservation("req-1", "ada", 0.05, message_id=user.id, model=MODEL, metadata={"max_tokens": 1024})
    store.begin_turn(conv, [user], user_id="ada", reservation=r, daily_limit_usd=1.0)
    [held] = store.open_reservations("ada", conversation_id=conv)
    assert (held.request_id, held.amount_usd, held.conversation_id, held.message_id, held.model, held.metadata) == (
        "req-1", 0.05, conv, user.id, MODEL, {"max_tokens": 1024})
    assert is_utc(held.created_at)
    [stored] = store.get_messages(conv, user_id="ada")
    assert (stored["id"], stored["created_at"], stored["metadata"], stored["seq"]) == (
        user.id, user.created_at, {"client": "cli"}, 0)

    reply = Message("assistant", [{"type": "text", "text": "4"}], input_tokens=12, output_tokens=3,
                    metadata={"model": MODEL, "stop_reason": "end_turn"})
    ev = UsageEvent("req-1", "ada", MODEL, input_tokens=12, output_tokens=3, cache_creation_input_tokens=100,
                    cache_read_input_tokens=50, cache_creation_5m_tokens=60, cache_creation_1h_tokens=40,
                    cost_usd=0.000321, price_date=date(2026, 2, 17), response_id="msg_01")
    store.finish_turn(conv, [reply], user_id="ada", usage=[ev], strategy="window", strategy_state={"n": 2},
                      release="req-1")
    assert store.open_reservations("ada") == []
    [got] = store.usage_events("ada")
    assert got == UsageEvent(**{**ev.__dict__, "conversation_id": conv, "created_at": got.created_at})
    assert is_utc(got.created_at)
    msgs = store.get_messages(conv, user_id="ada")
    assert [(m["id"], m["seq"], m["input_tokens"], m["output_tokens"], m["model_used"]) for m in msgs] == [
        (user.id, 0, 0, 0, None), (reply.id, 1, 12, 3, MODEL)]  # model_used from metadata["model"]
    assert msgs[1]["metadata"] == {"model": MODEL, "stop_reason": "end_turn"}
    assert store.load_strategy_state(conv, user_id="ada", strategy="window") == {"n": 2}

    # retrying both halves of the turn (a crash, then a resumed session) writes nothing twice
    store.begin_turn(conv, [user], user_id="ada", reservation=r, daily_limit_usd=1.0)
    store.finish_turn(conv, [reply], user_id="ada", usage=[ev], release="req-1")
    assert len(store.get_messages(conv, user_id="ada")) == 2
    assert len(store.usage_events("ada")) == 1


def test_begin_turn_over_budget_writes_nothing(store, conv):
    day = datetime(2026, 5, 1, tzinfo=UTC)
    store.record_usage(UsageEvent("old", "ada", MODEL, cost_usd=0.9, created_at=day + timedelta(hours=3)))
    with pytest.raises(BudgetExceeded) as err:
        store.begin_turn(conv, [Message("user", "hi")], user_id="ada", reservation=Reservation("r", "ada", 0.2),
                         daily_limit_usd=1.0, day_start=day)
    assert (err.value.user_id, err.value.spent_usd, err.value.reserved_usd, err.value.limit_usd) == (
        "ada", 0.9, 0.2, 1.0)
    assert store.get_messages(conv, user_id="ada") == [] and store.open_reservations("ada") == []
    # the next day has room again
    store.begin_turn(conv, [Message("user", "hi")], user_id="ada", reservation=Reservation("r", "ada", 0.2),
                     daily_limit_usd=1.0, day_start=day + timedelta(days=1))
    assert len(store.get_messages(conv, user_id="ada")) == 1


def test_begin_turn_is_all_or_nothing(store, conv):
    store.append_message(conv, "user", "first", user_id="ada", message_id="taken")
    with pytest.raises(InvalidConversation):
        store.begin_turn(conv, [Message("user", "ok"), Message("user", "clash", id="taken")], user_id="ada",
                         reservation=Reservation("r", "ada", 0.1))
    assert [m["content"] for m in store.get_messages(conv, user_id="ada")] == ["first"]
    assert store.open_reservations("ada") == []
    with pytest.raises(InvalidConversation, match="user"):
        store.begin_turn(conv, [], user_id="ada", reservation=Reservation("r", "bob", 0.1))


def test_finish_turn_is_all_or_nothing(store, conv, monkeypatch):
    store.begin_turn(conv, [Message("user", "q")], user_id="ada", reservation=Reservation("r", "ada", 0.1))
    reply, ev = Message("assistant", "a"), UsageEvent("r", "ada", MODEL, cost_usd=0.01)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_save_state", boom)  # fails after the reply and the usage were written
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.finish_turn(conv, [reply], user_id="ada", usage=[ev], strategy="w", strategy_state={"x": 1},
                          release="r")
    monkeypatch.undo()
    assert [m["content"] for m in store.get_messages(conv, user_id="ada")] == ["q"]
    assert store.usage_events("ada") == [] and len(store.open_reservations("ada")) == 1
    assert store.load_strategy_state(conv, user_id="ada") is None
    # a conflicting second message also rolls back the first
    with pytest.raises(InvalidConversation):
        store.finish_turn(conv, [reply, Message("user", "clash", id=store.get_messages(conv, user_id="ada")[0]["id"])],
                          user_id="ada", usage=[ev], release="r")
    assert len(store.get_messages(conv, user_id="ada")) == 1 and store.usage_events("ada") == []
    # and the appends after a failure continue at the right seq
    store.finish_turn(conv, [reply], user_id="ada", usage=[ev], strategy="w", strategy_state={"x": 1}, release="r")
    assert [m["seq"] for m in store.get_messages(conv, user_id="ada")] == [0, 1]
    assert store.append_message(conv, "user", "next", user_id="ada")["seq"] == 2


def test_finish_turn_checks_its_arguments(store, conv):
    with pytest.raises(InvalidConversation, match="bob"):
        store.finish_turn(conv, [], user_id="ada", usage=[UsageEvent("r", "bob", MODEL)])
    with pytest.raises(InvalidConversation, match="strategy"):
        store.finish_turn(conv, [], user_id="ada", strategy_state={"x": 1})
    store.finish_turn(conv, [], user_id="ada", strategy="stateless")  # no state, nothing saved
    assert store.load_strategy_state(conv, user_id="ada") is None


# -- summaries and strategy state ----------------------------------------------------------------

def test_summaries(store, conv):
    assert store.get_latest_summary(conv, user_id="ada") is None and store.get_summaries(conv, user_id="ada") == []
    assert store.save_summary(conv, "Ada likes tea.", 4, user_id="ada") == 1
    assert store.save_summary(conv, "Ada likes tea and 🦜.", 8, user_id="ada", covers=["m1", "m2"],
                              model="claude-haiku-4-5") == 2
    assert store.get_latest_summary(conv, user_id="ada") == "Ada likes tea and 🦜."
    s1, s2 = store.get_summaries(conv, user_id="ada")
    assert (s1["version"], s1["summary"], s1["message_count"], s1["covers"], s1["model"]) == (
        1, "Ada likes tea.", 4, None, None)
    assert (s2["version"], s2["message_count"], s2["covers"], s2["model"]) == (2, 8, ["m1", "m2"], "claude-haiku-4-5")
    assert is_utc(s2["created_at"])
    other = store.create_conversation("ada", "s")
    assert store.save_summary(other, "x", 1, user_id="ada") == 1  # versions count per conversation


def test_strategy_state(store, conv):
    assert store.load_strategy_state(conv, user_id="ada") is None
    store.save_strategy_state(conv, "summary", {"summary": "s\u0000", "covers": ["a"]}, user_id="ada")
    store.save_strategy_state(conv, "memory", {"facts": {"name": "Ada 🦜"}}, user_id="ada")
    assert store.load_strategy_state(conv, user_id="ada") == {"facts": {"name": "Ada 🦜"}}  # the latest
    assert store.load_strategy_state(conv, user_id="ada", strategy="summary") == {"summary": "s\u0000",
                                                                                   "covers": ["a"]}
    store.save_strategy_state(conv, "summary", {"summary": "v2"}, user_id="ada")
    assert store.load_strategy_state(conv, user_id="ada") == {"summary": "v2"}
    assert store.load_strategy_state(conv, user_id="ada", strategy="nope") is None
    for _ in range(20):  # saved in the same microsecond or not, the latest wins
        store.save_strategy_state(conv, "a", {"n": 1}, user_id="ada")
        store.save_strategy_state(conv, "b", {"n": 2}, user_id="ada")
    assert store.load_strategy_state(conv, user_id="ada") == {"n": 2}


# -- ledger and reservations ---------------------------------------------------------------------

def test_usage_ledger(store, conv):
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    ev = UsageEvent("req-a", "ada", MODEL, input_tokens=10, cost_usd=0.25, created_at=t0, kind="summary",
                    conversation_id=conv)
    assert store.record_usage(ev) is True
    assert store.record_usage(UsageEvent("req-a", "ada", MODEL, cost_usd=99.0)) is False  # billed once
    store.record_usage(UsageEvent("req-b", "ada", MODEL, cost_usd=0.5, created_at=t0 + timedelta(hours=23)))
    store.record_usage(UsageEvent("req-c", "ada", MODEL, cost_usd=1.0, created_at=t0 + timedelta(days=1)))
    store.record_usage(UsageEvent("req-d", "bob", MODEL, cost_usd=7.0, created_at=t0))
    assert store.spent_usd("ada", start=t0, end=t0 + timedelta(days=1)) == 0.75  # [start, end)
    assert store.spent_usd("ada", start=t0, end=t0 + timedelta(days=2)) == 1.75
    assert [e.request_id for e in store.usage_events("ada")] == ["req-a", "req-b", "req-c"]
    assert [e.request_id for e in store.usage_events("ada", start=t0 + timedelta(hours=1))] == ["req-b", "req-c"]
    assert [e.request_id for e in store.usage_events("ada", end=t0 + timedelta(days=1))] == ["req-a", "req-b"]
    assert [e.request_id for e in store.usage_events("ada", conversation_id=conv)] == ["req-a"]
    assert store.usage_events("ada")[0] == ev
    fresh = UsageEvent("req-e", "ada", MODEL)
    store.record_usage(fresh)
    assert is_utc(store.usage_events("ada")[-1].created_at)
    assert fresh.created_at is None  # the caller's event is not modified
    with pytest.raises(InvalidConversation):
        store.record_usage(UsageEvent("req-f", "ada", MODEL, cost_usd=-1))
    with pytest.raises(InvalidConversation):
        store.record_usage(UsageEvent("req-f", "ada", MODEL, input_tokens=-5))


def test_reservations(store, conv):
    day = datetime(2026, 7, 1, tzinfo=UTC)
    store.record_usage(UsageEvent("spent", "ada", MODEL, cost_usd=0.5, created_at=day + timedelta(hours=1)))
    store.reserve(Reservation("r1", "ada", 0.25, created_at=day + timedelta(hours=2)), daily_limit_usd=1.0,
                  day_start=day)
    store.reserve(Reservation("r2", "ada", 0.25, conversation_id=conv, created_at=day + timedelta(hours=3)),
                  daily_limit_usd=1.0, day_start=day)
    with pytest.raises(BudgetExceeded) as err:  # 0.5 spent + 0.5 held + 0.01 > 1.0
        store.reserve(Reservation("r3", "ada", 0.01, created_at=day + timedelta(hours=4)), daily_limit_usd=1.0,
                      day_start=day)
    assert (err.value.spent_usd, err.value.reserved_usd, err.value.limit_usd) == (1.0, 0.01, 1.0)
    assert [r.request_id for r in store.open_reservations("ada")] == ["r1", "r2"]  # oldest first
    assert [r.request_id for r in store.open_reservations("ada", conversation_id=conv)] == ["r2"]
    store.reserve(Reservation("r1", "ada", 0.25), daily_limit_usd=1.0, day_start=day)  # a retry: held once
    assert len(store.open_reservations("ada")) == 2
    store.reserve(Reservation("r3", "ada", 5.0))  # no limit, no check
    store.release("r3", user_id="bob")  # not bob's: stays
    assert len(store.open_reservations("ada")) == 3
    store.release("r3", user_id="ada")
    store.release("never-made", user_id="ada")
    assert [r.request_id for r in store.open_reservations("ada")] == ["r1", "r2"]
    with pytest.raises(InvalidConversation):
        store.reserve(Reservation("r1", "bob", 0.1))  # another user's request id
    store.reserve(Reservation("r4", "ada", 0.25, created_at=day - timedelta(hours=1)), daily_limit_usd=1.0,
                  day_start=day - timedelta(days=1))  # yesterday had room
    store.reserve(Reservation("r5", "ada", 0.1), daily_limit_usd=1.0)  # today (UTC): nothing spent
    assert store.open_reservations("bob") == []


def test_an_interrupted_request_is_booked_unconfirmed_and_a_confirmation_replaces_it(store, conv):
    day = datetime(2026, 7, 1, tzinfo=UTC)
    store.reserve(Reservation("r1", "ada", 0.25, conversation_id=conv, model=MODEL, created_at=day,
                              metadata={"kind": "summary"}), daily_limit_usd=1.0, day_start=day)
    assert store.book_reservation("r1", user_id="bob") is None  # not bob's
    booked = store.book_reservation("r1", user_id="ada")
    assert (booked.confirmed, booked.cost_usd, booked.kind, booked.model, booked.created_at) == (
        False, 0.25, "summary", MODEL, day)
    assert store.book_reservation("r1", user_id="ada") is None  # booked once
    assert store.open_reservations("ada") == []
    assert store.usage_events("ada") == [booked]
    assert store.spent_usd("ada", start=day, end=day + timedelta(days=1)) == 0.25  # counts as spent that day
    with pytest.raises(BudgetExceeded):
        store.reserve(Reservation("r2", "ada", 0.8, created_at=day), daily_limit_usd=1.0, day_start=day)
    # the request's real usage arrives after all: it replaces the booking, and only an unconfirmed one
    assert store.record_usage(UsageEvent("r1", "ada", MODEL, input_tokens=100, cost_usd=0.01, created_at=day,
                                         conversation_id=conv, kind="summary")) is True
    assert [(e.cost_usd, e.confirmed) for e in store.usage_events("ada")] == [(0.01, True)]
    assert store.record_usage(UsageEvent("r1", "ada", MODEL, cost_usd=0.5, confirmed=False)) is False
    assert store.record_usage(UsageEvent("r1", "bob", MODEL, cost_usd=0.5)) is False
    assert [(e.user_id, e.cost_usd) for e in store.usage_events("ada")] == [("ada", 0.01)]


def test_rejected_messages_are_kept_and_marked(store, conv):
    ok, bad = Message("user", "fine"), Message("user", [{"type": "text", "text": "too big"}])
    store.begin_turn(conv, [ok, bad], user_id="ada", reservation=Reservation("r1", "ada", 0.1))
    store.get_recent_messages(conv, user_id="ada")  # cached by some stores: the mark must show anyway
    with pytest.raises(NotFound):
        store.reject_messages(conv, [bad.id], "no", user_id="bob")
    store.reject_messages(conv, [bad.id], "messages.0.content.0: image too large", user_id="ada", release="r1")
    rows = store.get_recent_messages(conv, user_id="ada")
    assert [(r["id"], r["rejected"]) for r in rows] == [(ok.id, None), (bad.id, "messages.0.content.0: image too large")]
    assert [m.rejected for m in store.load_conversation(conv, user_id="ada").messages] == [
        None, "messages.0.content.0: image too large"]
    assert store.open_reservations("ada") == []
    with pytest.raises(InvalidConversation):
        store.reject_messages(conv, [ok.id], "nul \x00", user_id="ada")


def test_budget_is_never_exceeded_by_racing_requests(make_store, backend):
    stores = [make_store() for _ in range(2)]  # two stores on one database, like two workers
    cid = stores[0].create_conversation("ada", "s")
    day = datetime(2026, 8, 1, tzinfo=UTC)
    for round_, (amount, fits) in enumerate([(0.25, 4), (0.3, 3), (1.5, 0)]):
        ok: list[str] = []
        barrier = threading.Barrier(8)

        def race(i: int, amount=amount, round_=round_, ok=ok, barrier=barrier) -> None:
            r = Reservation(f"{round_}-{i}", "ada", amount, conversation_id=cid,
                            created_at=day + timedelta(days=round_, hours=1))
            barrier.wait()
            try:
                stores[i % 2].begin_turn(cid, [Message("user", f"{round_}-{i}")], user_id="ada", reservation=r,
                                         daily_limit_usd=1.0, day_start=day + timedelta(days=round_))
                ok.append(r.request_id)
            except BudgetExceeded:
                pass

        threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ok) == fits
        held = [r for r in stores[0].open_reservations("ada") if r.request_id.startswith(f"{round_}-")]
        assert sorted(r.request_id for r in held) == sorted(ok)
        assert sum(r.amount_usd for r in held) <= 1.0
    msgs = stores[1].get_messages(cid, user_id="ada")
    assert [m["seq"] for m in msgs] == list(range(7))  # only the admitted turns wrote their message


def test_context_manager_and_reopen(make_store):
    with make_store() as s:
        cid = s.create_conversation("ada", "s")
        s.append_message(cid, "user", "kept", user_id="ada")
    with make_store() as s:
        assert s.get_recent_messages(cid, user_id="ada")[0]["content"] == "kept"
        assert s.get_conversation(cid, user_id="ada").message_count == 1
        assert s.append_message(cid, "assistant", "next", user_id="ada")["seq"] == 1
