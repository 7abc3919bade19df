"""Fuzzing the strict rules: random valid requests with one random defect planted must be
rejected, each for its own reason; the same requests without the defect must pass."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from convolab.sim import ManualClock, Simulator

MODEL = "claude-sonnet-4-6"
TOOLS = [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {}}}]


@dataclass
class Reply:
    blocks: list
    stop_reason: str = "end_turn"


SIM = Simulator(clock=ManualClock(), responder=lambda r: Reply([{"type": "text", "text": "ok"}]))

words = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=30).filter(lambda s: s.strip() and s == s.strip())


@st.composite
def valid_requests(draw):
    n_turns = draw(st.integers(1, 5))
    msgs, tid = [], 0
    for _ in range(n_turns):
        msgs.append({"role": "user", "content": draw(words)})
        if draw(st.booleans()):
            msgs.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": f"toolu_{tid}", "name": "lookup", "input": {}}]})
            msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{tid}",
                                                      "content": draw(words)}]})
            tid += 1
        msgs.append({"role": "assistant", "content": draw(words)})
    msgs.append({"role": "user", "content": draw(words)})
    return {"model": MODEL, "max_tokens": draw(st.integers(1, 500)), "messages": msgs, "tools": TOOLS}


def _tool_use_indexes(req):
    return [i for i, m in enumerate(req["messages"]) if isinstance(m["content"], list)
            and m["content"][0]["type"] == "tool_use"]


DEFECTS = {
    "no max_tokens": (lambda r, d: r.pop("max_tokens"), "max_tokens: Field required"),
    "max_tokens too big": (lambda r, d: r.update(max_tokens=10**7), "maximum allowed number of output tokens"),
    "bad role": (lambda r, d: r["messages"][d(st.integers(0, len(r["messages"]) - 1))].update(role="tool"),
                 "Input should be 'user', 'assistant' or 'system'"),
    "system role on a model without it": (
        lambda r, d: r["messages"][d(st.integers(0, len(r["messages"]) - 1))].update(role="system"),
        "role 'system' is not supported on this model"),
    "empty text": (lambda r, d: r["messages"].__setitem__(0, {"role": "user", "content": [{"type": "text", "text": ""}]}),
                   "text content blocks must be non-empty"),
    "starts with assistant": (lambda r, d: r["messages"].insert(0, {"role": "assistant", "content": "hello"}),
                              'first message must use the "user" role'),
    "unknown block": (lambda r, d: r["messages"][-1].update(content=[{"type": "hologram"}]), "Input tag 'hologram'"),
    "no messages": (lambda r, d: r.update(messages=[]), "at least one message is required"),
    "too many breakpoints": (lambda r, d: r.update(system=[{"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}}
                                                          for i in range(5)]), "A maximum of 4 blocks with cache_control"),
    "extra field": (lambda r, d: r.update(colour="blue"), "colour: Extra inputs are not permitted"),
    "prefill unsupported": (lambda r, d: r["messages"].append({"role": "assistant", "content": "Sure"}),
                            "does not support assistant message prefill"),
    "thinking budget": (lambda r, d: r.update(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}),
                        "`max_tokens` must be greater than `thinking.budget_tokens`"),
    "forced tool_choice": (lambda r, d: r.update(model="claude-opus-5-5", tool_choice={"type": "any"}),
                           "forced tool use (type 'any') is not supported"),
    "beta field": (lambda r, d: r.update(context_management={"edits": []}),
                   "context_management: Extra inputs are not permitted"),
}


def plant_orphan_result(r, d):
    r["messages"].insert(1, {"role": "assistant", "content": "thinking"})
    r["messages"].insert(2, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_ghost",
                                                          "content": "x"}]})


def drop_a_result(r, d):
    uses = _tool_use_indexes(r)
    if not uses:
        r["messages"][-1:] = [{"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_x", "name": "lookup", "input": {}}]}, {"role": "user", "content": "nope"}]
        return
    i = d(st.sampled_from(uses))
    r["messages"][i + 1] = {"role": "user", "content": "no result here"}


DEFECTS["orphan tool_result"] = (plant_orphan_result, "unexpected `tool_use_id`")
DEFECTS["unanswered tool_use"] = (drop_a_result, "`tool_use` ids were found without `tool_result`")


def post(body: dict) -> tuple[int, dict]:
    resp = SIM.handle("POST", "/v1/messages", {}, json.dumps(body).encode())
    return resp.status_code, resp.json()


@given(valid_requests())
def test_valid_requests_pass(req):
    status, body = post(req)
    assert status == 200, body


@given(valid_requests(), st.sampled_from(sorted(DEFECTS)), st.data())
def test_each_defect_is_rejected_for_its_reason(req, defect, data):
    bad = copy.deepcopy(req)
    mutate, expected = DEFECTS[defect]
    mutate(bad, data.draw)
    status, body = post(bad)
    assert status == 400, (defect, body)
    assert body["error"]["type"] == "invalid_request_error"
    assert expected in body["error"]["message"], (defect, body["error"]["message"])


@given(valid_requests())
def test_count_tokens_equals_billed_input(req):
    req = {**req, "cache_control": {"type": "ephemeral"}}
    sim = Simulator(clock=ManualClock(), responder=lambda r: Reply([{"type": "text", "text": "ok"}]))
    count = sim.handle("POST", "/v1/messages/count_tokens", {}, json.dumps(req).encode()).json()["input_tokens"]
    usage = sim.handle("POST", "/v1/messages", {}, json.dumps(req).encode()).json()["usage"]
    assert count == usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
    again = sim.handle("POST", "/v1/messages", {}, json.dumps(req).encode()).json()["usage"]
    assert count == again["input_tokens"] + again["cache_creation_input_tokens"] + again["cache_read_input_tokens"]


def _outcome(body, memo=None):
    from convolab.catalog import get_model
    from convolab.sim.rules import ApiError, validate

    try:
        c = validate(copy.deepcopy(body), get_model(MODEL), memo=memo)
        return ("ok", c.messages, c.breakpoints, c.merged_runs)
    except ApiError as e:
        return ("error", e.status, e.message)


@given(valid_requests(), st.sampled_from(sorted(DEFECTS)), st.booleans(), st.data())
def test_validation_memo_never_changes_the_verdict(first, defect, plant, data):
    """A request checked after another (sharing its prefix, as turns do) gets the verdict a fresh check gives."""
    from convolab.sim.rules import ValidationMemo

    second = copy.deepcopy(first)
    second["messages"] += [{"role": "assistant", "content": "next"}, {"role": "user", "content": "more"}]
    if plant:
        mutate, _ = DEFECTS[defect]
        mutate(second, data.draw)
    memo = ValidationMemo()
    _outcome(first, memo)
    assert _outcome(second, memo) == _outcome(second)


@st.composite
def _runs(draw):
    """Messages with runs of one role (merged by the API), some carrying cache breakpoints."""
    msgs = []
    for k in range(draw(st.integers(1, 6))):
        role = "user" if k % 2 == 0 else "assistant"
        for _ in range(draw(st.integers(1, 3))):
            block = {"type": "text", "text": draw(words)}
            if draw(st.integers(0, 5)) == 0:
                block["cache_control"] = {"type": "ephemeral", "ttl": draw(st.sampled_from(["5m", "1h"]))}
            msgs.append({"role": role, "content": [block]})
    if msgs[-1]["role"] != "user":
        msgs.append({"role": "user", "content": draw(words)})
    return msgs


@given(_runs(), st.lists(st.tuples(st.integers(0, 12), _runs()), min_size=1, max_size=3),
       st.sampled_from([None, "5m", "1h"]))
def test_validation_memo_takes_over_merged_runs_exactly(first, nexts, system_ttl):
    """A conversation whose next requests keep a prefix of the last one's messages (same-role runs
    merged, breakpoints anywhere, a system breakpoint or none) gets from the memo exactly what a
    fresh check gives: merged messages, breakpoints, merge count, or the same error."""
    from convolab.sim.rules import ValidationMemo

    system = [{"type": "text", "text": "be brief", **({"cache_control": {"type": "ephemeral", "ttl": system_ttl}}
                                                       if system_ttl else {})}]
    memo, msgs = ValidationMemo(), first
    for keep, tail in [(len(first), []), *nexts]:
        msgs = copy.deepcopy(msgs[:keep]) + tail
        body = {"model": MODEL, "max_tokens": 10, "system": system, "messages": msgs}
        assert _outcome(body, memo) == _outcome(body)
