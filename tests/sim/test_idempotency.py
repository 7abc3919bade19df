"""Idempotency keys: a request processed once is billed once, however often it is retried."""

from __future__ import annotations

import anthropic
import pytest

from convolab.sim import ManualClock, Simulator

MODEL = "claude-sonnet-4-6"
ASK = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi, I'm Ada from Lisbon."}]}


def billed(sim: Simulator) -> list[dict]:
    return [e.usage for e in sim.history if e.status == 200 and e.usage is not None]


@pytest.mark.parametrize("stream", [False, True])
def test_lost_response_is_retried_by_the_sdk_and_billed_once_with_a_key(stream):
    sim = Simulator(clock=ManualClock(), faults=["lost"])
    client = sim.client()
    if stream:
        with client.messages.stream(**ASK, extra_headers={"Idempotency-Key": "turn-1"}) as s:
            reply = s.get_final_message()
    else:
        reply = client.messages.create(**ASK, extra_headers={"Idempotency-Key": "turn-1"})
    assert "Ada" in reply.content[0].text
    assert len(billed(sim)) == 1
    assert [e.replayed for e in sim.history] == [False, True]


def test_without_a_key_the_retry_of_a_lost_response_is_billed_again():
    sim = Simulator(clock=ManualClock(), faults=["lost"])
    sim.client().messages.create(**ASK)
    assert len(billed(sim)) == 2


def test_replay_returns_the_same_message_and_leaves_the_cache_alone():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    first = client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k"})
    again = client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k"})
    assert again.model_dump() == first.model_dump()
    assert len(billed(sim)) == 1


def test_key_reused_with_another_body_is_refused():
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k"})
    with pytest.raises(anthropic.BadRequestError, match="different request body"):
        client.messages.create(**{**ASK, "max_tokens": 99}, extra_headers={"Idempotency-Key": "k"})


def test_keys_expire_after_a_day_and_failed_requests_are_not_kept():
    clock = ManualClock()
    sim = Simulator(clock=clock, faults=[500])
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k"})
    client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k"})  # processed: the 500 was not stored
    assert len(billed(sim)) == 1
    clock.advance(24 * 3600 + 1)
    client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k"})
    assert len(billed(sim)) == 2
