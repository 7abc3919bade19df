"""How fast the evaluation replays: 10 LoCoMo-sized conversations x the six strategies.

The six are the command line's default set (``convolab eval``: full, sliding, summarizing,
memory, retrieval, compaction), as in the Speed issue's row; the retrieval variants added
later (``retrieval-messages``, ``memory-retrieval``) are not part of this figure.

The Evaluation issue's goal: under 30 s on a 2-core machine. The 10 conversations are the 2
LoCoMo development conversations (``../shared/data/locomo``) five times each (or, without them,
10 synthetic conversations of LoCoMo's length), replayed by ``convolab.eval.run_eval`` with
``jobs`` worker processes (default: one per CPU) on ``DirectClient`` (the simulator's handler
called in-process). Baseline in the same run: one conversation x six strategies through the
real ``anthropic.Anthropic`` client (``sdk=True``: request building, HTTP transport, response
parsing), against the same conversation on ``DirectClient``.

Prints ``result: replay_turns_per_s=<user turns replayed per second, all strategies>``.
Run: ``.venv/bin/python benchmarks/bench_replay.py [--conversations N] [--jobs N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from convolab.commands.eval import DEFAULT_STRATEGIES as NAMES
from convolab.datasets import load_locomo, synthetic
from convolab.eval import replay_sample, run_eval

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"


def samples(n: int) -> tuple[list, str]:
    if LOCOMO.exists():
        base = load_locomo(LOCOMO)
        source = f"LoCoMo development conversations ({len(base)}) repeated"
    else:
        base = [synthetic(600, seed=s) for s in range(2)]
        source = "synthetic conversations of LoCoMo's length (no ../shared/data/locomo)"
    out = [dataclasses.replace(base[k % len(base)], sample_id=f"{base[k % len(base)].sample_id}#{k}")
           for k in range(n)]
    return out, source


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    data, source = samples(args.conversations)
    turns_each = sum(1 for m in data[0].conversation.messages if m.role == "user")
    print(f"{len(data)} conversations ({source}), {len(NAMES)} strategies, {args.jobs} worker process(es)")

    t0 = time.perf_counter()
    result = run_eval(data, NAMES, jobs=args.jobs)
    wall = time.perf_counter() - t0
    turns = int(result.runs["turns"].sum())
    questions = int(result.runs["qa_items"].sum())
    print(f"{'replay':<34} {'seconds':>8} {'turns':>7} {'questions':>9} {'turns/s':>8}")
    print(f"{'all, DirectClient':<34} {wall:>8.1f} {turns:>7} {questions:>9} {turns / wall:>8.0f}"
          f"   (goal: under 30 s for 10 x 6 on 2 cores)")

    one = data[0]
    timing = {}
    for label, sdk in (("one conversation, DirectClient", False), ("one conversation, anthropic SDK", True)):
        t0 = time.perf_counter()
        n = sum(replay_sample(one, name, sdk=sdk).turns for name in NAMES)
        timing[label] = (time.perf_counter() - t0, n)
        print(f"{label:<34} {timing[label][0]:>8.1f} {n:>7} {'':>9} {n / timing[label][0]:>8.0f}")
    direct, via_sdk = timing["one conversation, DirectClient"][0], timing["one conversation, anthropic SDK"][0]
    print(f"DirectClient is {via_sdk / direct:.2f}x faster than the SDK path (serial, same conversation);"
          f" turns per conversation: {turns_each}")
    print(f"result: replay_turns_per_s={turns / wall:.0f} replay_10x6_s={wall:.1f}")


if __name__ == "__main__":
    main()
