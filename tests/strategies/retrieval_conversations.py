"""Conversations and checks the retrieval tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from convolab import Conversation
from convolab.model import group_turns
from convolab.sim import Simulator

MODEL = "claude-sonnet-4-6"
T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
TOOLS = [{"name": "lookup", "description": "Look something up", "input_schema": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]
TOPICS = ["weather", "tea", "garden", "football", "recipes", "movies", "traffic", "books", "cycling", "music"]


def billed(sim: Simulator, payload) -> int:
    return sim.count({k: v for k, v in payload.request.items() if k != "max_tokens"})


def tool_ids(payload) -> tuple[set[str], set[str]]:
    blocks = [b for m in payload.messages if isinstance(m["content"], list) for b in m["content"]]
    return ({b["id"] for b in blocks if b["type"] == "tool_use"},
            {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"})


def small_talk(n: int, *, start: int = 0, per_day: int = 20) -> Conversation:
    """``n`` turns of filler (two topics each), ``per_day`` turns a day from 8 May 2023."""
    conv = Conversation(system_prompt="You are a friendly assistant.", model=MODEL)
    for i in range(start, start + n):
        when = T0 + timedelta(days=i // per_day, minutes=i)
        a, b = TOPICS[i % len(TOPICS)], TOPICS[(3 * i + 1) % len(TOPICS)]
        conv.add("user", f"Small talk {i}: we chatted about {a} and {b} for a while.", created_at=when)
        conv.add("assistant", f"Nice, thanks for sharing item {i}.", created_at=when)
    return conv


def planted(turns: int = 200, at: int = 2) -> Conversation:
    """Filler with "My sister's name is Ilse." as turn ``at``, and the question about it last."""
    conv = Conversation(system_prompt="You are a friendly assistant.", model=MODEL)
    filler = small_talk(turns)
    for k, turn in enumerate(group_turns(filler.messages)):
        user, reply = turn.messages
        text = "My sister's name is Ilse. She lives in Ghent." if k == at else user.text
        conv.add("user", text, created_at=user.created_at)
        conv.add("assistant", reply.text, created_at=reply.created_at)
    conv.add("user", "What is my sister's name?", created_at=T0 + timedelta(days=30))
    return conv


WORDS = ["garden", "tea", "Ilse", "Porto", "budget", "4200", "football", "piano", "Rex", "deadline", "Ghent", "invoice"]
_turn = st.fixed_dictionaries({
    "words": st.lists(st.sampled_from(WORDS), min_size=1, max_size=6),
    "tool": st.booleans(),
    "reply": st.sampled_from(["text", "text", "text", "none"]),
    "day": st.integers(0, 3),
})


def random_conversation(turns: list[dict], *, opener: bool, question: list[str], tool_loop: bool) -> Conversation:
    conv = Conversation(system_prompt="You are helpful.", model=MODEL,
                        tools=TOOLS if (any(t["tool"] for t in turns) or tool_loop) else None)
    if opener:
        conv.add("assistant", "Hello! What shall we talk about today?", created_at=T0)
    day = 0
    for k, t in enumerate(turns):
        day += t["day"]
        when = T0 + timedelta(days=day, minutes=k)
        conv.add("user", f"Turn {k}: " + " ".join(t["words"]) + ".", created_at=when)
        if t["tool"]:
            conv.add("assistant", [{"type": "text", "text": "Let me check."},
                                   {"type": "tool_use", "id": f"toolu_{k}", "name": "lookup", "input": {"q": t["words"][0]}}],
                     created_at=when)
            conv.add("user", [{"type": "tool_result", "tool_use_id": f"toolu_{k}",
                               "content": f"Result {k}: {' '.join(reversed(t['words']))}."}], created_at=when)
        if t["reply"] == "text":
            conv.add("assistant", f"Answer {k} about {t['words'][-1]}.", created_at=when)
    conv.add("user", "What about " + " and ".join(question) + "?", created_at=T0 + timedelta(days=day + 1))
    if tool_loop:
        conv.add("assistant", [{"type": "tool_use", "id": "toolu_last", "name": "lookup", "input": {"q": question[0]}}])
        conv.add("user", [{"type": "tool_result", "tool_use_id": "toolu_last", "content": "Nothing more."}])
    return conv


POLICY = "Policy. " + " ".join(f"Rule {i} applies to every reply." for i in range(300))
