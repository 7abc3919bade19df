"""How long the simulator takes per request, by history size.

Prints, for histories of about 2K, 20K and 100K tokens, the milliseconds per request
(median of repeated turns, each adding one new exchange so the history changes as in a real
conversation), measured two ways: handler-only (``Simulator.handle`` on JSON bytes) and the
full path through the anthropic SDK. The goal (issue "Simulated Claude") is well under 5 ms of
simulator time for a 20K-token history. Run: ``.venv/bin/python benchmarks/bench_simulator.py``.
"""

from __future__ import annotations

import json
import statistics
import time

from convolab.sim import ManualClock, Simulator, Tokenizer

MODEL = "claude-sonnet-4-6"
WORDS = ["the", "team", "agreed", "to", "ship", "the", "release", "on", "friday", "after", "the", "review", "of", "open", "issues", "and", "Maria", "noted", "that", "42", "tests", "still", "fail", "on", "the", "staging", "server", "in", "Lisbon"]


def history(tokens: int) -> list[dict]:
    """Alternating messages until the simulator's own count reaches ``tokens``."""
    tok = Tokenizer()
    msgs, n, i = [], 0, 0
    while n < tokens:
        text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(60)) + f" turn {i}."
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
        n += tok.count(text) + 3
        i += 1
    if msgs[-1]["role"] == "assistant":
        msgs.append({"role": "user", "content": "What did Maria say about the tests?"})
    return msgs


def bench(tokens: int, turns: int = 30) -> tuple[int, float, float]:
    sim = Simulator(clock=ManualClock())
    client = sim.client()
    msgs = history(tokens)
    billed = sim.count({"model": MODEL, "messages": msgs})
    handler, full = [], []
    for t in range(turns):
        body = {"model": MODEL, "max_tokens": 200, "messages": msgs, "cache_control": {"type": "ephemeral"}}
        raw = json.dumps(body).encode()
        t0 = time.perf_counter()
        sim.handle("POST", "/v1/messages", {}, raw)
        handler.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r = client.messages.create(**body)
        full.append(time.perf_counter() - t0)
        msgs = [*msgs, {"role": "assistant", "content": r.content[0].text},
                {"role": "user", "content": f"And what about turn {t}?"}]
        sim.clock.advance(5)
    return billed, statistics.median(handler) * 1e3, statistics.median(full) * 1e3


def main() -> None:
    print("median ms per request; each turn appends an exchange, so the history changes as in a chat")
    print(f"{'history tokens':>15} {'handler ms':>11} {'via SDK ms':>11}")
    for size in (2_000, 20_000, 100_000):
        billed, h, f = bench(size)
        print(f"{billed:>15,} {h:>11.2f} {f:>11.2f}")


if __name__ == "__main__":
    main()
