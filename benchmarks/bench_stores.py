"""DuckDBStore at 1M stored messages, beside the OpenAI Agents SDK's ``SQLiteSession`` on the
same data, measured in the same run: append, fetch of the last 30 messages, and resume.

Run: ``.venv/bin/python benchmarks/bench_stores.py`` (``--messages 100000`` for a quick look).
Both databases are files in a temp dir, filled in bulk (5,000 conversations of 200 messages by
default, interleaved as live traffic writes them), checkpointed, then reopened, so every figure
starts from disk with cold caches. Figures are medians (p50) over ``--runs`` calls:

* append: ``append_message`` to conversations in use (``add_items([item])`` for the SDK).
  "first" is the first append to a conversation since the store was opened.
* last 30: ``get_recent_messages(limit=30)`` (``get_items(limit=30)``). "first" reads a
  conversation not touched since opening; "again" one this process wrote or read before.
* resume: ``load_conversation`` of a 200-message conversation plus ``load_strategy_state``
  (the SDK: ``get_items()`` of a 200-item session).

Targets from the issue: append and last-30 p50 under 1 ms and within 3x of SQLiteSession;
resume under 50 ms. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable

from convolab.stores import DuckDBStore

TEXT = "Tell me more about the trade-offs of sliding windows versus summaries for long chats. " * 2


def p50_ms(fn: Callable[[int], object], runs: int) -> float:
    times = []
    for i in range(runs):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def conv_id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def build_duckdb(path: str, conversations: int, per: int) -> float:
    t = time.perf_counter()
    with DuckDBStore(path) as store:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000, help="messages stored before measuring")
    ap.add_argument("--per-conversation", type=int, default=200)
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    per = args.per_conversation
    n_conv = max(args.messages // per, 2 * args.runs + 120)  # enough conversations never touched before
    runs = args.runs
    tmp = tempfile.mkdtemp(prefix="convolab-bench-")
    duck_path, sqlite_path = os.path.join(tmp, "store.duckdb"), os.path.join(tmp, "session.sqlite")
    print(f"{n_conv * per:,} messages in {n_conv:,} conversations of {per}, in {tmp}")
    print(f"build: DuckDB {build_duckdb(duck_path, n_conv, per):.1f} s, SQLite {build_sqlite(sqlite_path, n_conv, per):.1f} s")

    # conversations [0, 10) are "in use"; each measurement that wants cold ones takes fresh ids
    active = [conv_id(i) for i in range(10)]
    cold = iter(range(10, n_conv))
    user = {conv_id(i): f"user{i % 1000}" for i in range(n_conv)}

    with DuckDBStore(duck_path) as store:
        for cid in active:  # first touch: owner and next seq come from the database once
            store.append_message(cid, "user", "warm-up", user_id=user[cid])
        firsts = [conv_id(next(cold)) for _ in range(runs)]
        duck = {
            "append": p50_ms(lambda i: store.append_message(active[i % 10], "user", TEXT, user_id=user[active[i % 10]]),
                             runs),
            "append (first)": p50_ms(lambda i: store.append_message(firsts[i], "user", TEXT, user_id=user[firsts[i]]),
                                     runs),
            "last 30 (again)": p50_ms(lambda i: store.get_recent_messages(active[i % 10], 30,
                                                                         user_id=user[active[i % 10]]), runs),
        }
        firsts = [conv_id(next(cold)) for _ in range(runs)]
        duck["last 30 (first)"] = p50_ms(lambda i: store.get_recent_messages(firsts[i], 30, user_id=user[firsts[i]]),
                                         runs)
        firsts = [conv_id(next(cold)) for _ in range(min(runs, 100))]
        duck["resume"] = p50_ms(lambda i: (store.load_conversation(firsts[i], user_id=user[firsts[i]]),
                                           store.load_strategy_state(firsts[i], user_id=user[firsts[i]])),
                                len(firsts))

    from agents.memory import SQLiteSession

    loop = asyncio.new_event_loop()
    cold = iter(range(10, n_conv))
    sessions = {cid: SQLiteSession(cid, sqlite_path) for cid in active}
    for s in sessions.values():
        loop.run_until_complete(s.add_items([{"role": "user", "content": "warm-up"}]))
    item = {"role": "user", "content": TEXT}

    def fresh(k: int) -> list[SQLiteSession]:
        return [SQLiteSession(conv_id(next(cold)), sqlite_path) for _ in range(k)]

    firsts_s = fresh(runs)
    sq = {
        "append": p50_ms(lambda i: loop.run_until_complete(sessions[active[i % 10]].add_items([item])), runs),
        "append (first)": p50_ms(lambda i: loop.run_until_complete(firsts_s[i].add_items([item])), runs),
        "last 30 (again)": p50_ms(lambda i: loop.run_until_complete(sessions[active[i % 10]].get_items(limit=30)),
                                  runs),
    }
    firsts_s = fresh(runs)
    sq["last 30 (first)"] = p50_ms(lambda i: loop.run_until_complete(firsts_s[i].get_items(limit=30)), runs)
    firsts_s = fresh(min(runs, 100))
    sq["resume"] = p50_ms(lambda i: loop.run_until_complete(firsts_s[i].get_items()), len(firsts_s))
    for s in [*sessions.values()]:
        s.close()
    loop.close()

    print(f"\n{'p50, ms':18} {'DuckDBStore':>12} {'SQLiteSession':>14} {'ratio':>6}   target")
    targets = {"append": "< 1 ms, < 3x", "append (first)": "", "last 30 (again)": "< 1 ms, < 3x",
               "last 30 (first)": "< 1 ms, < 3x", "resume": "< 50 ms"}
    for name in duck:
        print(f"{name:18} {duck[name]:>12.3f} {sq[name]:>14.3f} {duck[name] / sq[name]:>6.1f}   {targets[name]}")
    # the ratio line uses the cold fetch (a conversation's first read): the conservative figure
    print(f"result: append_vs_sqlitesession={duck['append'] / sq['append']:.2f} "
          f"recent30_vs_sqlitesession={duck['last 30 (first)'] / sq['last 30 (first)']:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
