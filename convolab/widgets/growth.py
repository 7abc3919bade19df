"""``TokenGrowthChart``: input tokens per turn, one line per strategy, live as a chat goes on.

Also the chapter's growth table (section 8.1), from a model of its own arithmetic:

    >>> chapter_growth_table().select("turn", "input_tokens", "chapter_says").rows()
    [(1, 600, '600'), (5, 1800, '1,800'), (20, 6600, '6,600'), (50, 20000, '20,000+')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import polars as pl

from convolab.widgets import _static as s

COLUMNS = {"strategy": pl.String, "turn": pl.Int64, "input_tokens": pl.Int64, "billed_input": pl.Int64,
           "cache_read": pl.Int64, "cache_write": pl.Int64, "output": pl.Int64, "cost_usd": pl.Float64,
           "segment": pl.Int64}
MEASURES = {"input_tokens": "input (all)", "cache_read": "cache read", "cache_write": "cache write"}
DASHES = [[1, 0], [6, 3], [2, 2]]

# The chapter's section 8.1, as it states each turn: system prompt, prior turns, new message.
CHAPTER_SYSTEM, CHAPTER_MESSAGE, CHAPTER_PER_TURN = 500, 100, 300
CHAPTER_PRIOR = {1: 0, 5: 1_200, 20: 6_000}  # "4 prior turns (1,200)", "19 prior turns (6,000)"
CHAPTER_TURN_50 = 20_000  # "Input may reach 20,000+ tokens": a lower bound, no breakdown given
CHAPTER = "chapter 8.1 (as stated)"
CHAPTER_LINEAR = f"{CHAPTER_PER_TURN} tokens per prior turn"


def chapter_growth_table() -> pl.DataFrame:
    """The chapter's growth table (8.1): 600 / 1,800 / 6,600 / 20,000+ input tokens at turns
    1 / 5 / 20 / 50, modelled as system (500) + the prior turns as the chapter states them + the
    new message (100).

    The chapter's figures are not one rate: 4 prior turns are 1,200 tokens (300 each), 19 are
    6,000 (about 316 each), and 20,000 at turn 50 needs about 396 per prior turn.
    ``tokens_per_prior_turn`` shows the rate each figure implies; ``at_300_per_turn`` what a
    steady 300 would give (6,300 at turn 20, 15,300 at turn 50). Turn 50 is a lower bound
    ("20,000+"), so its ``input_tokens`` is 20,000.
    """
    rows = []
    for turn in (1, 5, 20, 50):
        prior = CHAPTER_PRIOR.get(turn, CHAPTER_TURN_50 - CHAPTER_SYSTEM - CHAPTER_MESSAGE)
        total = CHAPTER_SYSTEM + prior + CHAPTER_MESSAGE
        rows.append({
            "turn": turn, "system": CHAPTER_SYSTEM, "prior_turns": turn - 1, "prior_tokens": prior,
            "new_message": CHAPTER_MESSAGE, "input_tokens": total,
            "chapter_says": f"{total:,}" + ("+" if turn == 50 else ""),
            "tokens_per_prior_turn": round(prior / (turn - 1), 1) if turn > 1 else None,
            "at_300_per_turn": CHAPTER_SYSTEM + CHAPTER_PER_TURN * (turn - 1) + CHAPTER_MESSAGE,
        })
    return pl.DataFrame(rows)


def turn_ticks(turns: Sequence[int], width: int = 560) -> list[int]:
    """Integer tick values for the turn axis: every turn while they fit (one per 40 pixels),
    else multiples of 1, 2 or 5 times a power of ten.

    Vega alone draws fractional ticks on a short span even with ``tickMinStep=1`` (turns 1 to 3
    get ticks at 1, 1.5, 2, 2.5, 3), and the integer format then labels them "1 2 2 3 3".
    """
    if not turns:
        return []
    lo, hi = min(turns), max(turns)
    fit = max(1, width // 40)
    step = 1
    while (hi - lo) / step > fit:
        step = next(m * 10 ** k for k in range(12) for m in (1, 2, 5) if m * 10 ** k > step)
    first = -(-lo // step) * step  # the first multiple of step at or after lo
    return list(range(first, hi + 1, step))


def turn_axis(turns: Sequence[int], width: int = 560) -> Any:
    """The x axis of turns: integer ticks only (``turn_ticks``), labelled as integers."""
    import altair as alt

    values = turn_ticks(turns, width)
    return alt.Axis(format="d", tickMinStep=1, **({"values": values} if values else {}))


def _get(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else getattr(usage, key, None)
    return int(value or 0)


class TokenGrowthChart(s.StaticFallback, widgets.VBox):
    """Input tokens per turn, one line per strategy; cache reads and writes as dashed lines of
    the same colour; the model's context window as a red rule.

    ``TokenGrowthChart(window=None, model=None, y_scale="auto")``: ``window`` in tokens, or
    taken from ``model``'s catalog row. ``add(strategy, turn, x)`` takes a ``SentTurn``, an SDK
    ``Usage`` (or a dict with its keys) or a plain token count; ``add_turn(sent_turn)`` reads
    the strategy and turn from the turn; ``add_series(strategy, tokens)`` a whole line of token
    counts. ``frame`` is the data, ``chart()`` the altair chart,
    ``to_svg()`` the chart as SVG (vl-convert, offline).
    """

    def __init__(self, *, window: int | None = None, model: str | None = None, y_scale: str = "auto",
                 title: str = "Input tokens per turn", **kwargs: Any):
        if window is None and model is not None:
            from convolab import catalog

            window = catalog.get_model(model).context_window
        self.window = window
        self.model = model
        self.y_scale = y_scale
        self.title = title
        self._rows: list[dict[str, Any]] = []
        self._segments: dict[str, int] = {}
        self._pending: set[str] = set()  # strategies whose next point starts a new segment
        self._svg: str | None = None
        self._view = widgets.HTML()
        super().__init__(children=[self._view], **kwargs)
        self._refresh()

    @classmethod
    def from_chapter(cls, *, per_turn_line: bool = True, **kwargs: Any) -> TokenGrowthChart:
        """The chapter's 8.1 figures (turns 1, 5, 20, 50) as one line, and, with
        ``per_turn_line``, a steady 300 tokens per prior turn for turns 1 to 50 beside it."""
        chart = cls(title="Input tokens per turn: the chapter's growth table (8.1)", **kwargs)
        for row in chapter_growth_table().iter_rows(named=True):
            chart.add(CHAPTER, row["turn"], row["input_tokens"], render=False)
        if per_turn_line:
            for turn in range(1, 51):
                chart.add(CHAPTER_LINEAR, turn, CHAPTER_SYSTEM + CHAPTER_PER_TURN * (turn - 1) + CHAPTER_MESSAGE,
                          render=False)
        chart._refresh()
        return chart

    # -- data ----------------------------------------------------------------------------------
    def add(self, strategy: str, turn: int, usage_or_turn: Any, *, cost_usd: float | None = None,
            render: bool = True) -> None:
        """Record one request of ``strategy`` at ``turn``: a ``SentTurn`` (its payload's counted
        input, usage and cost, side calls included), a ``Usage`` or dict (cost priced with the
        chart's ``model`` unless ``cost_usd`` is given), or an int of input tokens."""
        x = usage_or_turn
        if isinstance(x, int | float) and not isinstance(x, bool):
            row = {"input_tokens": int(x), "billed_input": int(x), "cache_read": 0, "cache_write": 0, "output": 0,
                   "cost_usd": float(cost_usd or 0.0)}
        else:
            usage = getattr(x, "usage", None) if hasattr(x, "payload") else x
            if usage is None:
                raise TypeError(f"add() takes a SentTurn, a Usage, a dict of usage or an int, got {type(x).__name__}")
            billed, read, write = (_get(usage, "input_tokens"), _get(usage, "cache_read_input_tokens"),
                                   _get(usage, "cache_creation_input_tokens"))
            payload = getattr(x, "payload", None)
            if cost_usd is None:
                if hasattr(x, "cost_usd"):
                    cost_usd = x.cost_usd + getattr(x, "side_cost_usd", 0.0)
                elif self.model is not None:
                    from convolab.pricing import cost_usd as price

                    cost_usd = price(self.model, usage)
            row = {"input_tokens": payload.input_tokens if payload is not None else billed + read + write,
                   "billed_input": billed, "cache_read": read, "cache_write": write,
                   "output": _get(usage, "output_tokens"), "cost_usd": float(cost_usd or 0.0)}
        if strategy in self._pending:
            self._pending.discard(strategy)
            self._segments[strategy] += 1
        self._segments.setdefault(strategy, 0)
        self._rows.append({"strategy": strategy, "turn": int(turn), **row, "segment": self._segments[strategy]})
        self._svg = None  # to_svg() draws the new point even when the view is not re-rendered now
        if render:
            self._refresh()

    def add_series(self, strategy: str, input_tokens: Sequence[int], *, first_turn: int = 1) -> None:
        """Record a whole line at once: ``input_tokens[k]`` at turn ``first_turn + k`` (e.g. a
        replay's ``Run.turn_input_tokens``), re-rendering once at the end."""
        for k, tokens in enumerate(input_tokens):
            self.add(strategy, first_turn + k, int(tokens), render=False)
        self._refresh()

    def add_turn(self, sent_turn: Any, *, strategy: str | None = None, render: bool = True) -> None:
        """Record a ``SentTurn`` (turn number ``index + 1``, strategy from its payload)."""
        name = strategy or (sent_turn.payload.strategy if sent_turn.payload is not None else "?")
        self.add(name, sent_turn.index + 1, sent_turn, render=render)

    def break_line(self) -> None:
        """Start a new line segment for every strategy at its next point (after a strategy
        switch, so a strategy used again later is not joined across the turns it was not used)."""
        self._pending = set(self._segments)

    @property
    def frame(self) -> pl.DataFrame:
        """One row per request: strategy, turn, input_tokens (counted: all input, cached or not),
        billed_input (uncached input), cache_read, cache_write, output, cost_usd, segment."""
        return pl.DataFrame(self._rows, schema=COLUMNS)

    # -- chart ---------------------------------------------------------------------------------
    def _long(self) -> pl.DataFrame:
        f = self.frame
        long = f.unpivot(on=list(MEASURES), index=["strategy", "turn", "segment", "cost_usd", "billed_input"],
                         variable_name="measure", value_name="tokens").with_columns(
            pl.col("measure").replace_strict(MEASURES))
        # cache lines only for strategies whose cache moved at all (the chapter's model has none)
        used = long.group_by("strategy", "measure").agg(pl.col("tokens").max().alias("top"))
        long = long.join(used, on=["strategy", "measure"]).filter(
            (pl.col("measure") == MEASURES["input_tokens"]) | (pl.col("top") > 0)).drop("top")
        return long.with_columns(series=pl.format("{} #{} {}", "strategy", "segment", "measure")).sort(
            "strategy", "segment", "measure", "turn")

    def chart(self, *, width: int = 560, height: int = 300) -> Any:
        """The altair chart: lines per strategy (solid: all input; dashed: cache read; dotted:
        cache write) and the context window as a rule."""
        import altair as alt

        data = self._long()
        scale = self.scale_type()
        if scale == "log":  # a log scale has no zero: those points are left out
            data = data.filter(pl.col("tokens") > 0)
        x = alt.X("turn:Q", title="turn", axis=turn_axis(self.frame["turn"].to_list(), width))
        y = alt.Y("tokens:Q", title="input tokens per request" + (" (log scale)" if scale == "log" else ""),
                  scale=alt.Scale(type=scale), axis=alt.Axis(format=",~s" if scale == "log" else ",d"))
        color = alt.Color("strategy:N", title="strategy")
        lines = alt.Chart(data, name="growth").mark_line(strokeWidth=2).encode(
            x=x, y=y, color=color,
            strokeDash=alt.StrokeDash("measure:N", title="tokens", sort=list(MEASURES.values()),
                                      scale=alt.Scale(domain=list(MEASURES.values()), range=DASHES)),
            detail="series:N")
        points = alt.Chart(data, name="points").transform_filter(
            alt.datum.measure == MEASURES["input_tokens"]).mark_point(filled=True, size=30).encode(
            x=x, y=y, color=color,
            tooltip=["strategy:N", "turn:Q", alt.Tooltip("tokens:Q", format=","), alt.Tooltip("cost_usd:Q",
                                                                                            format="$.5f")])
        layers = [lines, points]
        if self.window:
            rule_data = pl.DataFrame({"window": [self.window],
                                      "label": [f"context window {self.window:,}"
                                                + (f" ({self.model})" if self.model else "")]})
            layers.append(alt.Chart(rule_data, name="window").mark_rule(
                color=s.RED, strokeDash=[8, 4], strokeWidth=1.5).encode(y="window:Q"))
            layers.append(alt.Chart(rule_data, name="window_label").mark_text(
                align="left", dx=4, dy=-6, color=s.RED, x=0).encode(y="window:Q", text="label:N"))
        return alt.layer(*layers).properties(width=width, height=height, title=self.title, padding=s.CHART_PADDING)

    def scale_type(self) -> str:
        """The y scale: ``y_scale``, or for ``"auto"`` log while the largest request is under a
        tenth of the window (so the growth and the window both show), else linear."""
        if self.y_scale != "auto":
            return self.y_scale
        top = max((r["input_tokens"] for r in self._rows), default=0)
        return "log" if self.window and top * 10 < self.window else "linear"

    def to_svg(self) -> str:
        """The chart as inline SVG (vl-convert bundles Vega: no CDN, no network)."""
        if self._svg is None:
            self._svg = s.chart_svg(self.chart())
        return self._svg

    def _refresh(self) -> None:
        self._svg = None
        self._view.value = s.svg(self.to_svg())

    # -- static view ---------------------------------------------------------------------------
    def to_html(self) -> str:
        f = self.frame
        caption = (f"{len(f)} requests, {f['strategy'].n_unique()} strategies" if len(f) else "no requests yet")
        if self.window:
            caption += f"; red rule: the model's context window ({self.window:,} tokens)"
        return s.panel(s.svg(self.to_svg(), caption=caption), kind="token-growth")

    def __repr__(self) -> str:
        return f"TokenGrowthChart(requests={len(self._rows)}, window={self.window})"
