"""The plans in docs/live-evaluation.md: what LoCoMo's ten conversations would cost on Claude.

    .venv/bin/python scripts/live_plans.py [--locomo ../shared/data/locomo/locomo-dev.json]

Each plan is ``convolab.eval.plan_eval`` (a dry run of the same payloads on the simulator; nothing
is sent), for all six strategies at the default budget, with the judge claude-haiku-4-5, on
claude-haiku-4-5 and claude-sonnet-4-6:

- each development conversation (conv-26, conv-30: 394 dialogue turns on average), exactly;
- synthetic conversations (seeds 0 and 1) at the development conversations' length (394 turns)
  and at the eight others' (599, the middle of their 509 to 689), for how each kind of request
  grows with length;
- the eight others, by the method the document states: the development conversations' mean
  plan, each kind's tokens and dollars times the synthetic growth from 394 to 599 turns (per
  question for questions and judge calls), the questions and judge calls then scaled to 210
  questions a conversation (the eight hold 1,682; the development ones 152 on average);
- LoCoMo's ten: the two development plans plus eight estimated ones.

Prints the markdown tables of the document (the dry runs take minutes).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from convolab.datasets import load_locomo, synthetic
from convolab.eval.plan import Plan, plan_eval
from convolab.eval.replay import UsageTotals

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ["full", "sliding", "summarizing", "memory", "retrieval", "compaction"]
MODELS = ["claude-haiku-4-5", "claude-sonnet-4-6"]
UNSEEN, UNSEEN_QUESTIONS = 8, 1682
DEV_TURNS, UNSEEN_TURNS = 394, 599


def plan(samples: list, model: str) -> Plan:
    return plan_eval(samples, STRATEGIES, budget_tokens=4000, model=model, priced_at=datetime.now(UTC).date(),
                     judge="claude-haiku-4-5")


def mean(plans: list[Plan]) -> Plan:
    out = plans[0]
    for p in plans[1:]:
        out = out.plus(p)
    return out.scaled(1 / len(plans))


def grown(base: UsageTotals, short: UsageTotals, long: UsageTotals, per: float = 1.0) -> UsageTotals:
    """``base`` times the growth from ``short`` to ``long``, field by field (``per``: a count
    the growth is divided by, such as the ratio of question counts)."""
    def factor(field: str) -> float:
        a, b = getattr(short, field), getattr(long, field)
        return (b / a) / per if a else 1.0
    return UsageTotals(**{f: (round if isinstance(v, int) else float)(v * factor(f)) for f, v in vars(base).items()})


def estimate(dev: Plan, short: Plan, long: Plan, q: dict[str, float]) -> Plan:
    """One unseen conversation: ``dev`` grown as the synthetic plans grow (see the docstring)."""
    kinds: dict[str, dict[str, UsageTotals]] = {}
    for mode, ks in dev.kinds.items():
        kinds[mode] = {}
        for kind, base in ks.items():
            per = q["long"] / q["short"] if kind in ("questions", "judge calls") else 1.0
            count = q["unseen"] / q["dev"] if kind in ("questions", "judge calls") else 1.0
            kinds[mode][kind] = grown(base, short.kinds[mode][kind], long.kinds[mode][kind], per / count)
    return Plan(kinds, "one unseen conversation, estimated")


def row(name: str, p: Plan) -> str:
    cells = []
    for mode in ("replay", "qa"):
        t = p.total(mode)
        cells += [f"{t.requests:,}", f"{t.prompt_tokens / 1e6:,.1f}M", f"{t.output_tokens / 1e3:,.0f}K",
                  f"${p.usd(mode):,.2f}", f"${p.usd(mode, batch=True):,.2f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locomo", default=str(ROOT.parent / "shared/data/locomo/locomo-dev.json"))
    args = parser.parse_args()
    dev = load_locomo(args.locomo)
    short = [synthetic(DEV_TURNS, seed=s, facts=60) for s in (0, 1)]
    long = [synthetic(UNSEEN_TURNS, seed=s, facts=60) for s in (0, 1)]
    q = {"dev": sum(len(s.qa) for s in dev) / len(dev), "unseen": UNSEEN_QUESTIONS / UNSEEN,
         "short": sum(len(s.qa) for s in short) / 2, "long": sum(len(s.qa) for s in long) / 2}
    head = ("| | replay: requests | input | output | usd | usd batch | qa: requests | input | output | usd | usd batch |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in MODELS:
        start = time.monotonic()
        plans = {s.sample_id: plan([s], model) for s in dev}
        dev_mean = mean(list(plans.values()))
        p_short, p_long = mean([plan([s], model) for s in short]), mean([plan([s], model) for s in long])
        unseen = estimate(dev_mean, p_short, p_long, q).scaled(UNSEEN)
        ten = mean(list(plans.values())).scaled(len(plans)).plus(unseen)
        print(f"\n### {model} ({time.monotonic() - start:.0f} s of dry runs)\n\n{head}")
        for sid, p in plans.items():
            print(row(sid, p))
        print(row(f"synthetic, {DEV_TURNS} turns ({q['short']:.0f} questions), mean of 2", p_short))
        print(row(f"synthetic, {UNSEEN_TURNS} turns ({q['long']:.0f} questions), mean of 2", p_long))
        print(row("8 unseen, estimated", unseen))
        print(row("**LoCoMo's ten, estimated**", ten))
        print(f"\n{ten.line('replay')}  (replay)\n{ten.line('qa')}  (qa)")


if __name__ == "__main__":
    main()
