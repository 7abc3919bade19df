"""``StrategyComparison``: an evaluation run's quality against tokens and cost, per category."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import polars as pl

from convolab.errors import ConfigurationError
from convolab.widgets._static import (
    CHART_PADDING,
    StaticFallback,
    chart_svg,
    details,
    esc,
    frame_table,
    panel,
    svg,
)

QUALITY = ("correctness", "answer_in_context", "evidence_recall")  # the evaluation's metrics, best first
TOKENS = ("qa_input_tokens", "input_tokens")
COST = ("cost_usd",)


PANEL = (260, 170)  # width and height of one panel, pixels
LABEL_FONT, LABEL_DX = 10, 7  # a point's label: font size, and its gap to the right of the point
CHAR_PX = 0.62  # a character's width, as a share of the font size (an estimate)


def _unclashed(points: list[tuple[str, float, float]]) -> list[str]:
    """The label of each ``(name, x, quality)`` point of one panel, or "" where it would overlap
    a label shown before it (the legend's colour and the tooltip still name it). Pixels come
    from the data's range (x) and 0-1 (quality) on a ``PANEL``-sized panel."""
    xs = [x for _, x, _ in points]
    lo, span = min(xs, default=0.0), (max(xs, default=0.0) - min(xs, default=0.0)) or 1.0
    kept: list[tuple[float, float, float, float]] = []  # left, right, top, bottom of each label shown
    out = []
    for name, x, q in points:
        left = (x - lo) / span * PANEL[0] + LABEL_DX
        top = (1 - q) * PANEL[1] - LABEL_FONT / 2
        box = (left, left + len(name) * LABEL_FONT * CHAR_PX, top, top + LABEL_FONT)
        clash = any(box[0] < k[1] + 2 and k[0] < box[1] + 2 and box[2] < k[3] + 1 and k[2] < box[3] + 1 for k in kept)
        out.append("" if clash else name)
        if not clash:
            kept.append(box)
    return out


def _frame(x: Any) -> pl.DataFrame | None:
    if x is None or isinstance(x, pl.DataFrame):
        return x
    if hasattr(x, "to_pandas") or type(x).__module__.startswith("pandas"):
        return pl.from_pandas(x)
    return pl.DataFrame(x)


def _pick(frame: pl.DataFrame, names: tuple[str, ...], what: str) -> str:
    for n in names:
        if n in frame.columns:
            return n
    raise ConfigurationError(f"the results have no {what} column (one of {', '.join(names)}); columns: "
                     f"{', '.join(frame.columns)}")


class StrategyComparison(StaticFallback, widgets.VBox):
    """Quality against input tokens and against cost, one point per strategy; with a
    by-category frame, the same per category.

    ``results``: the evaluation's summary as a polars DataFrame (``strategy``,
    ``qa_input_tokens`` or ``input_tokens``, ``cost_usd`` and quality columns among
    ``correctness``, ``answer_in_context``, ``evidence_recall``), or a dict / object with
    ``summary`` and ``by_category`` frames (``by_category``: ``strategy``, ``category`` and the
    quality columns; tokens and cost per category are used when present, else the strategy's).
    ``metric`` picks the quality shown per category (a dropdown in the live view).
    """

    def __init__(self, results: Any, *, metric: str | None = None, **kwargs: Any):
        if isinstance(results, dict):
            summary, by_category = results.get("summary"), results.get("by_category")
        elif hasattr(results, "summary") and not isinstance(results, pl.DataFrame):
            summary, by_category = results.summary, getattr(results, "by_category", None)
        else:
            summary, by_category = results, None
        self.summary = _frame(summary)
        if self.summary is None or "strategy" not in self.summary.columns:
            raise ConfigurationError("StrategyComparison needs a summary frame with a 'strategy' column")
        self.by_category = _frame(by_category)
        self.tokens_col = _pick(self.summary, TOKENS, "tokens")
        self.cost_col = _pick(self.summary, COST, "cost")
        self.metrics = [m for m in QUALITY if m in self.summary.columns]
        if not self.metrics:
            raise ConfigurationError(f"the results have no quality column (any of {', '.join(QUALITY)})")
        self.metric = metric or self.metrics[0]
        if self.metric not in self.metrics:
            raise ConfigurationError(f"metric {self.metric!r} is not in the results; choose one of {', '.join(self.metrics)}")
        self.picker = widgets.Dropdown(options=self.metrics, value=self.metric, description="quality")
        self.picker.observe(self._on_pick, names="value")
        self._view = widgets.HTML()
        super().__init__(children=[self.picker, self._view], **kwargs)
        self._refresh()

    def _on_pick(self, change: dict[str, Any]) -> None:
        self.metric = change["new"]
        self._refresh()

    def _refresh(self) -> None:
        self._view.value = self.to_html()

    # -- data ----------------------------------------------------------------------------------
    def long(self) -> pl.DataFrame:
        """One row per strategy and quality metric: strategy, metric, quality, tokens, cost_usd."""
        f = self.summary.select("strategy", pl.col(self.tokens_col).alias("tokens"),
                                pl.col(self.cost_col).alias("cost_usd"), *self.metrics)
        long = f.unpivot(on=self.metrics, index=["strategy", "tokens", "cost_usd"], variable_name="metric",
                         value_name="quality")
        labels = {x: [""] * long.height for x in ("tokens", "cost_usd")}
        for x, shown in labels.items():
            for metric in self.metrics:
                rows = [i for i, m in enumerate(long["metric"]) if m == metric]
                for i, text in zip(rows, _unclashed([(long["strategy"][i], long[x][i], long["quality"][i])
                                                     for i in rows]), strict=True):
                    shown[i] = text
        return long.with_columns(label_tokens=pl.Series(labels["tokens"]),
                                 label_cost_usd=pl.Series(labels["cost_usd"]))

    def category_frame(self) -> pl.DataFrame | None:
        """The by-category frame with tokens and cost (the strategy's overall ones where the
        frame has none per category)."""
        f = self.by_category
        if f is None or "category" not in f.columns:
            return None
        f = f.with_columns(pl.col("category").cast(pl.String))
        tokens = next((c for c in TOKENS if c in f.columns), None)
        cost = next((c for c in COST if c in f.columns), None)
        overall = self.summary.select("strategy", pl.col(self.tokens_col).alias("_tokens"),
                                      pl.col(self.cost_col).alias("_cost"))
        f = f.join(overall, on="strategy", how="left")
        return f.with_columns(tokens=pl.col(tokens) if tokens else pl.col("_tokens"),
                              cost_usd=pl.col(cost) if cost else pl.col("_cost")).drop("_tokens", "_cost")

    # -- charts --------------------------------------------------------------------------------
    def chart(self) -> Any:
        """Quality (rows: each metric) against tokens (left) and cost (right), per strategy."""
        import altair as alt

        data = self.long()

        def facet(x: str, title: str, fmt: str, tip: str) -> Any:
            base = alt.Chart(data).encode(
                x=alt.X(f"{x}:Q", title=title, axis=alt.Axis(format=fmt, tickCount=5), scale=alt.Scale(zero=False)),
                y=alt.Y("quality:Q", title="quality", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("strategy:N"))
            points = base.mark_point(filled=True, size=90).encode(
                tooltip=["strategy:N", "metric:N", alt.Tooltip("quality:Q", format=".3f"),
                         alt.Tooltip(f"{x}:Q", format=tip)])
            labels = base.mark_text(align="left", dx=LABEL_DX, fontSize=LABEL_FONT).encode(text=f"label_{x}:N")
            return alt.layer(points, labels, data=data).properties(width=PANEL[0], height=PANEL[1]).facet(
                row=alt.Row("metric:N", title=None, sort=self.metrics))

        return alt.hconcat(facet("tokens", "input tokens per question", "~s", ",d"),
                           facet("cost_usd", "cost (USD)", "$.2f", "$.4f")).properties(padding=CHART_PADDING)

    def category_chart(self, metric: str | None = None) -> Any:
        """``metric`` against tokens, one panel per category (``None`` without a by-category frame)."""
        import altair as alt

        f = self.category_frame()
        metric = metric or self.metric
        if f is None or metric not in f.columns:
            return None
        return alt.Chart(f).mark_point(filled=True, size=80).encode(
            x=alt.X("tokens:Q", title="input tokens per question", scale=alt.Scale(zero=False),
                    axis=alt.Axis(format="~s", tickCount=4)),
            y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("strategy:N"),
            tooltip=["strategy:N", "category:N", alt.Tooltip(f"{metric}:Q", format=".3f"),
                     alt.Tooltip("tokens:Q", format=",d"), alt.Tooltip("cost_usd:Q", format="$.4f")],
        ).properties(width=170, height=150).facet(
            column=alt.Column("category:N", title="category")).properties(padding=CHART_PADDING)

    def to_svg(self) -> str:
        """The overall chart as SVG (vl-convert, offline)."""
        return chart_svg(self.chart())

    def category_svg(self, metric: str | None = None) -> str | None:
        c = self.category_chart(metric)
        return None if c is None else chart_svg(c)

    # -- static view ---------------------------------------------------------------------------
    def to_html(self) -> str:
        shown = [c for c in ("strategy", self.tokens_col, self.cost_col, *self.metrics, "cache_hit_rate")
                 if c in self.summary.columns]
        parts = [svg(self.to_svg(), caption="quality against input tokens and cost, one point per strategy"),
                 frame_table(self.summary.select(shown), digits={self.cost_col: 4, self.tokens_col: 0})]
        cat = self.category_svg()
        if cat is not None:
            per = self.by_category.select([c for c in ("strategy", "category", "category_name", "qa_items", *QUALITY)
                                           if c in self.by_category.columns])
            parts += [f'<div style="margin-top:10px"><b>{esc(self.metric)} per category</b></div>',
                      svg(cat), details("per category, every quality metric", frame_table(per), open_=False)]
        return panel("".join(parts), kind="strategy-comparison", title="Strategies compared")

    def __repr__(self) -> str:
        return f"StrategyComparison(strategies={self.summary['strategy'].to_list()}, metric={self.metric!r})"
