"""Retrieval's build time per turn at 100, 1,000 and 10,000 messages, against baselines measured
in the same run: SlidingWindow (no retrieval at all) and ``rank_bm25`` re-indexing the older
turns on every turn (it has no way to add a document; ``bm25s`` neither).

Each timed build follows one new exchange, so it includes indexing the turn that became final.
Retrieval's index is incremental and scoring reads only the query terms' postings: its build
time should stay about flat as the history grows, while re-indexing grows with it. Run:
``.venv/bin/python benchmarks/bench_retrieval.py`` (``pip install rank-bm25`` for the last column).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from convolab import Conversation
from convolab.lexical import tokenize
from convolab.strategies import SlidingWindow
from convolab.strategies.retrieval import Retrieval
from convolab.strategies.retrieval_index import turn_text

try:
    from rank_bm25 import BM25Okapi
except ImportError:  # optional: only the comparison column needs it
    BM25Okapi = None

SYSTEM = "You are a helpful project assistant. " * 20
TOPICS = ["garden", "invoice", "football", "piano", "deadline", "budget", "travel", "recipe", "server", "report"]
T0 = datetime(2023, 5, 8, 9, 0, tzinfo=UTC)


def conversation(n_messages: int) -> Conversation:
    conv = Conversation(system_prompt=SYSTEM, model="claude-sonnet-4-6")
    for i in range(n_messages // 2):
        a, b = TOPICS[i % 10], TOPICS[(7 * i + 3) % 10]
        when = T0 + timedelta(hours=i)
        conv.add("user", f"Question {i}: how is the {a} going, and who reviewed the {b} draft {i}?", created_at=when)
        conv.add("assistant", f"Answer {i}: the {a} is on track and Omar reviewed the {b} draft {i}.", created_at=when)
    conv.add("user", "My sister's name is Ilse, by the way.")
    return conv


def per_turn_us(strategy, conv: Conversation, turns: int = 200) -> float:
    """Median build time, each build after one new exchange (so one turn to index)."""
    strategy.build(conv)  # the first build indexes the whole history once
    times = []
    for k in range(turns):
        conv.add("assistant", f"Noted {k}.")
        conv.add("user", f"What did Omar say about the {TOPICS[k % 10]} draft {k * 37 % 5000}?")
        t = time.perf_counter()
        strategy.build(conv)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def rank_bm25_us(conv: Conversation, runs: int = 5) -> float:
    """Re-index every older turn with rank_bm25 and score one query (tokenized turns reused)."""
    turns = conv.turns()[:-1]
    corpus = [tokenize(turn_text(t.messages)) or ["_"] for t in turns]
    query = tokenize("What did Omar say about the garden draft 120?")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        BM25Okapi(corpus, k1=1.2, b=0.75).get_scores(query)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main() -> None:
    print(f"{'messages':>9} {'Retrieval us':>13} {'Sliding us':>11} {'ratio':>6} {'cold index ms':>14} "
          f"{'rank_bm25 re-index us':>22} {'ratio':>6}")
    base = None
    for n in (100, 1_000, 10_000):
        conv = conversation(n)
        cold = Retrieval(budget_tokens=4000)
        t = time.perf_counter()
        cold.build(conv)
        cold_ms = (time.perf_counter() - t) * 1e3
        ours = per_turn_us(Retrieval(budget_tokens=4000), conversation(n))
        sliding = per_turn_us(SlidingWindow(budget_tokens=4000), conversation(n))
        base = base or ours
        theirs = rank_bm25_us(conv) if BM25Okapi is not None else None
        tail = f"{theirs:>22.0f} {theirs / ours:>6.1f}" if theirs is not None else f"{'(not installed)':>22} {'-':>6}"
        print(f"{n:>9,} {ours:>13.1f} {sliding:>11.1f} {ours / sliding:>6.1f} {cold_ms:>14.1f} {tail}")
    print(f"Retrieval per-turn build at 10,000 messages is {ours / base:.2f}x its time at 100 messages.")


if __name__ == "__main__":
    main()
