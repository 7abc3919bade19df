"""Crash safety: a process writing a conversation is killed with SIGKILL at random points.

The simulated API runs in this process, served over HTTP with a billing journal, so what it
billed survives the writer. After every kill the conversation is resumed by a new writer.
At the end: every send that returned is stored, nothing is billed twice (per idempotency key)
or recorded twice (per ledger request_id), every recorded request was billed, and the resumed
session's next request passes the strict simulator.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convolab.session import ChatSession
from convolab.sim import Simulator
from convolab.sim.http import serve
from convolab.stores.duckdb import DuckDBStore
from convolab.strategies import Summarizing

KILLS = 30 if os.environ.get("CI") else 10

WORKER = textwrap.dedent("""
    import sys, anthropic
    from convolab.session import ChatSession
    from convolab.stores.duckdb import DuckDBStore
    from convolab.strategies import Summarizing

    db, url, conv, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = anthropic.Anthropic(base_url=url, api_key="sim", max_retries=5, timeout=2)
    store = DuckDBStore(db)
    s = ChatSession.resume(store, conv, user_id="ada", client=client, daily_budget_usd=100.0,
                           strategy=Summarizing(budget_tokens=900, keep_recent_turns=2, compress_at=200))
    print("RESUMED", len(s.recovered.unanswered), len(s.recovered.released), flush=True)
    for i in range(start, start + 1000):
        turn = s.send(f"Message {i}: item {i} costs {i * 7} euros and ships on day {i % 28 + 1}.")
        print("SENT", i, turn.request_id, turn.messages[-1].id, flush=True)
""")


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.timeout(600)
def test_sigkill_at_random_points_loses_nothing_and_bills_nothing_twice(tmp_path):
    journal = tmp_path / "billed.jsonl"
    sim = Simulator(journal=str(journal), faults={"lost": 0.05, "529": 0.03}, latency={"base": 0.01},
                    real_sleep=True, seed=7)
    server = serve(sim)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    db = tmp_path / "chats.duckdb"
    with DuckDBStore(str(db)) as store:
        conv = store.create_conversation("ada", "You are a shopping assistant.", "claude-haiku-4-5")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    rng = random.Random(1)
    returned: dict[int, tuple[str, str]] = {}  # message number -> (request id, reply id)
    recovered = 0
    next_i = 0
    for k in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(script), str(db), url, conv, str(next_i)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()  # wait until it has resumed, then let it run a random while
        assert line.startswith("RESUMED"), line + proc.stderr.read()
        recovered += int(line.split()[1])
        seen = [proc.stdout.readline() for _ in range(rng.randint(1, 3))]  # let a few sends return
        time.sleep(rng.uniform(0.0, 0.06))  # then kill at a random point of the next turn
        proc.send_signal(signal.SIGKILL)
        out, _err = proc.communicate()
        assert all(x.startswith("SENT") for x in seen), "".join(seen) + _err
        for row in [*seen, *out.splitlines()]:
            if row.startswith("SENT"):
                _, i, rid, reply_id = row.split()
                returned[int(i)] = (rid, reply_id)
        next_i = 1000 * (k + 1)  # fresh message numbers for each writer
    server_sim_requests = journal_lines(journal)
    server.shutdown()

    assert len(returned) >= KILLS, "the writers made progress between kills"
    with DuckDBStore(str(db)) as store:
        rows = store.get_messages(conv, user_id="ada")
        ids = {r["id"] for r in rows}
        texts = {r["content"] for r in rows if r["role"] == "user"}
        for i, (_rid, reply_id) in returned.items():
            assert reply_id in ids, f"reply to message {i} lost"
            assert any(t.startswith(f"Message {i}:") for t in texts), f"message {i} lost"
        assert [r["seq"] for r in rows] == list(range(len(rows)))
        events = store.usage_events("ada", conversation_id=conv)
        recorded = [e.request_id for e in events]
        assert len(recorded) == len(set(recorded)), "a request recorded twice"
        billed: dict[str, int] = {}
        for x in server_sim_requests:
            if x["idempotency_key"] and x["usage"] and not x["replayed"]:
                billed[x["idempotency_key"]] = billed.get(x["idempotency_key"], 0) + 1
        assert all(n == 1 for n in billed.values()), "a request billed twice"
        replies = [e for e in events if e.kind == "reply"]
        assert all(e.request_id in billed for e in replies), "recorded but never billed"
        for i, (rid, _) in returned.items():
            assert rid in recorded, f"the usage of message {i}'s reply is not in the ledger"
        # the resumed session's next request passes the strict simulator
        check = Simulator()
        s = ChatSession.resume(store, conv, user_id="ada", client=check.client(max_retries=0),
                               strategy=Summarizing(budget_tokens=900, keep_recent_turns=2, compress_at=200))
        turn = s.send("How much did item 3 cost?")
        assert turn.reply and check.history[-1].status == 200
        assert not store.open_reservations("ada")
    assert recovered >= 0
