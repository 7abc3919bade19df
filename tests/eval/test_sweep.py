"""Budget sweeps: one result set with a budget_tokens column, each budget's rows those of a run at
that budget alone, the Pareto front, and pareto.svg from the command line."""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner

from convolab.commands.eval import eval_group
from convolab.datasets import synthetic
from convolab.eval import run_eval
from convolab.eval.chart import pareto_front, pareto_points
from convolab.eval.run import tasks_for

TIMING = ("build_ms_p50", "build_ms_p90")


@pytest.fixture(scope="module")
def sample():
    return synthetic(60, seed=1)


@pytest.fixture(scope="module")
def sweep(sample):
    return run_eval([sample], ["full", "sliding"], budget_tokens=[1500, 3000])


def test_a_budgeted_strategy_runs_once_per_budget_and_full_once(sample):
    tasks = tasks_for([sample, sample], ["full", "sliding", "compaction"], [1500, 3000])
    assert [(t.strategy, t.budget_tokens) for t in tasks] == [
        ("full", None), ("full", None), ("sliding", 1500), ("sliding", 1500), ("sliding", 3000), ("sliding", 3000),
        ("compaction", None), ("compaction", None)]


def test_each_budget_of_a_sweep_gives_the_rows_of_a_run_at_that_budget_alone(sample, sweep):
    assert sweep.summary.select("strategy", "budget_tokens").rows() == [("full", None), ("sliding", 1500),
                                                                        ("sliding", 3000)]
    assert sweep.budgets == [1500, 3000]
    for budget in (1500, 3000):
        alone = run_eval([sample], ["sliding"], budget_tokens=budget)
        row = sweep.summary.filter(pl.col("budget_tokens") == budget).drop(TIMING, "cost_vs_full",
                                                                             "qa_input_tokens_vs_full",
                                                                             "answer_in_context_vs_full",
                                                                             "answer_in_message_vs_full")
        assert row.rows() == alone.summary.drop(TIMING).rows()
        cats = sweep.by_category.filter(pl.col("budget_tokens") == budget)
        assert cats.drop("judge_accuracy", "judge_accuracy_lo", "judge_accuracy_hi").rows() == \
            alone.by_category.drop("judge_accuracy", "judge_accuracy_lo", "judge_accuracy_hi").rows()
    payload = sweep.items.group_by("budget_tokens").agg(pl.col("payload_tokens").mean()).sort("budget_tokens")
    assert payload["payload_tokens"][1] < payload["payload_tokens"][2]  # a larger budget sends more
    assert set(sweep.runs["budget_tokens"].to_list()) == {None, 1500, 3000}


def test_the_pareto_front_keeps_only_points_nothing_beats():
    points = [(100, 0.5), (200, 0.4), (300, 0.9), (50, 0.1), (300, 0.7), (400, 0.9)]
    assert pareto_front(points) == [3, 0, 2]  # (200, .4) and (300, .7) are beaten, (400, .9) costs more for no gain
    assert pareto_front([]) == []


def test_pareto_points_cover_every_category_and_metric(sweep):
    long = pareto_points(sweep.summary, sweep.by_category)
    scopes = long["scope"].unique(maintain_order=True).to_list()
    assert scopes[0] == "all (categories 1-4)"
    assert {"single-hop (4)", "multi-hop (1)"} <= set(scopes)
    assert set(long["metric"].to_list()) == {"answer_in_context", "correctness"}
    for _, part in long.group_by("scope", "metric"):
        best = part["quality"].max()
        assert part.filter(pl.col("front_tokens") & (pl.col("quality") == best)).height >= 1
        cheapest = part.filter(pl.col("tokens") == part["tokens"].min())
        assert cheapest["front_tokens"].any()


def test_the_command_line_sweep_writes_one_result_set_and_the_pareto_chart(tmp_path):
    pytest.importorskip("vl_convert")
    out = tmp_path / "out"
    result = CliRunner().invoke(eval_group, ["synthetic", "--turns", "60", "--seed", "1", "--strategy", "full,sliding",
                                             "--budget-tokens", "1500,3000", "--budget-tokens", "3000", "--jobs", "1",
                                             "--out", str(out)], prog_name="convolab eval")
    assert result.exit_code == 0, result.output
    summary = pl.read_csv(out / "summary.csv")
    assert summary.select("strategy", "budget_tokens").rows() == [("full", None), ("sliding", 1500), ("sliding", 3000)]
    assert set(pl.read_csv(out / "by_category.csv")["budget_tokens"].to_list()) == {None, 1500, 3000}
    assert set(pl.read_csv(out / "runs.csv")["budget_tokens"].to_list()) == {None, 1500, 3000}
    assert pl.read_parquet(out / "items.parquet")["budget_tokens"].n_unique() == 3
    svg = (out / "pareto.svg").read_text()
    assert svg.lstrip().startswith("<svg") and "http" not in svg.split(">", 1)[1].replace("http://www.w3.org", "")
    assert "single-hop (4): correctness" in svg and "1.5k" in svg
    header = next(line for line in result.output.splitlines() if line.startswith("strategy"))
    assert header.split()[:2] == ["strategy", "budget"]
    assert "1 conversation(s) x 2 strategies x 2 budgets" in result.output


def test_a_single_budget_writes_no_pareto_chart_and_no_budget_column_in_the_table(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(eval_group, ["synthetic", "--turns", "40", "--strategy", "sliding", "--budget-tokens",
                                             "2000", "--jobs", "1", "--judge", "none", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "pareto.svg").exists()
    assert "budget" not in result.output.splitlines()[0]
    assert pl.read_csv(out / "summary.csv")["budget_tokens"].to_list() == [2000]


@pytest.mark.parametrize(("value", "message"), [
    ("1000,,2000", "Error: Invalid value for '--budget-tokens': '1000,,2000': an empty budget"),
    ("1000,0", "Error: Invalid value for '--budget-tokens': 0 is not in the range"),
    ("1000,lots", "Error: Invalid value for '--budget-tokens': 'lots' is not a valid integer"),
])
def test_a_bad_budget_list_is_one_line_and_exit_2(tmp_path, value, message):
    result = CliRunner().invoke(eval_group, ["synthetic", "--budget-tokens", value, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
