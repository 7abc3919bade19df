"""``TokenGrowthChart``: input tokens per turn, one line per strategy, live as a chat goes on.

Also the arithmetic of an unmanaged conversation, as a table:

    >>> linear_growth_table().select("turn", "input_tokens").rows()
    [(1, 600), (5, 1800), (20, 6300), (50, 15300)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import polars as pl

from convolab.errors import ConfigurationError
from convolab.widgets._static import CHART_PADDING, RED, StaticFallback, chart_svg, panel, svg

COLUMNS = {"strategy": pl.String, "turn": pl.Int64, "input_tokens": pl.Int64, "billed_input": pl.Int64,
           "cache_read": pl.Int64, "cache_write": pl.Int64, "output": pl.Int64, "cost_usd": pl.Float64,
           "segment": pl.Int64}
MEASURES = {"input_tokens": "input (all)", "cache_read": "cache read", "cache_write": "cache write"}
DASHES = {"input (all)": [1, 0], "cache read": [6, 3], "cache write": [2, 2]}
SHAPES = {"input (all)": "circle", "cache read": "triangle-up", "cache write": "square"}
SCALES = ("linear", "log")
WINDOW_NEAR = 0.5  # the window's rule is drawn once the largest request reaches this share of it


def linear_growth_table(*, system: int = 500, message: int = 100, per_turn: int = 300,
                        turns: Sequence[int] = (1, 5, 20, 50)) -> pl.DataFrame:
    """What an unmanaged client sends at each of ``turns``: the system prompt, every earlier turn
    (``per_turn`` tokens each: a question and its reply) and the new ``message``.

    ``input_tokens`` grows by ``per_turn`` a turn; ``total_so_far`` (every request up to that
    turn added up, what the conversation has billed) grows with the square of the turn.
    """
    rows = []
    for turn in turns:
        prior = per_turn * (turn - 1)
        total = sum(system + per_turn * (t - 1) + message for t in range(1, turn + 1))
        rows.append({"turn": turn, "system": system, "prior_turns": turn - 1, "prior_tokens": prior,
                     "new_message": message, "input_tokens": system + prior + message, "total_so_far": total})
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


def turn_scale(turns: Sequence[int]) -> Any:
    """Half a turn of room on each side, so the first and last points are drawn whole."""
    import altair as alt

    if not turns:
        return alt.Scale()
    return alt.Scale(domain=[min(turns) - 0.5, max(turns) + 0.5], nice=False, zero=False)


def _get(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else getattr(usage, key, None)
    return int(value or 0)


def usage_row(x: Any, *, cost_usd: float | None = None, model: str | None = None) -> dict[str, Any]:
    """One request's figures from a ``SentTurn`` (its payload's counted input, usage and cost,
    side calls included), an SDK ``Usage`` or dict (priced with ``model`` unless ``cost_usd``
    is given), or an int of input tokens."""
    if isinstance(x, int | float) and not isinstance(x, bool):
        return {"input_tokens": int(x), "billed_input": int(x), "cache_read": 0, "cache_write": 0, "output": 0,
                "cost_usd": float(cost_usd or 0.0)}
    usage = getattr(x, "usage", None) if hasattr(x, "payload") else x
    if usage is None:
        raise TypeError(f"add() takes a SentTurn, a Usage, a dict of usage or an int, got {type(x).__name__}")
    billed, read, write = (_get(usage, "input_tokens"), _get(usage, "cache_read_input_tokens"),
                           _get(usage, "cache_creation_input_tokens"))
    payload = getattr(x, "payload", None)
    if cost_usd is None:
        if hasattr(x, "cost_usd"):
            cost_usd = x.cost_usd + getattr(x, "side_cost_usd", 0.0)
        elif model is not None:
            from convolab.pricing import cost_usd as price

            cost_usd = price(model, usage)
    return {"input_tokens": payload.input_tokens if payload is not None else billed + read + write,
            "billed_input": billed, "cache_read": read, "cache_write": write,
            "output": _get(usage, "output_tokens"), "cost_usd": float(cost_usd or 0.0)}


class TokenGrowthChart(StaticFallback, widgets.VBox):
    """Input tokens per request, one colour per strategy (or branch): all input as a solid
    line, cache reads dashed and cache writes dotted in the same colour wherever they are not
    zero, a marker on every point so a one-turn line shows too.

    ``TokenGrowthChart(window=None, model=None, y_scale="linear", cumulative_cost=False)``:
    the y axis is linear and fitted to the data (``y_scale="log"`` on request). ``window``
    (in tokens, or taken from ``model``'s catalog row) is drawn as a red rule only once the
    largest request reaches half of it; until then the caption says how far away it is.
    ``cumulative_cost=True`` adds a panel with each line's cost added up turn by turn.

    ``add(strategy, turn, x)`` takes a ``SentTurn``, an SDK ``Usage`` (or a dict with its keys)
    or a plain token count; ``add_turn(sent_turn)`` reads the strategy and turn from the turn;
    ``add_series(strategy, tokens)`` a whole line of token counts. ``frame`` is the data,
    ``chart()`` the altair chart, ``to_svg()`` the chart as SVG (vl-convert, offline).
    """

    def __init__(self, *, window: int | None = None, model: str | None = None, y_scale: str = "linear",
                 cumulative_cost: bool = False, title: str = "Input tokens per request", **kwargs: Any):
        if y_scale not in SCALES:
            raise ConfigurationError(f"y_scale must be one of {', '.join(SCALES)}, not {y_scale!r}")
        if window is None and model is not None:
            from convolab import catalog

            window = catalog.get_model(model).context_window
        self.window = window
        self.model = model
        self.y_scale = y_scale
        self.cumulative_cost = cumulative_cost
        self.title = title
        self._rows: list[dict[str, Any]] = []
        self._segments: dict[str, int] = {}
        self._pending: set[str] = set()  # strategies whose next point starts a new segment
        self._svg: str | None = None
        self._view = widgets.HTML()
        super().__init__(children=[self._view], **kwargs)
        self._refresh()

    # -- data ----------------------------------------------------------------------------------
    def add(self, strategy: str, turn: int, usage_or_turn: Any, *, cost_usd: float | None = None,
            render: bool = True) -> None:
        """Record one request of ``strategy`` at ``turn`` (see ``usage_row`` for what ``x`` can be)."""
        row = usage_row(usage_or_turn, cost_usd=cost_usd, model=self.model)
        if strategy in self._pending:
            self._pending.discard(strategy)
            self._segments[strategy] += 1
        self._segments.setdefault(strategy, 0)
        self._rows.append({"strategy": strategy, "turn": int(turn), **row, "segment": self._segments[strategy]})
        self._svg = None  # to_svg() draws the new point even when the view is not re-rendered now
        if render:
            self._refresh()

    def add_series(self, strategy: str, input_tokens: Sequence[int], *, first_turn: int = 1,
                   costs: Sequence[float] | None = None) -> None:
        """Record a whole line at once: ``input_tokens[k]`` (and ``costs[k]``) at turn
        ``first_turn + k`` (e.g. a replay's ``Run.turn_input_tokens``), rendering once."""
        for k, tokens in enumerate(input_tokens):
            self.add(strategy, first_turn + k, int(tokens), cost_usd=None if costs is None else costs[k],
                     render=False)
        self._refresh()

    def add_turn(self, sent_turn: Any, *, strategy: str | None = None, render: bool = True) -> None:
        """Record a ``SentTurn`` (turn number ``index + 1``, strategy from its payload)."""
        name = strategy or (sent_turn.payload.strategy if sent_turn.payload is not None else "?")
        self.add(name, sent_turn.index + 1, sent_turn, render=render)

    def branch(self, sources: Sequence[str], label: str, at_turn: int) -> None:
        """Start line ``label`` as a branch of ``sources``: their points up to ``at_turn`` are
        repeated under ``label`` (the history both branches share, paid once by each), so the
        two lines meet there and part from the next turn on."""
        shared = [r for r in self._rows if r["strategy"] in set(sources) and r["turn"] <= at_turn]
        self._segments.setdefault(label, 0)
        for r in sorted(shared, key=lambda r: r["turn"]):
            self._rows.append({**r, "strategy": label, "segment": self._segments[label]})
        self._svg = None
        self._refresh()

    def redraw(self) -> None:
        """Draw the chart again (after ``add(..., render=False)``)."""
        self._refresh()

    def break_line(self) -> None:
        """Start a new line segment for every strategy at its next point (after a strategy
        switch, so a strategy used again later is not joined across the turns it was not used)."""
        self._pending = set(self._segments)

    @property
    def frame(self) -> pl.DataFrame:
        """One row per request: strategy, turn, input_tokens (counted: all input, cached or not),
        billed_input (uncached input), cache_read, cache_write, output, cost_usd, segment."""
        return pl.DataFrame(self._rows, schema=COLUMNS)

    def largest(self) -> int:
        """The largest request's input tokens (0 before the first)."""
        return max((r["input_tokens"] for r in self._rows), default=0)

    def window_shown(self) -> bool:
        """Whether the window's rule is drawn: only once the data comes near it."""
        return bool(self.window) and self.largest() >= WINDOW_NEAR * self.window

    # -- chart ---------------------------------------------------------------------------------
    def _long(self) -> pl.DataFrame:
        """One row per drawn point: input for every request, cache reads and writes where not 0."""
        long = self.frame.unpivot(on=list(MEASURES), index=["strategy", "turn", "segment", "cost_usd"],
                                  variable_name="measure", value_name="tokens").with_columns(
            pl.col("measure").replace_strict(MEASURES))
        long = long.filter((pl.col("measure") == MEASURES["input_tokens"]) | (pl.col("tokens") > 0))
        # a run of turns with the measure above zero is one line; a zero turn breaks it
        run = (pl.col("turn").diff().fill_null(1) != 1).cum_sum().over("strategy", "segment", "measure")
        return long.sort("strategy", "segment", "measure", "turn").with_columns(
            series=pl.format("{} #{} {} {}", "strategy", "segment", "measure", run))

    def chart(self, *, width: int = 560, height: int = 300) -> Any:
        """The altair chart: the growth panel and, with ``cumulative_cost``, the cost panel."""
        import altair as alt

        if not self.cumulative_cost:
            return self._growth_chart(width, height).properties(padding=CHART_PADDING)
        # two panels side by side fit a notebook's width with the legends below them
        return alt.hconcat(self._growth_chart(int(width * 0.7), height), self._cost_chart(int(width * 0.5), height)
                           ).properties(padding=CHART_PADDING).configure_legend(orient="bottom", direction="horizontal")

    def _growth_chart(self, width: int, height: int) -> Any:
        import altair as alt

        data = self._long()
        if self.y_scale == "log":  # a log scale has no zero: those points are left out
            data = data.filter(pl.col("tokens") > 0)
        measures = [m for m in MEASURES.values() if m in set(data["measure"].to_list())] or [MEASURES["input_tokens"]]
        turns = self.frame["turn"].to_list()
        x = alt.X("turn:Q", title="turn", axis=turn_axis(turns, width), scale=turn_scale(turns))
        y = alt.Y("tokens:Q", title="input tokens per request" + (" (log scale)" if self.y_scale == "log" else ""),
                  scale=alt.Scale(type=self.y_scale, zero=self.y_scale == "linear"),
                  axis=alt.Axis(format=",~s" if self.y_scale == "log" else ",d"))
        color = alt.Color("strategy:N", title="strategy")
        dash = alt.StrokeDash("measure:N", title="tokens", sort=measures,
                              scale=alt.Scale(domain=measures, range=[DASHES[m] for m in measures]))
        shape = alt.Shape("measure:N", title="tokens", sort=measures,
                          scale=alt.Scale(domain=measures, range=[SHAPES[m] for m in measures]))
        tooltip = ["strategy:N", "turn:Q", "measure:N", alt.Tooltip("tokens:Q", format=","),
                   alt.Tooltip("cost_usd:Q", format="$.5f")]
        lines = alt.Chart(data, name="growth").mark_line(strokeWidth=2).encode(
            x=x, y=y, color=color, strokeDash=dash, detail="series:N")
        points = alt.Chart(data, name="points").mark_point(filled=True, size=45, opacity=1).encode(
            x=x, y=y, color=color, shape=shape, tooltip=tooltip)
        layers = [lines, points]
        if self.window_shown():
            rule_data = pl.DataFrame({"window": [self.window],
                                      "label": [f"context window {self.window:,}"
                                                + (f" ({self.model})" if self.model else "")]})
            layers.append(alt.Chart(rule_data, name="window").mark_rule(
                color=RED, strokeDash=[8, 4], strokeWidth=1.5).encode(y="window:Q"))
            layers.append(alt.Chart(rule_data, name="window_label").mark_text(
                align="left", dx=4, dy=-6, color=RED, x=0).encode(y="window:Q", text="label:N"))
        return alt.layer(*layers).properties(width=width, height=height, title=self.title)

    def cost_frame(self) -> pl.DataFrame:
        """Each line's cost added up turn by turn: strategy, turn, cost_usd, cumulative_usd."""
        return self.frame.sort("strategy", "turn").select(
            "strategy", "turn", "cost_usd", cumulative_usd=pl.col("cost_usd").cum_sum().over("strategy"))

    def _cost_chart(self, width: int, height: int) -> Any:
        import altair as alt

        data = self.cost_frame()
        turns = data["turn"].to_list()
        x = alt.X("turn:Q", title="turn", axis=turn_axis(turns, width), scale=turn_scale(turns))
        top = data["cumulative_usd"].max() or 0.0
        digits = 2 if top >= 1 else 3 if top >= 0.1 else 4  # cents, or enough digits to tell ticks apart
        y = alt.Y("cumulative_usd:Q", title="cost so far (USD)", axis=alt.Axis(format=f"$,.{digits}f"))
        base = alt.Chart(data, name="cost").encode(x=x, y=y, color=alt.Color("strategy:N", title="strategy"))
        return alt.layer(base.mark_line(strokeWidth=2),
                         base.mark_point(filled=True, size=30, opacity=1).encode(
                             tooltip=["strategy:N", "turn:Q", alt.Tooltip("cumulative_usd:Q", format="$.4f")]),
                         ).properties(width=width, height=height, title="Cost of the conversation so far")

    def to_svg(self) -> str:
        """The chart as inline SVG (vl-convert bundles Vega: no CDN, no network)."""
        if self._svg is None:
            self._svg = chart_svg(self.chart())
        return self._svg

    def _refresh(self) -> None:
        self._svg = None
        self._view.value = svg(self.to_svg(), caption=self.caption())

    def caption(self) -> str:
        """What the chart shows in words, and where the model's window is."""
        f = self.frame
        if not len(f):
            return "no requests yet"
        lines = f["strategy"].n_unique()
        text = f"{len(f)} request{'s' * (len(f) != 1)}, {lines} line{'s' * (lines != 1)}"
        if self.window and self.window_shown():
            text += f"; red rule: the model's context window ({self.window:,} tokens)"
        elif self.window:
            text += (f"; the model's context window ({self.window:,} tokens) is far above: the largest request "
                     f"is {self.largest() / self.window:.1%} of it")
        return text

    # -- static view ---------------------------------------------------------------------------
    def to_html(self) -> str:
        return panel(svg(self.to_svg(), caption=self.caption()), kind="token-growth")

    def __repr__(self) -> str:
        return f"TokenGrowthChart(requests={len(self._rows)}, window={self.window})"
