"""The simulator behind a real localhost HTTP server, with a journal of what it billed."""

from __future__ import annotations

import json

import anthropic
import pytest

from convolab.sim import ManualClock, Simulator
from convolab.sim.http import serve

ASK = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "My name is Ada."}]}


@pytest.fixture
def served(tmp_path, request):
    journal = tmp_path / "billed.jsonl"
    sim = Simulator(clock=ManualClock(), journal=str(journal), faults=getattr(request, "param", None))
    server = serve(sim)
    client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{server.server_address[1]}", api_key="sim", timeout=5)
    yield client, journal
    server.shutdown()
    server.server_close()


def test_plain_stream_models_and_errors_over_http(served):
    client, journal = served
    assert "Ada" in client.messages.create(**ASK).content[0].text
    with client.messages.stream(**ASK) as s:
        assert s.get_final_message().usage.input_tokens > 0
    assert client.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(**{**ASK, "model": "claude-nope"})
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [x["status"] for x in lines] == [200, 200, 200, 404]
    assert lines[0]["usage"]["input_tokens"] > 0


@pytest.mark.parametrize("served", [[None, None, "lost"]], indirect=True)
def test_lost_response_over_http_is_replayed_not_billed_twice(served):
    client, journal = served
    client.messages.create(**ASK)
    client.messages.create(**ASK)
    reply = client.messages.create(**{**ASK, "max_tokens": 90}, extra_headers={"Idempotency-Key": "t3"})
    assert reply.content
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    mine = [x for x in lines if x["idempotency_key"] == "t3"]
    assert [x["replayed"] for x in mine] == [False, True]
    assert sum(1 for x in mine if x["usage"]) == 1
