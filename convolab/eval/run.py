"""Many replays: tasks of (sample, strategy, budget), run serially, in worker processes, on a
Dask cluster, or in threads against the real API.

Each task is one replay (``run_task``). Against the simulator a task depends on nothing but its
inputs (its own simulator, clock and strategy), so ``jobs=N`` worker processes give exactly the
results of a serial run, in the same order (only the build timings differ). Against the API
(``live``: a ``convolab.eval.live.LiveClient``) tasks run in ``jobs`` threads of one process,
sharing its recording, its spend cap and its async client. ``scheduler`` runs the tasks on a
Dask cluster (``convolab.eval.cluster``), with the same results.

A sweep gives several budgets: each budgeted strategy is replayed once per budget, a strategy
that takes no budget (``full``, ``compaction``) once, its ``budget_tokens`` empty.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from convolab.catalog import get_model
from convolab.datasets.records import Sample
from convolab.errors import ConfigurationError, ConvolabError, NotRecorded, SpendCapReached
from convolab.eval.replay import Run, replay_sample
from convolab.eval.results import EvalResult, frames
from convolab.model import DEFAULT_MODEL
from convolab.strategies import NAMES, make_strategy
from convolab.strategies.registry import takes_budget

__all__ = ["Budgets", "ReplayFailed", "Settings", "Task", "budget_list", "run_eval", "run_task", "tasks_for"]

#: One budget, or several (a sweep).
Budgets = int | None | Sequence[int | None]


class ReplayFailed(ConvolabError):
    """A replay raised; the message names the conversation, the strategy and the error (the
    original is the ``__cause__`` in a serial run; worker processes pass on its text only)."""


@dataclass(frozen=True)
class Task:
    """One replay: the sample (its index in the list), the strategy (by name), the budget."""

    sample: int
    strategy: str
    budget_tokens: int | None


@dataclass(frozen=True)
class Settings:
    """What every task of a run shares: the model, the price date, ``mode`` (``replay``/``qa``),
    ``pace`` (``dataset``/``live``: see ``replay_sample``) and ``sweep`` (several budgets: an
    error names the task's)."""

    model: str
    priced_at: date
    mode: str = "replay"
    pace: str = "dataset"
    sweep: bool = False


def budget_list(budget_tokens: Budgets) -> list[int | None]:
    """One budget or several as a list, each once, in the order given."""
    if budget_tokens is None or isinstance(budget_tokens, int):
        return [budget_tokens]
    budgets = list(dict.fromkeys(budget_tokens))
    if not budgets:
        raise ConfigurationError("no budget to replay with: give --budget-tokens one or more numbers")
    return budgets


def tasks_for(samples: Sequence[Sample], strategies: Sequence[str], budgets: Sequence[int | None]) -> list[Task]:
    """Every (sample, strategy, budget), strategies first, then budgets, then samples; a strategy
    that takes no budget gets one task per sample, with ``budget_tokens=None``."""
    return [Task(k, name, b) for name in strategies for b in (budgets if takes_budget(name) else [None])
            for k in range(len(samples))]


def _simulator(sample: Sample) -> Any:
    from convolab.sim import ManualClock, Simulator

    first = sample.conversation.messages[0].created_at if sample.conversation.messages else None
    return Simulator(clock=ManualClock(first), keep_history=0)


def run_task(task: Task, sample: Sample, settings: Settings, live: Any = None, batch: Any = None) -> Run:
    """Replay one task: against a fresh simulator, or through ``live`` (its misses, in a replay
    that may not send, answered by a fresh simulator); ``batch`` sends the questions together."""
    from convolab.eval.direct import DirectClient

    options = {"budget_tokens": task.budget_tokens, "model": settings.model, "priced_at": settings.priced_at,
               "mode": settings.mode}
    try:
        if live is None:
            return replay_sample(sample, task.strategy, simulator=_simulator(sample),
                                 pace=settings.pace, **options)
        client = live.for_task(DirectClient(_simulator(sample)))
        return replay_sample(sample, task.strategy, client=client, pace="live",
                             send_all=batch.sender_for(client) if batch is not None else None, **options)
    except (SpendCapReached, NotRecorded):
        raise
    except Exception as e:  # errors must cross process boundaries: keep their text
        at = f" at budget_tokens={task.budget_tokens}" if settings.sweep and task.budget_tokens is not None else ""
        raise ReplayFailed(f"{sample.sample_id} with {task.strategy}{at}: {e}") from e


_SAMPLES: Sequence[Sample] = ()  # set in each worker process by _init


def _init(samples: Sequence[Sample]) -> None:
    """A worker's start: the samples, and what it inherited (modules, the simulator, the
    samples) set aside from garbage collection, which would otherwise scan it every full pass."""
    global _SAMPLES
    _SAMPLES = samples
    gc.freeze()


def _in_worker(task: Task, settings: Settings) -> Run:
    return run_task(task, _SAMPLES[task.sample], settings)


def _weight(sample: Sample, name: str) -> int:
    """A rough cost of a replay, for scheduling: requests, and whole histories resent for full ones."""
    n = len(sample.conversation.messages) + len(sample.qa)
    return n * (n if name in ("full", "compaction") else 40)


def _context() -> Any:
    """``fork`` where it is safe and cheap (Linux: no re-import of the SDK per worker), else ``spawn``."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _pooled(pool: Executor, submit: Callable[[Task], Any], tasks: list[Task], samples: Sequence[Sample],
            progress: Callable[[Run], None] | None, stop: Callable[[], None] | None = None) -> dict[Task, Run]:
    """Run ``tasks`` on ``pool``, longest first. At the first error no new task starts and
    ``stop`` (if given) tells running ones to stop sending; when they have ended, the first
    error is raised (a spend cap reached only if nothing else went wrong)."""
    runs: dict[Task, Run] = {}
    errors: list[BaseException] = []
    futures = {submit(t): t for t in sorted(tasks, key=lambda t: -_weight(samples[t.sample], t.strategy))}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                if f.cancelled():
                    continue
                if f.exception() is not None:
                    if not errors:
                        for p in pending:
                            p.cancel()
                        if stop is not None:
                            stop()
                    errors.append(f.exception())
                    continue
                runs[futures[f]] = run = f.result()
                if progress:
                    progress(run)
    except BaseException:
        if stop is not None:
            stop()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    if errors:
        raise next((e for e in errors if not isinstance(e, SpendCapReached)), errors[0])
    return runs


def run_eval(samples: Sequence[Sample], strategies: Sequence[str] = NAMES, *, budget_tokens: Budgets = 4000,
             model: str = DEFAULT_MODEL, jobs: int | None = 1, priced_at: date | None = None,
             progress: Callable[[Run], None] | None = None, mode: str = "replay", pace: str = "dataset",
             live: Any = None, batch: Any = None, judge: Any = None, scheduler: str | None = None) -> EvalResult:
    """Replay every sample through every strategy (by name) at every budget, ask every QA item,
    and return the frames (``EvalResult``: summary, by_category, items, runs; one row per
    strategy and budget, ``budget_tokens`` a column).

    ``budget_tokens``: one budget, or a list of them (a sweep). Against the simulator (default):
    each task on a fresh one; ``jobs`` worker processes (``None``: one per CPU; 1: in this
    process); ``scheduler`` (``"tcp://HOST:PORT"`` or ``"local:N"``): on a Dask cluster instead
    (``convolab.eval.cluster``). ``live`` (a ``convolab.eval.live.LiveClient``): through it,
    in ``jobs`` threads; ``batch`` (a ``convolab.eval.batches.BatchSender``) sends each task's
    questions as one message batch. ``mode``, ``pace``: see ``Settings``. ``judge``
    (a ``convolab.eval.judge.Judge``): grades the replies of categories 1-4 afterwards.
    ``progress`` is called with each finished ``Run``. ``priced_at`` fixes the price date
    (default: today, UTC).
    """
    samples = list(samples)
    if not samples:
        raise ConfigurationError("no samples to replay")
    model = get_model(model).id
    for name in strategies:
        make_strategy(name)  # unknown names fail here, before anything runs
    if scheduler is not None and live is not None:
        raise ConfigurationError("--scheduler runs simulator replays; a live run or a replay of a recording runs "
                                 "in this process (leave --scheduler out)")
    budgets = budget_list(budget_tokens)
    settings = Settings(model, priced_at or datetime.now(UTC).date(), mode, "live" if live else pace,
                        sweep=len(budgets) > 1)
    tasks = tasks_for(samples, strategies, budgets)
    runs = _run_tasks(tasks, samples, settings, jobs=jobs, progress=progress, live=live, batch=batch,
                      scheduler=scheduler)
    config = {"strategies": list(strategies), "budget_tokens": budgets[0] if len(budgets) == 1 else budgets,
              "model": model, "samples": [s.sample_id for s in samples], "priced_at": settings.priced_at.isoformat(),
              "mode": mode, "pace": settings.pace}
    result = frames([runs[t] for t in tasks], config, [t.budget_tokens for t in tasks])
    if judge is not None:
        judge.grade(result, settings.priced_at)
    else:
        from convolab.eval.judge import no_judge

        no_judge(result)
    return result


def _run_tasks(tasks: list[Task], samples: Sequence[Sample], settings: Settings, *, jobs: int | None,
               progress: Callable[[Run], None] | None, live: Any, batch: Any, scheduler: str | None) -> dict[Task, Run]:
    """Every task's ``Run``: on a Dask cluster, in threads (live), in this process, or in worker processes."""
    jobs = min(jobs or os.cpu_count() or 1, len(tasks))
    if scheduler is not None:
        from convolab.eval.cluster import dask_client

        with dask_client(scheduler) as client:
            scattered = client.scatter(list(samples), broadcast=False)
            pool: Executor = client.get_executor(pure=False)  # every task runs: no result reused by key
            return _pooled(pool, lambda t: pool.submit(run_task, t, scattered[t.sample], settings), tasks, samples,
                           progress)
    if live is not None:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="convolab-task")
        return _pooled(pool, lambda t: pool.submit(run_task, t, samples[t.sample], settings, live, batch), tasks,
                       samples, progress, stop=live.spend.stop)
    if jobs <= 1:
        runs = {}
        for t in tasks:
            runs[t] = run = run_task(t, samples[t.sample], settings)
            if progress:
                progress(run)
        return runs
    context = _context()
    if context.get_start_method() == "fork":
        import convolab.sim  # noqa: F401  (the workers inherit the simulator and the SDK rather than import them)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init, initargs=(samples,))
    return _pooled(pool, lambda t: pool.submit(_in_worker, t, settings), tasks, samples, progress)
