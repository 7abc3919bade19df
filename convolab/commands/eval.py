"""``convolab eval``: replay LoCoMo or synthetic conversations through the context strategies
against the simulated Claude, and write what each kept and what it cost."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from convolab.errors import ConvolabError

DEFAULT_STRATEGIES = ("full", "sliding", "summarizing", "memory", "retrieval", "compaction")


class InputError(click.ClickException):
    """A bad argument, reported as one line (``Error: ...``) with exit code 2."""

    exit_code = 2


class OneLineErrors(click.Command):
    """A command whose bad options (out of range, missing, unknown) are one line, exit code 2,
    like every other input error here (click would add the usage and a hint)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            raise InputError(e.format_message()) from None


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


def _check_out(out: str) -> Path:
    from convolab.eval.outdir import check_out

    try:
        return check_out(out)
    except ConvolabError as e:
        raise InputError(str(e)) from None


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is under it (shorter lines)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _run(samples: list[Any], names: list[str], budget: int, model: str, jobs: int | None, out: Path) -> None:
    from convolab.eval import run_eval

    start = time.monotonic()
    total = len(samples) * len(names)
    try:
        if sys.stdout.isatty():
            with click.progressbar(length=total, label="replaying", show_pos=True) as bar:
                result = run_eval(samples, names, budget_tokens=budget, model=model, jobs=jobs,
                                  progress=lambda run: bar.update(1))
        else:
            result = run_eval(samples, names, budget_tokens=budget, model=model, jobs=jobs)
    except ConvolabError as e:
        raise click.ClickException(str(e)) from None
    seconds = time.monotonic() - start
    try:
        try:
            written = result.write(out)
        except ConvolabError as e:  # no altair / vl-convert: everything but the chart
            written = result.write(out, chart=False)
            click.echo(f"note: no tradeoff.svg: {e}", err=True)
    except OSError as e:
        raise click.ClickException(f"cannot write the results into {out}: {e.strerror or e}; "
                                   "nothing was written there") from None
    _print(result.summary)
    click.echo(f"{len(samples)} conversation(s) x {len(names)} strategies in {seconds:.1f} s; "
               f"wrote {', '.join(p.name for p in written)} into {_shown(out)}")


def _print(summary: Any) -> None:
    from convolab.eval.table import format_summary

    click.echo(format_summary(summary))


strategy_option = click.option("--strategy", "strategies", multiple=True, metavar="NAME",
                               help=f"A strategy to replay (repeat, or comma-separate)  [default: all: "
                                    f"{' '.join(DEFAULT_STRATEGIES)}]")
MAX_BUDGET = 1_000_000  # the largest context window in the catalog
MAX_TURNS = 10_000  # LoCoMo's longest conversation has 689 dialogue turns
MAX_CONVERSATIONS = 1_000
MAX_JOBS = 256
budget_option = click.option("--budget-tokens", type=click.IntRange(1, MAX_BUDGET), default=4000, show_default=True,
                             help="Input budget of the budgeted strategies (sliding, summarizing, memory, retrieval).")
model_option = click.option("--model", default="claude-sonnet-4-6", show_default=True, help="Model the requests name.")
jobs_option = click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), default=None,
                           help="Replays run at once, each in its own process  [default: one per CPU]")
out_option = click.option("--out", "out", required=True, metavar="FOLDER",
                          help="Folder for summary.csv, by_category.csv, runs.csv, items.parquet, tradeoff.svg. "
                               "Checked before anything runs (not empty, not a file, writable: else exit 2); the "
                               "files are written into a temporary folder beside it and moved in only when all "
                               "are complete, so a failure leaves nothing half-written.")


@click.group("eval")
def eval_group() -> None:
    """Replay conversations through context strategies against the simulated Claude and
    measure what each keeps (evidence recall, answer in context, correctness) and costs.

    Every turn is built by the strategy and sent; the recorded reply is then appended. The
    questions are asked after the last turn. Results: OUT/summary.csv (one row per strategy),
    OUT/by_category.csv, OUT/runs.csv, OUT/items.parquet and OUT/tradeoff.svg; the summary is
    also printed (at most 120 columns wide).

    Bad input is one line and exit code 2, before anything runs: a missing or malformed file
    (invalid JSON, nested deeper than 64 levels, an empty question or turn text; the message
    names the item), an unknown strategy or model, a size out of its range, an --out that
    cannot be written. A replay that fails is one line and exit code 1.
    """


@eval_group.command("locomo", cls=OneLineErrors)
@click.argument("path", type=click.Path(path_type=Path))
@strategy_option
@budget_option
@model_option
@jobs_option
@out_option
def locomo(path: Path, strategies: tuple[str, ...], budget_tokens: int, model: str, jobs: int | None,
           out: str) -> None:
    """Replay the LoCoMo conversations in PATH (a JSON file, or a folder of them)."""
    from convolab.datasets import load_locomo

    folder = _check_out(out)
    names, model = _check(strategies, model)
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
    _run(samples, names, budget_tokens, model, jobs, folder)


@eval_group.command("synthetic", cls=OneLineErrors)
@click.option("--turns", type=click.IntRange(20, MAX_TURNS), default=400, show_default=True,
              help="Dialogue turns per conversation (user and assistant turns: about half are user turns).")
@click.option("--seed", "seeds", type=click.IntRange(0, 2**32 - 1), multiple=True,
              help=f"A seed; repeat for several conversations (at most {MAX_CONVERSATIONS:,})  [default: 0]")
@click.option("--conversations", type=click.IntRange(1, MAX_CONVERSATIONS), default=None,
              help="Conversations with seeds 0..N-1 (instead of --seed).")
@strategy_option
@budget_option
@model_option
@jobs_option
@out_option
def synthetic_cmd(turns: int, seeds: tuple[int, ...], conversations: int | None, strategies: tuple[str, ...],
                  budget_tokens: int, model: str, jobs: int | None, out: str) -> None:
    """Replay generated conversations (convolab.datasets.synthetic) with planted facts."""
    from convolab.datasets import synthetic

    folder = _check_out(out)
    names, model = _check(strategies, model)
    if seeds and conversations:
        raise InputError("give --seed or --conversations, not both")
    if len(set(seeds)) > MAX_CONVERSATIONS:
        raise InputError(f"--seed: at most {MAX_CONVERSATIONS:,} seeds")
    chosen = list(seeds) or list(range(conversations or 1))
    samples = [synthetic(turns, seed=s) for s in dict.fromkeys(chosen)]
    _run(samples, names, budget_tokens, model, jobs, folder)
