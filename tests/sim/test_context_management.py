"""Server-side context management through the SDK's beta client."""

from __future__ import annotations

from dataclasses import dataclass

import anthropic
import pytest

from convolab.sim import ManualClock, Simulator

MODEL = "claude-sonnet-4-6"
CLEAR_BETA = ["context-management-2025-06-27"]
COMPACT_BETA = ["compact-2026-01-12"]
TOOLS = [{"name": "read_file", "description": "Read a file", "input_schema": {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
         {"name": "remember", "description": "Keep a note", "input_schema": {
    "type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]}}]


@dataclass
class Reply:
    blocks: list
    stop_reason: str = "end_turn"


def seen(request: dict) -> Reply:
    """Replies with how many tool results still hold their original text."""
    kept = sum(1 for m in request["messages"] for b in m["content"]
               if b["type"] == "tool_result" and "cleared" not in str(b.get("content")))
    return Reply([{"type": "text", "text": f"kept {kept}"}])


@pytest.fixture
def client() -> anthropic.Anthropic:
    return Simulator(clock=ManualClock(), responder=seen).client(max_retries=0)


def tool_history(n: int, size: int = 400, name: str = "read_file") -> list[dict]:
    msgs = [{"role": "user", "content": "Read the files."}]
    for i in range(n):
        msgs.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {"path": f"f{i}.txt"}}]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": f"line {i} " * size}]})
    msgs[-1]["content"].append({"type": "text", "text": "Summarize them."})
    return msgs


def test_clear_tool_uses_keeps_the_last_n_and_reports(client: anthropic.Anthropic):
    msgs = tool_history(8)
    edit = {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 1000},
            "keep": {"type": "tool_uses", "value": 2}}
    plain = client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=msgs)
    r = client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=msgs, betas=CLEAR_BETA,
                                    context_management={"edits": [edit]})
    assert r.content[0].text == "kept 2"
    applied = r.context_management.applied_edits[0]
    assert applied.cleared_tool_uses == 6
    assert applied.cleared_input_tokens == plain.usage.input_tokens - r.usage.input_tokens > 0
    assert msgs[1]["content"][0]["id"] == "toolu_0" and "line 0" in msgs[2]["content"][0]["content"]  # client copy intact


def test_clear_respects_trigger_exclude_and_clear_at_least(client: anthropic.Anthropic):
    msgs = tool_history(6)
    high = {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 10**6}}
    r = client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=msgs, betas=CLEAR_BETA,
                                    context_management={"edits": [high]})
    assert r.content[0].text == "kept 6" and r.context_management.applied_edits == []
    excl = {"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 1},
            "exclude_tools": ["read_file"]}
    r = client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=msgs, betas=CLEAR_BETA,
                                    context_management={"edits": [excl]})
    assert r.content[0].text == "kept 6"
    greedy = {"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 1},
              "clear_at_least": {"type": "input_tokens", "value": 10**6}}
    r = client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=msgs, betas=CLEAR_BETA,
                                    context_management={"edits": [greedy]})
    assert r.content[0].text == "kept 6"


def test_context_management_needs_its_beta_header(client: anthropic.Anthropic):
    edit = {"type": "clear_tool_uses_20250919"}
    with pytest.raises(anthropic.BadRequestError, match="context-management-2025-06-27"):
        client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=tool_history(1),
                                    betas=COMPACT_BETA, context_management={"edits": [edit]})
    with pytest.raises(anthropic.BadRequestError, match="Input should be one of"):
        client.beta.messages.create(model=MODEL, max_tokens=50, tools=TOOLS, messages=tool_history(1),
                                    betas=CLEAR_BETA, context_management={"edits": [{"type": "forget_all"}]})


def test_compaction_summarizes_and_later_requests_drop_what_it_covers():
    client = Simulator(clock=ManualClock()).client(max_retries=0)
    facts = [f"Fact {i}: the launch code for site {i} is {1000 + i}." for i in range(5000)]
    msgs = [{"role": "user", "content": " ".join(facts[:4000])},
            {"role": "assistant", "content": "Noted the first half."},
            {"role": "user", "content": " ".join(facts[4000:]) + " What is the code for site 7?"}]
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 50_000}}
    count = client.beta.messages.count_tokens(model=MODEL, messages=msgs)
    assert count.input_tokens > 50_000
    r = client.beta.messages.create(model=MODEL, max_tokens=300, messages=msgs, betas=COMPACT_BETA,
                                    context_management={"edits": [edit]})
    assert r.content[0].type == "compaction" and r.content[0].content
    iterations = r.usage.iterations
    assert [it.type for it in iterations] == ["compaction", "message"]
    assert iterations[0].input_tokens == count.input_tokens
    assert r.usage.input_tokens + r.usage.cache_read_input_tokens + r.usage.cache_creation_input_tokens < 50_000
    # round-trip: the next request carries the compaction block; what came before is dropped
    nxt = [*msgs, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
           {"role": "user", "content": "Thanks. Anything else?"}]
    r2 = client.beta.messages.create(model=MODEL, max_tokens=100, messages=nxt, betas=COMPACT_BETA,
                                     context_management={"edits": [edit]})
    assert r2.usage.input_tokens + r2.usage.cache_read_input_tokens + r2.usage.cache_creation_input_tokens < 50_000
    assert all(b.type != "compaction" for b in r2.content)


def test_pause_after_compaction_stops_with_the_block():
    client = Simulator(clock=ManualClock()).client(max_retries=0)
    big = " ".join(f"Item {i} costs {i * 3} euros." for i in range(12_000))
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 50_000},
            "pause_after_compaction": True}
    r = client.beta.messages.create(model=MODEL, max_tokens=100, betas=COMPACT_BETA,
                                    messages=[{"role": "user", "content": big},
                                              {"role": "assistant", "content": "ok"},
                                              {"role": "user", "content": "price of item 5?"}],
                                    context_management={"edits": [edit]})
    assert r.stop_reason == "compaction"
    assert [b.type for b in r.content] == ["compaction"]


def test_compaction_trigger_has_a_floor(client: anthropic.Anthropic):
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 1000}}
    with pytest.raises(anthropic.BadRequestError, match="at least 50000"):
        client.beta.messages.create(model=MODEL, max_tokens=50, betas=COMPACT_BETA,
                                    messages=[{"role": "user", "content": "hi"}],
                                    context_management={"edits": [edit]})


def test_context_management_is_beta_only(client: anthropic.Anthropic):
    with pytest.raises(anthropic.BadRequestError, match="context_management: Extra inputs"):
        client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                               extra_body={"context_management": {"edits": []}})
