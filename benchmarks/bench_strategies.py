"""Payload build time per turn at 10,000 messages: convolab's SlidingWindow against LangChain's
``trim_messages`` (the peer the Strategies issue names), measured side by side in one run.

Both keep about the same recent history under a 4,000-token budget. LangChain's trim walks the
message list on every call; SlidingWindow keeps an incremental index, so its build costs the
same at 10 or 10,000 messages. Run: ``.venv/bin/python benchmarks/bench_strategies.py``.
"""

from __future__ import annotations

import statistics
import time

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately

from convolab import Conversation
from convolab.strategies import FullHistory, SlidingWindow, Summarizing

SYSTEM = "You are a helpful project assistant. " * 20


def conversation(n_messages: int) -> Conversation:
    conv = Conversation(system_prompt=SYSTEM, model="claude-sonnet-4-6")
    for i in range(n_messages // 2):
        conv.add("user", f"Question {i}: how is task {i} going, and who reviewed draft {i}?")
        conv.add("assistant", f"Answer {i}: task {i} is on track and Omar reviewed draft {i} yesterday.")
    conv.add("user", "What is the status now?")
    return conv


def median_us(fn, runs: int = 300) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main() -> None:
    print(f"{'messages':>9} {'SlidingWindow us':>17} {'LangChain trim us':>18} {'ratio':>7} {'Summarizing us':>15}")
    for n in (10, 1_000, 10_000):
        conv = conversation(n)
        lc = [SystemMessage(SYSTEM)] + [HumanMessage(m.text) if m.role == "user" else AIMessage(m.text) for m in conv]
        window = SlidingWindow(budget_tokens=4000)
        summarizing = Summarizing(budget_tokens=4000)
        ours = median_us(lambda w=window, c=conv: w.build(c))
        theirs = median_us(lambda m=lc: trim_messages(m, max_tokens=4000, token_counter=count_tokens_approximately,
                                                      strategy="last", start_on="human", include_system=True),
                           runs=30 if n >= 10_000 else 300)
        summ = median_us(lambda s=summarizing, c=conv: s.build(c))
        print(f"{n:>9,} {ours:>17.1f} {theirs:>18.1f} {theirs / ours:>7.1f} {summ:>15.1f}")
        ratio = theirs / ours
    conv = conversation(10_000)
    full = FullHistory(model="claude-opus-5")  # 1M window: the whole history fits
    print(f"FullHistory at 10,000 messages (repairs and sends everything): {median_us(lambda: full.build(conv), 20):.0f} us")
    print(f"result: build_vs_langchain_trim={ratio:.1f}")


if __name__ == "__main__":
    main()
