"""LongMemEval at full size, measured once and written into docs/scale.md (not part of ``make bench``).

1. A LongMemEval_S-sized history (one generated instance, ``--s-sessions`` sessions of 10 to 14
   exchanges: about 115K tokens) replayed by ``compaction`` at its default trigger (150,000
   tokens) and at the API's floor (50,000), and by ``sliding`` at 4,000 for scale: how many turns
   the server compacted, the largest prompt sent, billed input tokens, dollars.
2. A LongMemEval_M-sized history (``--m-sessions`` sessions of 13 to 18 exchanges, about 1.5M tokens) written as a
   ``longmemeval_m.json`` file, read back with ``iter_longmemeval`` (one instance at a time) and
   replayed by ``sliding`` and ``retrieval``: wall time and the process's peak resident memory
   (``ru_maxrss``), in a fresh process per strategy so each peak is its own.

Run: ``.venv/bin/python benchmarks/longmemeval_scale.py [--s-sessions 50] [--m-sessions 500]``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from convolab.datasets import iter_longmemeval, write_longmemeval_json
from convolab.datasets.longmemeval_synthetic import longmemeval_record
from convolab.eval import replay_sample
from convolab.eval.direct import DirectClient
from convolab.sim import ManualClock, Simulator
from convolab.sim.tokenizer import Tokenizer
from convolab.strategies import ServerCompaction

EXCHANGES = (10, 14)  # about 115K tokens in 50 sessions
M_EXCHANGES = (13, 18)  # about 1.5M tokens in 500 sessions


class Counting(DirectClient):
    """``DirectClient`` that counts replies opening with a ``compaction`` block."""

    def __init__(self, simulator: Any):
        super().__init__(simulator)
        self.compactions = 0
        for messages in (self.messages, self.beta.messages):
            create = messages.create

            def counted(*, _create: Any = create, **request: Any) -> Any:
                reply = _create(**request)
                self.compactions += any(getattr(b, "type", "") == "compaction" for b in reply.content)
                return reply

            messages.create = counted


def history_tokens(sample: Any) -> int:
    tok = Tokenizer()
    return sum(tok.count(m.text) for m in sample.conversation.messages)


def generated(folder: str, name: str, question_type: str, seed: int, sessions: int,
              exchanges: tuple[int, int]) -> tuple[Path, Any]:
    """One generated instance written as ``folder/name`` in the published format, and read back."""
    record = longmemeval_record(question_type, seed=seed, sessions=sessions, session_turns=exchanges)
    path = write_longmemeval_json([record], Path(folder) / name)
    sample = next(iter_longmemeval(path))
    print(f"{name}: {sessions} sessions, {len(sample.conversation.messages):,} messages, "
          f"{history_tokens(sample):,} tokens of history, file {path.stat().st_size / 1e6:.1f} MB")
    return path, sample


def s_sized(sessions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, sample = generated(tmp, "longmemeval_s.json", "multi-session", 7, sessions, EXCHANGES)
    for label, strategy in (("compaction (trigger 150,000: default)", "compaction"),
                            ("compaction (trigger 50,000)", ServerCompaction(trigger_tokens=50_000)),
                            ("sliding (budget 4,000)", "sliding")):
        first = sample.conversation.messages[0].created_at
        client = Counting(Simulator(clock=ManualClock(first), keep_history=0))
        t0 = time.perf_counter()
        run = replay_sample(sample, strategy, budget_tokens=4000, client=client)
        item = run.items[0]
        print(f"  {label}: {run.turns} turns, {client.compactions} compacted by the server, largest prompt "
              f"{max(run.turn_input_tokens):,} tokens, question prompt {item['payload_tokens']:,}, billed input "
              f"{run.total.prompt_tokens:,} (cache read {run.total.cache_read_tokens:,}), "
              f"${run.total.cost_usd:.2f}, evidence recall {item['evidence_recall']}, "
              f"answer in context {item['answer_in_context']}, {time.perf_counter() - t0:.1f} s")


def m_replay(path: str, strategy: str) -> None:
    """In a process of its own: read the file one instance at a time, replay, print the peak RSS."""
    t0 = time.perf_counter()
    sample = next(iter_longmemeval(path))
    run = replay_sample(sample, strategy, budget_tokens=4000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {strategy} (budget 4,000): {run.turns:,} turns in {time.perf_counter() - t0:.0f} s, "
          f"billed input {run.total.prompt_tokens:,}, peak RSS {peak:,.0f} MB")


def m_sized(sessions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, sample = generated(tmp, "longmemeval_m.json", "knowledge-update", 11, sessions, M_EXCHANGES)
        del sample
        for strategy in ("sliding", "retrieval"):
            subprocess.run([sys.executable, __file__, "--m-replay", str(path), strategy], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--s-sessions", type=int, default=50)
    parser.add_argument("--m-sessions", type=int, default=500)
    parser.add_argument("--m-replay", nargs=2, metavar=("PATH", "STRATEGY"), help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("s", "m"))
    args = parser.parse_args()
    if args.m_replay:
        m_replay(*args.m_replay)
        return
    if args.only != "m":
        s_sized(args.s_sessions)
    if args.only != "s":
        m_sized(args.m_sessions)


if __name__ == "__main__":
    main()
