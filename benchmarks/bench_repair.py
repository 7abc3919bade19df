"""How long ``repair_messages`` takes on long histories, against the bare minimum of touching
every message once (``[m.to_api() for m in msgs]`` / copying the dicts), measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_repair.py``. Strategies call repair on every request,
but on the window they send, so these 10,000-message figures are the worst case.
"""

from __future__ import annotations

import statistics
import time

from convolab import Message, repair_messages


def history(n: int) -> list[dict]:
    msgs: list[dict] = []
    i = 0
    while len(msgs) < n - 1:
        msgs += [{"role": "user", "content": f"question {i}"},
                 {"role": "assistant", "content": [{"type": "text", "text": f"let me look {i}"},
                                                   {"type": "tool_use", "id": f"t{i}", "name": "f", "input": {}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": f"r{i}"}]},
                 {"role": "assistant", "content": f"answer {i}"}]
        i += 1
    return [*msgs, {"role": "user", "content": "last"}]


def median_ms(fn, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    dicts = history(10_000)
    objs = [Message(m["role"], m["content"]) for m in dicts]
    run_of_one_role = [{"role": "user", "content": f"line {i} " + "x" * 200} for i in range(5_000)]
    rows = [
        ("10,000 dicts, for_request", lambda: repair_messages(dicts, for_request=True), lambda: [dict(m) for m in dicts]),
        ("10,000 Messages, for_request", lambda: repair_messages(objs, for_request=True), lambda: [m.to_api() for m in objs]),
        ("5,000 user messages in a row", lambda: repair_messages(run_of_one_role), lambda: [dict(m) for m in run_of_one_role]),
    ]
    print(f"{'case':32} {'repair ms':>10} {'baseline ms':>12} {'ratio':>6}")
    for name, fn, base in rows:
        r, b = median_ms(fn), median_ms(base)
        print(f"{name:32} {r:>10.2f} {b:>12.2f} {r / b:>6.1f}")


if __name__ == "__main__":
    main()
