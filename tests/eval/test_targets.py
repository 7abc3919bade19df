"""The targets of the evaluation issues, as ``docs/results.md`` reports them, as deterministic
tests (the simulator and the data are): a change that loses a target fails here.

- Issue 8: ``retrieval`` at a 4,000-token budget keeps >= 90% of full history's
  ``answer_in_context`` with <= 20% of its tokens per question, for less than full history costs.
- Issue 18: the best budgeted strategy (``retrieval``), at <= 15% of full history's tokens per
  question, keeps >= 0.95x its ``answer_in_context`` and >= 0.75x on multi-hop questions, and
  costs <= 0.7x of full history with caching. Met: tokens and cost. Not met yet: quality and
  multi-hop (``docs/results.md``: 0.94x and 0.68x on LoCoMo): those tests are expected to fail
  (``xfail(strict=True)``), so the day they pass, this file must be updated.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

from convolab.datasets import load_locomo, synthetic
from convolab.eval import run_eval

LOCOMO = Path(__file__).parents[2].parent / "shared/data/locomo/locomo-dev.json"
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BUDGET_AT_15_PERCENT = 2790  # 15% of full history's 18,644 tokens per LoCoMo question, rounded down


def _locomo():
    if not LOCOMO.exists():
        if CI:
            pytest.fail(f"{LOCOMO} is missing (it is read from ../shared, never copied into the repo)")
        pytest.skip(f"{LOCOMO} not found")
    return load_locomo(LOCOMO)


@cache
def _against_full(dataset: str, budget: int) -> dict[str, float]:
    samples = _locomo() if dataset == "locomo" else [synthetic(400, seed=s) for s in range(3)]
    result = run_eval(samples, ["full", "retrieval"], budget_tokens=budget, jobs=2)
    s, by = result.summary, result.by_category
    row = s.filter(s["strategy"] == "retrieval").row(0, named=True)
    multi = {r["strategy"]: r["answer_in_context"] for r in by.filter(by["category"] == 1).iter_rows(named=True)}
    return {"quality": row["answer_in_context_vs_full"], "tokens": row["qa_input_tokens_vs_full"],
            "cost": row["cost_vs_full"], "multi_hop": multi["retrieval"] / multi["full"]}


@pytest.mark.parametrize("dataset", ["locomo", "synthetic"])
def test_issue_8_retrieval_at_4000_tokens(dataset):
    # the synthetic set is the one docs/results.md reports (one conversation alone is noisier)
    r = _against_full(dataset, 4000)
    assert r["quality"] >= 0.90 and r["tokens"] <= 0.20 and r["cost"] < 1.0, r


@pytest.mark.parametrize("dataset", ["locomo", "synthetic"])
def test_issue_18_retrieval_at_15_percent_of_the_tokens_costs_at_most_70_percent(dataset):
    r = _against_full(dataset, BUDGET_AT_15_PERCENT)
    assert r["tokens"] <= 0.15 and r["cost"] <= 0.70, r


@pytest.mark.xfail(strict=True, reason="issue 18 quality targets not met yet: see docs/results.md")
@pytest.mark.parametrize("dataset", ["locomo", "synthetic"])
def test_issue_18_retrieval_at_15_percent_keeps_95_percent_and_75_percent_of_multi_hop(dataset):
    r = _against_full(dataset, BUDGET_AT_15_PERCENT)
    assert r["quality"] >= 0.95 and r["multi_hop"] >= 0.75, r
