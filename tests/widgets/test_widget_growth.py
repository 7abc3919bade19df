"""TokenGrowthChart: the frame, the SVG (a line per strategy, the window rule) and the chapter's table."""

from __future__ import annotations

import re

import polars as pl
import pytest

from convolab.pricing import cost_usd
from convolab.strategies import FullHistory, SlidingWindow
from convolab.widgets import TokenGrowthChart, chapter_growth_table
from convolab.widgets.growth import CHAPTER, CHAPTER_LINEAR

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def input_lines(svg: str) -> dict[str, int]:
    """Strategy -> number of drawn input lines (Vega labels each path with its data)."""
    found: dict[str, int] = {}
    for m in re.finditer(r'<path aria-label="[^"]*strategy: ([^;"]+); tokens: input \(all\); series', svg):
        found[m.group(1)] = found.get(m.group(1), 0) + 1
    return found


def test_chapter_table_reproduces_the_stated_figures():
    t = chapter_growth_table()
    assert t["turn"].to_list() == [1, 5, 20, 50]
    assert t["input_tokens"].to_list() == [600, 1800, 6600, 20000]
    assert t["chapter_says"].to_list() == ["600", "1,800", "6,600", "20,000+"]
    assert t["prior_tokens"].to_list() == [0, 1200, 6000, 19400]
    assert (t["system"] + t["prior_tokens"] + t["new_message"]).to_list() == t["input_tokens"].to_list()
    # the chapter's own figures are not one rate: 300, ~316, ~396 tokens per prior turn
    assert t["tokens_per_prior_turn"].to_list() == [None, 300.0, 315.8, 395.9]
    assert t["at_300_per_turn"].to_list() == [600, 1800, 6300, 15300]


def test_the_chapter_table_comes_back_out_of_the_chart():
    chart = TokenGrowthChart.from_chapter(window=200_000)
    f = chart.frame
    stated = f.filter(strategy=CHAPTER).select("turn", "input_tokens").rows()
    assert stated == [(1, 600), (5, 1800), (20, 6600), (50, 20000)]
    assert f.filter(strategy=CHAPTER_LINEAR).height == 50
    svg = chart.to_svg()
    assert input_lines(svg) == {CHAPTER: 1, CHAPTER_LINEAR: 1}
    assert "context window 200,000" in svg and 'class="mark-rule role-mark window_marks"' in svg


def test_one_line_per_strategy_and_the_window_rule(make_session):
    chart = TokenGrowthChart(model="claude-sonnet-4-6")
    for strategy in (FullHistory(), SlidingWindow(max_turns=1)):
        session = make_session(strategy)
        for text in ("One.", "Two.", "Three."):
            chart.add_turn(session.send(text))
    svg = chart.to_svg()
    assert input_lines(svg) == {"full": 1, "sliding": 1}
    assert "context window 1,000,000 (claude-sonnet-4-6)" in svg
    assert re.search(r'<line aria-label="window: 1000000"', svg)
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


def test_scale_is_log_while_far_from_the_window_then_linear():
    chart = TokenGrowthChart(window=10_000)
    chart.add("a", 1, 500)
    assert chart.scale_type() == "log" and "(log scale)" in chart.to_svg()
    chart.add("a", 2, 2_000)
    assert chart.scale_type() == "linear" and "(log scale)" not in chart.to_svg()
    assert TokenGrowthChart(window=10_000, y_scale="linear").scale_type() == "linear"
    assert TokenGrowthChart().scale_type() == "linear"  # no window


def test_live_view_and_static_fallback():
    chart = TokenGrowthChart(window=5_000)
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
