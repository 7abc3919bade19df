"""A budget sweep in this process and on a local Dask cluster: the price of ``--scheduler local:N``.

The sweep: synthetic conversations (``--conversations``, ``--turns`` each) x sliding, retrieval
and summarizing x budgets 4000, 8000, 16000 (one task per conversation, strategy and budget),
replayed by ``convolab.eval.run_eval`` once with ``jobs=1`` (in this process) and once with
``scheduler="local:N"`` (``--workers`` worker processes on 127.0.0.1, started and stopped inside
the timing, as the command line does). The summaries must agree (build timings aside).

Prints ``result: sweep_dask_vs_local=<wall time on the local Dask cluster / wall time in process>``
(below 1: the cluster is faster; on a shared 2-core machine it mostly measures the cost of
starting workers and moving samples and results).
Run: ``.venv/bin/python benchmarks/bench_sweep.py [--conversations N] [--turns N] [--workers N]``.
"""

from __future__ import annotations

import argparse
import time

from convolab.datasets import synthetic
from convolab.eval import run_eval

STRATEGIES = ("sliding", "retrieval", "summarizing")
BUDGETS = (4000, 8000, 16000)
TIMING = ("build_ms_p50", "build_ms_p90")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    samples = [synthetic(args.turns, seed=s) for s in range(args.conversations)]
    tasks = args.conversations * len(STRATEGIES) * len(BUDGETS)
    t0 = time.perf_counter()
    here = run_eval(samples, STRATEGIES, budget_tokens=list(BUDGETS), jobs=1)
    local_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    there = run_eval(samples, STRATEGIES, budget_tokens=list(BUDGETS), scheduler=f"local:{args.workers}")
    dask_s = time.perf_counter() - t0
    same = there.summary.drop(TIMING).rows() == here.summary.drop(TIMING).rows()
    print(f"{args.conversations} conversations of {args.turns} turns x {len(STRATEGIES)} strategies x "
          f"{len(BUDGETS)} budgets = {tasks} tasks")
    print(f"in process (jobs=1):        {local_s:7.2f} s")
    print(f"local Dask, {args.workers} workers:     {dask_s:7.2f} s (cluster start and stop included)")
    print(f"same summary: {same}")
    if not same:
        raise SystemExit("the Dask run's summary differs from the run in process")
    print(f"result: sweep_dask_vs_local={dask_s / local_s:.2f}")


if __name__ == "__main__":
    main()
