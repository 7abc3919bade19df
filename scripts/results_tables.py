"""Markdown tables for ``docs/results.md`` from the folders ``convolab eval`` writes.

    convolab eval locomo ../shared/data/locomo --out out/locomo
    .venv/bin/python scripts/results_tables.py out/locomo

Prints the summary (one row per strategy, 95% interval of ``answer_in_context``), the
strategies against full history, and ``answer_in_context`` / ``evidence_recall`` per
category (category 5: ``declines``). Numbers are copied, not retyped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl


def _n(v: float | int | None, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def summary(folder: Path) -> str:
    s = pl.read_csv(folder / "summary.csv")
    out = ["| strategy | turns | QA | input | cache read | cache write | output | cost (USD) | qa_input_tokens "
           "| evidence_recall | answer_in_context [95% CI] | answer_in_message | correctness | declines (cat. 5) "
           "| build ms p50 |", "|---|" + "---:|" * 9 + "---|" + "---:|" * 4]
    for r in s.iter_rows(named=True):
        out.append(f"| {r['strategy']} | {r['turns']} | {r['qa_items']} | {r['input_tokens']:,} | "
                   f"{r['cache_read_tokens']:,} | {r['cache_write_tokens']:,} | {r['output_tokens']:,} | "
                   f"{r['cost_usd']:.2f} | {r['qa_input_tokens']:,.0f} | {_n(r['evidence_recall'], '.3f')} | "
                   f"{_n(r['answer_in_context'], '.3f')} [{_n(r['answer_in_context_lo'], '.2f')}, "
                   f"{_n(r['answer_in_context_hi'], '.2f')}] | {_n(r['answer_in_message'], '.3f')} | "
                   f"{_n(r['correctness'], '.3f')} | {_n(r['declines'], '.3f')} | {_n(r['build_ms_p50'], '.2f')} |")
    if "cost_vs_full" in s.columns:
        out += ["", "| strategy | answer_in_context vs full | qa_input_tokens vs full | cost vs full "
                "| cache hit rate | side calls | side cost (USD) |", "|---|" + "---:|" * 6]
        for r in s.iter_rows(named=True):
            out.append(f"| {r['strategy']} | {r['answer_in_context_vs_full']:.1%} | "
                       f"{r['qa_input_tokens_vs_full']:.1%} | {r['cost_vs_full']:.0%} | "
                       f"{_n(r['cache_hit_rate'], '.0%')} | {r['side_requests']} | {r['side_cost_usd']:.2f} |")
    return "\n".join(out)


def by_category(folder: Path, metric: str) -> str:
    c = pl.read_csv(folder / "by_category.csv")
    cats = c.select("category", "category_name", "qa_items").unique("category").sort("category")
    head = [f"{k} {name} ({n})" for k, name, n in cats.iter_rows()]
    out = ["| strategy | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for name in c["strategy"].unique(maintain_order=True):
        row = []
        for k in cats["category"]:
            r = c.filter((pl.col("strategy") == name) & (pl.col("category") == k)).row(0, named=True)
            row.append(_n(r["declines"] if k == 5 and metric == "answer_in_context" else r[metric], ".3f"))
        out.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    for folder in map(Path, argv):
        if not (folder / "summary.csv").exists():
            print(f"{folder}: no summary.csv; run convolab eval ... --out {folder} first", file=sys.stderr)
            return 2
        print(f"### {folder}\n\n{summary(folder)}\n\n`answer_in_context` per category (category 5: `declines`):\n\n"
              f"{by_category(folder, 'answer_in_context')}\n\n`evidence_recall` per category:\n\n"
              f"{by_category(folder, 'evidence_recall')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
