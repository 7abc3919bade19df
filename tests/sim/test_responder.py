"""The simulated model's responder: what kind of reply a request gets (answer, acknowledgement,
summary, tool call), determinism, tool inputs that validate, and answers on LoCoMo excerpts.
The reader's parts have their own tests (test_answers, test_acknowledge, test_summaries, ...)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab.sim.responder import DONT_KNOW, Reply, respond

LOCOMO = Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo" / "locomo-dev.json"

MEMORY_SCHEMA = {
    "type": "object",
    "properties": {
        "user_profile": {"type": "object", "additionalProperties": {"type": "string"}},
        "preferences": {"type": "object"},
        "decisions": {"type": "array", "items": {"type": "string"}},
        "task_context": {"type": "object"},
        "open_questions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["user_profile", "preferences", "decisions", "task_context", "open_questions"],
}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    """A small JSON Schema validator (the subset the responder must honour)."""
    if "const" in schema:
        assert value == schema["const"], path
        return
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in enum"
        return
    kind = schema.get("type", "object" if "properties" in schema else None)
    checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
              "null": lambda v: v is None}
    if kind is None:
        return
    assert checks[kind](value), f"{path}: {value!r} is not {kind}"
    if kind == "string":
        assert len(value) >= schema.get("minLength", 0), path
        assert len(value) <= schema.get("maxLength", 10**9), path
    if kind in ("integer", "number"):
        assert value >= schema.get("minimum", -float("inf")), path
        assert value <= schema.get("maximum", float("inf")), path
        if "exclusiveMinimum" in schema:
            assert value > schema["exclusiveMinimum"], path
        if "exclusiveMaximum" in schema:
            assert value < schema["exclusiveMaximum"], path
    if kind == "array":
        assert schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9), path
        for i, v in enumerate(value):
            validate(v, schema.get("items", {}), f"{path}[{i}]")
    if kind == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in value, f"{path}: missing {name}"
        for name, v in value.items():
            sub = props.get(name, schema.get("additionalProperties", {}))
            assert sub is not False, f"{path}: unexpected {name}"
            validate(v, sub if isinstance(sub, dict) else {}, f"{path}.{name}")


def req(*messages: str | dict, system: str | list | None = None, **extra: Any) -> dict[str, Any]:
    """A request: strings alternate user/assistant, ending with the user's query."""
    msgs = []
    roles = ["user", "assistant"] if len(messages) % 2 else ["assistant", "user"]
    for i, m in enumerate(messages):
        msgs.append(m if isinstance(m, dict) else {"role": roles[i % 2], "content": m})
    out: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 500, "messages": msgs, **extra}
    if system is not None:
        out["system"] = system
    return out


def text_of(reply: Reply) -> str:
    assert reply.stop_reason == "end_turn"
    assert all(b["type"] == "text" and b["text"] for b in reply.blocks)
    return " ".join(b["text"] for b in reply.blocks)


HISTORY = [
    "Hi! I'm Ada and I work at Initech as a data engineer.",
    "Nice to meet you, Ada.",
    "My dog is called Biscuit and he is a golden retriever.",
    "Biscuit sounds lovely.",
    "We moved to Lisbon in March 2021 for my partner's job.",
    "Lisbon is a great city.",
]


# -- answers -----------------------------------------------------------------------------------

def test_planted_fact_is_answered_when_present():
    reply = text_of(respond(req(*HISTORY, "What is my dog called?")))
    assert reply == "Your dog is called Biscuit."  # the clause that answers, said back to the user


def test_dont_know_when_fact_absent():
    history = [h for h in HISTORY if "Biscuit" not in h]
    assert text_of(respond(req(*history, "What is my dog called?"))) == DONT_KNOW


def test_adversarial_question_about_unmentioned_thing():
    assert text_of(respond(req(*HISTORY, "What colour is Ada's sailboat?"))) == DONT_KNOW


def test_same_request_same_reply():
    r = req(*HISTORY, "Where did we move?")
    assert respond(r) == respond(json.loads(json.dumps(r)))


def test_normalized_and_raw_requests_agree():
    raw = req(*HISTORY, "What is my dog called?", system="Be helpful.")
    norm = {**raw, "system": [{"type": "text", "text": "Be helpful."}],
            "messages": [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
                         for m in raw["messages"]]}
    assert respond(raw) == respond(norm)


def test_answers_from_system_prompt_and_tool_results():
    assert "42" in text_of(respond(req("What is the launch code?", system="The launch code is 42.")))
    msgs = [{"role": "user", "content": "Look up the order."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": "Order 7781 shipped on 3 May 2024."}]}]
    reply = text_of(respond({"messages": msgs}))
    assert "7781" in reply


def test_temporal_question_resolves_the_date_against_the_header_on_its_own_line():
    history = [
        "[1:56 pm on 8 May, 2023]\nCaroline: I went to a pottery class yesterday. It was fun.",
        "Melanie: Pottery is relaxing. I like pottery too.",
        "Caroline: Pottery class is every week now.",
        "Melanie: Nice.",
    ]
    reply = text_of(respond(req(*history, "When did Caroline go to the pottery class?")))
    assert reply == "Caroline went to the pottery class on 7 May 2023."


def test_statement_is_acknowledged_in_the_users_words():
    assert text_of(respond(req("I just adopted a cat named Miso."))) == "Noted: you just adopted a cat named Miso."


def test_never_empty_text():
    for r in (req(""), {"messages": []}, req("?"), req("Hi")):
        assert text_of(respond(r))


# -- tools -----------------------------------------------------------------------------------

def tool_input(reply: Reply, name: str) -> dict[str, Any]:
    assert reply.stop_reason == "tool_use"
    (block,) = [b for b in reply.blocks if b["type"] == "tool_use"]
    assert block["name"] == name and block["id"].startswith("toolu_sim_")
    return block["input"]


MEMORY_TALK = [
    "Hi, my name is Ada Lovelace and I live in London. I work at Initech.",
    "Welcome, Ada.",
    "I prefer short answers. My favorite editor is Vim. We decided to use Postgres for the store. "
    "The deadline is next Friday. Should we add caching later?",
]


def test_memory_extraction_schema():
    tool = {"name": "save_memory", "description": "Save structured memory.", "input_schema": MEMORY_SCHEMA}
    r = req(*MEMORY_TALK, tools=[tool], tool_choice={"type": "tool", "name": "save_memory"})
    value = tool_input(respond(r), "save_memory")
    validate(value, MEMORY_SCHEMA)
    assert value["user_profile"]["name"] == "Ada Lovelace"
    assert value["user_profile"]["location"] == "London"
    assert value["preferences"]["favorite_editor"] == "Vim"
    assert "short answers" in value["preferences"]["prefers"]
    assert any("Postgres" in d for d in value["decisions"])
    assert value["task_context"]["deadline"] == "next Friday"
    assert value["open_questions"] == ["Should we add caching later?"]


@pytest.mark.parametrize(("sentence", "section", "expected"), [
    ("My name is Priya and I live in Porto.", "user_profile", {"name": "Priya", "location": "Porto"}),
    ("Our budget is 4,200 euros, roughly.", "task_context", {"budget": "4,200 euros"}),
    ("The deadline is 3.5 weeks away and my dog is Rex.", "task_context", {"deadline": "3.5 weeks away", "dog": "Rex"}),
])
def test_memory_values_stop_at_clause_boundaries(sentence, section, expected):
    tool = {"name": "save_memory", "description": "Save structured memory.", "input_schema": MEMORY_SCHEMA}
    value = tool_input(respond(req(sentence, tools=[tool], tool_choice={"type": "tool", "name": "save_memory"})),
                       "save_memory")
    assert value[section] == expected


WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "input_schema": {"type": "object", "properties": {
               "city": {"type": "string"},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
               "days": {"type": "integer", "minimum": 1, "maximum": 7}},
               "required": ["city", "unit"]}}
NOTE = {"name": "save_note", "description": "Save a note.", "input_schema": {
    "type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                                     "priority": {"type": "number", "exclusiveMinimum": 0}},
    "required": ["tags", "priority"]}}


def test_auto_tool_when_query_matches_and_none_respected():
    r = req("What's the weather in Paris in fahrenheit for 3 days?", tools=[NOTE, WEATHER])
    value = tool_input(respond(r), "get_weather")
    validate(value, WEATHER["input_schema"])
    assert value["unit"] == "fahrenheit" and value["days"] == 3 and "Paris" in value["city"]
    text_of(respond({**r, "tool_choice": {"type": "none"}}))
    text_of(respond(req("Tell me a joke about ducks?", tools=[NOTE, WEATHER])))


def test_forced_tool_choice_any_and_named():
    r = req("Hello there.", tools=[NOTE, WEATHER], tool_choice={"type": "tool", "name": "save_note"})
    validate(tool_input(respond(r), "save_note"), NOTE["input_schema"])
    r = req("Hello there.", tools=[NOTE], tool_choice={"type": "any"})
    validate(tool_input(respond(r), "save_note"), NOTE["input_schema"])


def test_tool_result_turn_replies_with_text():
    msgs = [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                               "input": {"city": "Paris", "unit": "celsius"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": "Paris: 14 degrees and cloudy."}]}]
    assert "14 degrees" in text_of(respond({"messages": msgs, "tools": [WEATHER]}))


# -- hypothesis --------------------------------------------------------------------------------

NAMES = st.sampled_from(["city", "count", "tags", "note", "priority", "flag", "items", "when", "x"])
LEAF = st.one_of(
    st.builds(lambda lo, n: {"type": "string", "minLength": lo, "maxLength": lo + n},
              st.integers(0, 5), st.integers(0, 20)),
    st.just({"type": "string"}),
    st.builds(lambda lo, n: {"type": "integer", "minimum": lo, "maximum": lo + n},
              st.integers(-50, 50), st.integers(0, 10)),
    st.builds(lambda lo: {"type": "number", "exclusiveMinimum": lo}, st.floats(-100, 100)),
    st.just({"type": "boolean"}),
    st.lists(st.text("abc", min_size=1, max_size=4), min_size=1, max_size=4, unique=True)
      .map(lambda v: {"type": "string", "enum": v}),
)
SCHEMAS = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.builds(lambda it, lo: {"type": "array", "items": it, "minItems": lo}, inner, st.integers(0, 2)),
        st.dictionaries(NAMES, inner, max_size=4).flatmap(
            lambda props: st.builds(lambda req: {"type": "object", "properties": props,
                                                 "required": sorted(req)},
                                    st.sets(st.sampled_from(sorted(props)) if props else st.nothing()))),
    ),
    max_leaves=8,
)
WORDS = st.lists(st.sampled_from(["Ada", "lives", "in", "Paris", "since", "2021", "needs", "3", "tags",
                                  "?", "note", "city", "my", "is", "."]), max_size=25).map(" ".join)


@given(props=st.dictionaries(NAMES, SCHEMAS, max_size=4), text=WORDS, history=st.lists(WORDS, max_size=3))
def test_tool_input_always_validates(props, text, history):
    schema = {"type": "object", "properties": props, "required": sorted(props)}
    tool = {"name": "fill", "description": "Fill the form.", "input_schema": schema}
    r = req(*history, text or "go", tools=[tool], tool_choice={"type": "any"})
    validate(tool_input(respond(r), "fill"), schema)


@given(history=st.lists(WORDS, max_size=5), query=WORDS)
def test_deterministic_and_never_empty(history, query):
    r = req(*history, query or "What?")
    first = respond(r)
    assert first == respond(json.loads(json.dumps(r)))
    text_of(first)


# -- LoCoMo ------------------------------------------------------------------------------------

def _locomo_messages(conv: dict[str, Any], keep: set[str]) -> list[dict[str, Any]]:
    """Turns in ``keep`` (plus their session date headers), speaker_a as user, runs merged."""
    c = conv["conversation"]
    msgs: list[dict[str, Any]] = []
    n = 1
    while f"session_{n}" in c:
        when, _, day = c[f"session_{n}_date_time"].partition(" on ")
        for i, t in enumerate(c[f"session_{n}"]):
            if t["dia_id"] not in keep:
                continue
            role = "user" if t["speaker"] == c["speaker_a"] else "assistant"
            text = (f"[{day} {when}] " if i == 0 or not msgs else "") + f"{t['speaker']}: {t['text']}"
            if msgs and msgs[-1]["role"] == role:
                msgs[-1]["content"] += "\n" + text
            else:
                msgs.append({"role": role, "content": text})
        n += 1
    if msgs and msgs[-1]["role"] == "user":
        msgs.append({"role": "assistant", "content": "OK."})
    return msgs


def _norm(s: object) -> list[str]:
    return re.findall(r"[a-z0-9]+", str(s).lower())


def _extractive_items(conv: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The dialogue turns by id, and up to 20 items whose gold answer is all in its one evidence turn."""
    turns = {t["dia_id"]: t["text"] for k, v in conv["conversation"].items()
             if re.fullmatch(r"session_\d+", k) for t in v}
    items = [q for q in conv["qa"] if q["category"] in (1, 2, 4) and len(q["evidence"]) == 1
             and q["evidence"][0] in turns and set(_norm(q["answer"])) <= set(_norm(turns[q["evidence"][0]]))]
    return turns, items[:20]


@pytest.mark.skipif(not LOCOMO.exists(), reason="shared LoCoMo data not present")
def test_locomo_answers_come_from_the_evidence_turn():
    """Every dev conversation, each item asked twice among the same 60 unrelated turns: with its
    evidence turn, then without. An answer the payload holds is found often; one it does not
    hold is (almost) never produced: the reader answers from the payload, not by luck."""
    found = {True: 0, False: 0}
    total = 0
    for conv in json.loads(LOCOMO.read_text()):
        turns, items = _extractive_items(conv)
        distraction = set(sorted(turns)[:60])
        for q, with_evidence in itertools.product(items, (True, False)):
            keep = distraction | set(q["evidence"]) if with_evidence else distraction - set(q["evidence"])
            msgs = [*_locomo_messages(conv, keep), {"role": "user", "content": q["question"]}]
            gold, got = _norm(q["answer"]), set(_norm(text_of(respond({"messages": msgs}))))
            found[with_evidence] += sum(w in got for w in gold) >= 0.8 * len(gold)
        total += len(items)
    assert total >= 20
    assert found[True] >= total / 3, found  # a reader that finds a third of the answers it is shown
    assert found[False] <= total / 20, found  # and makes up almost none of those it is not


@pytest.mark.skipif(not LOCOMO.exists(), reason="shared LoCoMo data not present")
def test_locomo_adversarial_questions_mostly_get_dont_know():
    """Questions LoCoMo built to have no answer in the conversation (category 5), with their
    evidence turns: "I don't know" for most of them, more often than for answerable items."""
    adversarial = answerable = asked_adv = asked_ans = 0
    for conv in json.loads(LOCOMO.read_text()):
        for q in [q for q in conv["qa"] if q["category"] == 5][:20]:
            msgs = [*_locomo_messages(conv, set(q["evidence"])), {"role": "user", "content": q["question"]}]
            adversarial += text_of(respond({"messages": msgs})) == DONT_KNOW
            asked_adv += 1
        for q in _extractive_items(conv)[1]:
            msgs = [*_locomo_messages(conv, set(q["evidence"])), {"role": "user", "content": q["question"]}]
            answerable += text_of(respond({"messages": msgs})) == DONT_KNOW
            asked_ans += 1
    assert adversarial > asked_adv / 2, (adversarial, asked_adv)
    assert adversarial / asked_adv > answerable / asked_ans, (adversarial, answerable)


# -- end to end --------------------------------------------------------------------------------

def test_end_to_end_through_sdk():
    sim = pytest.importorskip("convolab.sim")
    client = sim.simulated_client()
    reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=200, messages=[
        {"role": "user", "content": "My locker code is 5521."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "What is my locker code?"}])
    assert reply.stop_reason == "end_turn" and "5521" in reply.content[0].text
