"""The simulator's Message Batches API, through the SDK's ``client.messages.batches``."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import anthropic
import pytest

from convolab.pricing import cost_usd
from convolab.sim import ManualClock, Simulator

ASK = {"model": "claude-haiku-4-5", "max_tokens": 100}


def params(text: str, **extra) -> dict:
    return {**ASK, "messages": [{"role": "user", "content": text}], **extra}


def requests(n: int) -> list[dict]:
    return [{"custom_id": f"q-{k}", "params": params(f"My name is Ada and my number is {k}.")} for k in range(n)]


@pytest.fixture
def sim(tmp_path):
    return Simulator(clock=ManualClock(), journal=str(tmp_path / "journal.jsonl"), batch_seconds=3600)


def journal(sim) -> list[dict]:
    with open(sim.journal, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_a_batch_runs_its_course_and_its_results_are_json_lines(sim):
    client = sim.client()
    batch = client.messages.batches.create(requests=requests(4))
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 4
    assert batch.results_url is None and batch.expires_at - batch.created_at == timedelta(hours=24)
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        client.messages.batches.results(batch.id)
    sim.clock.advance(1800)  # half of the requests are done, but counts move only at the end
    assert client.messages.batches.retrieve(batch.id).request_counts.processing == 4
    sim.clock.advance(1800)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.succeeded == 4
    assert ended.ended_at == batch.created_at + timedelta(hours=1)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert sorted(results) == ["q-0", "q-1", "q-2", "q-3"]
    assert all(r.type == "succeeded" and r.message.usage.service_tier == "batch" for r in results.values())
    assert "3" in results["q-3"].message.content[0].text
    # processed exactly once each, at the batch price, journaled with batch and custom id
    lines = [x for x in journal(sim) if "/requests/" in x["path"]]
    assert sorted(x["path"].rsplit("/", 1)[1] for x in lines) == ["q-0", "q-1", "q-2", "q-3"]
    standard = client.messages.create(**params("My name is Ada and my number is 3."))
    batch_cost = cost_usd("claude-haiku-4-5", results["q-3"].message.usage)
    assert batch_cost == pytest.approx(cost_usd("claude-haiku-4-5", standard.usage) / 2)
    assert lines[-1]["usage"]["service_tier"] == "batch"


def test_cancel_keeps_what_was_done_and_cancels_the_rest(sim):
    client = sim.client()
    batch = client.messages.batches.create(requests=requests(4))
    sim.clock.advance(1800)
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    sim.clock.advance(10)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.cancel_initiated_at is not None
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (2, 2)
    kinds = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert kinds == {"q-0": "succeeded", "q-1": "succeeded", "q-2": "canceled", "q-3": "canceled"}
    assert len([x for x in journal(sim) if "/requests/" in x["path"]]) == 2  # canceled ones never billed


def test_requests_past_24_hours_expire(tmp_path):
    sim = Simulator(clock=ManualClock(), batch_seconds=48 * 3600)
    client = sim.client()
    batch = client.messages.batches.create(requests=requests(4))
    sim.clock.advance(23 * 3600)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    sim.clock.advance(2 * 3600)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.ended_at == ended.expires_at
    assert (ended.request_counts.succeeded, ended.request_counts.expired) == (2, 2)
    sim.clock.advance(29 * 24 * 3600)  # results are kept 29 days after creation
    assert client.messages.batches.retrieve(batch.id).archived_at is not None
    with pytest.raises(anthropic.NotFoundError, match="archived"):
        list(client.messages.batches.results(batch.id))


def test_a_request_the_api_would_refuse_is_errored_not_the_batch(sim):
    client = sim.client()
    batch = client.messages.batches.create(requests=[
        {"custom_id": "ok", "params": params("Hi")},
        {"custom_id": "bad-model", "params": {**params("Hi"), "model": "claude-nope"}},
        {"custom_id": "stream", "params": params("Hi", stream=True)},
        {"custom_id": "empty", "params": {**ASK, "messages": []}}])
    sim.clock.advance(3600)
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert (counts.succeeded, counts.errored) == (1, 3)
    errors = {r.custom_id: r.result.error.error for r in client.messages.batches.results(batch.id)
              if r.result.type == "errored"}
    assert errors["bad-model"].type == "not_found_error"
    assert errors["stream"].type == errors["empty"].type == "invalid_request_error"


@pytest.mark.parametrize(("reqs", "message"), [
    ([], "at least one request"),
    ([{"custom_id": "a", "params": params("x")}, {"custom_id": "a", "params": params("y")}], "requests.1.custom_id"),
    ([{"custom_id": "has space", "params": params("x")}], "requests.0.custom_id: 1 to 64"),
    ([{"custom_id": "x" * 65, "params": params("x")}], "requests.0.custom_id"),
    ([{"custom_id": "a", "params": "not an object"}], "requests.0.params"),
])
def test_a_malformed_batch_is_refused_whole(sim, reqs, message):
    with pytest.raises(anthropic.BadRequestError, match=message):
        sim.client().messages.batches.create(requests=reqs)
    assert sim.batches.batches == {}


def test_list_is_newest_first_and_paginates_and_delete_needs_an_ended_batch(sim):
    client = sim.client()
    ids = []
    for _ in range(3):
        ids.append(client.messages.batches.create(requests=requests(1)).id)
        sim.clock.advance(60)
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # the SDK follows the pages
    with pytest.raises(anthropic.BadRequestError, match="cancel it"):
        client.messages.batches.delete(ids[2])
    sim.clock.advance(3600)
    assert client.messages.batches.delete(ids[2]).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(ids[2])


def test_beta_batches_and_the_async_client(sim):
    beta = sim.client().beta.messages.batches.create(requests=requests(2), betas=["context-management-2025-06-27"])
    assert beta.processing_status == "in_progress"

    async def run() -> list[str]:
        client = sim.async_client()
        batch = await client.messages.batches.create(requests=requests(2))
        sim.clock.advance(3600)
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
        return [r.result.type async for r in await client.messages.batches.results(batch.id)]

    assert asyncio.run(run()) == ["succeeded", "succeeded"]
