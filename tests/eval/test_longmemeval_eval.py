"""``convolab eval longmemeval``: files in the published format, metrics per question type,
abstention scored as declines, evidence recall from the has_answer turns."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from convolab.commands.eval import eval_group
from convolab.datasets import longmemeval_records, write_longmemeval_json
from convolab.datasets.longmemeval import QUESTION_TYPES


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Seven questions (the six types and one abstention) over short histories, as longmemeval_s.json."""
    path = tmp_path_factory.mktemp("lme") / "longmemeval_s.json"
    return write_longmemeval_json(longmemeval_records(7, seed=4, sessions=4, session_turns=(2, 4)), path)


def invoke(*args: str):
    return CliRunner().invoke(eval_group, list(args), prog_name="convolab eval")


def test_the_published_format_gives_metrics_per_question_type(tmp_path, data):
    raw = json.loads(data.read_text(encoding="utf-8"))
    assert set(raw[0]) >= {"question_id", "question_type", "question", "answer", "question_date",
                           "haystack_session_ids", "haystack_dates", "haystack_sessions", "answer_session_ids"}
    out = tmp_path / "o"
    result = invoke("longmemeval", str(data), "--strategy", "full,sliding", "--budget-tokens", "1500",
                    "--judge", "none", "--jobs", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "7 conversation(s) x 2 strategies" in result.output
    cats = pl.read_csv(out / "by_category.csv")
    full = cats.filter(pl.col("strategy") == "full")
    assert set(full.filter(pl.col("category") != 5)["category_name"].to_list()) == set(QUESTION_TYPES)
    abstention = full.filter(pl.col("category") == 5)
    assert abstention["qa_items"].sum() == 1 and abstention["answer_in_context"].is_null().all()
    assert abstention["declines"].is_not_null().all()
    scored = full.filter(pl.col("category") != 5)
    assert scored["evidence_recall"].to_list() == [1.0] * len(QUESTION_TYPES)  # full sends every has_answer turn
    items = pl.read_parquet(out / "items.parquet")
    assert items.filter(pl.col("category") != 5)["evidence"].min() >= 1


def test_question_types_and_limit_choose_the_questions(tmp_path, data):
    out = tmp_path / "o"
    result = invoke("longmemeval", str(data), "--question-type", "temporal-reasoning,knowledge-update",
                    "--strategy", "sliding", "--judge", "none", "--jobs", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    names = pl.read_csv(out / "by_category.csv")["category_name"].to_list()
    assert sorted(names) == ["knowledge-update", "temporal-reasoning"]
    result = invoke("longmemeval", str(data), "--limit", "2", "--strategy", "sliding", "--judge", "none",
                    "--jobs", "1", "--out", str(tmp_path / "two"))
    assert result.exit_code == 0 and "2 conversation(s)" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["/no/such/longmemeval_s.json"], "Error: /no/such/longmemeval_s.json: no such file (download"),
    (["DATA", "--question-type", "gossip"], "Error: unknown question type 'gossip'"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path, data, args, message):
    args = [str(data) if a == "DATA" else a for a in args]
    result = invoke("longmemeval", *args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output


def test_a_malformed_instance_is_named(tmp_path):
    path = tmp_path / "longmemeval_s.json"
    record = longmemeval_records(1, seed=0, sessions=2, session_turns=(2, 2))[0]
    del record["haystack_dates"]
    path.write_text(json.dumps([record]), encoding="utf-8")
    result = invoke("longmemeval", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "instance 0" in result.output and "haystack_dates" in result.output
