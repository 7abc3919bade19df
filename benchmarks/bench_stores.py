"""DuckDBStore and PostgresStore at 1M stored messages, beside the OpenAI Agents SDK's
``SQLiteSession`` on the same data, measured in the same run: append, last 30 messages, resume.

Run: ``.venv/bin/python benchmarks/bench_stores.py`` (``--messages 100000`` for a quick look).
The databases are files (PostgreSQL: a throwaway server started here with ``fsync=on``, or
``--postgres DSN``), filled in bulk (5,000 conversations of 200 messages by default,
interleaved as live traffic writes them), then reopened, so every figure starts with cold
caches. DuckDBStore compacts on close (rows in conversation order, ``DuckDBStore.compact``),
as any store that has taken that many messages does; ``--no-compact`` measures the file as
written. The stores take turns call by call, so a busy machine slows them alike; the whole
measurement runs ``--rounds`` times and the table gives the median p50 of the rounds and
their range.

* append: ``append_message`` to conversations in use (``add_items([item])`` for the SDK).
  "first" is the first append to a conversation since the store was opened.
* last 30: ``get_recent_messages(limit=30)`` (``get_items(limit=30)``). "first" reads a
  conversation not touched since opening; "again" one this process wrote or read before.
* resume: ``load_conversation`` of a 200-message conversation plus ``load_strategy_state``
  (the SDK: ``get_items()`` of a 200-item session).

Goals (issue 20): DuckDBStore within 2x of SQLiteSession on append, the first last-30 fetch
and resume. Nothing is asserted: the figures are printed, with a ``result:`` line of ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from convolab.stores import DuckDBStore

TEXT = "Tell me more about the trade-offs of sliding windows versus summaries for long chats. " * 2
MEASURES = ("append", "append (first)", "last 30 (again)", "last 30 (first)", "resume")
ACTIVE = 10  # conversations "in use"


def conv_id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def user_of(i: int) -> str:
    return f"user{i % 1000}"


# -- building the same data in each database ----------------------------------------------------

def build_duckdb(path: str, conversations: int, per: int, compact: bool) -> float:
    t = time.perf_counter()
    with DuckDBStore(path, compact_on_close=compact) as store:
        store.sql(f"""
            INSERT INTO conversations (id, user_id, title, system_prompt, model, tools, metadata, created_at,
                                       last_updated, is_archived)
            SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'user' || (i % 1000), NULL, '"You are helpful."',
                   'claude-sonnet-4-6', NULL, '{{}}', TIMESTAMPTZ '2026-01-01 00:00:00+00',
                   TIMESTAMPTZ '2026-01-01 00:00:00+00', FALSE
            FROM range({conversations}) t(i)""")
        # seq outer, conversation inner: the conversations' messages interleave as live traffic writes them
        store.sql(f"""
            INSERT INTO messages (conversation_id, id, seq, role, content, input_tokens, output_tokens, model_used,
                                  metadata, created_at)
            SELECT printf('%08x-0000-4000-8000-%012x', c, c), CAST(uuid() AS VARCHAR), s,
                   CASE WHEN s % 2 = 0 THEN 'user' ELSE 'assistant' END,
                   CAST(to_json(? || ' #' || s) AS VARCHAR), 40, 20, NULL, '{{}}',
                   TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(s * 60 + c % 60)
            FROM range({per}) a(s), range({conversations}) b(c)
            ORDER BY s, c""", params=[TEXT])
        store.sql(f"""
            INSERT INTO strategy_state
            SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'summary', '{{"summary": "Ada likes tea."}}',
                   TIMESTAMPTZ '2026-01-01 00:00:00+00'
            FROM range({conversations}) t(i)""")
        store.sql("CHECKPOINT")
    return time.perf_counter() - t


def build_sqlite(path: str, conversations: int, per: int) -> float:
    from agents.memory import SQLiteSession

    t = time.perf_counter()
    SQLiteSession("schema", path).close()  # the SDK creates its own schema
    con = sqlite3.connect(path)
    con.executemany("INSERT INTO agent_sessions (session_id) VALUES (?)", ((conv_id(c),) for c in range(conversations)))
    con.executemany("INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)", (
        (conv_id(c), json.dumps({"role": "user" if s % 2 == 0 else "assistant", "content": f"{TEXT} #{s}"}))
        for s in range(per) for c in range(conversations)))
    con.commit()
    con.close()
    return time.perf_counter() - t


def build_postgres(dsn: str, conversations: int, per: int) -> float:
    import psycopg

    from convolab.stores import PostgresStore

    t = time.perf_counter()
    PostgresStore(dsn).close()  # the schema, migrated
    cid = "lpad(to_hex({0}), 8, '0') || '-0000-4000-8000-' || lpad(to_hex({0}), 12, '0')"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"""
            INSERT INTO conversations (id, user_id, title, system_prompt, model, tools, metadata, created_at,
                                       last_updated, is_archived)
            SELECT {cid.format("i")}, 'user' || mod(i, 1000), NULL, '"You are helpful."', 'claude-sonnet-4-6', NULL,
                   '{{}}', TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:00:00+00', FALSE
            FROM generate_series(0, {conversations - 1}) i""")
        conn.execute(f"""
            INSERT INTO messages (conversation_id, id, seq, role, content, input_tokens, output_tokens, model_used,
                                  metadata, created_at)
            SELECT {cid.format("c")}, gen_random_uuid()::text, s,
                   CASE WHEN mod(s, 2) = 0 THEN 'user' ELSE 'assistant' END, to_json(%s || ' #' || s), 40, 20, NULL,
                   '{{}}', TIMESTAMPTZ '2026-01-01 00:00:00+00' + make_interval(secs => s * 60 + mod(c, 60))
            FROM generate_series(0, {per - 1}) s, generate_series(0, {conversations - 1}) c
            ORDER BY s, c""", [TEXT])
        conn.execute(f"""
            INSERT INTO strategy_state
            SELECT {cid.format("i")}, 'summary', '{{"summary": "Ada likes tea."}}', TIMESTAMPTZ '2026-01-01 00:00:00+00'
            FROM generate_series(0, {conversations - 1}) i""")
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t


# -- the peers: one interface over each ----------------------------------------------------------

class Store:
    """A convolab store (DuckDBStore or PostgresStore) as a peer."""

    def __init__(self, store):
        self.store = store

    def append(self, i: int) -> None:
        self.store.append_message(conv_id(i), "user", TEXT, user_id=user_of(i))

    def last30(self, i: int) -> None:
        self.store.get_recent_messages(conv_id(i), 30, user_id=user_of(i))

    def resume(self, i: int) -> None:
        self.store.load_conversation(conv_id(i), user_id=user_of(i))
        self.store.load_strategy_state(conv_id(i), user_id=user_of(i))

    def close(self) -> None:
        self.store.close()


class Sessions:
    """``SQLiteSession`` objects on one file, made before they are timed."""

    def __init__(self, path: str):
        from agents.memory import SQLiteSession

        self.path, self.cls = path, SQLiteSession
        self.loop = asyncio.new_event_loop()
        self.sessions: dict[int, SQLiteSession] = {}

    def prepare(self, ids: list[int]) -> None:
        for i in ids:
            if i not in self.sessions:
                self.sessions[i] = self.cls(conv_id(i), self.path)

    def append(self, i: int) -> None:
        self.loop.run_until_complete(self.sessions[i].add_items([{"role": "user", "content": TEXT}]))

    def last30(self, i: int) -> None:
        self.loop.run_until_complete(self.sessions[i].get_items(limit=30))

    def resume(self, i: int) -> None:
        self.loop.run_until_complete(self.sessions[i].get_items())

    def close(self) -> None:
        for s in self.sessions.values():
            s.close()
        self.loop.close()


def measure(peers: dict[str, object], calls: dict[str, Callable[[object, int], None]], ids: list[int]) -> dict:
    """p50 (ms) of each peer over ``ids``, the peers taking turns call by call (in rotating order)."""
    times: dict[str, list[float]] = {name: [] for name in peers}
    names = list(peers)
    for k, i in enumerate(ids):
        for name in names[k % len(names):] + names[:k % len(names)]:
            t = time.perf_counter()
            calls[name](peers[name], i)
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) * 1e3 for name, v in times.items()}


def run_round(peers: dict[str, object], cold: list[int], runs: int) -> dict[str, dict[str, float]]:
    """One round of every measure; ``cold`` gives conversations no store has touched yet."""
    take = iter(cold)
    active = list(range(ACTIVE))
    plan = {"append": [active[k % ACTIVE] for k in range(runs)], "append (first)": [next(take) for _ in range(runs)],
            "last 30 (again)": [active[k % ACTIVE] for k in range(runs)],
            "last 30 (first)": [next(take) for _ in range(runs)], "resume": [next(take) for _ in range(min(runs, 100))]}
    for p in peers.values():
        if isinstance(p, Sessions):
            p.prepare(active + [i for ids in plan.values() for i in ids])  # the SDK's objects are made untimed
    op = {"append": "append", "append (first)": "append", "last 30 (again)": "last30", "last 30 (first)": "last30",
          "resume": "resume"}
    return {m: measure(peers, {n: (lambda p, i, f=op[m]: getattr(p, f)(i)) for n in peers}, plan[m]) for m in MEASURES}


# -- PostgreSQL -------------------------------------------------------------------------------------

def start_postgres() -> tuple[str, object] | None:
    """A throwaway server (the tests' helper) with durable commits like the others; None without one."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        import psycopg

        from tests.stores.conftest import PgServer, pg_bindir
    except ImportError as e:
        print(f"PostgreSQL: skipped ({e})")
        return None
    bindir = pg_bindir()
    if bindir is None:
        print("PostgreSQL: skipped (no initdb found; pass --postgres DSN)")
        return None
    server = PgServer(bindir).start()
    # the tests start it with fsync and synchronous_commit off for speed: restart it with durable commits
    done = server._run("pg_ctl", "-D", str(server.data), "-l", str(server.base / "server.log"), "-w", "-t", "60", "-o",
                       f"-k {server.base} -p {server.port} -c listen_addresses=''", "restart")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        fsync = conn.execute("SHOW fsync").fetchone()[0]
    if done.returncode != 0 or fsync != "on":
        server.stop()
        raise RuntimeError(f"could not restart PostgreSQL with fsync on: {done.stderr}")
    return server.dsn, server


# -- main -------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000, help="messages stored before measuring")
    ap.add_argument("--per-conversation", type=int, default=200)
    ap.add_argument("--runs", type=int, default=300, help="calls per measure and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--postgres", default="auto", help="'auto' (a throwaway server), 'off', or a DSN")
    ap.add_argument("--no-compact", action="store_true", help="measure the DuckDB file as written (not compacted)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    per, runs = args.per_conversation, args.runs
    cold_needed = args.rounds * (2 * runs + min(runs, 100))  # fresh conversations for the "first" measures
    n_conv = max(args.messages // per, cold_needed + ACTIVE)
    tmp = tempfile.mkdtemp(prefix="convolab-bench-")
    duck_path, sqlite_path = os.path.join(tmp, "store.duckdb"), os.path.join(tmp, "session.sqlite")
    print(f"{n_conv * per:,} messages in {n_conv:,} conversations of {per}, in {tmp}")
    pg = None if args.postgres == "off" else (start_postgres() if args.postgres == "auto" else (args.postgres, None))
    try:
        builds = {"DuckDB": build_duckdb(duck_path, n_conv, per, not args.no_compact),
                  "SQLite": build_sqlite(sqlite_path, n_conv, per)}
        if pg:
            builds["PostgreSQL"] = build_postgres(pg[0], n_conv, per)
        print("build: " + ", ".join(f"{k} {v:.1f} s" for k, v in builds.items()))
        report(measure_all(duck_path, sqlite_path, pg[0] if pg else None, n_conv, runs, args.rounds))
    finally:
        if pg and pg[1] is not None:
            pg[1].stop()
        shutil.rmtree(tmp, ignore_errors=True)


def measure_all(duck_path: str, sqlite_path: str, dsn: str | None, n_conv: int, runs: int,
                rounds: int) -> list[dict[str, dict[str, float]]]:
    peers: dict[str, object] = {"DuckDBStore": Store(DuckDBStore(duck_path, compact_on_close=False)),
                                "SQLiteSession": Sessions(sqlite_path)}
    if dsn:
        from convolab.stores import PostgresStore

        peers["PostgresStore"] = Store(PostgresStore(dsn))
    try:
        for i in range(ACTIVE):  # conversations in use: each store has seen them once
            for p in peers.values():
                if isinstance(p, Sessions):
                    p.prepare([i])
                p.append(i)
        per_round = len(range(ACTIVE, n_conv)) // rounds
        return [run_round(peers, list(range(ACTIVE + r * per_round, ACTIVE + (r + 1) * per_round)), runs)
                for r in range(rounds)]
    finally:
        for p in peers.values():
            p.close()


def report(results: list[dict[str, dict[str, float]]]) -> None:
    peers = list(results[0]["append"])
    print(f"\np50 ms, median of {len(results)} rounds [range]")
    print(f"{'':18}" + "".join(f"{p:>24}" for p in peers) + f"{'DuckDB / SQLite':>22}")
    ratios = {}
    for m in MEASURES:
        cells = []
        for p in peers:
            v = [r[m][p] for r in results]
            cells.append(f"{statistics.median(v):8.3f} [{min(v):.2f}-{max(v):.2f}]")
        ratio = [r[m]["DuckDBStore"] / r[m]["SQLiteSession"] for r in results]
        ratios[m] = statistics.median(ratio)
        print(f"{m:18}" + "".join(f"{c:>24}" for c in cells) + f"{ratios[m]:>10.2f} [{min(ratio):.2f}-{max(ratio):.2f}]")
    # the ratio line uses the cold fetch (a conversation's first read): the conservative figure
    print(f"result: append_vs_sqlitesession={ratios['append']:.2f} "
          f"recent30_vs_sqlitesession={ratios['last 30 (first)']:.2f} resume_vs_sqlitesession={ratios['resume']:.2f}")


if __name__ == "__main__":
    main()
