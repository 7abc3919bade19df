"""Retrieval's rankers side by side: ``bm25``, ``semantic`` and ``hybrid`` (and hybrid weights),
against full history, on LoCoMo's development conversations, the synthetic set and the
paraphrase set, each replayed with ``convolab.eval.run_eval`` at one budget.

    .venv/bin/python scripts/ranker_comparison.py --out out/rankers [--budget-tokens 2790]
        [--weights 0.3] [--sets locomo,synthetic,paraphrase]

Prints, per set, ``answer_in_context`` per category with 95% Wilson intervals, tokens and cost
against full history, and writes each set's frames to ``OUT/<set>/`` (as ``convolab eval`` does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convolab.datasets import load_locomo, synthetic
from convolab.datasets.paraphrase import paraphrase
from convolab.eval import run_eval
from convolab.strategies import registry
from convolab.strategies.retrieval import Retrieval

LOCOMO = Path(__file__).resolve().parents[1].parent / "shared/data/locomo/locomo-dev.json"


def ranked(ranker: str, weight: float | None = None) -> str:
    """Register a ``Retrieval`` with that ranker (and hybrid weight) under a name of its own."""
    name = f"retrieval-{ranker}" + (f"-{weight:g}" if weight is not None else "")
    kwargs = {"ranker": ranker, **({"semantic_weight": weight} if weight is not None else {})}
    cls = type(name.replace("-", "_").replace(".", "_"), (Retrieval,),
               {"name": name, "__init__": lambda self, budget_tokens=8000, **kw: Retrieval.__init__(
                   self, budget_tokens, **{**kwargs, **kw})})
    setattr(sys.modules[__name__], cls.__name__, cls)
    registry.STRATEGIES[name] = (__name__, cls.__name__, True)
    return name


def samples(which: str) -> list:
    if which == "locomo":
        return load_locomo(LOCOMO)
    if which == "synthetic":
        return [synthetic(400, seed=s) for s in range(3)]
    return [paraphrase(400, seed=s) for s in range(3)]


def table(result, names: list[str]) -> str:
    import polars as pl

    by = result.by_category.filter(pl.col("category") != 5).sort("category")
    heads = [f"{c} {label} ({int(n)})" for c, label, n in by.filter(pl.col("strategy") == "full").select(
        "category", "category_name", "qa_items").iter_rows()]
    rows = ["| ranker | " + " | ".join(heads) + " | all [95% CI] | tokens vs full | cost vs full |",
            "|---|" + "---|" * len(heads) + "---|---:|---:|"]
    s = result.summary
    for name in ["full", *names]:
        cats = by.filter(pl.col("strategy") == name)
        cells = [f"{v:.3f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in cats.select(
            "answer_in_context", "answer_in_context_lo", "answer_in_context_hi").iter_rows()]
        row = s.filter(s["strategy"] == name).row(0, named=True)
        total = f"{row['answer_in_context']:.3f} [{row['answer_in_context_lo']:.2f}, {row['answer_in_context_hi']:.2f}]"
        ratio = (f"{row.get('qa_input_tokens_vs_full', 1.0):.1%} | {row.get('cost_vs_full', 1.0):.0%}")
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {total} | {ratio} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget-tokens", type=int, default=2790)
    ap.add_argument("--weights", default="0.3", help="hybrid weights to compare, comma-separated")
    ap.add_argument("--sets", default="locomo,synthetic,paraphrase")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    names = [ranked("bm25"), ranked("semantic"), *(ranked("hybrid", float(w)) for w in args.weights.split(","))]
    for which in args.sets.split(","):
        result = run_eval(samples(which), ["full", *names], budget_tokens=args.budget_tokens, jobs=args.jobs)
        result.write(args.out / which, chart=False)
        print(f"## {which} (budget {args.budget_tokens:,} tokens)\n\n{table(result, names)}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
