"""Evaluation: replay conversations through context strategies and measure what each keeps.

>>> from convolab.datasets import synthetic
>>> from convolab.eval import run_eval
>>> result = run_eval([synthetic(60, seed=1)], ["full", "sliding"], budget_tokens=1500)
>>> result.summary["strategy"].to_list()
['full', 'sliding']

``replay_sample`` replays one sample through one strategy (teacher forcing, questions asked
against the final state, every request billed); ``run_eval`` does every pair, in worker
processes with ``jobs=N``, and returns polars frames (``EvalResult``: ``summary``,
``by_category``, ``items``, ``runs``). How it works and what it measures: ``docs/evaluation.md``.

On the real Claude (``docs/live-evaluation.md``): ``plan_eval`` prices a run with a dry run,
``live_eval`` runs it capped, recorded and resumable (or replays a recording), ``Judge`` grades
the replies with an LLM judge, and ``load_recording(path)`` reads a recorded run's frames back
with no key and no dataset.
"""

from convolab.eval.direct import DirectClient
from convolab.eval.judge import Judge
from convolab.eval.live_eval import LiveOptions, live_eval, load_recording
from convolab.eval.metrics import declines, is_decline, payload_texts, wilson, words
from convolab.eval.plan import Plan, plan_eval
from convolab.eval.replay import Run, replay_sample, score_item
from convolab.eval.results import (
    BY_CATEGORY_COLUMNS,
    SUMMARY_COLUMNS,
    EvalResult,
    frames,
    tradeoff_chart,
)
from convolab.eval.run import ReplayFailed, run_eval

__all__ = ["BY_CATEGORY_COLUMNS", "SUMMARY_COLUMNS", "DirectClient", "EvalResult", "Judge", "LiveOptions", "Plan",
           "ReplayFailed", "Run", "declines", "frames", "is_decline", "live_eval", "load_recording", "payload_texts",
           "plan_eval", "replay_sample", "run_eval", "score_item", "tradeoff_chart", "wilson", "words"]
