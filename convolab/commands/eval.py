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
        written = result.write(out)
    except ConvolabError as e:  # no altair / vl-convert: everything but the chart
        written = result.write(out, chart=False)
        click.echo(f"note: no tradeoff.svg: {e}", err=True)
    _print(result.summary)
    click.echo(f"{len(samples)} conversation(s) x {len(names)} strategies in {seconds:.1f} s; "
               f"wrote {', '.join(str(p) for p in written)}")


def _print(summary: Any) -> None:
    import polars as pl

    from convolab.eval import SUMMARY_COLUMNS

    shown = summary.select(*SUMMARY_COLUMNS).drop("conversations", "turns", "qa_items")
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   tbl_width_chars=200, float_precision=3, thousands_separator=True):
        click.echo(shown)


strategy_option = click.option("--strategy", "strategies", multiple=True, metavar="NAME",
                               help=f"A strategy to replay (repeat, or comma-separate)  [default: all: "
                                    f"{' '.join(DEFAULT_STRATEGIES)}]")
budget_option = click.option("--budget-tokens", type=click.IntRange(min=1), default=4000, show_default=True,
                             help="Input budget of the budgeted strategies (sliding, summarizing, memory, retrieval).")
model_option = click.option("--model", default="claude-sonnet-4-6", show_default=True, help="Model the requests name.")
jobs_option = click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                           help="Replays run at once, each in its own process  [default: one per CPU]")
out_option = click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
                          help="Folder for summary.csv, by_category.csv, runs.csv, items.parquet, tradeoff.svg.")


@click.group("eval")
def eval_group() -> None:
    """Replay conversations through context strategies against the simulated Claude and
    measure what each keeps (evidence recall, answer in context, correctness) and costs.

    Every turn is built by the strategy and sent; the recorded reply is then appended. The
    questions are asked after the last turn. Results: OUT/summary.csv (one row per strategy),
    OUT/by_category.csv, OUT/runs.csv, OUT/items.parquet and OUT/tradeoff.svg.
    """


@eval_group.command("locomo")
@click.argument("path", type=click.Path(path_type=Path))
@strategy_option
@budget_option
@model_option
@jobs_option
@out_option
def locomo(path: Path, strategies: tuple[str, ...], budget_tokens: int, model: str, jobs: int | None,
           out: Path) -> None:
    """Replay the LoCoMo conversations in PATH (a JSON file, or a folder of them)."""
    from convolab.datasets import load_locomo

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
    _run(samples, names, budget_tokens, model, jobs, out)


@eval_group.command("synthetic")
@click.option("--turns", type=click.IntRange(min=20), default=400, show_default=True,
              help="Dialogue turns per conversation (user and assistant turns: about half are user turns).")
@click.option("--seed", "seeds", type=int, multiple=True, help="A seed; repeat for several conversations  [default: 0]")
@click.option("--conversations", type=click.IntRange(min=1), default=None,
              help="Conversations with seeds 0..N-1 (instead of --seed).")
@strategy_option
@budget_option
@model_option
@jobs_option
@out_option
def synthetic_cmd(turns: int, seeds: tuple[int, ...], conversations: int | None, strategies: tuple[str, ...],
                  budget_tokens: int, model: str, jobs: int | None, out: Path) -> None:
    """Replay generated conversations (convolab.datasets.synthetic) with planted facts."""
    from convolab.datasets import synthetic

    names, model = _check(strategies, model)
    if seeds and conversations:
        raise InputError("give --seed or --conversations, not both")
    chosen = list(seeds) or list(range(conversations or 1))
    samples = [synthetic(turns, seed=s) for s in dict.fromkeys(chosen)]
    _run(samples, names, budget_tokens, model, jobs, out)
