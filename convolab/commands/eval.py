"""``convolab eval``: replay LoCoMo or synthetic conversations through the context strategies,
against the simulated Claude or the real one, and write what each kept and what it cost.

The subcommands only load their dataset; ``_evaluate`` does the rest for both: ``--plan``
(a dry run that sends nothing), ``--live`` (capped, recorded, resumable), ``--replay-from``
(a recording, no network), or an offline run on the simulator.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from convolab.errors import ConvolabError

DEFAULT_STRATEGIES = ("full", "sliding", "summarizing", "memory", "retrieval", "compaction")
DEFAULT_JUDGE = "claude-haiku-4-5"  # convolab.eval.judge.DEFAULT_JUDGE (not imported: --help stays quick)
DEFAULT_BUDGET = 4000
MAX_BUDGET = 1_000_000  # the largest context window in the catalog
MAX_TURNS = 10_000  # LoCoMo's longest conversation has 689 dialogue turns
MAX_CONVERSATIONS = 1_000
MAX_JOBS = 256
MAX_CONCURRENCY = 64
MAX_USD = 100_000.0
MAX_WIDTH = 120  # columns of everything printed


class InputError(click.ClickException):
    """A bad argument, reported as one line (``Error: ...``) with exit code 2."""

    exit_code = 2


class BudgetList(click.ParamType):
    """``--budget-tokens``: one budget or a comma-separated list (``1000,2000,4000``), each in
    1..``MAX_BUDGET``; the option may also be repeated."""

    name = "N[,N...]"
    _range = click.IntRange(1, MAX_BUDGET)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        if isinstance(value, int):
            return (self._range.convert(value, param, ctx),)
        parts = str(value).split(",")
        if any(not p.strip() for p in parts):
            self.fail(f"{value!r}: an empty budget; give numbers separated by commas, like 1000,2000,4000", param, ctx)
        return tuple(self._range.convert(p.strip(), param, ctx) for p in parts)


class OneLineErrors(click.Command):
    """A command whose bad options (out of range, missing, unknown) are one line, exit code 2,
    like every other input error here (click would add the usage and a hint)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            raise InputError(e.format_message()) from None


@dataclass
class Run:
    """The options every subcommand shares, checked."""

    strategies: list[str]
    budget: int | list[int]  # one budget, or a sweep's
    model: str
    jobs: int | None
    out: Path | None
    plan: bool
    live: bool
    max_usd: float | None
    cache: str | None
    replay_from: str | None
    mode: str
    batch: bool
    judge: str | None
    concurrency: int
    scheduler: str | None = None

    @property
    def budgets(self) -> list[int]:
        return self.budget if isinstance(self.budget, list) else [self.budget]


def _check(strategies: tuple[str, ...], model: str) -> tuple[list[str], str]:
    from convolab.catalog import get_model
    from convolab.strategies import NAMES

    names = list(dict.fromkeys(s for value in strategies for s in value.split(",") if s.strip())) or list(
        DEFAULT_STRATEGIES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise InputError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(NAMES)}")
    try:
        return names, get_model(model).id
    except ConvolabError as e:
        raise InputError(str(e)) from None


def _check_out(out: str | None, plan: bool) -> Path | None:
    from convolab.eval.outdir import check_out

    if out is None:
        if plan:
            return None
        raise InputError("Missing option '--out' (the folder for the results; only --plan needs none).")
    try:
        return check_out(out)
    except ConvolabError as e:
        raise InputError(str(e)) from None


def _check_live(o: dict[str, Any]) -> None:
    """The live flags' rules, each broken one a one-line error before anything runs."""
    live, replay = o["live"], o["replay_from"] is not None
    if live and replay:
        raise InputError("give --live (send, and record with --cache) or --replay-from (answer from a recording), "
                         "not both")
    if o["plan"] and replay:
        raise InputError("--plan prices a live run; a replay (--replay-from) sends nothing and costs nothing")
    if live and not o["plan"] and o["max_usd"] is None:
        raise InputError("--live needs --max-usd X: the most this run may spend, in dollars (see --plan)")
    if live and not os.environ.get("ANTHROPIC_API_KEY", "").strip():
        raise InputError("--live needs ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for another endpoint)")
    if o["max_usd"] is not None and not live:
        raise InputError("--max-usd caps a --live run; add --live, or leave it out")
    if o["cache"] is not None and not live:
        raise InputError("--cache records what --live receives; add --live, or replay a recording with --replay-from")
    if o["batch"] and not (live or replay or o["plan"]):
        raise InputError("--batch sends through the Message Batches API: use it with --live (--plan shows its price)")
    if replay and not os.path.isfile(o["replay_from"]):
        raise InputError(f"--replay-from {o['replay_from']}: no such file")


def _budget(values: tuple[tuple[int, ...], ...]) -> int | list[int]:
    """The budgets given (each once, in order): one as an int, several as a list (a sweep)."""
    budgets = list(dict.fromkeys(b for value in values for b in value)) or [DEFAULT_BUDGET]
    return budgets[0] if len(budgets) == 1 else budgets


def _check_scheduler(o: dict[str, Any]) -> str | None:
    scheduler = o["scheduler"]
    if scheduler is None:
        return None
    if o["live"] or o["replay_from"] is not None or o["plan"]:
        raise InputError("--scheduler runs simulator replays on a Dask cluster; --live, --replay-from and --plan "
                         "run in this process: leave --scheduler out")
    if o["jobs"] is not None:
        raise InputError("give --jobs (worker processes here) or --scheduler (a Dask cluster), not both")
    from convolab.eval.cluster import parse_scheduler

    try:
        parse_scheduler(scheduler)
    except ConvolabError as e:
        raise InputError(str(e)) from None
    return scheduler.strip()


def _options(strategies: tuple[str, ...], model: str, out: str | None, **o: Any) -> Run:
    _check_live(o)
    scheduler = _check_scheduler(o)
    folder = _check_out(out, o["plan"])
    names, model = _check(strategies, model)
    judge = o["judge"]
    if judge.strip().lower() == "none":
        judge = None
    else:
        try:
            _, judge = _check(("full",), judge)
        except InputError as e:
            raise InputError(f"--judge: {e.message}") from None
        from convolab.catalog import get_model

        if not get_model(judge).supports("forced_tool_choice"):
            raise InputError(f"--judge {judge}: this model does not accept a forced tool choice, which the judge's "
                             f"verdict needs; pick one that does, such as {DEFAULT_JUDGE}")
    return Run(names, _budget(o["budget_tokens"]), model, o["jobs"], folder, o["plan"], o["live"], o["max_usd"],
               o["cache"], o["replay_from"], o["mode"], o["batch"], judge, o["concurrency"], scheduler)


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is under it (shorter lines)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _evaluate(samples: list[Any], run: Run, describe: dict[str, Any]) -> None:
    start = time.monotonic()
    try:
        if run.plan or run.live:
            plan = _plan(samples, run)
            if run.plan:
                return
            if _usd(plan, run) > run.max_usd:
                raise InputError(f"the plan costs ${_usd(plan, run):.4f} > --max-usd {run.max_usd:g}: nothing was "
                                 "sent; raise --max-usd, or plan fewer conversations or strategies")
            result = _live(samples, run, describe, plan.total(run.mode).requests)
        elif run.replay_from:
            result = _live(samples, run, describe, None)
        else:
            result = _offline(samples, run)
    except ConvolabError as e:
        from convolab.errors import ConfigurationError, NotRecorded

        if isinstance(e, NotRecorded | ConfigurationError):  # the recording or a setting: bad input
            raise InputError(str(e)) from None
        raise click.ClickException(str(e)) from None
    _write(result, run, len(samples), time.monotonic() - start)


def _usd(plan: Any, run: Run) -> float:
    return plan.usd(run.mode, batch=run.batch)


def _plan(samples: list[Any], run: Run) -> Any:
    from datetime import UTC, datetime

    from convolab.eval.plan import plan_eval

    plan = plan_eval(samples, run.strategies, budget_tokens=run.budget, model=run.model,
                     priced_at=datetime.now(UTC).date(), judge=run.judge)
    click.echo(textwrap.fill(f"Plan: {plan.description}. A dry run of the same payloads on the simulator; nothing "
                             "was sent. Dollars standard and with --batch (questions and judge calls at the batch "
                             "price).", MAX_WIDTH))
    click.echo(plan.table())
    click.echo(plan.line(run.mode))
    return plan


def _offline(samples: list[Any], run: Run) -> Any:
    from convolab.eval import run_eval
    from convolab.eval.judge import Judge
    from convolab.eval.run import tasks_for

    judge = Judge(run.judge) if run.judge else None
    options = {"budget_tokens": run.budget, "model": run.model, "jobs": run.jobs, "mode": run.mode, "judge": judge,
               "scheduler": run.scheduler}
    if sys.stdout.isatty():
        total = len(tasks_for(samples, run.strategies, run.budgets))
        with click.progressbar(length=total, label="replaying", show_pos=True) as bar:
            return run_eval(samples, run.strategies, progress=lambda r: bar.update(1), **options)
    return run_eval(samples, run.strategies, **options)


class LiveProgress:
    """The live run's progress bar: requests answered of those planned, dollars spent, and the
    time left (click's estimate); ``answered`` is called from any thread."""

    def __init__(self, planned: int, file: Any = None):
        self.spent = 0.0
        self._lock = threading.Lock()
        self.bar = click.progressbar(length=planned, label="live", show_pos=True, show_eta=True, file=file,
                                     item_show_func=lambda _: f"${self.spent:.4f} spent")

    def answered(self, cost: float, sent: bool) -> None:
        with self._lock:
            self.spent += cost
            self.bar.update(1, None)


def _live(samples: list[Any], run: Run, describe: dict[str, Any], planned: int | None) -> Any:
    from convolab.eval.live_eval import LiveOptions, live_eval

    options = LiveOptions(max_usd=run.max_usd, cache=run.cache, replay_from=run.replay_from, mode=run.mode,
                          batch=run.batch, judge=run.judge, concurrency=run.concurrency, describe=describe)
    if not (sys.stdout.isatty() and planned):
        return live_eval(samples, run.strategies, budget_tokens=run.budget, model=run.model, options=options)
    progress = LiveProgress(planned)
    with progress.bar:
        options.on_answer = progress.answered
        return live_eval(samples, run.strategies, budget_tokens=run.budget, model=run.model, options=options)


def _write(result: Any, run: Run, conversations: int, seconds: float) -> None:
    from convolab.eval.table import format_summary

    try:
        try:
            written = result.write(run.out)
        except ConvolabError as e:  # no altair / vl-convert: everything but the chart
            written = result.write(run.out, chart=False)
            click.echo(f"note: no tradeoff.svg: {e}", err=True)
    except OSError as e:
        raise click.ClickException(f"cannot write the results into {run.out}: {e.strerror or e}; "
                                   "nothing was written there") from None
    click.echo(format_summary(result.summary, estimated=run.mode == "qa"))
    if run.mode == "qa":
        click.echo("~ estimated: the turns were counted and cached by the simulator's model, not sent (--mode qa)")
    sweep = f" x {len(run.budgets)} budgets" if len(run.budgets) > 1 else ""
    click.echo(textwrap.fill(f"{conversations} conversation(s) x {len(run.strategies)} strategies{sweep} in "
                             f"{seconds:.1f} s; wrote {', '.join(p.name for p in written)} into {_shown(run.out)}", MAX_WIDTH))


_OPTIONS = [
    click.option("--strategy", "strategies", multiple=True, metavar="NAME",
                 help=f"A strategy to replay (repeat, or comma-separate)  [default: all: {' '.join(DEFAULT_STRATEGIES)}]"),
    click.option("--budget-tokens", type=BudgetList(), multiple=True, metavar="N[,N...]",
                 help=f"Input budget of the budgeted strategies (sliding, summarizing, memory, retrieval), 1 to "
                      f"{MAX_BUDGET:,}. Several (comma-separate, or repeat): a sweep, one result set with a "
                      f"budget_tokens column and OUT/pareto.svg (quality against tokens and cost per category); "
                      f"full and compaction take no budget and are replayed once  [default: {DEFAULT_BUDGET}]"),
    click.option("--model", default="claude-sonnet-4-6", show_default=True, help="Model the requests name."),
    click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), default=None,
                 help="Simulator replays at once, each in its own process  [default: one per CPU]"),
    click.option("--scheduler", default=None, metavar="tcp://HOST:PORT|local:N",
                 help="Run the replays on a Dask cluster instead: a running scheduler's address, or local:N to "
                      "start N worker processes on 127.0.0.1 (no dashboard). One task per conversation, strategy "
                      "and budget; the same results as here. Needs pip install 'convolab[cluster]' "
                      "(docs/scale.md)."),
    click.option("--out", "out", default=None, metavar="FOLDER",
                 help="Folder for summary.csv, by_category.csv, runs.csv, items.parquet, tradeoff.svg (required but "
                      "with --plan). Checked before anything runs (not empty, not a file, writable: else exit 2); "
                      "the files are written into a temporary folder beside it and moved in only when all are "
                      "complete, so a failure leaves nothing half-written."),
    click.option("--plan", is_flag=True,
                 help="Print what a live run would send and cost, by kind (turns, questions, side calls, judge "
                      "calls): requests, input tokens (uncached, cache write, cache read), output tokens, dollars "
                      "standard and batch, for --mode replay and qa; from a dry run on the simulator. Sends "
                      "nothing; the last line is 'plan: requests=N input_tokens=N output_tokens=N usd=X "
                      "usd_batch=Y'."),
    click.option("--live", is_flag=True,
                 help="Send to the real API (ANTHROPIC_API_KEY; ANTHROPIC_BASE_URL as the SDK reads it). Needs "
                      "--max-usd; refuses (exit 2) when the plan costs more; stops cleanly, resumable with "
                      "--cache, before the spend would pass it."),
    click.option("--max-usd", type=click.FloatRange(0, MAX_USD, min_open=True), default=None, metavar="X",
                 help=f"The most a --live run may spend, in dollars (up to {MAX_USD:,.0f}); responses reused from "
                      "--cache count at their recorded cost."),
    click.option("--cache", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                 help="DuckDB file recording every live response under a hash of its exact request (body, model, "
                      "beta headers): a recorded request is never sent again, a rerun sends nothing, a run "
                      "stopped by Ctrl-C, a kill or the cap resumes where it stopped. Share it for --replay-from."),
    click.option("--replay-from", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                 help="Answer only from a recording (--cache FILE of a live run), with no network; requests it "
                      "lacks: one line saying how many, exit 2."),
    click.option("--mode", type=click.Choice(["replay", "qa"]), default="replay", show_default=True,
                 help="replay: every turn sent as a chat would (cache behaviour measured); qa: only questions, "
                      "side calls and judge calls are sent, the turns' tokens and cost come from counts and the "
                      "cache model (marked ~ estimated)."),
    click.option("--batch", is_flag=True,
                 help="Send the questions and the judge's calls (independent of each other) through the Message "
                      "Batches API, at its price (half)."),
    click.option("--judge", default=DEFAULT_JUDGE, show_default=True, metavar="MODEL|none",
                 help="Grade replies with an LLM judge (a versioned prompt, forced tool 'verdict'): the model when "
                      "--live, the simulator's deterministic stand-in otherwise; adds judge_accuracy and "
                      "judge_agreement (Cohen's kappa with correctness). none: no judge."),
    click.option("--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), default=4, show_default=True,
                 help="Requests in flight at once with --live or --replay-from (the async client; 429 retry-after "
                      "and 529 honoured)."),
]


def eval_options(f: Any) -> Any:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


@click.group("eval")
def eval_group() -> None:
    """Replay conversations through context strategies, against the simulated Claude or the real
    one, and measure what each keeps (evidence recall, answer in context, correctness, a judge's
    accuracy) and costs.

    Every turn is built by the strategy and sent; the recorded reply is then appended. The
    questions are asked after the last turn. Results: OUT/summary.csv (one row per strategy),
    OUT/by_category.csv, OUT/runs.csv, OUT/items.parquet and OUT/tradeoff.svg; the summary is
    also printed (at most 120 columns wide).

    On the real API: --plan first (sends nothing), then --live --max-usd X --cache FILE; share
    FILE, and anyone replays the run with --replay-from FILE, without a key
    (docs/live-evaluation.md).

    Bad input is one line and exit code 2, before anything runs: a missing or malformed file
    (invalid JSON, nested deeper than 64 levels, an empty question or turn text; the message
    names the item), an unknown strategy or model, a size out of its range, an --out that
    cannot be written, a live flag without what it needs, a recording that lacks requests. A
    replay that fails, and a live run stopped at its cap, are one line and exit code 1.
    """


@eval_group.command("locomo", cls=OneLineErrors)
@click.argument("path", type=click.Path(path_type=Path))
@eval_options
def locomo(path: Path, strategies: tuple[str, ...], model: str, out: str | None, **options: Any) -> None:
    """Replay the LoCoMo conversations in PATH (a JSON file, or a folder of them)."""
    from convolab.datasets import load_locomo

    run = _options(strategies, model, out, **options)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    try:
        samples = load_locomo(path)
    except ConvolabError as e:
        raise InputError(str(e)) from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read it as LoCoMo JSON: {e}") from None
    if not samples:
        raise InputError(f"{path}: no conversations found")
    _evaluate(samples, run, {"dataset": "locomo", "path": str(path)})


@eval_group.command("longmemeval", cls=OneLineErrors)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--question-type", "question_types", multiple=True, metavar="TYPE",
              help="Keep only questions of this type (repeat, or comma-separate): single-session-user, "
                   "single-session-assistant, single-session-preference, knowledge-update, multi-session, "
                   "temporal-reasoning  [default: all]")
@click.option("--limit", type=click.IntRange(1, MAX_CONVERSATIONS), default=None,
              help="Only the first N questions (after --question-type).")
@eval_options
def longmemeval(path: Path, question_types: tuple[str, ...], limit: int | None, strategies: tuple[str, ...],
                model: str, out: str | None, **options: Any) -> None:
    """Replay LongMemEval's questions in PATH: longmemeval_s.json, longmemeval_m.json or
    longmemeval_oracle.json, downloaded from https://github.com/xiaowu0162/LongMemEval (the
    Hugging Face dataset xiaowu0162/longmemeval). Each question has a history of its own,
    replayed then asked; by_category.csv has one row per question type (category 5: its
    abstention questions, scored by declines), evidence recall from the has_answer turns.
    LongMemEval_M holds about 1.5M tokens per question: use --limit, or run it on a cluster
    (docs/scale.md)."""
    from convolab.datasets import load_longmemeval

    run = _options(strategies, model, out, **options)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file (download longmemeval_s.json from "
                         "https://github.com/xiaowu0162/LongMemEval; docs/datasets.md)")
    types = [t.strip() for value in question_types for t in value.split(",") if t.strip()] or None
    try:
        samples = load_longmemeval(path, question_types=types, limit=limit)
    except ConvolabError as e:
        raise InputError(str(e)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it as LongMemEval JSON: {e}") from None
    if not samples:
        raise InputError(f"{path}: no questions found" + (" of those types" if types else ""))
    _evaluate(samples, run, {"dataset": "longmemeval", "path": str(path), "question_types": types, "limit": limit})


@eval_group.command("synthetic", cls=OneLineErrors)
@click.option("--turns", type=click.IntRange(20, MAX_TURNS), default=400, show_default=True,
              help="Dialogue turns per conversation (user and assistant turns: about half are user turns).")
@click.option("--seed", "seeds", type=click.IntRange(0, 2**32 - 1), multiple=True,
              help=f"A seed; repeat for several conversations (at most {MAX_CONVERSATIONS:,})  [default: 0]")
@click.option("--conversations", type=click.IntRange(1, MAX_CONVERSATIONS), default=None,
              help="Conversations with seeds 0..N-1 (instead of --seed).")
@eval_options
def synthetic_cmd(turns: int, seeds: tuple[int, ...], conversations: int | None, strategies: tuple[str, ...],
                  model: str, out: str | None, **options: Any) -> None:
    """Replay generated conversations (convolab.datasets.synthetic) with planted facts."""
    from convolab.datasets import synthetic

    run = _options(strategies, model, out, **options)
    if seeds and conversations:
        raise InputError("give --seed or --conversations, not both")
    if len(set(seeds)) > MAX_CONVERSATIONS:
        raise InputError(f"--seed: at most {MAX_CONVERSATIONS:,} seeds")
    chosen = list(dict.fromkeys(seeds or range(conversations or 1)))
    samples = [synthetic(turns, seed=s) for s in chosen]
    _evaluate(samples, run, {"dataset": "synthetic", "turns": turns, "seeds": chosen})
