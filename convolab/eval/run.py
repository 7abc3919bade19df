"""Many replays: every sample through every strategy, serially or in worker processes.

Each (sample, strategy) pair is one task; a task's replay depends on nothing but its inputs
(its own simulator, clock and strategy), so ``jobs=N`` gives exactly the results of a serial
run, in the same order (only the build timings differ).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import UTC, date, datetime
from typing import Any

from convolab.catalog import get_model
from convolab.datasets.records import Sample
from convolab.errors import ConvolabError
from convolab.eval.replay import Run, replay_sample
from convolab.eval.report import EvalResult, frames
from convolab.model import DEFAULT_MODEL
from convolab.strategies import NAMES, make_strategy

__all__ = ["ReplayFailed", "run_eval"]


class ReplayFailed(ConvolabError):
    """A replay raised; the message names the conversation, the strategy and the error (the
    original is the ``__cause__`` in a serial run; worker processes pass on its text only)."""


_SAMPLES: Sequence[Sample] = ()  # set in each worker process by _init


def _init(samples: Sequence[Sample]) -> None:
    global _SAMPLES
    _SAMPLES = samples


def _task(k: int, name: str, budget: int | None, model: str, priced_at: date) -> Run:
    sample = _SAMPLES[k]
    try:
        return replay_sample(sample, name, budget_tokens=budget, model=model, priced_at=priced_at)
    except Exception as e:  # errors must cross process boundaries: keep their text
        raise ReplayFailed(f"{sample.sample_id} with {name}: {e}") from e


def _weight(sample: Sample, name: str) -> int:
    """A rough cost of a replay, for scheduling: requests, and whole histories resent for full ones."""
    n = len(sample.conversation.messages) + len(sample.qa)
    return n * (n if name in ("full", "compaction") else 40)


def _context() -> Any:
    """``fork`` where it is safe and cheap (Linux: no re-import of the SDK per worker), else ``spawn``."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def run_eval(samples: Sequence[Sample], strategies: Sequence[str] = NAMES, *, budget_tokens: int | None = 4000,
             model: str = DEFAULT_MODEL, jobs: int | None = 1, priced_at: date | None = None,
             progress: Callable[[Run], None] | None = None) -> EvalResult:
    """Replay every sample through every strategy (by name) against a fresh simulator each, ask
    every QA item, and return the frames (``EvalResult``: summary, by_category, items, runs).

    ``jobs``: worker processes (``None``: one per CPU; 1: in this process). ``progress`` is
    called with each finished ``Run``. ``priced_at`` fixes the price date (default: today).
    """
    samples = list(samples)
    if not samples:
        raise ValueError("no samples to replay")
    model = get_model(model).id
    for name in strategies:
        make_strategy(name)  # unknown names fail here, before anything runs
    priced_at = priced_at or datetime.now(UTC).date()
    tasks = [(k, name) for name in strategies for k in range(len(samples))]
    jobs = min(jobs or os.cpu_count() or 1, len(tasks))
    runs: dict[tuple[int, str], Run] = {}
    if jobs <= 1:
        _init(samples)
        try:
            for k, name in tasks:
                runs[k, name] = run = _task(k, name, budget_tokens, model, priced_at)
                if progress:
                    progress(run)
        finally:
            _init(())
    else:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_context(), initializer=_init, initargs=(samples,))
        try:
            # longest first, so that no long replay starts last on an otherwise idle pool
            futures = {pool.submit(_task, k, name, budget_tokens, model, priced_at): (k, name)
                       for k, name in sorted(tasks, key=lambda t: -_weight(samples[t[0]], t[1]))}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    runs[futures[f]] = run = f.result()
                    if progress:
                        progress(run)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    ordered = [runs[t] for t in tasks]
    config = {"strategies": list(strategies), "budget_tokens": budget_tokens, "model": model,
              "samples": [s.sample_id for s in samples], "priced_at": priced_at.isoformat()}
    return frames(ordered, config)
