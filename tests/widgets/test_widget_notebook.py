"""What importing convolab.widgets sets up (offline charts, notices once as plain lines) and Table."""

from __future__ import annotations

import logging

import altair as alt
import polars as pl
import pytest

from convolab.widgets import Table, setup_notebook
from convolab.widgets.notebook import CellOutput


def test_importing_the_widgets_makes_altair_draw_svg_in_the_kernel():
    assert alt.renderers.active == "svg"
    bundle = alt.Chart(pl.DataFrame({"x": [1, 2], "y": [3, 4]})).mark_line().encode(x="x", y="y")._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "image/svg+xml" in data and "<svg" in data["image/svg+xml"]
    assert not any("vega" in mime or mime == "text/html" for mime in data)  # nothing that needs a CDN


@pytest.fixture
def convolab_logger():
    logger = logging.getLogger("convolab")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.propagate = propagate


def test_notices_print_once_on_stdout(convolab_logger, capsys):
    convolab_logger.handlers[:] = [h for h in convolab_logger.handlers if not isinstance(h, CellOutput)]
    setup_notebook(force=True)
    setup_notebook(force=True)  # idempotent: still one handler
    assert sum(isinstance(h, CellOutput) for h in convolab_logger.handlers) == 1
    logging.getLogger("convolab").warning("convolab: conversation c1: 1 unanswered user message(s)")
    out, err = capsys.readouterr()
    assert out == "convolab: conversation c1: 1 unanswered user message(s)\n" and err == ""
    logging.getLogger("convolab").info("convolab: using the simulated Claude")  # below WARNING: quiet
    assert capsys.readouterr() == ("", "")


def test_outside_a_kernel_nothing_is_added(convolab_logger):
    convolab_logger.handlers[:] = [h for h in convolab_logger.handlers if not isinstance(h, CellOutput)]
    setup_notebook()  # pytest is no kernel
    assert not any(isinstance(h, CellOutput) for h in convolab_logger.handlers)


def test_a_frame_is_a_plain_rounded_table():
    frame = pl.DataFrame({"strategy": ["full", "sliding"], "tokens": [20406, 3125], "rate": [0.86812, 0.25],
                          "cost_usd": [2.0974123, 0.82719]})
    table = Table(frame, digits={"rate": 2})
    markup = table.html()
    assert "shape:" not in markup and ">str<" not in markup and "&quot;" not in markup  # no shape, dtype or quotes
    assert table.rows == [["full", "20,406", "0.87", "$2.0974"], ["sliding", "3,125", "0.25", "$0.8272"]]
    assert table.numeric == [1, 2, 3] and 'class="tex2jax_ignore mathjax_ignore"' in markup
    assert repr(table).splitlines() == ["strategy  tokens  rate  cost_usd",
                                        "full      20,406  0.87   $2.0974",
                                        "sliding    3,125  0.25   $0.8272"]


def test_dicts_rows_and_long_text():
    assert Table({"turns": 2, "cost_usd": 0.0067}).rows == [["turns", "2"], ["cost_usd", "$0.0067"]]
    rows = Table([{"a": 1, "text": "word " * 40}, {"a": 2, "b": None}], max_chars=20).rows
    assert rows == [["1", "word word word wo...", "-"], ["2", "-", "-"]]
