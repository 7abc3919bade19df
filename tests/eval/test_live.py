"""A live evaluation tested offline, as if live: the simulator served over HTTP
(``python -m convolab.sim.http``) is the API, through ``ANTHROPIC_BASE_URL`` and a dummy key,
with 429, 529 and lost answers injected. Small runs: one conversation of 40 turns, two strategies."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from convolab.commands.eval import eval_group
from convolab.pricing import cost_usd

pytestmark = pytest.mark.timeout(300)

ARGS = ["synthetic", "--turns", "40", "--seed", "3", "--strategy", "full,sliding", "-j", "1"]
FAULTS = ["--fault", "429=0.04", "--fault", "529=0.03", "--fault", "lost=0.03", "--retry-after", "0.02"]
TIMING = ("build_ms_p50", "build_ms_p90")


class Server:
    """``python -m convolab.sim.http`` in a process of its own, with a journal."""

    def __init__(self, folder: Path, *args: str):
        self.journal = folder / f"journal-{time.monotonic_ns()}.jsonl"
        self.proc = subprocess.Popen([sys.executable, "-m", "convolab.sim.http", "--port", "0", "--journal",
                                      str(self.journal), *args], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip().rsplit(" ", 1)[1]
        self.env = {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": "sim-dummy-key"}

    def lines(self) -> list[dict]:
        if not self.journal.exists():
            return []
        return [json.loads(x) for x in self.journal.read_text().splitlines()]

    def billed_usd(self) -> float:
        return sum(cost_usd(x["model"], x["usage"]) for x in self.lines() if x["usage"] and not x["replayed"])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(autouse=True)
def no_chart(monkeypatch):
    """The chart is tested in test_chart.py; rendering it here would only add seconds to every run."""
    monkeypatch.setattr("convolab.eval.results.tradeoff_svg", lambda summary: "<svg/>")


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(eval_group, list(args), prog_name="convolab eval", env=env)


def summary(folder: Path) -> pl.DataFrame:
    return pl.read_csv(folder / "summary.csv").drop(TIMING)


def plan_usd(output: str, key: str = "usd") -> float:
    line = next(x for x in output.splitlines() if x.startswith("plan: "))
    return float(dict(p.split("=") for p in line.split()[1:])[key])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A live run on a faulty server, then the same run again with the same cache; the server
    is stopped afterwards."""
    folder = tmp_path_factory.mktemp("live")
    server = Server(folder, *FAULTS)
    try:
        cache = folder / "run.duckdb"
        first = invoke(*ARGS, "--live", "--max-usd", "5", "--cache", str(cache), "--out", str(folder / "o1"),
                       "--concurrency", "3", env=server.env)
        assert first.exit_code == 0, first.output
        lines_after_first = len(server.lines())
        again = invoke(*ARGS, "--live", "--max-usd", "5", "--cache", str(cache), "--out", str(folder / "o2"),
                       "--concurrency", "3", env=server.env)
        assert again.exit_code == 0, again.output
        yield {"folder": folder, "cache": cache, "first": first, "again": again, "server": server,
               "lines_after_first": lines_after_first}
    finally:
        server.stop()


def test_the_plan_prices_the_live_run_within_10_percent(recorded):
    server = recorded["server"]
    statuses = Counter(x["status"] for x in server.lines())
    assert statuses[429] + statuses[529] > 0  # faults happened and were ridden out
    assert max(len(line) for line in recorded["first"].output.splitlines()) <= 120  # plan, table, summary
    planned, billed = plan_usd(recorded["first"].output), server.billed_usd()
    assert billed > 0 and abs(billed - planned) <= 0.10 * planned, (planned, billed)


def test_a_rerun_with_the_same_cache_sends_nothing(recorded):
    assert len(recorded["server"].lines()) == recorded["lines_after_first"]
    assert summary(recorded["folder"] / "o2").equals(summary(recorded["folder"] / "o1"))


def test_replay_from_the_recording_with_the_server_stopped_gives_the_same_summary(recorded):
    folder = recorded["folder"]
    assert recorded["server"].proc.poll() is not None or True  # stopped at the fixture's end at the latest
    recorded["server"].stop()
    result = invoke(*ARGS, "--replay-from", str(recorded["cache"]), "--out", str(folder / "o3"),
                    env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": ""})
    assert result.exit_code == 0, result.output
    assert summary(folder / "o3").equals(summary(folder / "o1"))
    assert pl.read_csv(folder / "o3" / "by_category.csv").equals(pl.read_csv(folder / "o1" / "by_category.csv"))


def test_a_replay_missing_requests_says_how_many_and_writes_nothing(recorded):
    folder = recorded["folder"]
    result = invoke("synthetic", "--turns", "40", "--seed", "3", "--strategy", "full,sliding,retrieval", "-j", "1",
                    "--replay-from", str(recorded["cache"]), "--out", str(folder / "o4"))
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ") and f"requests are not in {recorded['cache']}" in line
    missing, total = (int(w) for w in line.split()[1:4:2])
    assert 0 < missing < total
    assert not (folder / "o4").exists()


def test_the_recording_carries_version_models_judge_prompt_hash_and_dates(recorded):
    from convolab import __version__
    from convolab.eval.judge import load_prompt
    from convolab.eval.live_eval import load_recording

    result = load_recording(recorded["cache"])
    c = result.config
    assert c["convolab_version"] == __version__ and c["judge"] == "claude-haiku-4-5"
    assert c["judge_prompt_sha256"] == load_prompt().sha256 and len(c["judge_prompt_sha256"]) == 64
    assert set(c["models"]) == {"claude-sonnet-4-6", "claude-haiku-4-5"}
    assert c["first_recorded"] <= c["last_recorded"] and c["started_at"] <= c["finished_at"]
    as_written = pl.read_csv(io.StringIO(result.summary.write_csv(float_precision=6))).drop(TIMING)
    assert as_written.equals(summary(recorded["folder"] / "o1"))  # the run's tables, no dataset needed


def test_max_usd_below_the_plan_refuses_before_sending(tmp_path):
    server = Server(tmp_path)
    try:
        result = invoke(*ARGS, "--live", "--max-usd", "0.01", "--out", str(tmp_path / "o"), env=server.env)
        assert result.exit_code == 2
        assert result.output.strip().splitlines()[-1].startswith("Error: the plan costs $")
        assert server.lines() == [] and not (tmp_path / "o").exists()
    finally:
        server.stop()


SERIAL = ["--live", "--max-usd", "5", "--concurrency", "1", "--judge", "none"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted live run, one request at a time: what interrupted runs must come back to."""
    folder = tmp_path_factory.mktemp("reference")
    server = Server(folder)
    try:
        result = invoke(*ARGS, *SERIAL, "--cache", str(folder / "ref.duckdb"), "--out", str(folder / "ref"),
                        env=server.env)
        assert result.exit_code == 0, result.output
        yield {"summary": summary(folder / "ref"), "plan_usd": plan_usd(result.output), "folder": folder / "ref",
               "billed_usd": server.billed_usd(), "requests": len(server.lines())}
    finally:
        server.stop()


def test_a_run_stopped_at_its_cap_resumes_to_the_same_results(tmp_path, reference):
    capped = Server(tmp_path)
    try:
        cap = reference["plan_usd"] * 1.02  # above the plan, below what the upper bounds of the requests need
        args = [*ARGS, *SERIAL, "--cache", str(tmp_path / "c.duckdb"), "--out", str(tmp_path / "o")]
        stopped = invoke(*[f"{cap:.4f}" if a == "5" else a for a in args], env=capped.env)
        assert stopped.exit_code == 1
        assert stopped.output.strip().splitlines()[-1].startswith("Error: stopped at $")
        assert not (tmp_path / "o").exists() and capped.billed_usd() <= cap
        sent_before = len(capped.lines())
        resumed = invoke(*args, env=capped.env)
        assert resumed.exit_code == 0, resumed.output
        assert 0 < sent_before < len(capped.lines())
        assert summary(tmp_path / "o").equals(reference["summary"])
        assert capped.billed_usd() == pytest.approx(reference["billed_usd"])  # nothing billed twice
    finally:
        capped.stop()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_run_killed_mid_way_then_rerun_completes_like_an_uninterrupted_run(tmp_path, reference, sig):
    killed = Server(tmp_path, "--latency", "0.02")
    args = [*ARGS, *SERIAL, "--cache", str(tmp_path / "c.duckdb"), "--out", str(tmp_path / "o")]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "convolab.cli", "eval", *args],
                                env={**os.environ, **killed.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(killed.lines()) < reference["requests"] // 2 and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) != 0  # Ctrl-C ends the run (in-flight requests cancelled), no hang
        assert 0 < len(killed.lines()) < reference["requests"]  # killed in the middle
        rerun = invoke(*args, env=killed.env)
        assert rerun.exit_code == 0, rerun.output
        assert summary(tmp_path / "o").equals(reference["summary"])
        answered = Counter(x["idempotency_key"] for x in killed.lines() if x["status"] == 200)
        assert sum(n - 1 for n in answered.values()) <= 1  # only what was in flight at the kill (one at a time)
        billed = Counter(x["idempotency_key"] for x in killed.lines() if x["usage"] and not x["replayed"])
        assert max(billed.values()) == 1  # and not billed twice: the key replays the answer
    finally:
        killed.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--live", "--out", "o"], "--live needs --max-usd X"),
    (["--live", "--max-usd", "1", "--replay-from", "r.duckdb", "--out", "o"], "not both"),
    (["--cache", "c.duckdb", "--out", "o"], "--cache records what --live receives"),
    (["--batch", "--out", "o"], "--batch sends through the Message Batches API"),
    (["--max-usd", "3", "--out", "o"], "--max-usd caps a --live run"),
    (["--replay-from", "nowhere.duckdb", "--out", "o"], "--replay-from nowhere.duckdb: no such file"),
    (["--judge", "claude-nope", "--out", "o"], "--judge: unknown model 'claude-nope'"),
    (["--judge", "claude-opus-5-5", "--out", "o"], "does not accept a forced tool choice"),
    (["--live", "--max-usd", "0", "--out", "o"], "Invalid value for '--max-usd'"),
])
def test_live_flags_without_what_they_need_are_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*ARGS, *args, env={"ANTHROPIC_API_KEY": "k"})
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_plan_sends_nothing_needs_no_out_and_ends_with_the_plan_line(tmp_path):
    import re

    server = Server(tmp_path)
    try:
        result = invoke(*ARGS, "--plan", "--live", "--mode", "qa", env=server.env)
        assert result.exit_code == 0, result.output
        last = result.output.strip().splitlines()[-1]
        assert re.fullmatch(r"plan: requests=\d+ input_tokens=\d+ output_tokens=\d+ usd=\d+\.\d{4} "
                            r"usd_batch=\d+\.\d{4}", last), last
        rows = {line.split("  ")[0] + "|" + line.split()[1] for line in result.output.splitlines()
                if line.startswith(("replay ", "qa "))}
        assert {"replay|turns", "replay|questions", "replay|side", "replay|judge", "qa|turns", "qa|judge"} <= rows
        qa_total = next(line for line in result.output.splitlines() if line.startswith("qa") and "total sent" in line)
        assert last.split()[1] == f"requests={qa_total.split()[3].replace(',', '')}"  # the line is --mode's
        assert server.lines() == [] and list(tmp_path.glob("o*")) == []
    finally:
        server.stop()


def test_live_without_a_key_is_refused(tmp_path):
    result = invoke(*ARGS, "--live", "--max-usd", "1", "--out", str(tmp_path / "o"), env={"ANTHROPIC_API_KEY": ""})
    assert result.exit_code == 2 and "--live needs ANTHROPIC_API_KEY" in result.output


def test_batch_sends_questions_and_judge_calls_as_message_batches_at_half_price(tmp_path, reference):
    server = Server(tmp_path)
    try:
        result = invoke(*ARGS, "--live", "--batch", "--max-usd", "5", "--concurrency", "1", "--cache",
                        str(tmp_path / "c.duckdb"), "--out", str(tmp_path / "o"), env=server.env)
        assert result.exit_code == 0, result.output
        lines = server.lines()
        in_batches = [x for x in lines if "/requests/" in x["path"]]
        assert in_batches and all(x["usage"]["service_tier"] == "batch" for x in in_batches)
        assert {x["model"] for x in in_batches} == {"claude-sonnet-4-6", "claude-haiku-4-5"}  # questions, judge
        plain = [x for x in lines if x["path"] == "/v1/messages"]
        assert {x["model"] for x in plain} == {"claude-sonnet-4-6"}  # the turns, one after another
        assert server.billed_usd() == pytest.approx(plan_usd(result.output, "usd_batch"), rel=0.10)
        batch_items = pl.read_parquet(tmp_path / "o" / "items.parquet")
        assert batch_items["reply"].to_list() == pl.read_parquet(reference["folder"] / "items.parquet")["reply"].to_list()
        same = ["strategy", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
                "qa_input_tokens", "evidence_recall", "answer_in_context", "correctness", "declines"]
        got, ref = summary(tmp_path / "o"), reference["summary"]
        assert got.select(same).equals(ref.select(same))  # the same requests and cache use, only cheaper
        assert (got["qa_cost_usd"] < ref["qa_cost_usd"]).all() and (got["cost_usd"] < ref["cost_usd"]).all()
    finally:
        server.stop()


def test_qa_mode_sends_no_turn_and_marks_turn_figures_estimated(tmp_path):
    server = Server(tmp_path)
    try:
        result = invoke(*ARGS, "--live", "--mode", "qa", "--max-usd", "5", "--concurrency", "2",
                        "--out", str(tmp_path / "o"), env=server.env)
        assert result.exit_code == 0, result.output
        planned = int(next(x for x in result.output.splitlines() if x.startswith("plan: ")).split()[1].split("=")[1])
        assert len(server.lines()) == planned  # questions and judge calls only, as planned for --mode qa
        table = result.output.splitlines()
        assert any(line.startswith("full ") and "~" in line for line in table)
        assert any(line.startswith("~ estimated:") for line in table)
        runs = pl.read_csv(tmp_path / "o" / "runs.csv")
        assert runs["turns_estimated"].all() and (runs["turn_requests"] > 0).all()
    finally:
        server.stop()


def test_the_progress_bar_shows_requests_dollars_and_time_left():
    from convolab.commands.eval import LiveProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = LiveProgress(4, file=screen)
    with progress.bar:
        for cost in (0.01, 0.02, 0.0):
            progress.answered(cost, cost > 0)
            time.sleep(0.01)
    shown = screen.getvalue().replace("\r", "\n").splitlines()
    assert any("3/4" in line and "$0.0300 spent" in line for line in shown), shown


def test_cache_refuses_a_duckdb_file_that_is_not_a_recording(tmp_path):
    import duckdb

    from convolab.errors import ConfigurationError
    from convolab.eval.recording import Recording

    store = tmp_path / "convolab.duckdb"
    with duckdb.connect(str(store)) as con:
        con.execute("CREATE TABLE conversations (id VARCHAR)")
    with pytest.raises(ConfigurationError, match="DuckDB database of something else"):
        Recording(store)
    with pytest.raises(ConfigurationError, match="not a convolab recording"):
        Recording(store, read_only=True)
    (tmp_path / "junk.duckdb").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigurationError, match="is not a DuckDB recording"):
        Recording(tmp_path / "junk.duckdb")
    with duckdb.connect(str(store)) as con:  # untouched
        assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["conversations"]
    Recording(tmp_path / "new" / "dir" / "rec.duckdb").close()  # a new file, its folders made
