"""The evaluation's results as polars frames, and the files ``convolab eval`` writes.

``summary`` has one row per strategy and budget and starts with ``SUMMARY_COLUMNS``, then
``budget_tokens`` (empty for the strategies that take no budget: ``full``, ``compaction``); its
quality columns average the items of categories 1-4 (category 5, the adversarial questions, is
``declines``). ``by_category`` has one row per strategy, budget and category (a LongMemEval
question type is a category of its own), ``items`` one per QA item, strategy and budget,
``runs`` one per replay (sample, strategy, budget). Intervals are 95%: ``<metric>_lo`` /
``<metric>_hi`` (``convolab.eval.metrics``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from convolab.datasets.records import CATEGORY_NAMES
from convolab.errors import ConfigurationError
from convolab.eval import metrics
from convolab.eval.chart import budget_label, pareto_svg, tradeoff_chart, tradeoff_svg
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
    "strategy": pl.String, "budget_tokens": pl.Int64, "sample_id": pl.String, "qa_index": pl.Int64, "category": pl.Int64,
    "category_name": pl.String, "question": pl.String, "answer": pl.String, "adversarial_answer": pl.String,
    "evidence": pl.Int64, "evidence_recall": pl.Float64, "answer_in_context": pl.Boolean, "answer_in_message": pl.Boolean,
    "correctness": pl.Boolean, "declines": pl.Boolean, "payload_tokens": pl.Int64, "input_tokens": pl.Int64, "cache_write_tokens": pl.Int64,
    "cache_read_tokens": pl.Int64, "output_tokens": pl.Int64, "cost_usd": pl.Float64, "build_ms": pl.Float64,
    "reply": pl.String,
}
RUN_SCHEMA: dict[str, Any] = {
    "strategy": pl.String, "budget_tokens": pl.Int64, "sample_id": pl.String, "model": pl.String, "turns": pl.Int64, "qa_items": pl.Int64,
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

    @property
    def budgets(self) -> list[int]:
        """The budgets replayed (empty when no budgeted strategy ran); several: a sweep."""
        if "budget_tokens" not in self.summary.columns:
            return []
        return sorted(self.summary["budget_tokens"].drop_nulls().unique().to_list())

    def write(self, out: str | Path, *, chart: bool = True) -> list[Path]:
        """Write ``summary.csv``, ``by_category.csv``, ``runs.csv``, ``items.parquet``,
        ``tradeoff.svg`` and, for a sweep of several budgets, ``pareto.svg`` (the charts need
        altair and vl-convert: ``pip install 'convolab[lab]'``) into ``out``, all at once: they
        are written into a temporary folder beside it and moved into place only when every file
        is complete (``convolab.eval.outdir.publish``); returns the paths written."""
        charts = {}
        if chart:  # rendered first: a missing renderer fails before anything is written
            sweep = len(self.budgets) > 1
            charts["tradeoff.svg"] = tradeoff_svg(self._by_budget() if sweep else self.summary)
            if sweep:
                charts["pareto.svg"] = pareto_svg(self.summary, self.by_category)
        return publish(out, lambda folder: self._write_files(folder, charts))

    def _by_budget(self) -> pl.DataFrame:
        """The summary with each strategy named with its budget (``sliding 2k``): a sweep's points."""
        return self.summary.with_columns(strategy=pl.when(pl.col("budget_tokens").is_null()).then("strategy").otherwise(
            pl.format("{} {}", "strategy", pl.col("budget_tokens").map_elements(budget_label, return_dtype=pl.String))))

    def _write_files(self, folder: Path, charts: dict[str, str]) -> list[Path]:
        written = []
        for name, frame in (("summary.csv", self.summary), ("by_category.csv", self.by_category),
                            ("runs.csv", self.runs)):
            frame.write_csv(folder / name, float_precision=6)
            written.append(folder / name)
        self.items.write_parquet(folder / "items.parquet")
        written.append(folder / "items.parquet")
        for name, svg in charts.items():
            (folder / name).write_text(svg, encoding="utf-8")
            written.append(folder / name)
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


def frames(runs: Sequence[Run], config: dict[str, Any] | None = None,
           budgets: Sequence[int | None] | None = None) -> EvalResult:
    """The frames of a set of replays (in the order given: strategies and budgets first seen
    first); ``budgets[k]`` is the budget ``runs[k]`` was replayed with (default: none given)."""
    config = dict(config or {})
    budgets = list(budgets) if budgets is not None else [None] * len(runs)
    if len(budgets) != len(runs):
        raise ConfigurationError(f"{len(runs)} runs but {len(budgets)} budgets")
    keyed = list(zip(runs, budgets, strict=True))
    item_frame = pl.DataFrame([{**{k: i.get(k) for k in ITEM_SCHEMA}, "budget_tokens": b}
                               for r, b in keyed for i in r.items], schema=ITEM_SCHEMA)
    run_frame = pl.DataFrame([{**r.row(), "budget_tokens": b} for r, b in keyed], schema=RUN_SCHEMA)
    summary_rows, category_rows = [], []
    for name, budget in dict.fromkeys((r.strategy, b) for r, b in keyed):
        rs = [r for r, b in keyed if r.strategy == name and b == budget]
        summary_rows.append({"strategy": name, "budget_tokens": budget, **_summary_row(rs)})
        its = [i for r in rs for i in r.items]
        for cat, cat_name in sorted({(i["category"], i["category_name"]) for i in its}):
            ci = [i for i in its if i["category"] == cat and i["category_name"] == cat_name]
            category_rows.append({"strategy": name, "budget_tokens": budget, "category": cat,
                                  "category_name": cat_name or CATEGORY_NAMES.get(cat, str(cat)),
                                  "qa_items": len(ci), "qa_input_tokens": _mean([i["payload_tokens"] for i in ci]),
                                  **_quality(ci)})
    summary = pl.DataFrame(summary_rows, schema_overrides={"budget_tokens": pl.Int64}, infer_schema_length=None)
    if summary.height:
        summary = _relative_to_full(summary.select(*SUMMARY_COLUMNS, "budget_tokens",
                                                   pl.exclude(*SUMMARY_COLUMNS, "budget_tokens")))
    by_category = pl.DataFrame(category_rows, schema_overrides={"budget_tokens": pl.Int64,
                                                                **{c: pl.Float64 for c in (*QUALITY, *_intervals())}},
                               infer_schema_length=None)
    if by_category.height:
        by_category = by_category.select(*BY_CATEGORY_COLUMNS, "budget_tokens", *_intervals())
    return EvalResult(summary, by_category, item_frame, run_frame, config, kinds_of(runs))


def _summary_row(rs: Sequence[Run]) -> dict[str, Any]:
    """The summary's figures over the replays ``rs`` of one strategy and budget."""
    its = [i for r in rs for i in r.items]
    totals = [r.total for r in rs]
    billed = {k: sum(getattr(t, k) for t in totals) for k in ("input_tokens", "cache_read_tokens",
                                                               "cache_write_tokens", "output_tokens")}
    builds = [ms for r in rs for ms in r.build_ms]
    q = _quality([i for i in its if i["category"] != 5])
    q5 = _quality([i for i in its if i["category"] == 5])
    prompt = billed["input_tokens"] + billed["cache_read_tokens"] + billed["cache_write_tokens"]
    return {
        "conversations": len(rs), "turns": sum(r.turns for r in rs), "qa_items": len(its),
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
    }


def _relative_to_full(summary: pl.DataFrame) -> pl.DataFrame:
    """``*_vs_full`` columns: each row against the ``full`` strategy's (its first row)."""
    if "full" not in summary["strategy"].to_list():
        return summary
    full = summary.filter(pl.col("strategy") == "full").row(0, named=True)

    def rel(col: str) -> pl.Expr:
        base = full[col]
        return (pl.col(col) / base) if base else pl.lit(None, dtype=pl.Float64)

    return summary.with_columns(answer_in_context_vs_full=rel("answer_in_context"),
                                answer_in_message_vs_full=rel("answer_in_message"),
                                qa_input_tokens_vs_full=rel("qa_input_tokens"), cost_vs_full=rel("cost_usd"))


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
