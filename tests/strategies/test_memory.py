"""StructuredMemory: one typed item per stated fact, extracted by a forced tool call, sent every
turn, a later statement replacing a conflicting one, memory and budget kept, blocks cached."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anthropic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab import Conversation, catalog
from convolab.errors import ContextOverflow
from convolab.model import Message, Role
from convolab.sim import ManualClock, Simulator
from convolab.strategies import SlidingWindow
from convolab.strategies.memory import (
    DEFAULT_SCHEMA,
    PAGE,
    PROFILE_SCHEMA,
    TOOL_NAME,
    StructuredMemory,
)

MODEL = "claude-sonnet-4-6"
PLANTED = "Hi, my name is Priya. I live in Porto."
WHERE = "Where do I live?"
SMALL_TALK = [f"Small talk {i}: the weather was mild and the tea was good." for i in range(40)]


def new_conv() -> Conversation:
    return Conversation(system_prompt="You are a friendly assistant.", model=MODEL)


def turn(conv: Conversation, strategy, client, text: str):
    conv.add("user", text)
    p = strategy.build(conv, client=client)
    r = p.create(client)
    conv.add("assistant", r.content)
    strategy.observe(conv.turns()[-1], client=client, conversation=conv)
    return p, r


def billed(sim: Simulator, payload) -> int:
    return sim.count({k: v for k, v in payload.request.items() if k != "max_tokens"})


def memory_block(payload) -> str | None:
    blocks = payload.request.get("system") or []
    texts = [b["text"] for b in blocks if b["text"].startswith("[Conversation memory")]
    return texts[0] if texts else None


def test_planted_fact_survives_40_turns_where_a_sliding_window_forgets_it():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200, keep_recent_turns=5)
    turn(conv, s, client, PLANTED)
    for text in SMALL_TALK:
        p, _ = turn(conv, s, client, text)
        assert "Porto" in memory_block(p)
    conv.add("user", WHERE)
    p = s.build(conv, client=client)
    window = SlidingWindow(max_turns=5).build(conv)
    answer = p.create(client).content[0].text
    forgotten = window.create(client).content[0].text
    assert "The user lives in Porto." in memory_block(p)
    assert answer == "You live in Porto."
    assert "Porto" not in window.to_json() and "Porto" not in forgotten
    assert p.breakdown["memory"] > 0
    assert conv.messages[0].id in p.left_out  # the fact came from memory, not from old history


def test_memory_is_sent_every_turn_not_only_when_history_is_empty():
    """A memory sent only when there is no recent history would be missing from turn two on."""
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=2000, keep_recent_turns=5)
    p, _ = turn(conv, s, client, PLANTED)
    assert memory_block(p) is None  # nothing extracted yet: no empty block
    for text in SMALL_TALK[:8]:
        p, _ = turn(conv, s, client, text)
        system = p.request["system"]
        assert len(p.messages) > 1  # recent history is sent ...
        assert "Porto" in memory_block(p)  # ... and the memory with it
        assert system[-1]["text"] == memory_block(p) and "cache_control" not in system[-1]
        assert system[0]["cache_control"]  # the breakpoint stays on the stable base prompt
        assert p.cache.breakpoints[0] == "system"


def test_budget_is_never_exceeded_and_counts_match_the_simulator():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = new_conv()
    budget = 400
    s = StructuredMemory(budget_tokens=budget, keep_recent_turns=None)
    for text in [PLANTED, *SMALL_TALK[:25]]:
        p, r = turn(conv, s, client, text)
        assert billed(sim, p) == p.input_tokens <= budget
        assert r.usage.input_tokens + r.usage.cache_read_input_tokens + r.usage.cache_creation_input_tokens \
            == p.input_tokens
    assert len(p.messages) < len(conv.messages) - 1  # the budget, not keep_recent_turns, cut it


def test_each_stated_fact_is_one_typed_item():
    sim = Simulator(clock=ManualClock(datetime(2023, 5, 8, 13, 56, tzinfo=UTC)))
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200)
    conv.add("user", "I went to a support group yesterday. Thanks! How are you?", created_at=sim.clock.now())
    reply = s.build(conv, client=client).create(client)
    assert reply.content[0].text == "Noted: you went to a support group yesterday."
    conv.add("assistant", reply.content, created_at=sim.clock.now())
    s.observe(conv.turns()[-1], client=client, conversation=conv)
    (fact,) = s.facts()["facts"]  # the acknowledgement restates it: no second fact
    assert fact == {"who": "the user", "what": "The user went to a support group yesterday (7 May 2023).",
                    "when": "7 May 2023", "words": "I went to a support group yesterday.", "date": "8 May 2023",
                    "topic": "", "importance": 3}
    assert s.memory["facts"][0]["message_id"] == conv.messages[0].id


def test_a_later_fact_replaces_the_earlier_one_with_the_newer_message_id():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200, keep_recent_turns=3)
    turn(conv, s, client, PLANTED)
    porto_id = conv.messages[0].id
    home = [f for f in s.memory["facts"] if f["value"]["topic"] == "home"]
    assert [(f["value"]["what"], f["message_id"]) for f in home] == [("The user lives in Porto.", porto_id)]
    for text in SMALL_TALK[:3]:
        turn(conv, s, client, text)
    turn(conv, s, client, "I moved to Lisbon last week.")
    lisbon_id = conv.messages[-2].id
    home = [f for f in s.memory["facts"] if f["value"]["topic"] == "home"]
    assert [f["message_id"] for f in home] == [lisbon_id] and "Lisbon" in home[0]["value"]["what"]
    name = next(f for f in s.memory["facts"] if f["value"]["topic"] == "name")
    assert name["message_id"] == porto_id  # untouched facts keep their source
    for text in SMALL_TALK[3:8]:
        turn(conv, s, client, text)
    p, r = turn(conv, s, client, WHERE)
    assert "Lisbon" in memory_block(p) and "Porto" not in memory_block(p)
    assert "Lisbon" in r.content[0].text and "Porto" not in r.content[0].text


def test_state_round_trip_rebuilds_the_same_request():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200, keep_recent_turns=4)
    for text in [PLANTED, "We decided to use Postgres for the archive.", *SMALL_TALK[:6]]:
        turn(conv, s, client, text)
    conv.add("user", WHERE)
    state = json.loads(json.dumps(s.state()))  # JSON-able
    t = StructuredMemory(budget_tokens=1200, keep_recent_turns=4)
    t.load_state(state)
    assert t.memory == s.memory and t.memory_version == s.memory_version > 0
    assert t.build(conv).request == s.build(conv).request
    assert t.state() == state
    with pytest.raises(ValueError, match="belongs to strategy"):
        t.load_state({"strategy": "summarizing"})


def test_extraction_forces_the_tool_on_haiku_and_records_side_usage():
    sim = Simulator(clock=ManualClock(), keep_requests=True)
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200)
    for text in [PLANTED, *SMALL_TALK[:3]]:
        turn(conv, s, client, text)
    extractions = [ex.request for ex in sim.history if ex.request and ex.request.get("tools")]
    assert len(extractions) == 4 and all(ex.status == 200 for ex in sim.history)
    for req in extractions:
        assert req["model"] == "claude-haiku-4-5"
        assert req["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
        assert req["tools"][0]["input_schema"] == DEFAULT_SCHEMA
    assert [m for m, _ in s.side_usage] == ["claude-haiku-4-5"] * 4
    assert all(u.input_tokens > 0 and u.output_tokens > 0 for _, u in s.side_usage)


def test_falls_back_to_auto_on_a_model_that_rejects_forced_tool_choice():
    model = "claude-sonnet-5-5"
    assert not catalog.get_model(model).supports("forced_tool_choice")
    sim = Simulator(clock=ManualClock(), keep_requests=True)
    client = sim.client(max_retries=0)
    s = StructuredMemory(budget_tokens=1200, extract_model=model)
    with pytest.raises(anthropic.BadRequestError):  # what forcing would have cost
        client.messages.create(model=model, max_tokens=100, tools=[s.tool()], tool_choice={"type": "tool", "name": TOOL_NAME},
                               messages=[{"role": "user", "content": PLANTED}])
    conv = new_conv()
    for text in [PLANTED, *SMALL_TALK[:2]]:
        turn(conv, s, client, text)  # no BadRequestError
    extractions = [ex for ex in sim.history if ex.request and ex.request.get("tools") and ex.status == 200]
    assert len(extractions) == 3
    assert all(ex.request["tool_choice"] == {"type": "auto"} for ex in extractions)
    assert {f["topic"]: f["what"] for f in s.facts()["facts"] if f["topic"]} == {
        "name": "The user's name is Priya.", "home": "The user lives in Porto."}
    assert not s.notes


def test_a_reply_without_the_tool_call_changes_nothing_and_is_noted():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200, extract_model="claude-sonnet-5-5")
    turn(conv, s, client, PLANTED)
    before, version = s.state()["memory"], s.memory_version
    # with tool_choice auto the simulated model answers a summary request instead of calling the tool
    turn(conv, s, client, "Can you give me a summary of our plan so far?")
    assert s.state()["memory"] == before and s.memory_version == version
    assert len(s.notes) == 1 and "without calling record_memory" in s.notes[0]
    assert len(s.side_usage) == 2  # the call still cost tokens


def test_a_custom_schema_replaces_the_default():
    schema = {"type": "object", "properties": {
        "decisions": {"type": "array", "items": {"type": "string"}},
        "profile": {"type": "object", "additionalProperties": {"type": "string"}},
    }}
    sim = Simulator(clock=ManualClock(), keep_requests=True)
    client = sim.client()
    conv = new_conv()
    s = StructuredMemory(budget_tokens=1200, schema=schema)
    turn(conv, s, client, "I live in Porto. We decided to use Postgres for the archive.")
    p, _ = turn(conv, s, client, "Which database did we choose?")
    assert list(s.memory) == ["decisions", "profile"]
    facts = s.facts()
    assert facts["profile"] == {"location": "Porto"}
    assert facts["decisions"][0] == "We decided to use Postgres for the archive."
    block = memory_block(p)
    assert block.index("decisions:") < block.index("profile.location")  # schema order
    assert next(ex.request["tools"][0]["input_schema"] for ex in sim.history if ex.request.get("tools")) == schema


def test_memory_makes_room_for_the_newest_turn_and_overflow_is_only_the_turn_itself():
    s = StructuredMemory(budget_tokens=120, schema=PROFILE_SCHEMA, memory_tokens=10_000)
    conv = new_conv()
    conv.add("user", "Hello there.")
    assert s.build(conv).input_tokens <= 120
    msg = Message(Role.USER, "x")
    s.merge({"task_context": {f"item_{i}": f"a fairly long value number {i} for the task" for i in range(20)}}, [msg])
    p = s.build(conv)  # the memory is cut to fit beside the newest turn, instead of failing
    assert p.input_tokens <= 120 and 0 < len(s.memory["task_context"]) < 20
    assert "Hello there." in json.dumps(p.messages[-1])
    conv.add("assistant", "Hi.")
    conv.add("user", "A very long message. " * 40)
    with pytest.raises(ContextOverflow, match="memory"):
        s.build(conv)


def test_max_items_drops_the_oldest_and_rendering_is_deterministic():
    s = StructuredMemory(max_items=3, schema=PROFILE_SCHEMA)
    m1, m2 = Message(Role.USER, "first"), Message(Role.USER, "second")
    s.merge({"decisions": ["a", "b", "c"], "preferences": {"z": "1", "y": "2"}}, [m1])
    s.merge({"decisions": ["d", "A "], "preferences": {"x": "3", "w": "4"}}, [m2])
    assert [i["value"] for i in s.memory["decisions"]] == ["c", "d", "A "]  # "a" restated: moved last
    # keys of one update are applied in sorted order (deterministic), so "y" was the oldest
    assert list(s.memory["preferences"]) == ["z", "w", "x"]
    assert all(i["message_id"] == m2.id for i in s.memory["decisions"][1:])
    t = StructuredMemory(max_items=3, schema=PROFILE_SCHEMA)
    t.load_state(json.loads(json.dumps(s.state())))
    assert t.render() == s.render()
    assert s.render().splitlines()[1:4] == ["preferences.w: 4", "preferences.x: 3", "preferences.z: 1"]


def test_wrongly_typed_or_unknown_sections_are_ignored_and_noted():
    s = StructuredMemory(schema=PROFILE_SCHEMA)
    s.merge({"user_profile": "Priya", "decisions": {"x": "y"}, "mood": ["fine"]}, [Message(Role.USER, "hi")])
    assert s.memory_version == 0 and s.render() == ""
    assert len(s.notes) == 3


_values = st.sampled_from(["Porto", "Lisbon", "porto", "tea", "Tea ", "coffee", "Postgres"])
_updates = st.lists(st.fixed_dictionaries({}, optional={
    "user_profile": st.dictionaries(st.sampled_from(["location", "name", "job"]), _values, max_size=3),
    "decisions": st.lists(_values, max_size=4),
}), min_size=1, max_size=6)


@given(_updates)
def test_merge_keeps_the_newest_fact_per_key_and_no_duplicates(updates):
    # pure in-memory merging of a few small dicts: cheap enough for the CI profile's 2,000 examples
    s = StructuredMemory(max_items=3, schema=PROFILE_SCHEMA)
    msgs = [Message(Role.USER, f"update {k}") for k in range(len(updates))]
    for u, m in zip(updates, msgs, strict=True):
        s.merge(u, [m])
    profile, decisions = s.memory["user_profile"], s.memory["decisions"]
    assert len(profile) <= 3 and len(decisions) <= 3
    for key, item in profile.items():
        k = max(i for i, u in enumerate(updates) if key in u.get("user_profile", {}))
        assert item == {"value": updates[k]["user_profile"][key], "message_id": msgs[k].id}
    norms = [" ".join(i["value"].split()).casefold() for i in decisions]
    assert len(norms) == len(set(norms))
    stated = [v for u in updates for v in u.get("decisions", [])]
    if stated:
        assert decisions[-1]["value"] == stated[-1]  # newest last
    assert json.loads(json.dumps(s.state())) == s.state()


def test_rejects_nonsense_settings():
    with pytest.raises(ValueError, match="keep_recent_turns"):
        StructuredMemory(keep_recent_turns=0)
    with pytest.raises(ValueError, match="max_items"):
        StructuredMemory(max_items=0)
    with pytest.raises(ValueError, match="schema"):
        StructuredMemory(schema={"type": "object"})
    with pytest.raises(ValueError, match="memory_tokens"):
        StructuredMemory(memory_tokens=0)


def _fact(k: int, importance: int) -> dict:
    return {"who": "the user", "what": f"The user noted fact number {k} about the long project plan.",
            "words": f"Fact number {k} about the long project plan.", "topic": "", "importance": importance}


def test_past_memory_tokens_the_least_important_facts_go_first_in_one_step():
    s = StructuredMemory(memory_tokens=300)
    msg = Message(Role.USER, "x")
    s.merge({"facts": [_fact(k, 5 if k % 3 == 0 else 1) for k in range(30)]}, [msg])
    kept = [f["value"]["what"] for f in s.memory["facts"]]
    size = s.counter.count_system(s.blocks(), model=MODEL) - s.counter.count_system(None, model=MODEL)
    assert size <= 300 * 0.85 + 20  # evicted below the cap, with room to grow before the next step
    assert all(f"number {k} " in " ".join(kept) for k in range(0, 30, 3))  # every important fact stays
    assert len(kept) < 30


def test_memory_blocks_are_pages_so_earlier_ones_stay_cached():
    s = StructuredMemory(memory_tokens=100_000)
    msg = Message(Role.USER, "x")
    s.merge({"facts": [_fact(k, 3) for k in range(PAGE + 3)]}, [msg])
    first = s.blocks()
    assert len(first) == 2 and first[0]["text"].startswith("[Conversation memory")
    s.merge({"facts": [_fact(100, 3)]}, [msg])
    assert s.blocks()[0] == first[0]  # the full page did not change: the cache keeps reading it
    conv = new_conv()
    conv.add("user", "Hello there.")
    p = s.build(conv)
    assert p.cache.breakpoints[0] == "system block 2"  # after the base prompt and the full page
