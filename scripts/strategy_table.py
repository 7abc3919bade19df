"""The table in docs/strategies.md: payload tokens per turn, cache hit rate and cost of each
strategy on a synthetic 300-turn conversation, replayed against the simulator.

Each user turn: the strategy builds its payload, the payload is sent (so usage is the
simulator's bill), then the conversation's recorded reply is appended (teacher forcing) and the
strategy observes the exchange; the simulated clock follows the messages' timestamps, so the
5-minute cache expires between sessions as it would. Side calls (summaries, memory extraction)
are billed too. Run: ``.venv/bin/python scripts/strategy_table.py [--turns 300] [--budget 4000]``.
"""

from __future__ import annotations

import argparse
import time

from convolab.datasets import synthetic
from convolab.model import Conversation, group_turns
from convolab.pricing import cost_usd
from convolab.sim import ManualClock, Simulator
from convolab.strategies import NAMES, make_strategy

MARKS = (1, 10, 50, 100, 200, 300)


def replay(name: str, sample, budget: int, model: str) -> dict:
    first = sample.conversation.messages[0].created_at
    sim = Simulator(clock=ManualClock(first))
    client = sim.client()
    strategy = make_strategy(name, budget_tokens=budget, model=model)
    src = sample.conversation
    conv = Conversation(session_id=src.session_id, system_prompt=src.system_prompt, model=model, tools=src.tools)
    per_turn, billed, cost, build_s = [], {"input": 0, "write": 0, "read": 0}, 0.0, 0.0
    for turn in group_turns(src.messages):
        users = [m for m in turn.messages if m.role == "user"][:1]
        if not users:  # a conversation that opens with an assistant message
            conv.extend(turn.messages)
            continue
        head = turn.messages.index(users[0]) + 1
        conv.extend(turn.messages[:head])
        if conv.messages[-1].created_at > sim.clock.now():
            sim.clock.set(conv.messages[-1].created_at)
        t = time.perf_counter()
        payload = strategy.build(conv, client=client)
        build_s += time.perf_counter() - t
        u = payload.create(client).usage
        per_turn.append(payload.input_tokens)
        billed["input"] += u.input_tokens
        billed["write"] += u.cache_creation_input_tokens or 0
        billed["read"] += u.cache_read_input_tokens or 0
        cost += cost_usd(model, u)
        conv.extend(turn.messages[head:])
        strategy.observe(group_turns(conv.messages[conv.index_of(users[0].id):])[0], client=client, conversation=conv)
    side = sum(cost_usd(m, u) for m, u in strategy.side_usage)
    total = sum(billed.values())
    return {"strategy": name, "per_turn": per_turn, "hit_rate": billed["read"] / total if total else 0.0,
            "input_total": total, "cost": cost + side, "side_cost": side, "build_ms": 1000 * build_s / len(per_turn)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--turns", type=int, default=300, help="user turns (the generator counts messages: twice this)")
    ap.add_argument("--budget", type=int, default=4000)
    ap.add_argument("--model", default="claude-sonnet-4-6")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sample = synthetic(2 * args.turns, seed=args.seed)
    rows = [replay(name, sample, args.budget, args.model) for name in NAMES]
    n = len(rows[0]["per_turn"])
    marks = [m for m in MARKS if m <= n] + ([n] if n not in MARKS else [])
    print(f"synthetic(turns={2 * args.turns}, seed={args.seed}): {n} user turns; budget {args.budget} tokens; "
          f"{args.model}")
    head = " | ".join(f"turn {m}" for m in marks)
    print(f"\n| strategy | {head} | input tokens, all turns | cache hit rate | cost (USD) | of which side calls | build ms/turn |")
    print("|---|" + "---:|" * (len(marks) + 5))
    for r in rows:
        cells = " | ".join(f"{r['per_turn'][m - 1]:,}" for m in marks)
        print(f"| {r['strategy']} | {cells} | {r['input_total']:,} | {r['hit_rate']:.0%} | {r['cost']:.3f} | "
              f"{r['side_cost']:.3f} | {r['build_ms']:.2f} |")


if __name__ == "__main__":
    main()
