"""Prompt cache invariants on random conversations with random breakpoints, TTLs and pauses:
``count_tokens`` always equals the billed input (uncached + written + read), the write splits
exactly into its 5m and 1h parts, and nothing is read from a cold simulator."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from convolab.sim import ManualClock, Simulator

MODEL = "claude-sonnet-4-6"  # 1,024-token cache minimum
WORDS = ["alpha", "beta", "gamma", "delta", "42", "Lisbon", "report", "the", "of", "{\"k\": 1}"]


@dataclass
class Reply:
    blocks: list
    stop_reason: str = "end_turn"


def reply(request: dict) -> Reply:
    return Reply([{"type": "text", "text": "ok"}])


text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=400).map(" ".join)


@st.composite
def conversation(draw):
    """A valid request with 0-4 breakpoints, 1h ones before 5m ones, maybe automatic caching
    (with the last block's TTL when that block is marked: a different one is a 400)."""
    n = draw(st.integers(1, 4))
    msgs = []
    for i in range(n):
        msgs.append({"role": "user", "content": [{"type": "text", "text": draw(text)}]})
        if i < n - 1:
            msgs.append({"role": "assistant", "content": [{"type": "text", "text": draw(text)}]})
    system = [{"type": "text", "text": draw(text)} for _ in range(draw(st.integers(0, 2)))]
    blocks = system + [m["content"][0] for m in msgs]
    auto = draw(st.booleans())
    k = draw(st.integers(0, min(len(blocks), 3 if auto else 4)))
    marked = sorted(draw(st.lists(st.integers(0, len(blocks) - 1), min_size=k, max_size=k, unique=True)))
    n_1h = draw(st.integers(0, len(marked)))
    for j, idx in enumerate(marked):
        blocks[idx]["cache_control"] = {"type": "ephemeral", "ttl": "1h" if j < n_1h else "5m"}
    body = {"model": MODEL, "max_tokens": 20, "messages": msgs}
    if system:
        body["system"] = system
    if auto:
        ttl = "5m" if n_1h < len(marked) or draw(st.booleans()) else "1h"
        body["cache_control"] = {"type": "ephemeral", "ttl": blocks[-1].get("cache_control", {}).get("ttl", ttl)}
    return body


def post(sim: Simulator, path: str, body: dict) -> dict:
    resp = sim.handle("POST", path, {}, json.dumps(body).encode())
    assert resp.status_code == 200, resp.json()
    return resp.json()


@given(st.lists(st.tuples(conversation(), st.sampled_from([0, 10, 200, 400, 3000, 4000])), min_size=1, max_size=4))
def test_count_tokens_equals_billed_input_whatever_the_cache_holds(steps):
    sim = Simulator(clock=ManualClock(), responder=reply)
    for n, (body, pause) in enumerate(steps):
        counted = post(sim, "/v1/messages/count_tokens", body)["input_tokens"]
        u = post(sim, "/v1/messages", body)["usage"]
        assert counted == u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
        split = u["cache_creation"]
        assert u["cache_creation_input_tokens"] == split["ephemeral_5m_input_tokens"] + split["ephemeral_1h_input_tokens"]
        assert u["input_tokens"] >= 0 and u["cache_read_input_tokens"] >= 0
        if n == 0:
            assert u["cache_read_input_tokens"] == 0  # a fresh simulator starts cold
        sim.clock.advance(pause)


@given(conversation())
def test_an_identical_request_at_once_reads_what_it_wrote(body):
    sim = Simulator(clock=ManualClock(), responder=reply)
    first = post(sim, "/v1/messages", body)["usage"]
    second = post(sim, "/v1/messages", body)["usage"]
    assert second["cache_creation_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
