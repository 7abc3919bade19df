"""TokenGrowthChart: the frame, the SVG (a line per strategy, cache series, the window rule
only near the data, branches, cumulative cost) and the linear growth table."""

from __future__ import annotations

import re

import polars as pl
import pytest

from convolab.pricing import cost_usd
from convolab.strategies import FullHistory, SlidingWindow
from convolab.widgets import TokenGrowthChart, linear_growth_table

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def input_lines(svg: str) -> dict[str, int]:
    """Strategy -> number of drawn input lines (Vega labels each path with its data)."""
    found: dict[str, int] = {}
    for m in re.finditer(r'<path aria-label="[^"]*strategy: ([^;"]+); tokens: input \(all\); series', svg):
        found[m.group(1)] = found.get(m.group(1), 0) + 1
    return found


def test_the_linear_model_grows_by_one_turn_a_turn_and_its_total_by_the_square():
    t = linear_growth_table(turns=range(1, 51))
    assert t.filter(turn=1)["input_tokens"].item() == 600 and t.filter(turn=50)["input_tokens"].item() == 15300
    assert set(t["input_tokens"].diff().drop_nulls().to_list()) == {300}
    totals = t["total_so_far"].to_list()
    assert totals[49] == sum(600 + 300 * k for k in range(50))  # 50 requests added up
    assert totals[49] / totals[24] > 3.5  # twice the turns: well over twice the bill


def y_labels(svg: str) -> list[str]:
    axis = re.search(r'aria-label="Y-axis.*?role-axis-label[^>]*>(.*?)</g>', svg, re.DOTALL)
    assert axis, "no y axis labels in the SVG"
    return re.findall(r">([^<]*)</text>", axis.group(1))


def test_one_line_per_strategy_on_a_linear_axis_fitted_to_the_data(make_session):
    chart = TokenGrowthChart(model="claude-sonnet-4-6")
    for strategy in (FullHistory(), SlidingWindow(max_turns=1)):
        session = make_session(strategy)
        for text in ("One.", "Two.", "Three."):
            chart.add_turn(session.send(text))
    svg = chart.to_svg()
    assert input_lines(svg) == {"full": 1, "sliding": 1}
    assert chart.y_scale == "linear" and "(log scale)" not in svg
    top = max(int(label.replace(",", "")) for label in y_labels(svg))
    assert chart.largest() <= top < 2 * chart.largest()  # fitted: the axis ends near the largest request
    # the window (1,000,000 tokens) is far away: no rule, the caption says where it is
    assert not chart.window_shown() and "window: 1000000" not in svg
    assert "context window (1,000,000 tokens) is far above" in chart.to_html()
    assert "<script" not in svg and "cdn" not in svg.lower()
    assert chart.frame.columns == ["strategy", "turn", "input_tokens", "billed_input", "cache_read", "cache_write",
                                   "output", "cost_usd", "segment"]
    assert chart.frame["turn"].to_list() == [1, 2, 3, 1, 2, 3]


def test_a_sent_turn_gives_counted_input_usage_and_cost(make_session, policy):
    session = make_session(FullHistory(), system_prompt=policy)
    chart = TokenGrowthChart()
    for text in ("One.", "Two."):
        turn = session.send(text)
        chart.add_turn(turn)
    row = chart.frame.row(-1, named=True)
    u = turn.usage
    assert row["input_tokens"] == turn.payload.input_tokens == (
        u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens)
    assert (row["billed_input"], row["cache_read"], row["cache_write"], row["output"]) == (
        u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens, u.output_tokens)
    assert row["cost_usd"] == pytest.approx(turn.cost_usd + turn.side_cost_usd)
    # cache reads and writes are drawn apart, as their own (dashed) lines
    svg = chart.to_svg()
    assert "tokens: cache read; series: full #0 cache read" in svg
    assert "tokens: cache write; series: full #0 cache write" in svg


def test_usage_dicts_ints_and_pricing():
    chart = TokenGrowthChart(model="claude-sonnet-4-6")
    usage = {"input_tokens": 100, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 50,
             "output_tokens": 20}
    chart.add("a", 1, usage)
    chart.add("b", 1, 600)
    chart.add("c", 1, usage, cost_usd=0.5)
    f = chart.frame
    assert f["input_tokens"].to_list() == [1150, 600, 1150]
    assert f["cost_usd"].to_list() == pytest.approx([cost_usd("claude-sonnet-4-6", usage), 0.0, 0.5])
    with pytest.raises(TypeError, match="SentTurn, a Usage"):
        chart.add("d", 1, None)


def test_the_window_is_drawn_once_the_data_comes_near_it():
    chart = TokenGrowthChart(window=10_000, model=None)
    chart.add("a", 1, 2_000)
    assert not chart.window_shown() and "window: 10000" not in chart.to_svg()
    chart.add("a", 2, 6_000)
    svg = chart.to_svg()
    assert chart.window_shown() and re.search(r'<line aria-label="window: 10000"', svg)
    assert "context window 10,000" in svg and "red rule" in chart.to_html()


def test_log_scale_on_request():
    chart = TokenGrowthChart(y_scale="log")
    chart.add_series("a", [500, 5_000, 50_000])
    assert "(log scale)" in chart.to_svg()
    with pytest.raises(ValueError, match="y_scale must be one of linear, log"):
        TokenGrowthChart(y_scale="auto")


def test_a_one_turn_line_and_its_cache_figures_are_drawn_as_points():
    chart = TokenGrowthChart()
    chart.add("full", 1, {"input_tokens": 3, "cache_creation_input_tokens": 1500, "cache_read_input_tokens": 0,
                          "output_tokens": 9})
    chart.add("full", 2, {"input_tokens": 3, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 1500,
                          "output_tokens": 9})
    chart.add("sliding", 2, 700)  # a line of one point
    svg = chart.to_svg()
    points = [(name, turn, measure, tokens) for turn, tokens, name, measure in re.findall(
        r'aria-label="turn: (\d+); input tokens per request: ([\d,]+); strategy: ([^;]+); tokens: ([^;]+); measure', svg)]
    assert ("sliding", "2", "input (all)", "700") in points
    assert ("full", "2", "cache read", "1,500") in points  # read only from turn 2: its one point is drawn
    assert ("full", "1", "cache write", "1,500") in points and ("full", "2", "cache write", "20") in points
    assert ("full", "1", "cache read", "0") not in points  # a zero is not drawn
    assert "cache read" in svg and "cache write" in svg  # in the legend because drawn


def test_no_cache_figures_no_cache_legend():
    chart = TokenGrowthChart()
    chart.add_series("full", [600, 1200])
    svg = chart.to_svg()
    assert "cache read" not in svg and "cache write" not in svg


def test_cumulative_cost_is_the_running_total():
    chart = TokenGrowthChart(cumulative_cost=True)
    chart.add_series("full", [600, 1200, 1800], costs=[0.01, 0.02, 0.03])
    chart.add_series("sliding", [600, 700], costs=[0.01, 0.01])
    f = chart.cost_frame()
    assert f.filter(strategy="full")["cumulative_usd"].to_list() == pytest.approx([0.01, 0.03, 0.06])
    assert f.filter(strategy="sliding")["cumulative_usd"].to_list() == pytest.approx([0.01, 0.02])
    svg = chart.to_svg()
    assert "Cost of the conversation so far" in svg and "cost so far (USD)" in svg


def test_a_branch_repeats_the_shared_turns_then_goes_its_own_way():
    chart = TokenGrowthChart()
    chart.add_series("sliding", [600, 700, 800, 900])
    chart.branch(["sliding"], "full (fork at turn 2)", 2)
    chart.add("full (fork at turn 2)", 3, 1300)
    f = chart.frame.filter(strategy="full (fork at turn 2)")
    assert f.select("turn", "input_tokens").rows() == [(1, 600), (2, 700), (3, 1300)]
    assert input_lines(chart.to_svg()) == {"sliding": 1, "full (fork at turn 2)": 1}  # one line, unbroken


def test_live_view_and_static_fallback():
    chart = TokenGrowthChart(window=500)
    assert "no requests yet" in chart.to_html() and "<svg" in chart._view.value  # empty chart still renders
    chart.add("a", 1, 700)
    assert "700" in chart._view.value
    bundle = chart._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "<svg" in bundle["text/html"]
    assert 'data-convolab="token-growth"' in bundle["text/html"]
    assert isinstance(chart.frame, pl.DataFrame)


def x_labels(svg: str) -> list[str]:
    """The x axis's tick labels, as drawn."""
    axis = re.search(r'aria-label="X-axis.*?role-axis-label[^>]*>(.*?)</g>', svg, re.DOTALL)
    assert axis, "no x axis labels in the SVG"
    return re.findall(r">([^<]*)</text>", axis.group(1))


@pytest.mark.parametrize("turns", [2, 3])
def test_a_short_chat_has_one_integer_tick_per_turn(turns):
    """Vega put ticks at 1, 1.5, 2, 2.5, 3 for three turns, labelled "1 2 2 3 3" by the integer
    format: the live view and the static fallback (the same SVG) must label each turn once."""
    chart = TokenGrowthChart(model="claude-sonnet-4-6")
    for t in range(1, turns + 1):
        chart.add("full", t, 600 * t)
        chart.add("sliding", t, 500 + 100 * t)
    expected = [str(t) for t in range(1, turns + 1)]
    assert x_labels(chart._view.value) == expected  # live
    assert x_labels(chart.to_html()) == expected  # static fallback
    axis = chart.chart().to_dict()["layer"][0]["encoding"]["x"]["axis"]
    assert axis["values"] == list(range(1, turns + 1)) and axis["format"] == "d"


def test_long_chats_get_integer_ticks_that_fit():
    chart = TokenGrowthChart()
    chart.add_series("full", [100 * t for t in range(1, 58)])
    labels = x_labels(chart.to_svg())
    assert labels == [str(t) for t in range(5, 58, 5)]
    assert len(set(labels)) == len(labels)


def test_add_series_and_unrendered_adds_reach_the_svg():
    chart = TokenGrowthChart()
    chart.add_series("full", [600, 1200, 1800])
    chart.add("sliding", 1, 500, render=False)  # not re-rendered now, but to_svg() draws it
    assert chart.frame.select("strategy", "turn", "input_tokens").rows() == [
        ("full", 1, 600), ("full", 2, 1200), ("full", 3, 1800), ("sliding", 1, 500)]
    assert input_lines(chart.to_svg()) == {"full": 1, "sliding": 1}
    assert input_lines(chart._view.value) == {"full": 1}  # the live view waits for a render
