"""``--batch``'s driver on the simulator's Message Batches API: recorded, resumable, never paying
twice; and the live client's concurrency limit."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from convolab.eval import batches as batches_module
from convolab.eval.batches import BatchFailed, BatchSender
from convolab.eval.live import LiveClient, Sender, SimulatorSender, Spend
from convolab.eval.recording import Recording, request_key
from convolab.sim import ManualClock, Simulator


def ask(k: int, model: str = "claude-haiku-4-5") -> tuple[dict, tuple]:
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": f"My number is {k}."}]}, ()


@pytest.fixture
def world(tmp_path, monkeypatch):
    sim = Simulator(clock=ManualClock(), batch_seconds=600, journal=str(tmp_path / "journal.jsonl"))
    monkeypatch.setattr(batches_module.time, "sleep", lambda s: sim.clock.advance(max(s, 60)))
    recording = Recording(tmp_path / "rec.duckdb")
    live = LiveClient(recording, sender=SimulatorSender(sim))
    yield SimpleNamespace(sim=sim, recording=recording, live=live, path=tmp_path / "rec.duckdb")
    recording.close()


def test_a_batch_is_recorded_and_its_replies_come_back_in_order(world):
    sender = BatchSender(world.live, world.sim.client(), poll=0)
    replies = sender.send([ask(2), ask(1), ask(2)])
    assert [r.content[0].text for r in replies][:2] != ["", ""] and "2" in replies[0].content[0].text
    assert replies[0].usage.service_tier == "batch"
    assert len(world.sim.batches.batches) == 1 and world.recording.open_batches() == {}
    assert world.recording.get(request_key(*ask(1))) is not None
    again = BatchSender(world.live, world.sim.client(), poll=0).send([ask(1), ask(2)])  # all recorded: no batch
    assert [r.id for r in again] == [replies[1].id, replies[0].id] and len(world.sim.batches.batches) == 1


def test_an_interrupted_run_collects_its_batch_instead_of_paying_again(world, monkeypatch):
    crashing = BatchSender(world.live, world.sim.client(), poll=0)

    def crash(*args):
        raise KeyboardInterrupt  # the process dies while the batch is processing

    monkeypatch.setattr(crashing, "_collect", crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.send([ask(1), ask(2)])
    (batch_id,) = world.recording.open_batches()
    replies = BatchSender(world.live, world.sim.client(), poll=0).send([ask(1), ask(2)])
    assert len(world.sim.batches.batches) == 1  # the same batch, collected
    assert world.recording.open_batches() == {} and "1" in replies[0].content[0].text
    processed = [x for x in world.sim.history if "/requests/" in x.path]
    assert len(processed) == 2 and batch_id in processed[0].path


def test_expired_requests_are_sent_again_and_invalid_ones_fail_for_good(tmp_path, monkeypatch, world):
    world.sim.batches.seconds = 48 * 3600  # half of a batch expires (24 hours)
    replies = BatchSender(world.live, world.sim.client(), poll=0, rounds=1).send([ask(k) for k in range(4)])
    assert all(r.content for r in replies)
    assert [r.usage.service_tier for r in replies] == ["batch", "batch", "standard", "standard"]  # then one by one
    world.sim.batches.seconds = 0
    with pytest.raises(BatchFailed, match="refused"):
        BatchSender(world.live, world.sim.client(), poll=0).send([({**ask(9)[0], "stream": True}, ())])


def test_the_cap_is_checked_before_a_batch_is_created(world):
    world.live.spend = Spend(0.0001)
    with pytest.raises(Exception, match="stopped at"):
        BatchSender(world.live, world.sim.client(), poll=0).send([ask(k) for k in range(50)])
    assert world.sim.batches.batches == {}


def test_the_sender_keeps_at_most_concurrency_requests_in_flight(monkeypatch):
    sender = Sender(3, api_key="k", base_url="http://127.0.0.1:9")
    state = {"now": 0, "most": 0}

    async def create(**kwargs):
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        await asyncio.sleep(0.05)
        state["now"] -= 1
        return SimpleNamespace(http_response=SimpleNamespace(text="{}"))

    monkeypatch.setattr(sender.client.messages, "with_raw_response", SimpleNamespace(create=create))
    try:
        threads = [threading.Thread(target=sender.send, args=(ask(k)[0], (), str(k))) for k in range(10)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert state["most"] == 3 and time.monotonic() - start >= 0.15  # ceil(10 / 3) rounds of 0.05 s
    finally:
        sender.close()
