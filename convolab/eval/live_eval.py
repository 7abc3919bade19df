"""An evaluation against the real API (``--live``) or a recording of one (``--replay-from``).

``live_eval`` wires the parts: the recording (``convolab.eval.recording``), the client that
answers from it or sends and records (``convolab.eval.live``), the spend cap, the batches
(``convolab.eval.batches``) and the judge (``convolab.eval.judge``), around the same run loop
as an offline evaluation (``run_eval``). A run's config, its status (``finished``,
``stopped`` at the cap, ``failed``) and, when it finishes, its result tables go into the
recording; ``load_recording`` reads them back, with no key and no dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from convolab.errors import ConfigurationError, NotRecorded, SpendCapReached
from convolab.eval.recording import Recording
from convolab.eval.results import EvalResult

__all__ = ["LiveOptions", "live_eval", "load_recording"]


@dataclass
class LiveOptions:
    """How a live evaluation runs (the CLI's flags)."""

    max_usd: float | None = None
    cache: str | None = None  # the recording to write (None: kept in memory, not resumable)
    replay_from: str | None = None  # a recording to answer from; nothing is sent
    mode: str = "replay"
    batch: bool = False
    judge: str | None = None  # a model, or None
    concurrency: int = 4
    describe: dict[str, Any] = field(default_factory=dict)  # the dataset, as given (for the recording)
    on_answer: Callable[[float, bool], None] | None = None


def _priced_at(recording: Recording) -> date:
    """The price date of the latest finished run of a recording (a replay prices what it replays alike)."""
    finished = [r for r in recording.runs() if r["status"] == "finished"] or recording.runs()
    if not finished:
        return datetime.now(UTC).date()
    return date.fromisoformat(finished[-1]["config"]["priced_at"])


def live_eval(samples: Sequence[Any], strategies: Sequence[str], *, budget_tokens: int | None, model: str,
              options: LiveOptions) -> EvalResult:
    """Run the evaluation through the API (or a recording): see the module docstring. Raises
    ``SpendCapReached`` (resumable) and ``NotRecorded`` (a replay missing responses)."""
    from convolab.eval.batches import BatchSender
    from convolab.eval.direct import DirectClient
    from convolab.eval.judge import Judge
    from convolab.eval.live import LiveClient, Sender, Spend
    from convolab.eval.run import run_eval
    from convolab.sim import ManualClock, Simulator

    replay = options.replay_from is not None
    recording = Recording(options.replay_from if replay else options.cache or ":memory:", read_only=replay)
    sender = None
    try:
        priced_at = _priced_at(recording) if replay else datetime.now(UTC).date()
        sender = None if replay else Sender(options.concurrency)
        live = LiveClient(recording, sender=sender, spend=Spend(options.max_usd), priced_at=priced_at,
                          on_answer=options.on_answer)
        batch = BatchSender(live, sender.sync) if options.batch and sender is not None else None
        judge = None
        if options.judge:
            judge_client = live.for_task(DirectClient(Simulator(clock=ManualClock(), keep_history=0)))
            judge = Judge(options.judge, client=judge_client, concurrency=options.concurrency,
                          send_all=(lambda reqs: batch.send(reqs, judge_client.fallback)) if batch else None)
        config = {**options.describe, "samples": [s.sample_id for s in samples], "strategies": list(strategies),
                  "budget_tokens": budget_tokens, "model": model, "mode": options.mode, "batch": options.batch,
                  "priced_at": priced_at.isoformat(), "max_usd": options.max_usd,
                  "base_url": os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
                  **(judge.config if judge else {"judge": None})}
        live.run_id = None if replay else recording.start_run(config)
        try:
            result = run_eval(samples, strategies, budget_tokens=budget_tokens, model=model, jobs=options.concurrency,
                              priced_at=priced_at, mode=options.mode, live=live, batch=batch, judge=judge)
        except SpendCapReached:
            _finish(recording, live, "stopped")
            raise
        except BaseException:
            _finish(recording, live, "failed")
            raise
        if live.missing:
            raise NotRecorded(str(options.replay_from), live.missing, live.requests)
        result.config.update(config)
        if not replay:
            recording.save_frames(live.run_id, {"summary": result.summary, "by_category": result.by_category,
                                                "items": result.items, "runs": result.runs})
            _finish(recording, live, "finished")
        return result
    finally:
        if sender is not None:
            sender.close()
        recording.close()


def _finish(recording: Recording, live: Any, status: str) -> None:
    if live.run_id is not None:
        recording.finish_run(live.run_id, status, live.spend.spent)


def load_recording(path: str | os.PathLike[str], run_id: str | None = None) -> EvalResult:
    """The result tables of a recorded live run (the latest finished one unless ``run_id``),
    with its config (dataset, strategies, models, judge and prompt hash, prices, convolab
    version, dates): what notebook 06 shows, read with no key and no dataset."""
    with Recording(path, read_only=True) as rec:
        runs = [r for r in rec.runs() if r["status"] == "finished" and (run_id is None or r["run_id"] == run_id)]
        if not runs:
            raise ConfigurationError(f"{path} holds no finished run{f' {run_id!r}' if run_id else ''}; "
                                     "a run stopped at --max-usd is finished by rerunning it with a higher cap")
        run = runs[-1]
        tables = rec.load_frames(run["run_id"])
        info = rec.info()
    config = {**run["config"], "run_id": run["run_id"], "convolab_version": run["convolab_version"],
              "started_at": run["started_at"], "finished_at": run["finished_at"], "spend_usd": run["spend_usd"],
              "models": info["models"], "first_recorded": info["first_recorded"],
              "last_recorded": info["last_recorded"]}
    return EvalResult(tables["summary"], tables["by_category"], tables["items"], tables["runs"], config)
