"""The charts of an evaluation. The trade-off chart: quality against input tokens per question
and against cost, one point per strategy, its name written beside it. The Pareto chart of a
budget sweep (``pareto_chart``): the same axes per category, a point per strategy and budget,
the Pareto front (the points no other beats on both axes) drawn.

Labels are placed here, not by the renderer: every panel has fixed scales (explicit domains,
no rounding to "nice" values), so a label's box in pixels is known. Each label goes right of
its point, else left, shifted up or down in steps of one line until its box is inside the
panel and clear of every label placed before it and of every point. Coincident points (two
strategies that sent the same payloads) get stacked labels, never one over the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["FONT_SIZE", "HEIGHT", "WIDTH", "Box", "budget_label", "pareto_chart", "pareto_front", "pareto_points", "pareto_svg",
           "place_labels", "text_width", "tradeoff_chart", "tradeoff_svg"]

WIDTH, HEIGHT = 280, 170  # one panel, in pixels
FONT_SIZE = 10
LINE = 12  # a label's height, and the step of a vertical shift
GAP = 7  # from a point's centre to its label
POINT_RADIUS = 5
METRICS = ("answer_in_context", "answer_in_message", "correctness", "judge_accuracy", "evidence_recall")


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """A generous width of ``text`` in a sans-serif font of ``size`` px (wide letters count more)."""
    wide = sum(1 for c in text if c in "mwMW@%")
    narrow = sum(1 for c in text if c in "iljtfr.,:;'|! ")
    return size * (0.62 * (len(text) - wide - narrow) + 0.95 * wide + 0.36 * narrow) + 2


@dataclass(frozen=True)
class Box:
    """A label's box in a panel's pixels (y grows downwards)."""

    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Box, eps: float = 0.01) -> bool:
        """Do the boxes share more than an edge (``eps``: rounding in the renderer's output)?"""
        return (self.x < other.x + other.w - eps and other.x < self.x + self.w - eps
                and self.y < other.y + other.h - eps and other.y < self.y + self.h - eps)

    def inside(self, width: float, height: float) -> bool:
        return self.x >= 0 and self.y >= 0 and self.x + self.w <= width and self.y + self.h <= height


def _candidates(px: float, py: float, w: float) -> list[Box]:
    out = []
    for step in range(0, int(HEIGHT // LINE) + 1):
        for dy in ((0,) if step == 0 else (step * LINE, -step * LINE)):
            top = py - LINE / 2 + dy
            out.append(Box(px + GAP, top, w, LINE))
            out.append(Box(px - GAP - w, top, w, LINE))
    return out


def place_labels(points: Sequence[tuple[float, float, str]], width: float = WIDTH, height: float = HEIGHT,
                 obstacles: Sequence[Box] = ()) -> list[Box | None]:
    """A box for each ``(x px, y px, label)``, inside the panel and overlapping no other label
    nor any point, and if it can, no ``obstacles`` (the interval bars); ``None`` when there is no
    room at all (not drawn then)."""
    markers = [Box(x - POINT_RADIUS, y - POINT_RADIUS, 2 * POINT_RADIUS, 2 * POINT_RADIUS) for x, y, _ in points]
    placed: list[Box] = []
    out: list[Box | None] = [None] * len(points)
    for k in sorted(range(len(points)), key=lambda i: (points[i][1], points[i][0])):
        x, y, label = points[k]
        boxes = [b for b in _candidates(x, y, text_width(label))
                 if b.inside(width, height) and not any(b.overlaps(o) for o in (*placed, *markers))]
        best = next((b for b in boxes if not any(b.overlaps(o) for o in obstacles)), boxes[0] if boxes else None)
        if best is not None:
            placed.append(best)
            out[k] = best
    return out


class _Scale:
    """Data to pixels along x: linear or log, on a padded domain."""

    def __init__(self, values: Sequence[float], log: bool):
        self.log = log
        vs = [math.log10(v) if log else v for v in values]
        lo, hi = min(vs), max(vs)
        pad = (hi - lo) * 0.08 or (0.3 if log else max(abs(lo) * 0.1, 0.01))
        self.lo, self.hi = lo - pad, hi + pad
        if not log and min(values) >= 0:
            self.lo = max(self.lo, 0.0)

    @property
    def domain(self) -> list[float]:
        return [10 ** self.lo, 10 ** self.hi] if self.log else [self.lo, self.hi]

    def px(self, v: float) -> float:
        v = math.log10(v) if self.log else v
        return (v - self.lo) / (self.hi - self.lo) * WIDTH

    def value(self, px: float) -> float:
        v = self.lo + px / WIDTH * (self.hi - self.lo)
        return 10 ** v if self.log else v


def _long(summary: pl.DataFrame, shown: list[str]) -> pl.DataFrame:
    return pl.concat([summary.select(
        "strategy", pl.col("qa_input_tokens").cast(pl.Float64).alias("tokens"), pl.col("cost_usd").cast(pl.Float64),
        pl.lit(m).alias("metric"), pl.col(m).cast(pl.Float64).alias("quality"),
        pl.col(f"{m}_lo").cast(pl.Float64).alias("lo"), pl.col(f"{m}_hi").cast(pl.Float64).alias("hi"))
        for m in shown]).filter(pl.col("quality").is_not_null() & (pl.col("tokens") > 0))


def _labels(long: pl.DataFrame, x: str, scale: _Scale) -> pl.DataFrame:
    """Where each strategy's label goes, per metric, in data units: ``lx`` is the edge next to
    the point (``side`` "right": the label's left edge; "left": its right edge), ``ly`` its middle."""
    rows = []
    for (metric,), part in long.group_by("metric", maintain_order=True):
        recs = list(part.iter_rows(named=True))
        pts = [(scale.px(r[x]), (1 - r["quality"]) * HEIGHT, r["strategy"]) for r in recs]
        bars = [Box(px - 2, (1 - (r["hi"] if r["hi"] is not None else r["quality"])) * HEIGHT, 4,
                    ((r["hi"] or r["quality"]) - (r["lo"] if r["lo"] is not None else r["quality"])) * HEIGHT)
                for (px, _, _), r in zip(pts, recs, strict=True)]
        for (px, _, name), box in zip(pts, place_labels(pts, obstacles=bars), strict=True):
            if box is not None:
                right = box.x > px
                rows.append({"metric": metric, "strategy": name, "side": "right" if right else "left",
                             "lx": scale.value(box.x if right else box.x + box.w),
                             "ly": 1 - (box.y + box.h / 2) / HEIGHT})
    return pl.DataFrame(rows, schema={"metric": pl.String, "strategy": pl.String, "side": pl.String,
                                      "lx": pl.Float64, "ly": pl.Float64})


def _panel(long: pl.DataFrame, x: str, title: str, fmt: str, log: bool, shown: list[str], order: list[str]) -> Any:
    import altair as alt

    scale = _Scale(long[x].to_list(), log)
    xs = alt.Scale(type="log" if log else "linear", domain=scale.domain, nice=False, zero=False)
    ys = alt.Scale(domain=[0, 1], nice=False)
    color = alt.Color("strategy:N", sort=order)
    base = alt.Chart(long).encode(x=alt.X(f"{x}:Q", title=title, scale=xs, axis=alt.Axis(format=fmt, tickCount=5)),
                                  color=color)
    bars = base.mark_rule(clip=True).encode(y=alt.Y("lo:Q", title="quality (95% interval)", scale=ys), y2="hi:Q")
    points = base.mark_point(filled=True, size=80).encode(y=alt.Y("quality:Q", scale=ys), tooltip=[
        "strategy:N", "metric:N", alt.Tooltip("quality:Q", format=".3f"), alt.Tooltip(f"{x}:Q", format=",.4~f")])
    where = _labels(long, x, scale)
    labels = [alt.Chart(where.filter(pl.col("side") == side)).mark_text(
        align=align, baseline="middle", fontSize=FONT_SIZE).encode(
        x=alt.X("lx:Q", scale=xs), y=alt.Y("ly:Q", scale=ys), text="strategy:N", color=color)
        for side, align in (("right", "left"), ("left", "right"))]
    return alt.layer(bars, points, *labels).properties(width=WIDTH, height=HEIGHT)


def tradeoff_chart(summary: pl.DataFrame) -> Any:
    """Quality (one row per metric, with its 95% interval) against input tokens per question
    (left, log scale) and against the replay's cost (right), one labelled point per strategy."""
    import altair as alt

    shown = [m for m in METRICS if m in summary.columns and summary[m].null_count() < summary.height]
    long = _long(summary, shown)
    order = summary["strategy"].to_list()
    rows = []
    for m in shown:
        part = long.filter(pl.col("metric") == m)
        if part.height:
            rows.append(alt.hconcat(
                _panel(part, "tokens", "input tokens per question", "~s", True, shown, order),
                _panel(part, "cost_usd", "cost of the whole replay (USD)", "$.2f", False, shown, order),
            ).properties(title=alt.TitleParams(m, anchor="start", fontSize=11)))
    return alt.vconcat(*rows).resolve_scale(color="shared").properties(padding=8)


def tradeoff_svg(summary: pl.DataFrame) -> str:
    """``tradeoff_chart`` as SVG, rendered offline by vl-convert (no CDN, no script)."""
    return _svg(tradeoff_chart, summary)


def _svg(chart: Any, *frames: pl.DataFrame) -> str:
    """``chart(*frames)`` as SVG by vl-convert; ``ConfigurationError`` naming the extra without it."""
    try:
        import altair  # noqa: F401
        import vl_convert
    except ImportError:
        from convolab.errors import ConfigurationError

        raise ConfigurationError("the tradeoff chart needs altair and vl-convert-python: "
                                 "pip install 'convolab[lab]'") from None
    return vl_convert.vegalite_to_svg(chart(*frames).to_dict())


# -- the Pareto chart of a budget sweep ----------------------------------------------------------

PARETO_METRICS = ("answer_in_context", "correctness")
ALL_SCOPE = "all (categories 1-4)"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indexes of the points no other point beats: none has a smaller-or-equal x (tokens, cost)
    with a larger y (quality), or the same y at a smaller x; in order of x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def budget_label(budget: int | None) -> str:
    """A budget in short: ``1.5k``, ``8k``, ``750``; ``-`` for none."""
    if budget is None:
        return "-"
    return f"{budget / 1000:g}k" if budget >= 1000 and budget % 100 == 0 else str(budget)


def pareto_points(summary: pl.DataFrame, by_category: pl.DataFrame) -> pl.DataFrame:
    """One row per scope (all categories 1-4, then each category), metric, strategy and budget:
    ``tokens`` per question, ``cost`` per question (the whole replay's cost over its questions),
    ``quality``, and ``front_tokens`` / ``front_cost``: on the Pareto front against that x."""
    per_q = summary.select("strategy", "budget_tokens", (pl.col("cost_usd") / pl.col("qa_items")).alias("cost"))
    scopes = [summary.select("strategy", "budget_tokens", pl.lit(ALL_SCOPE).alias("scope"), pl.lit(0).alias("order"),
                             "qa_input_tokens", *PARETO_METRICS)]
    if by_category.height:
        scopes.append(by_category.select("strategy", "budget_tokens", pl.format(
            "{} ({})", "category_name", "category").alias("scope"), pl.col("category").alias("order"),
            "qa_input_tokens", *PARETO_METRICS))
    wide = pl.concat([s.with_columns(pl.col("order").cast(pl.Int64)) for s in scopes]).join(
        per_q, on=["strategy", "budget_tokens"], how="left", nulls_equal=True)
    rows = []
    for m in PARETO_METRICS:
        part = wide.select("scope", "order", "strategy", "budget_tokens", pl.col("qa_input_tokens").alias("tokens"),
                           "cost", pl.lit(m).alias("metric"), pl.col(m).cast(pl.Float64).alias("quality"))
        rows.append(part.filter(pl.col("quality").is_not_null() & (pl.col("tokens") > 0)))
    parts = []
    for _, part in pl.concat(rows).sort("order", "scope", maintain_order=True).group_by(
            "scope", "metric", maintain_order=True):
        q = part["quality"].to_list()
        fronts = {}
        for col, x in (("front_tokens", "tokens"), ("front_cost", "cost")):
            on = set(pareto_front(list(zip(part[x].to_list(), q, strict=True))))
            fronts[col] = pl.Series([k in on for k in range(part.height)], dtype=pl.Boolean)
        parts.append(part.with_columns(**fronts))
    return pl.concat(parts).with_columns(
        budget=pl.col("budget_tokens").map_elements(budget_label, return_dtype=pl.String, skip_nulls=False))


def _pareto_panel(part: pl.DataFrame, x: str, title: str, fmt: str, log: bool, order: list[str]) -> Any:
    import altair as alt

    scale = _Scale(part[x].to_list(), log)
    xs = alt.Scale(type="log" if log else "linear", domain=scale.domain, nice=False, zero=False)
    ys = alt.Scale(domain=[0, 1], nice=False)
    color = alt.Color("strategy:N", sort=order)
    base = alt.Chart(part).encode(x=alt.X(f"{x}:Q", title=title, scale=xs, axis=alt.Axis(format=fmt, tickCount=5)),
                                  y=alt.Y("quality:Q", title="quality", scale=ys))
    front = base.transform_filter(f"datum.front_{x}").mark_line(
        interpolate="step-after", color="#888", strokeDash=[4, 3], clip=True).encode(order=f"{x}:Q")
    lines = base.mark_line(opacity=0.5, clip=True).encode(color=color, detail="strategy:N", order="budget_tokens:Q")
    points = base.mark_point(filled=True, size=60).encode(color=color, tooltip=[
        "strategy:N", "budget_tokens:Q", alt.Tooltip("quality:Q", format=".3f"), alt.Tooltip(f"{x}:Q", format=",.4~f")])
    recs = list(part.iter_rows(named=True))
    pts = [(scale.px(r[x]), (1 - r["quality"]) * HEIGHT, r["budget"]) for r in recs]
    where = [{"strategy": r["strategy"], "budget": r["budget"], "lx": scale.value(b.x), "ly": 1 - (b.y + b.h / 2) / HEIGHT}
             for r, b in zip(recs, place_labels(pts), strict=True) if b is not None and r["budget"] != "-"]
    labels = alt.Chart(pl.DataFrame(where, schema={"strategy": pl.String, "budget": pl.String, "lx": pl.Float64,
                                                   "ly": pl.Float64})).mark_text(
        align="left", baseline="middle", fontSize=FONT_SIZE - 1).encode(
        x=alt.X("lx:Q", scale=xs), y=alt.Y("ly:Q", scale=ys), text="budget:N", color=color)
    return alt.layer(front, lines, points, labels).properties(width=WIDTH, height=HEIGHT)


def pareto_chart(summary: pl.DataFrame, by_category: pl.DataFrame) -> Any:
    """Quality (answer in context, correctness) against tokens per question (log scale) and
    against cost per question, one row per scope (all categories 1-4, then each category) and
    metric; a point per strategy and budget (labelled with the budget), a strategy's budgets
    joined by a line, the Pareto front dashed."""
    import altair as alt

    long = pareto_points(summary, by_category)
    order = list(dict.fromkeys(summary["strategy"].to_list()))
    rows = []
    for (scope, metric), part in long.group_by("scope", "metric", maintain_order=True):
        rows.append(alt.hconcat(
            _pareto_panel(part, "tokens", "input tokens per question", "~s", True, order),
            _pareto_panel(part, "cost", "cost per question, replay included (USD)", "$.3~f", False, order),
        ).properties(title=alt.TitleParams(f"{scope}: {metric}", anchor="start", fontSize=11)))
    return alt.vconcat(*rows).resolve_scale(color="shared").properties(padding=8)


def pareto_svg(summary: pl.DataFrame, by_category: pl.DataFrame) -> str:
    """``pareto_chart`` as SVG, rendered offline by vl-convert (no CDN, no script)."""
    return _svg(pareto_chart, summary, by_category)
