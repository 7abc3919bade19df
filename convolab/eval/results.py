"""The evaluation's results as polars frames, and the files ``convolab eval`` writes.

``summary`` has one row per strategy and starts with ``SUMMARY_COLUMNS``; its quality
columns average the items of categories 1-4 (category 5, the adversarial questions, is
``declines``). ``by_category`` has one row per strategy and category, ``items`` one per QA
item and strategy, ``runs`` one per replay (sample and strategy). Intervals are 95%:
``<metric>_lo`` / ``<metric>_hi`` (``convolab.eval.metrics``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from convolab.datasets.records import CATEGORY_NAMES
from convolab.eval import metrics
from convolab.eval.chart import tradeoff_chart, tradeoff_svg
from convolab.eval.kinds import KINDS
from convolab.eval.outdir import publish
from convolab.eval.replay import Run, UsageTotals

__all__ = ["BY_CATEGORY_COLUMNS", "ITEM_SCHEMA", "KINDS", "SUMMARY_COLUMNS", "EvalResult", "frames", "kinds_of",
           "tradeoff_chart"]

SUMMARY_COLUMNS = ["strategy", "conversations", "turns", "qa_items", "input_tokens", "cache_read_tokens",
                   "cache_write_tokens", "output_tokens", "cost_usd", "qa_input_tokens", "evidence_recall",
                   "answer_in_context", "correctness", "build_ms_p50"]
BY_CATEGORY_COLUMNS = ["strategy", "category", "category_name", "qa_items", "qa_input_tokens", "evidence_recall",
                       "answer_in_context", "correctness", "declines", "answer_in_message"]
QUALITY = ("evidence_recall", "answer_in_context", "correctness", "declines", "answer_in_message")
BINARY = ("answer_in_context", "correctness", "declines", "answer_in_message")

ITEM_SCHEMA: dict[str, Any] = {
    "strategy": pl.String, "sample_id": pl.String, "qa_index": pl.Int64, "category": pl.Int64,
    "category_name": pl.String, "question": pl.String, "answer": pl.String, "adversarial_answer": pl.String,
    "evidence": pl.Int64, "evidence_recall": pl.Float64, "answer_in_context": pl.Boolean, "answer_in_message": pl.Boolean,
    "correctness": pl.Boolean, "declines": pl.Boolean, "payload_tokens": pl.Int64, "input_tokens": pl.Int64, "cache_write_tokens": pl.Int64,
    "cache_read_tokens": pl.Int64, "output_tokens": pl.Int64, "cost_usd": pl.Float64, "build_ms": pl.Float64,
    "reply": pl.String,
}
RUN_SCHEMA: dict[str, Any] = {
    "strategy": pl.String, "sample_id": pl.String, "model": pl.String, "turns": pl.Int64, "qa_items": pl.Int64,
    "requests": pl.Int64, "input_tokens": pl.Int64, "cache_write_tokens": pl.Int64, "cache_read_tokens": pl.Int64,
    "output_tokens": pl.Int64, "cost_usd": pl.Float64, "side_requests": pl.Int64, "side_cost_usd": pl.Float64,
    "qa_requests": pl.Int64, "qa_cost_usd": pl.Float64, "build_ms_p50": pl.Float64, "turn_requests": pl.Int64,
    "turn_cost_usd": pl.Float64, "turns_estimated": pl.Boolean,
}



@dataclass
class EvalResult:
    """Frames of one evaluation, and the settings that made it."""

    summary: pl.DataFrame
    by_category: pl.DataFrame
    items: pl.DataFrame
    runs: pl.DataFrame
    config: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, UsageTotals] = field(default_factory=dict)  # KINDS -> their totals

    def write(self, out: str | Path, *, chart: bool = True) -> list[Path]:
        """Write ``summary.csv``, ``by_category.csv``, ``runs.csv``, ``items.parquet`` and
        ``tradeoff.svg`` (needs altair and vl-convert: ``pip install 'convolab[lab]'``) into
        ``out``, all at once: they are written into a temporary folder beside it and moved into
        place only when every file is complete (``convolab.eval.outdir.publish``); returns the
        paths written."""
        svg = tradeoff_svg(self.summary) if chart else None  # fails before anything is written
        return publish(out, lambda folder: self._write_files(folder, svg))

    def _write_files(self, folder: Path, svg: str | None) -> list[Path]:
        written = []
        for name, frame in (("summary.csv", self.summary), ("by_category.csv", self.by_category),
                            ("runs.csv", self.runs)):
            frame.write_csv(folder / name, float_precision=6)
            written.append(folder / name)
        self.items.write_parquet(folder / "items.parquet")
        written.append(folder / "items.parquet")
        if svg is not None:
            (folder / "tradeoff.svg").write_text(svg, encoding="utf-8")
            written.append(folder / "tradeoff.svg")
        return written


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _quality(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means and 95% intervals of the quality metrics over ``items`` (nulls left out)."""
    out: dict[str, Any] = {}
    for m in QUALITY:
        values = [float(i[m]) for i in items if i[m] is not None]
        out[m] = _mean(values)
        lo, hi = metrics.wilson(sum(values), len(values)) if m in BINARY else metrics.mean_interval(values)
        out[f"{m}_lo"], out[f"{m}_hi"] = lo, hi
    return out


def _intervals() -> list[str]:
    return [f"{m}_{end}" for m in QUALITY for end in ("lo", "hi")]


def frames(runs: Sequence[Run], config: dict[str, Any] | None = None) -> EvalResult:
    """The frames of a set of replays (in the order given: strategies first seen first)."""
    config = dict(config or {})
    order = list(dict.fromkeys(r.strategy for r in runs))
    items = [i for r in runs for i in r.items]
    item_frame = pl.DataFrame([{k: i.get(k) for k in ITEM_SCHEMA} for i in items], schema=ITEM_SCHEMA)
    run_frame = pl.DataFrame([r.row() for r in runs], schema=RUN_SCHEMA)

    summary_rows, category_rows = [], []
    for name in order:
        rs = [r for r in runs if r.strategy == name]
        its = [i for r in rs for i in r.items]
        scored = [i for i in its if i["category"] != 5]
        totals = [r.total for r in rs]
        billed = {k: sum(getattr(t, k) for t in totals) for k in ("input_tokens", "cache_read_tokens",
                                                                   "cache_write_tokens", "output_tokens")}
        builds = [ms for r in rs for ms in r.build_ms]
        q = _quality(scored)
        q5 = _quality([i for i in its if i["category"] == 5])
        prompt = billed["input_tokens"] + billed["cache_read_tokens"] + billed["cache_write_tokens"]
        summary_rows.append({
            "strategy": name, "conversations": len(rs), "turns": sum(r.turns for r in rs), "qa_items": len(its),
            **billed, "cost_usd": sum(t.cost_usd for t in totals),
            "qa_input_tokens": _mean([i["payload_tokens"] for i in its]),
            "evidence_recall": q["evidence_recall"], "answer_in_context": q["answer_in_context"],
            "correctness": q["correctness"], "build_ms_p50": statistics.median(builds) if builds else None,
            "declines": q5["declines"], "answer_in_message": q["answer_in_message"],
            **{c: q[c] for c in _intervals() if not c.startswith("declines")},
            "declines_lo": q5["declines_lo"], "declines_hi": q5["declines_hi"],
            "requests": sum(t.requests for t in totals), "side_requests": sum(r.side.requests for r in rs),
            "side_cost_usd": sum(r.side.cost_usd for r in rs), "qa_cost_usd": sum(r.qa.cost_usd for r in rs),
            "cache_hit_rate": billed["cache_read_tokens"] / prompt if prompt else None,
            "build_ms_p90": _quantile(builds, 0.9), "turns_estimated": any(r.turns_estimated for r in rs),
        })
        for cat in sorted({i["category"] for i in its}):
            ci = [i for i in its if i["category"] == cat]
            category_rows.append({"strategy": name, "category": cat, "category_name": CATEGORY_NAMES.get(cat, str(cat)),
                                  "qa_items": len(ci), "qa_input_tokens": _mean([i["payload_tokens"] for i in ci]),
                                  **_quality(ci)})
    summary = pl.DataFrame(summary_rows, infer_schema_length=None)
    if summary.height:
        summary = summary.select(*SUMMARY_COLUMNS, pl.exclude(SUMMARY_COLUMNS))
    if summary.height and "full" in order:
        full = summary.filter(pl.col("strategy") == "full").row(0, named=True)

        def rel(col: str) -> pl.Expr:
            base = full[col]
            return (pl.col(col) / base) if base else pl.lit(None, dtype=pl.Float64)

        summary = summary.with_columns(answer_in_context_vs_full=rel("answer_in_context"),
                                       answer_in_message_vs_full=rel("answer_in_message"),
                                       qa_input_tokens_vs_full=rel("qa_input_tokens"),
                                       cost_vs_full=rel("cost_usd"))
    by_category = pl.DataFrame(category_rows, schema_overrides={c: pl.Float64 for c in (*QUALITY, *_intervals())},
                               infer_schema_length=None)
    if by_category.height:
        by_category = by_category.select(*BY_CATEGORY_COLUMNS, *_intervals())
    return EvalResult(summary, by_category, item_frame, run_frame, config, kinds_of(runs))


def kinds_of(runs: Sequence[Run]) -> dict[str, UsageTotals]:
    """Totals by kind of request over ``runs`` (the judge's calls are added by the judge)."""
    turns, main, side = UsageTotals(), UsageTotals(), UsageTotals()
    for r in runs:
        turns, main, side = turns.plus(r.turn), main.plus(r.main), side.plus(r.side)
    return {"turns": turns, "questions": main.plus(turns, -1), "side calls": side, "judge calls": UsageTotals()}


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]
