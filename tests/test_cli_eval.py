"""``convolab eval``: the files it writes, their columns, and one-line errors (exit code 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from convolab.commands.eval import eval_group
from convolab.eval import SUMMARY_COLUMNS

REQUIRED = ["strategy", "conversations", "turns", "qa_items", "input_tokens", "cache_read_tokens",
            "cache_write_tokens", "output_tokens", "cost_usd", "qa_input_tokens", "evidence_recall",
            "answer_in_context", "correctness", "build_ms_p50"]


LOCOMO = Path(__file__).parents[1].parent / "shared/data/locomo/locomo-dev.json"


@pytest.fixture(scope="module")
def locomo_record() -> dict:
    """conv-30 cut to its first 2 sessions, with the QA items whose evidence lies there."""
    if not LOCOMO.exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{LOCOMO} is missing (it is read from ../shared, never copied into the repo)")
        pytest.skip(f"{LOCOMO} not found")
    record = json.loads(LOCOMO.read_text(encoding="utf-8"))[1]
    conv = {k: v for k, v in record["conversation"].items()
            if not k.startswith("session_") or k.split("_")[1] in {"1", "2"}}
    kept = {t["dia_id"] for n in (1, 2) for t in conv[f"session_{n}"]}
    qa = [q for q in record["qa"] if q["evidence"] and all(e in kept for e in q["evidence"])]
    return {**record, "conversation": conv, "qa": qa}


def invoke(*args: str):
    return CliRunner().invoke(eval_group, list(args), prog_name="convolab eval")


def test_synthetic_writes_the_summary_with_the_required_columns_first(tmp_path):
    out = tmp_path / "out"
    result = invoke("synthetic", "--turns", "60", "--seed", "1", "--seed", "2", "--strategy", "full",
                    "--strategy", "sliding,retrieval", "--budget-tokens", "2500", "--jobs", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert SUMMARY_COLUMNS == REQUIRED
    summary = pl.read_csv(out / "summary.csv")
    assert summary.columns[:len(REQUIRED)] == REQUIRED
    assert summary["strategy"].to_list() == ["full", "sliding", "retrieval"]
    assert summary["conversations"].to_list() == [2, 2, 2]
    by_category = pl.read_csv(out / "by_category.csv")
    assert {"strategy", "category", "category_name", "declines"} <= set(by_category.columns)
    items = pl.read_parquet(out / "items.parquet")
    assert items.height == 3 * summary["qa_items"][0]
    assert (out / "tradeoff.svg").read_text().lstrip().startswith("<svg")
    assert "http" not in (out / "tradeoff.svg").read_text().split(">", 1)[1].replace("http://www.w3.org", "")
    assert "2 conversation(s) x 3 strategies" in result.output


def test_locomo_runs_a_file(tmp_path, locomo_record):
    path = tmp_path / "two.json"
    path.write_text(json.dumps([locomo_record]), encoding="utf-8")
    result = invoke("locomo", str(path), "--strategy", "full,sliding", "--out", str(tmp_path / "o"), "-j", "1")
    assert result.exit_code == 0, result.output
    summary = pl.read_csv(tmp_path / "o" / "summary.csv")
    assert summary["qa_items"].to_list() == [len(locomo_record["qa"])] * 2


@pytest.mark.parametrize(("args", "message"), [
    (["locomo", "/no/such/locomo.json"], "Error: /no/such/locomo.json: no such file or directory"),
    (["synthetic", "--strategy", "full,bogus"], "Error: unknown strategy 'bogus'; choose from full, sliding"),
    (["synthetic", "--model", "claude-nope"], "Error: unknown model 'claude-nope'"),
])
def test_errors_are_one_line_and_exit_2(tmp_path, args, message):
    result = invoke(*args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert not (tmp_path / "o").exists()


def test_a_bad_locomo_file_is_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"not": "a list"}', encoding="utf-8")
    result = invoke("locomo", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "expected a JSON list" in result.output


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failing_replay_is_one_line_and_exit_1(tmp_path, jobs):
    result = invoke("synthetic", "--turns", "40", "--strategy", "sliding,full", "--budget-tokens", "50",
                    "--jobs", jobs, "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: synthetic-40-seed0 with sliding: ") and "over by" in lines[0]


def test_the_readme_example_prints_what_the_readme_shows(tmp_path):
    """README's `convolab eval synthetic ...` block and the table it shows: the same figures (build times vary)."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if line.startswith(".venv/bin/convolab eval synthetic"))
    args = command.split()[2:]
    args[args.index("--out") + 1] = str(tmp_path / "out")
    shown = readme.split(command, 1)[1].split("```", 3)[2]

    def rows(text: str) -> list[list[str]]:
        return [[c.strip() for c in line.strip("│").split("┆")][:-1]  # the last column: build ms
                for line in text.splitlines() if line.startswith("│") and "strategy" not in line]

    result = CliRunner().invoke(eval_group, args, prog_name="convolab eval", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert rows(result.output) == rows(shown) and len(rows(shown)) == 3
