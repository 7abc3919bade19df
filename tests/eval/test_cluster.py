"""Replays on Dask: a real scheduler and two workers on 127.0.0.1 (``dask scheduler`` /
``dask worker`` subprocesses) give the same results as a run in this process; bad or
unreachable schedulers are typed errors, one line on the command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from convolab.commands.eval import eval_group
from convolab.datasets import synthetic
from convolab.errors import ConfigurationError
from convolab.eval import run_eval
from convolab.eval.cluster import dask_client, parse_scheduler

distributed = pytest.importorskip("distributed")

TIMING = ("build_ms_p50", "build_ms_p90")
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler():
    """``dask scheduler`` and ``dask worker --nworkers 2`` on 127.0.0.1, no dashboard; its address."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], **quiet)]
    try:
        procs.append(subprocess.Popen([str(DASK), "worker", address, "--host", "127.0.0.1", "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard"], **quiet))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def samples():
    return [synthetic(30, seed=1), synthetic(20, seed=2)]


def test_a_sweep_on_a_dask_cluster_gives_the_results_of_a_local_run(scheduler, samples):
    here = run_eval(samples, ["full", "sliding"], budget_tokens=[1500, 3000], jobs=1)
    there = run_eval(samples, ["full", "sliding"], budget_tokens=[1500, 3000], scheduler=scheduler)
    assert there.summary.drop(TIMING).rows() == here.summary.drop(TIMING).rows()
    assert there.summary.height == 3  # full once, sliding at two budgets
    assert there.items.drop("build_ms").equals(here.items.drop("build_ms"))
    assert there.by_category.equals(here.by_category)


def test_the_command_line_runs_on_the_cluster(tmp_path, scheduler):
    result = CliRunner().invoke(eval_group, ["synthetic", "--turns", "20", "--strategy", "sliding", "--judge", "none",
                                             "--scheduler", scheduler, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "o" / "summary.csv").select("strategy", "budget_tokens").rows() == [("sliding", 4000)]


def test_a_failing_replay_on_the_cluster_names_the_task(scheduler):
    with pytest.raises(Exception, match=r"synthetic-40-seed0 with sliding at budget_tokens=50: "):
        run_eval([synthetic(40, seed=0)], ["sliding"], budget_tokens=[50, 3000], scheduler=scheduler)


def test_a_local_cluster_gives_the_same_summary():
    samples = [synthetic(20, seed=3)]
    local = run_eval(samples, ["sliding"], budget_tokens=[1500, 3000], jobs=1).summary.drop(TIMING)
    cluster = run_eval(samples, ["sliding"], budget_tokens=[1500, 3000], scheduler="local:1").summary.drop(TIMING)
    assert cluster.rows() == local.rows()


@pytest.mark.parametrize(("text", "message"), [
    ("tcp://127.0.0.1", "give tcp://HOST:PORT"),
    ("http://127.0.0.1:8786", "give tcp://HOST:PORT"),
    ("local:0", "local:N takes 1 to 256 workers"),
    ("local:two", "give tcp://HOST:PORT"),
    ("tcp://127.0.0.1:70000", "port 70000 is not in 1..65535"),
])
def test_a_bad_scheduler_string_is_a_configuration_error(text, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_scheduler(text)


def test_an_unreachable_scheduler_fails_fast_saying_what_to_do():
    start = time.monotonic()
    with (pytest.raises(ConfigurationError, match=r"no Dask scheduler answered within 1 s.*'dask scheduler'"),
          dask_client(f"tcp://127.0.0.1:{_free_port()}", connect_timeout=1)):
        pass
    assert time.monotonic() - start < 15


def test_a_scheduler_without_workers_says_to_start_some():
    with (distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                   dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster,
          pytest.raises(ConfigurationError, match="has no worker after 1 s; start some with 'dask worker"),
          dask_client(cluster.scheduler_address, worker_timeout=1)):
        pass


@pytest.mark.parametrize(("args", "message"), [
    (["--scheduler", "nowhere"], "Error: --scheduler 'nowhere': give tcp://HOST:PORT"),
    (["--scheduler", "local:2", "--jobs", "2"], "Error: give --jobs (worker processes here) or --scheduler"),
    (["--scheduler", "local:2", "--plan"], "Error: --scheduler runs simulator replays on a Dask cluster"),
])
def test_scheduler_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(eval_group, ["synthetic", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert not (tmp_path / "o").exists()
