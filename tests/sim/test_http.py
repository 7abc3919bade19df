"""The simulator behind a real localhost HTTP server, with a journal of what it billed."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest

from convolab.sim import ManualClock, Simulator
from convolab.sim.http_server import serve

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


@pytest.fixture
def server_process(tmp_path):
    """``python -m convolab.sim.http`` in its own process; yields a function starting it with arguments."""
    import subprocess
    import sys

    procs = []

    def start(*args: str) -> tuple[anthropic.Anthropic, Path]:
        journal = tmp_path / f"journal{len(procs)}.jsonl"
        proc = subprocess.Popen([sys.executable, "-m", "convolab.sim.http", "--port", "0", "--journal", str(journal),
                                 *args], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        return anthropic.Anthropic(base_url=url, api_key="sim", max_retries=4, timeout=5), journal

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_the_server_command_injects_429_529_and_lost_answers(server_process):
    client, journal = server_process("--schedule", '[429, 529, "lost"]', "--retry-after", "0.05")
    reply = client.messages.create(**ASK, extra_headers={"Idempotency-Key": "k1"})
    assert "Ada" in reply.content[0].text
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [x["status"] for x in lines] == [429, 529, 200, 200]
    assert [x["replayed"] for x in lines[2:]] == [False, True]  # the lost answer was billed once


def test_batches_over_http_point_their_results_at_the_server(server_process):
    client, _ = server_process("--batch-seconds", "0")
    batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": ASK}])
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.results_url.startswith(str(client.base_url).rstrip("/"))
    (result,) = client.messages.batches.results(batch.id)
    assert result.result.message.usage.service_tier == "batch"
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"


def test_the_server_command_refuses_unknown_faults(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "convolab.sim.http", "--port", "0", "--fault", "418=0.5"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "unknown fault '418'" in done.stderr
