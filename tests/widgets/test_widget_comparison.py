"""StrategyComparison: quality against tokens and cost, overall and per category."""

from __future__ import annotations

import re
from types import SimpleNamespace

import polars as pl
import pytest

from convolab.widgets import StrategyComparison

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STRATEGIES = ["full", "sliding", "summarizing", "memory", "retrieval"]
CATEGORIES = ["single-hop", "multi-hop", "temporal", "open-domain", "adversarial"]


@pytest.fixture
def summary():
    return pl.DataFrame({"strategy": STRATEGIES, "qa_input_tokens": [21000, 3500, 3600, 2500, 3800],
                         "cost_usd": [6.4, 1.4, 1.3, 3.7, 3.5],
                         "answer_in_context": [0.98, 0.41, 0.62, 0.55, 0.83],
                         "evidence_recall": [0.99, 0.35, 0.5, 0.4, 0.8], "correctness": [0.9, 0.38, 0.57, 0.5, 0.75]})


@pytest.fixture
def by_category():
    return pl.DataFrame([{"strategy": s, "category": c, "answer_in_context": 0.3 + 0.1 * i,
                          "evidence_recall": 0.2 + 0.1 * i, "correctness": 0.25 + 0.12 * i}
                         for c in CATEGORIES for i, s in enumerate(STRATEGIES)])


def points(svg: str) -> list[str]:
    return re.findall(r'<path aria-label="[^"]*strategy: ([^;"]+); metric: ', svg)


def test_summary_frame_alone(summary):
    cmp = StrategyComparison(summary)
    assert cmp.metrics == ["correctness", "answer_in_context", "evidence_recall"] and cmp.metric == "correctness"
    svg = cmp.to_svg()
    # each strategy once per metric, in the tokens panel and in the cost panel
    assert sorted(points(svg)) == sorted(STRATEGIES * 3 * 2)
    assert "input tokens per question" in svg and "cost (USD)" in svg
    markup = cmp.to_html()
    assert 'data-convolab="strategy-comparison"' in markup and "21,000" in markup and "6.4000" in markup
    assert "per category" not in markup and cmp.category_chart() is None


def test_dict_or_object_with_by_category(summary, by_category):
    for results in ({"summary": summary, "by_category": by_category},
                    SimpleNamespace(summary=summary, by_category=by_category)):
        cmp = StrategyComparison(results, metric="evidence_recall")
        svg = cmp.category_svg()
        for c in CATEGORIES:
            assert f">{c}</text>" in svg
        assert len(re.findall(r"<path aria-label=\"input tokens per question: [^\"]*; category: ", svg)) == 25
        markup = cmp.to_html()
        assert "evidence_recall per category" in markup and markup.count("<svg") == 2
        f = cmp.category_frame()  # tokens and cost per strategy filled in from the summary
        assert f.filter(strategy="full", category="temporal")["tokens"].item() == 21000


def test_the_picker_changes_the_category_metric(summary, by_category):
    cmp = StrategyComparison({"summary": summary, "by_category": by_category})
    assert "correctness per category" in cmp._view.value
    cmp.picker.value = "answer_in_context"
    assert cmp.metric == "answer_in_context" and "answer_in_context per category" in cmp._view.value
    bundle = cmp._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["text/html"] == cmp.to_html()


def test_other_shapes_and_bad_input(summary):
    cmp = StrategyComparison(summary.rename({"qa_input_tokens": "input_tokens"}).drop("correctness").to_dicts())
    assert cmp.tokens_col == "input_tokens" and cmp.metric == "answer_in_context"
    with pytest.raises(ValueError, match="no tokens column"):
        StrategyComparison(summary.drop("qa_input_tokens"))
    with pytest.raises(ValueError, match="no quality column"):
        StrategyComparison(summary.select("strategy", "qa_input_tokens", "cost_usd"))
    with pytest.raises(ValueError, match="'strategy' column"):
        StrategyComparison({"summary": None})
    with pytest.raises(ValueError, match="metric 'bleu'"):
        StrategyComparison(summary, metric="bleu")


def test_labels_that_would_overlap_are_left_to_the_legend(summary):
    """Two strategies at nearly the same point: one label shows, the other is left out (its
    point, colour and tooltip stay); points far apart keep every label."""
    close = summary.with_columns(
        qa_input_tokens=pl.Series([21000, 3500, 3600, 2510, 2500]),
        answer_in_context=pl.Series([0.98, 0.41, 0.62, 0.81, 0.80]))
    f = StrategyComparison(close, metric="answer_in_context").long().filter(metric="answer_in_context")
    shown = dict(zip(f["strategy"], f["label_tokens"], strict=True))
    assert shown["memory"] == "memory" and shown["retrieval"] == ""
    assert all(shown[s] == s for s in ("full", "sliding", "summarizing"))
    apart = StrategyComparison(summary).long()
    assert apart["label_cost_usd"].to_list() == apart["strategy"].to_list()
    svg = StrategyComparison(close, metric="answer_in_context").to_svg()
    assert sorted(points(svg)) == sorted(STRATEGIES * 3 * 2)  # every point is still drawn
