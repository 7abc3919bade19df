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


@pytest.fixture(scope="module")
def locomo_record(locomo_dev) -> dict:
    """conv-30 cut to its first 2 sessions, with the QA items whose evidence lies there."""
    record = json.loads(locomo_dev.read_text(encoding="utf-8"))[1]
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
        lines = text.splitlines()
        start = next(k for k, line in enumerate(lines) if line.startswith("strategy "))
        table = lines[start:start + 4]  # the header and 3 strategies
        return [line.split()[:-1] for line in table]  # less build ms

    result = CliRunner().invoke(eval_group, args, prog_name="convolab eval")
    assert result.exit_code == 0, result.output
    assert rows(result.output) == rows(shown) and len(rows(shown)) == 4  # the header and 3 strategies
    assert max(len(line) for line in result.output.splitlines()) <= 120


def test_the_printed_summary_fits_120_columns_whatever_the_figures():
    from convolab.eval.table import format_summary

    summary = pl.DataFrame({"strategy": ["summarizing", "compaction", "retrieval"],
                            **{c: [123_456_789_012, 7, 1_234_567] for c in ("input_tokens", "cache_read_tokens",
                                                                          "cache_write_tokens", "output_tokens")},
                            "cost_usd": [98_765.4321, 0.0001, 12.5], "qa_input_tokens": [1_000_000.5, 3.0, 4000.25],
                            **{c: [1.0, 0.0, None] for c in ("evidence_recall", "answer_in_context", "correctness",
                                                              "judge_accuracy")},
                            "build_ms_p50": [123_456.7, 0.1, 2.0]})
    text = format_summary(summary, estimated=True)
    lines = text.splitlines()
    assert len(lines) == 4 and max(len(line) for line in lines) <= 120
    assert lines[0].split()[:3] == ["strategy", "input", "cache"] and "judge" in lines[0]
    assert "~123.46G" in lines[1] and "~0.000" in lines[2] and " - " in lines[3] + " "


@pytest.mark.parametrize(("out", "message"), [
    ("", "Error: --out is empty"),
    ("{file}/sub", "is a file, so no folder can be made under it"),
    ("{file}", "a file of that name is in the way"),
])
def test_a_bad_out_is_one_line_before_anything_runs(tmp_path, out, message):
    (tmp_path / "f.txt").write_text("x")
    result = invoke("synthetic", "--turns", "40", "--strategy", "full", "--out",
                    out.format(file=tmp_path / "f.txt"))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output, result.output


def test_an_out_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)  # what a read-only folder or file system answers
    result = invoke("synthetic", "--turns", "40", "--strategy", "full", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: --out {tmp_path / 'o'}: cannot write in {tmp_path} (Permission denied); " \
                                    "pick a folder you can write to"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        result = invoke("synthetic", "--turns", "40", "--strategy", "full", "--out", str(tmp_path / "o"))
    finally:
        tmp_path.chmod(0o755)
    assert result.exit_code == 2 and "cannot write in" in result.output


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_write_leaves_nothing_half_made(tmp_path, monkeypatch, existing):
    out = tmp_path / "deep" / "o"
    if existing:
        out.mkdir(parents=True)
        (out / "summary.csv").write_text("old")

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"")  # a 0-byte file, as a full disk leaves
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_disk)
    result = invoke("synthetic", "--turns", "40", "--strategy", "full", "--jobs", "1", "--out", str(out))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot write the results into {out}: No space left on device; nothing was written there"]
    if existing:
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "o", "summary.csv"]
        assert (out / "summary.csv").read_text() == "old"
    else:
        assert list(tmp_path.iterdir()) == []


def test_results_replace_an_earlier_run_file_by_file(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "summary.csv").write_text("old")
    result = invoke("synthetic", "--turns", "40", "--strategy", "full", "--jobs", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine" and pl.read_csv(out / "summary.csv").height == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no temporary folder left


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r["qa"][0].update(question="  "), "sample 0 (conv-30): qa[0].question: empty"),
    (lambda r: r["conversation"]["session_2"].__setitem__(3, {"speaker": r["conversation"]["session_2"][3]["speaker"],
                                                             "dia_id": "D2:4", "text": " "}),
     "sample 0 (conv-30): conversation.session_2[3].text: empty"),
    (lambda r: r["qa"][1].update(evidence=json.loads("[" * 300 + "]" * 300)), "nested deeper than 64 levels"),
])
def test_malformed_input_is_one_line_naming_the_item(tmp_path, locomo_record, edit, message):
    record = json.loads(json.dumps(locomo_record))
    edit(record)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([record]), encoding="utf-8")
    result = invoke("locomo", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_input_nested_100000_deep_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = invoke("locomo", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path}: line 1, column 65: nested deeper than 64 levels " \
                                    "(published LoCoMo files nest 7)"


@pytest.mark.parametrize(("args", "message"), [
    (["--turns", "100000000"], "Error: Invalid value for '--turns': 100000000 is not in the range 20<=x<=10000."),
    (["--conversations", "5000"], "Error: Invalid value for '--conversations': 5000 is not in the range 1<=x<=1000."),
    (["--budget-tokens", "10000000"], "Error: Invalid value for '--budget-tokens': 10000000 is not in the range"),
])
def test_sizes_have_upper_bounds_stated_in_help(tmp_path, args, message):
    result = invoke("synthetic", *args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert result.output.strip().startswith(message) and len(result.output.strip().splitlines()) == 1
    assert "<=x<=" in invoke("synthetic", "--help").output
