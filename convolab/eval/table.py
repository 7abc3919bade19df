"""The evaluation's summary as a plain table for a terminal, at most 120 columns wide.

Token totals are shown compactly (``164,443``; ``1.74M`` from a million on; the exact figures
are in ``summary.csv``), fractions with three decimals, dollars with three. A value measured
from counts and the cache model rather than billed by the API (``--mode qa``: the turns are
not sent) is marked ``~``.

>>> import polars as pl
>>> print(format_summary(pl.DataFrame({"strategy": ["full"], "input_tokens": [798],
...     "cache_read_tokens": [1736240], "correctness": [0.615]})))
strategy  input  cache rd  correct
full        798     1.74M    0.615
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

__all__ = ["COLUMNS", "MAX_WIDTH", "format_summary"]

MAX_WIDTH = 120


def _tokens(v: Any) -> str:
    v = float(v)
    if abs(v) >= 1e9:
        return f"{v / 1e9:.2f}G"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    return f"{round(v):,}"


def _share(v: Any) -> str:
    return f"{float(v):.3f}"


def _usd(v: Any) -> str:
    return f"{float(v):,.3f}" if float(v) < 1000 else f"{float(v):,.0f}"


def _ms(v: Any) -> str:
    return f"{float(v):.1f}"


#: (summary column, header, formatter, estimated in --mode qa), in the order shown.
COLUMNS: list[tuple[str, str, Callable[[Any], str], bool]] = [
    ("input_tokens", "input", _tokens, True),
    ("cache_read_tokens", "cache rd", _tokens, True),
    ("cache_write_tokens", "cache wr", _tokens, True),
    ("output_tokens", "output", _tokens, True),
    ("cost_usd", "cost $", _usd, True),
    ("qa_input_tokens", "tokens/q", _tokens, False),
    ("evidence_recall", "recall", _share, False),
    ("answer_in_context", "in context", _share, False),
    ("correctness", "correct", _share, False),
    ("judge_accuracy", "judge", _share, False),
    ("build_ms_p50", "build ms", _ms, False),
]


def format_summary(summary: pl.DataFrame, *, estimated: bool = False, width: int = MAX_WIDTH) -> str:
    """``summary`` (one row per strategy and budget) as aligned text no wider than ``width``: the
    strategy, its budget when the summary holds several (a sweep), then the ``COLUMNS`` it has; ``estimated`` marks the turn-dependent ones ``~``. Columns are
    left out from the right (build time first) when the table would be wider."""
    names = [str(s) for s in summary["strategy"].to_list()]
    cols = [("strategy", names, "<")]
    if "budget_tokens" in summary.columns and summary["budget_tokens"].drop_nulls().n_unique() > 1:  # a sweep
        cols.append(("budget", ["-" if v is None else f"{v:,}" for v in summary["budget_tokens"].to_list()], ">"))
    for key, header, fmt, est in COLUMNS:
        if key not in summary.columns or summary[key].null_count() == summary.height:
            continue
        mark = "~" if estimated and est else ""
        cells = ["-" if v is None else mark + fmt(v) for v in summary[key].to_list()]
        cols.append((header, cells, ">"))
    while len(cols) > 1:
        widths = [max(len(h), *(len(c) for c in cells)) for h, cells, _ in cols]
        if sum(widths) + 2 * (len(cols) - 1) <= width:
            break
        cols.pop()
    widths = [max(len(h), *(len(c) for c in cells)) for h, cells, _ in cols]
    lines = ["  ".join(f"{h:{a}{w}}" for (h, _, a), w in zip(cols, widths, strict=True)).rstrip()]
    for i in range(len(names)):
        lines.append("  ".join(f"{cells[i]:{a}{w}}" for (_, cells, a), w in zip(cols, widths, strict=True)).rstrip())
    return "\n".join(lines)
