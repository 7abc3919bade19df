"""The Evaluation issue's targets, as ``docs/results.md`` reports them: a budgeted strategy
(``retrieval``, 4,000-token budget) keeps at least 90% of full history's ``answer_in_context``
with at most 20% of its tokens per question, for less than full history costs with caching.
Deterministic (the simulator and the data are), so a change that loses the target fails here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from convolab.datasets import load_locomo, synthetic
from convolab.eval import run_eval

LOCOMO = Path(__file__).parents[2].parent / "shared/data/locomo/locomo-dev.json"
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _against_full(samples) -> dict[str, float]:
    s = run_eval(samples, ["full", "retrieval"], budget_tokens=4000, jobs=2).summary
    row = s.filter(s["strategy"] == "retrieval").row(0, named=True)
    return {"quality": row["answer_in_context_vs_full"], "tokens": row["qa_input_tokens_vs_full"],
            "cost": row["cost_vs_full"]}


def test_retrieval_meets_the_targets_on_the_locomo_development_conversations():
    if not LOCOMO.exists():
        if CI:
            pytest.fail(f"{LOCOMO} is missing (it is read from ../shared, never copied into the repo)")
        pytest.skip(f"{LOCOMO} not found")
    r = _against_full(load_locomo(LOCOMO))
    assert r["quality"] >= 0.90 and r["tokens"] <= 0.20 and r["cost"] < 1.0, r


def test_retrieval_meets_the_targets_on_the_synthetic_set():
    # the set docs/results.md reports (one conversation alone is noisier: seed 0 gives 88.9%)
    r = _against_full([synthetic(400, seed=s) for s in range(3)])
    assert r["quality"] >= 0.90 and r["tokens"] <= 0.20 and r["cost"] < 1.0, r
