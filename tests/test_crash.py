"""Crash safety: a process writing a conversation is killed with SIGKILL at random points, and
while one of its strategy's side calls (a summary, a memory extraction) is with the API.

The simulated API runs in this process, served over HTTP with a billing journal, so what it
billed survives the writer. After every kill the conversation is resumed by a new writer, which
alternates between a summarizing and a memory strategy. At the end: every send that returned is
stored; nothing is billed twice (per idempotency key) or recorded twice (per ledger request_id);
every billed request, side calls included, is in the ledger (confirmed, or booked unconfirmed at
its reserved worst case, never for less than it was billed); every confirmed row was billed; and
the resumed session's next request passes the strict simulator.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from convolab.blocks import SUMMARY_MARKER
from convolab.pricing import cost_usd
from convolab.session import ChatSession
from convolab.sim import Simulator
from convolab.sim.http_server import serve
from convolab.sim.responder import respond
from convolab.stores.duckdb import DuckDBStore
from convolab.strategies import Summarizing
from convolab.strategies.memory import TOOL_NAME

KILLS = 30 if os.environ.get("CI") else 10  # at random points
SIDE_KILLS = 4  # while a side call is with the API: two memory extractions, two summaries

WORKER = textwrap.dedent("""
    import sys, anthropic
    from convolab.session import ChatSession
    from convolab.stores.duckdb import DuckDBStore
    from convolab.strategies import StructuredMemory, Summarizing

    db, url, conv, start, kind = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    client = anthropic.Anthropic(base_url=url, api_key="sim", max_retries=5, timeout=2)
    store = DuckDBStore(db)
    strategy = (Summarizing(budget_tokens=900, keep_recent_turns=2, compress_at=200) if kind == "summarizing"
                else StructuredMemory(budget_tokens=1500, keep_recent_turns=2))
    s = ChatSession.resume(store, conv, user_id="ada", client=client, daily_budget_usd=100.0, strategy=strategy)
    kinds = ",".join(e.kind for e in s.recovered.booked) or "-"
    print("RESUMED", len(s.recovered.unanswered), len(s.recovered.booked), kinds, flush=True)
    for i in range(start, start + 1000):
        turn = s.send(f"Message {i}: item {i} costs {i * 7} euros and ships on day {i % 28 + 1}.")
        print("SENT", i, turn.request_id, turn.messages[-1].id, flush=True)
""")


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def side_call(body: dict[str, Any]) -> str | None:
    """``"memory"`` or ``"summary"`` for a strategy's side call, None for a turn's request."""
    if any(t.get("name") == TOOL_NAME for t in body.get("tools") or []):
        return "memory"
    first = body["messages"][0]["content"]
    return "summary" if SUMMARY_MARKER in (first if isinstance(first, str) else json.dumps(first)) else None


class KillSwitch:
    """A responder that holds the next side call of a kind until the test has killed its writer."""

    def __init__(self) -> None:
        self.wanted: str | None = None
        self.holding = threading.Event()

    def __call__(self, body: dict[str, Any]) -> Any:
        if self.wanted is not None and side_call(body) == self.wanted:
            self.wanted = None
            self.holding.set()
            time.sleep(1.0)  # processed and billed after this: the writer is dead by then
        return respond(body)


class Writers:
    def __init__(self, tmp_path: Path, url: str, db: Path, conv: str):
        self.script = tmp_path / "worker.py"
        self.script.write_text(WORKER)
        self.url, self.db, self.conv = url, db, conv
        self.returned: dict[int, tuple[str, str]] = {}  # message number -> (request id, reply id)
        self.resumes: list[list[str]] = []  # what each writer found: [unanswered, booked, kinds]
        self.k = 0

    def start(self, kind: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(self.script), str(self.db), self.url, self.conv,
                                 str(1000 * self.k), kind], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.k += 1
        line = proc.stdout.readline()  # wait until it has resumed
        assert line.startswith("RESUMED"), line + proc.stderr.read()
        self.resumes.append(line.split()[1:])
        return proc

    def kill(self, proc: subprocess.Popen, seen: list[str]) -> None:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        assert all(x.startswith("SENT") for x in seen), "".join(seen) + err
        for row in [*seen, *out.splitlines()]:
            if row.startswith("SENT"):
                _, i, rid, reply_id = row.split()
                self.returned[int(i)] = (rid, reply_id)


@pytest.mark.timeout(600)
def test_sigkill_at_random_points_and_during_side_calls_loses_nothing_and_bills_nothing_unbooked(tmp_path):
    journal = tmp_path / "billed.jsonl"
    switch = KillSwitch()
    sim = Simulator(journal=str(journal), faults={"lost": 0.05, "529": 0.03}, latency={"base": 0.01},
                    real_sleep=True, seed=7, responder=switch)
    server = serve(sim)
    db = tmp_path / "chats.duckdb"
    with DuckDBStore(str(db)) as store:
        conv = store.create_conversation("ada", "You are a shopping assistant.", "claude-haiku-4-5")
    writers = Writers(tmp_path, f"http://127.0.0.1:{server.server_address[1]}", db, conv)
    rng = random.Random(1)
    for k in range(KILLS):
        proc = writers.start("summarizing" if k % 2 else "memory")
        seen = [proc.stdout.readline() for _ in range(rng.randint(1, 3))]  # let a few sends return
        time.sleep(rng.uniform(0.0, 0.06))  # then kill at a random point of the next turn
        writers.kill(proc, seen)
    for kind in ("memory", "summary") * (SIDE_KILLS // 2):
        switch.wanted = kind
        proc = writers.start("memory" if kind == "memory" else "summarizing")
        assert switch.holding.wait(60), f"no {kind} call came"
        switch.holding.clear()
        writers.kill(proc, [])
    proc = writers.start("memory")  # settles what the last kill left
    writers.kill(proc, [proc.stdout.readline()])
    billed_lines = journal_lines(journal)
    server.shutdown()

    booked_side = [k for _, _, kinds in writers.resumes for k in kinds.split(",") if k in ("memory", "summary")]
    assert len(booked_side) >= SIDE_KILLS, "each side call killed in flight was booked on resume"
    assert len(writers.returned) >= KILLS, "the writers made progress between kills"
    with DuckDBStore(str(db)) as store:
        check_messages(store, conv, writers.returned)
        check_ledger(store, conv, billed_lines, writers.returned)
        # the resumed session's next request passes the strict simulator
        check = Simulator()
        s = ChatSession.resume(store, conv, user_id="ada", client=check.client(max_retries=0),
                               strategy=Summarizing(budget_tokens=900, keep_recent_turns=2, compress_at=200))
        turn = s.send("How much did item 3 cost?")
        assert turn.reply and check.history[-1].status == 200
        assert not store.open_reservations("ada")


def check_messages(store: DuckDBStore, conv: str, returned: dict[int, tuple[str, str]]) -> None:
    rows = store.get_messages(conv, user_id="ada")
    ids = {r["id"] for r in rows}
    texts = {r["content"] for r in rows if r["role"] == "user"}
    for i, (_rid, reply_id) in returned.items():
        assert reply_id in ids, f"reply to message {i} lost"
        assert any(t.startswith(f"Message {i}:") for t in texts), f"message {i} lost"
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    assert not any(r["rejected"] for r in rows)


def check_ledger(store: DuckDBStore, conv: str, billed_lines: list[dict], returned: dict[int, tuple[str, str]]) -> None:
    events = {e.request_id: e for e in store.usage_events("ada", conversation_id=conv)}
    assert len(events) == len(store.usage_events("ada")), "a request recorded twice, or outside the conversation"
    billed: dict[str, list[dict]] = {}
    for x in billed_lines:
        if x["path"] == "/v1/messages" and x["usage"] and not x["replayed"]:
            assert x["idempotency_key"], "a request was sent without a reservation"
            billed.setdefault(x["idempotency_key"], []).append(x)
    assert all(len(v) == 1 for v in billed.values()), "a request billed twice"
    kinds = {"reply", "summary", "memory"}
    assert {events[k].kind for k in billed if k in events} == kinds, "requests of every kind were billed"
    for key, (x,) in billed.items():
        assert key in events, f"billed but not in the ledger: {x}"
        assert events[key].cost_usd >= cost_usd(x["model"], x["usage"]) - 1e-12, "the ledger under-counts"
    assert all(e.request_id in billed for e in events.values() if e.confirmed), "recorded but never billed"
    assert any(not e.confirmed for e in events.values()), "some requests were booked unconfirmed"
    for i, (rid, _) in returned.items():
        assert events[rid].confirmed, f"the usage of message {i}'s reply is not in the ledger"
