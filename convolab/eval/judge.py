"""An LLM judge of the evaluation's replies, and how far it agrees with ``correctness``.

The judge reads the question, the gold answer and the reply of every item of categories 1-4
(category 5 stays ``declines``) and answers through a forced tool, ``verdict`` (``correct`` or
``incorrect``, and a ``reason``). Its prompt is versioned in ``data/judge/v<N>.toml``; the
SHA-256 of that file goes into the run's config and its recording. Live, the judge is a model
(``claude-haiku-4-5`` by default); offline, the simulated Claude answers with its documented
deterministic stand-in (``convolab.sim.judge``).

Columns it adds: ``items``: ``judge_verdict``, ``judge_reason``; ``summary`` and
``by_category``: ``judge_accuracy`` with its 95% Wilson interval (``_lo``, ``_hi``);
``summary``: ``judge_agreement`` (Cohen's kappa between the verdicts and ``correctness``, over
items that have both), ``judge_requests``, ``judge_cost_usd``. A verdict the judge did not give
(no tool call) is null and left out of both.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from convolab.catalog import get_model
from convolab.errors import ConfigurationError
from convolab.eval import metrics
from convolab.eval.kinds import kind
from convolab.eval.replay import UsageTotals

__all__ = ["DEFAULT_JUDGE", "PROMPT_VERSION", "Judge", "JudgePrompt", "cohen_kappa", "load_prompt", "no_judge"]

DEFAULT_JUDGE = "claude-haiku-4-5"
PROMPT_VERSION = 1
TOOL = "verdict"


@dataclass(frozen=True)
class JudgePrompt:
    """One version of the judge's prompt (``data/judge/v<N>.toml``) and the hash of its file."""

    version: int
    system: str
    user: str
    tool: dict[str, Any]
    max_tokens: int
    sha256: str


def _prompt_path(version: int) -> Path:
    here = Path(__file__).resolve().parent.parent
    for path in (here.parent / "data" / "judge" / f"v{version}.toml", here / "_data" / "judge" / f"v{version}.toml"):
        if path.exists():
            return path
    raise ConfigurationError(f"judge prompt v{version} not found (data/judge/v{version}.toml); reinstall convolab")


@cache
def load_prompt(version: int = PROMPT_VERSION) -> JudgePrompt:
    """The judge prompt of ``version`` (cached)."""
    path = _prompt_path(version)
    raw = path.read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    return JudgePrompt(data["version"], data["system"], data["user"], data["tool"], data["max_tokens"],
                       hashlib.sha256(raw).hexdigest())


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no labels of the same items (``None``: no items, or
    both raters gave one label to everything, where kappa is undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def _verdict(reply: Any) -> tuple[bool | None, str | None]:
    for block in getattr(reply, "content", None) or []:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == TOOL:
            data = block.input if isinstance(block.input, dict) else {}
            verdict = data.get("verdict")
            return (verdict == "correct" if verdict in ("correct", "incorrect") else None), data.get("reason")
    return None, None


class Judge:
    """Grades an evaluation's replies with ``model`` through ``client`` (default: the simulated
    Claude's stand-in, in this process). ``concurrency``: requests at once (a thread-safe
    client such as ``convolab.eval.live.TaskClient``); ``send_all``: a function sending a list
    of ``(request, betas)`` together (a message batch) and returning their replies in order."""

    def __init__(self, model: str = DEFAULT_JUDGE, *, client: Any = None, concurrency: int = 1,
                 send_all: Callable[[list[tuple[dict[str, Any], tuple[str, ...]]]], list[Any]] | None = None,
                 prompt: JudgePrompt | None = None):
        spec = get_model(model)
        if not spec.supports("forced_tool_choice"):
            raise ConfigurationError(f"judge model {spec.id} does not accept a forced tool choice, which the judge "
                                     f"needs for its verdict; pick one that does, such as {DEFAULT_JUDGE}")
        self.model = spec.id
        self.prompt = prompt or load_prompt()
        self.client = client
        self.concurrency = concurrency
        self.send_all = send_all

    @property
    def config(self) -> dict[str, Any]:
        return {"judge": self.model, "judge_prompt_version": self.prompt.version,
                "judge_prompt_sha256": self.prompt.sha256}

    def request(self, question: str, gold: str, reply: str) -> dict[str, Any]:
        """The Messages request grading ``reply`` (the forced ``verdict`` tool)."""
        p = self.prompt
        text = p.user.format(question=question, gold_answer=gold, response=reply or "(no reply)")
        return {"model": self.model, "max_tokens": p.max_tokens, "system": p.system,
                "messages": [{"role": "user", "content": text}], "tools": [p.tool],
                "tool_choice": {"type": "tool", "name": TOOL}}

    def _client(self) -> Any:
        if self.client is None:
            from convolab.eval.direct import DirectClient
            from convolab.sim import ManualClock, Simulator

            self.client = DirectClient(Simulator(clock=ManualClock(), keep_history=0))
        return self.client

    def _send(self, requests: list[dict[str, Any]]) -> list[Any]:
        if self.send_all is not None:
            with kind("judge calls"):
                return self.send_all([(r, ()) for r in requests])
        client = self._client()

        def create(request: dict[str, Any]) -> Any:
            with kind("judge calls"):
                return client.messages.create(**request)

        if self.concurrency <= 1:
            return [create(r) for r in requests]
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="convolab-judge") as pool:
            return list(pool.map(create, requests))

    def grade(self, result: Any, priced_at: date | None = None) -> None:
        """Grade ``result``'s items of categories 1-4 and add the judge's columns (in place)."""
        items = result.items.with_row_index("_row")
        graded = items.filter(pl.col("category") != 5)
        replies = self._send([self.request(q, a, r) for q, a, r in
                              graded.select("question", "answer", "reply").iter_rows()])
        ledger, per = UsageTotals(), {}
        verdicts, reasons = [None] * items.height, [None] * items.height
        keys = graded.select("strategy", "budget_tokens").rows()
        for row, key, reply in zip(graded["_row"].to_list(), keys, replies, strict=True):
            ledger.add(self.model, reply.usage, priced_at)
            per.setdefault(key, UsageTotals()).add(self.model, reply.usage, priced_at)
            verdicts[row], reasons[row] = _verdict(reply)
        costs = {k: (lg.requests, lg.cost_usd) for k, lg in per.items()}
        result.items = result.items.with_columns(judge_verdict=pl.Series(verdicts, dtype=pl.Boolean),
                                                 judge_reason=pl.Series(reasons, dtype=pl.String))
        _add_columns(result, costs)
        result.kinds["judge calls"] = ledger
        result.config.update(self.config)


def no_judge(result: Any) -> None:
    """The judge's columns, empty: the schema stays the same with ``--judge none``."""
    result.items = result.items.with_columns(judge_verdict=pl.lit(None, dtype=pl.Boolean),
                                             judge_reason=pl.lit(None, dtype=pl.String))
    _add_columns(result, {})
    result.config.update({"judge": None})


def _accuracy(frame: pl.DataFrame) -> dict[str, Any]:
    values = [v for v in frame["judge_verdict"].to_list() if v is not None]
    lo, hi = metrics.wilson(sum(values), len(values))
    return {"judge_accuracy": sum(values) / len(values) if values else None, "judge_accuracy_lo": lo,
            "judge_accuracy_hi": hi}


def _add_columns(result: Any, costs: dict[tuple[str, int | None], tuple[int, float]]) -> None:
    """The judge's columns in the summary (per strategy and budget) and by category; ``costs``:
    (requests, dollars) of the judge's calls per (strategy, budget)."""
    items = result.items.filter(pl.col("category") != 5)
    rows = []
    for strategy, budget in result.summary.select("strategy", "budget_tokens").rows():
        part = items.filter((pl.col("strategy") == strategy) & pl.col("budget_tokens").eq_missing(budget))
        both = part.filter(pl.col("judge_verdict").is_not_null() & pl.col("correctness").is_not_null())
        n, usd = costs.get((strategy, budget), (0, 0.0))
        rows.append({"strategy": strategy, "budget_tokens": budget, **_accuracy(part),
                     "judge_agreement": cohen_kappa(both["judge_verdict"].to_list(), both["correctness"].to_list()),
                     "judge_requests": n, "judge_cost_usd": usd})
    schema = {"strategy": pl.String, "budget_tokens": pl.Int64, "judge_accuracy": pl.Float64,
              "judge_accuracy_lo": pl.Float64, "judge_accuracy_hi": pl.Float64, "judge_agreement": pl.Float64,
              "judge_requests": pl.Int64, "judge_cost_usd": pl.Float64}
    key = ["strategy", "budget_tokens"]
    result.summary = result.summary.join(pl.DataFrame(rows, schema=schema), on=key, how="left",
                                         maintain_order="left", nulls_equal=True)
    cat_key = [*key, "category", "category_name"]
    cats = [dict(zip(cat_key, k, strict=True), **_accuracy(part))
            for k, part in result.items.group_by(*cat_key, maintain_order=True)]
    cat_schema = {"strategy": pl.String, "budget_tokens": pl.Int64, "category": pl.Int64, "category_name": pl.String,
                  "judge_accuracy": pl.Float64, "judge_accuracy_lo": pl.Float64, "judge_accuracy_hi": pl.Float64}
    result.by_category = result.by_category.join(pl.DataFrame(cats, schema=cat_schema), on=cat_key, how="left",
                                                 maintain_order="left", nulls_equal=True)
