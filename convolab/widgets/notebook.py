"""What importing ``convolab.widgets`` sets up for a notebook, and readable tables.

- **Charts offline.** altair's default renderer loads Vega from a CDN, so with no network a
  chart shows "Error loading script". ``setup_notebook()`` switches altair to its ``svg``
  renderer: the kernel draws the chart with vl-convert (which bundles Vega) and sends an SVG.
- **Notices once, as plain lines.** convolab reports what a reader should know (a recovered
  conversation, a skipped side call) through the ``convolab`` logger. With no handler Python
  prints warnings to stderr, which JupyterLab shows in a red box as if something failed. In a
  kernel, ``setup_notebook()`` gives the logger one handler that prints each notice once to the
  cell's ordinary output.
- ``Table(data)``: a frame, a dict or a list of dicts as a plain table: no shape or type rows,
  strings without quotes, numbers rounded, dollar columns (``*_usd``) in dollars.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from convolab.widgets._static import NO_MATH, fmt, table

NOTICE_FORMAT = "%(message)s"


class CellOutput(logging.Handler):
    """Writes each record to the current ``sys.stdout`` (in a kernel: the running cell)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stdout)
        except Exception:  # pragma: no cover - a broken stream must not break the caller
            self.handleError(record)


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def setup_notebook(*, force: bool = False) -> None:
    """Charts as inline SVG; in a kernel (or with ``force``), convolab's notices as plain
    output lines, once. Idempotent; called when ``convolab.widgets`` is imported."""
    import altair as alt

    if alt.renderers.active != "svg":
        alt.renderers.enable("svg")
    logger = logging.getLogger("convolab")
    if (in_kernel() or force) and not any(isinstance(h, CellOutput) for h in logger.handlers):
        handler = CellOutput(level=logging.WARNING)
        handler.setFormatter(logging.Formatter(NOTICE_FORMAT))
        logger.addHandler(handler)
        logger.propagate = False  # shown once: not again by a handler further up


def _frame(data: Any) -> tuple[list[str], list[list[Any]]]:
    """Column names and rows of a polars/pandas frame, a dict (two columns) or dicts."""
    if hasattr(data, "iter_rows") and hasattr(data, "columns"):  # polars
        return list(data.columns), [list(r) for r in data.iter_rows()]
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas
        return [str(c) for c in data.columns], data.values.tolist()
    if isinstance(data, Mapping):
        return ["", "value"], [[k, v] for k, v in data.items()]
    rows = list(data)
    names = list(dict.fromkeys(k for r in rows for k in r))
    return names, [[r.get(k) for k in names] for r in rows]


class Table:
    """``Table(data, digits=None, default_digits=3, max_chars=90)``: a plain, rounded table.

    ``digits`` maps column names to decimals; columns named ``*_usd`` (or ``cost``) show
    dollars with four decimals unless ``digits`` says otherwise; text longer than
    ``max_chars`` is cut with "...". Displays as HTML in a notebook and as aligned text
    elsewhere; ``rows`` holds the formatted cells.
    """

    def __init__(self, data: Any, *, digits: Mapping[str, int] | None = None, default_digits: int = 3,
                 max_chars: int = 90):
        self.columns, raw = _frame(data)
        self.digits = dict(digits or {})
        self.numeric = [i for i, c in enumerate(self.columns)
                        if raw and all(isinstance(r[i], int | float) and not isinstance(r[i], bool)
                                       for r in raw if r[i] is not None)]
        # a dict's values are formatted by their own names (a "cost_usd" value in dollars)
        names = [[r[0], r[0]] for r in raw] if isinstance(data, Mapping) else [self.columns] * len(raw)
        self.rows = [[self._cell(str(c), v, default_digits, max_chars) for c, v in zip(n, r, strict=True)]
                     for n, r in zip(names, raw, strict=True)]

    def _cell(self, column: str, value: Any, default_digits: int, max_chars: int) -> str:
        if isinstance(value, float) and (column.endswith("_usd") or column in ("cost", "usd")):
            return f"${value:,.{self.digits.get(column, 4)}f}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return fmt(value, self.digits.get(column, default_digits))
        text = fmt(value) if not isinstance(value, str) else value
        text = " ".join(text.split()) if isinstance(value, str) else text
        return text if len(text) <= max_chars else text[:max_chars - 3] + "..."

    def _repr_html_(self) -> str:
        return (f'<div class="{NO_MATH}" data-convolab="table">'
                f"{table(self.rows, self.columns, numeric=self.numeric)}</div>")

    def __repr__(self) -> str:
        cells = [self.columns, *self.rows]
        widths = [max(len(str(r[i])) for r in cells) for i in range(len(self.columns))]

        def line(r: Sequence[Any]) -> str:
            return "  ".join(str(v).rjust(w) if i in self.numeric else str(v).ljust(w)
                             for i, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip()

        return "\n".join(line(r) for r in cells)

    def __str__(self) -> str:
        return repr(self)

    def html(self) -> str:
        """The table as HTML (what a notebook shows)."""
        return self._repr_html_()

