"""Runs every ``benchmarks/bench_*.py`` (each prints its figures beside a baseline measured in the
same run), then prints the one summary line the Evaluation issue asks for:

    ratios: build_vs_langchain_trim=... append_vs_sqlitesession=... recent30_vs_sqlitesession=...
            replay_turns_per_s=... resume_vs_sqlitesession=... retrieval_build_ms_10k=...
            locomo_embed_s=... sweep_dask_vs_local=...

Ratios above 1 mean convolab is better for the first, worse for the store ratios (DuckDBStore's
p50 over SQLiteSession's: append, the first last-30 fetch, resume);
``retrieval_build_ms_10k`` (goal <= 2) and ``locomo_embed_s`` (goal <= 1) are Retrieval's build
time per turn at 10,000 messages and the time to embed a LoCoMo conversation;
``sweep_dask_vs_local`` is a budget sweep's wall time on a local Dask cluster over its wall time
in process (``bench_sweep.py``). Each script
reports its figures on a line ``result: key=value ...``; a missing figure prints as ``n/a``.
Run: ``make bench`` (or ``.venv/bin/python benchmarks/run_all.py [--quick]``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("build_vs_langchain_trim", "append_vs_sqlitesession", "recent30_vs_sqlitesession", "replay_turns_per_s",
        "resume_vs_sqlitesession", "retrieval_build_ms_10k", "locomo_embed_s", "sweep_dask_vs_local")
QUICK = {"bench_stores.py": ["--messages", "100000", "--runs", "100", "--rounds", "2"],
         "bench_sweep.py": ["--conversations", "2", "--turns", "100"]}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    figures: dict[str, str] = {}
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        args = QUICK.get(script.name, []) if quick else []
        proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("result: "):
                figures.update(kv.split("=", 1) for kv in line[len("result: "):].split())
        if proc.wait() != 0:
            failed.append(script.name)
    print("ratios: " + " ".join(f"{k}={figures.get(k, 'n/a')}" for k in KEYS))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
