"""Retrieval's build time per turn at 100, 1,000 and 10,000 messages, against baselines measured
in the same run: SlidingWindow (no retrieval at all) and ``rank_bm25`` re-indexing the older
turns on every turn (it has no way to add a document; ``bm25s`` neither). Then the time to embed
a whole LoCoMo conversation with WordLlama (the model already loaded).

Each timed build follows one new exchange, so it includes indexing (and, for the default hybrid
ranker, embedding) the messages that became final and embedding the query. The index is
incremental: build time should stay about flat as the history grows, while re-indexing grows
with it. Goals (issue 18): a build at 10,000 messages <= 2 ms, a LoCoMo conversation embedded in
<= 1 s. Run: ``.venv/bin/python benchmarks/bench_retrieval.py`` (``pip install rank-bm25`` for the
re-index column); the last line, ``result: ...``, is what ``benchmarks/run_all.py`` reports.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from convolab import Conversation
from convolab.embeddings import WordLlamaEmbedder
from convolab.lexical import tokenize
from convolab.strategies import SlidingWindow
from convolab.strategies.retrieval import Retrieval
from convolab.strategies.retrieval_index import passages, turn_text

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


def embed_conversation_s() -> tuple[float, int, str]:
    """Seconds to embed every passage of a LoCoMo conversation (the model loaded first), how
    many passages, and which conversation (a synthetic one of LoCoMo's size without the data)."""
    from pathlib import Path

    from convolab.datasets import load_locomo, synthetic

    path = Path(__file__).resolve().parents[1].parent / "shared/data/locomo/locomo-dev.json"
    sample = load_locomo(path)[0] if path.exists() else synthetic(420, seed=0)
    texts = [p for m in sample.conversation.messages for p in passages(turn_text([m])) or [""]]
    embedder = WordLlamaEmbedder()
    embedder.embed(["warm up"])
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        embedder.embed(texts)
        runs.append(time.perf_counter() - t)
    return min(runs), len(texts), sample.sample_id


def main() -> None:
    print(f"{'messages':>9} {'hybrid us':>10} {'bm25 us':>8} {'Sliding us':>11} {'hybrid/sliding':>15} "
          f"{'cold index ms':>14} {'rank_bm25 re-index us':>22}")
    ours = base = None
    for n in (100, 1_000, 10_000):
        conv = conversation(n)
        cold = Retrieval(budget_tokens=4000)
        t = time.perf_counter()
        cold.build(conv)
        cold_ms = (time.perf_counter() - t) * 1e3
        ours = per_turn_us(Retrieval(budget_tokens=4000), conversation(n))
        lexical = per_turn_us(Retrieval(budget_tokens=4000, ranker="bm25"), conversation(n))
        sliding = per_turn_us(SlidingWindow(budget_tokens=4000), conversation(n))
        base = base or ours
        theirs = f"{rank_bm25_us(conv):>22.0f}" if BM25Okapi is not None else f"{'(not installed)':>22}"
        print(f"{n:>9,} {ours:>10.1f} {lexical:>8.1f} {sliding:>11.1f} {ours / sliding:>15.1f} {cold_ms:>14.1f} {theirs}")
    print(f"Retrieval per-turn build at 10,000 messages is {ours / base:.2f}x its time at 100 messages.")
    seconds, count, which = embed_conversation_s()
    print(f"Embedding {which} ({count:,} passages) with WordLlama: {seconds:.2f} s")
    print(f"result: retrieval_build_ms_10k={ours / 1000:.2f} locomo_embed_s={seconds:.2f}")


if __name__ == "__main__":
    main()
