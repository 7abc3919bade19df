"""Errors a user can cause are typed (``convolab.errors``) and still ValueErrors where they
were, so code that catches ValueError keeps working."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from convolab.datasets import synthetic
from convolab.datasets.locomo import parse_locomo_date
from convolab.errors import ConfigurationError, ConvolabError, InvalidDataset
from convolab.sim import ManualClock
from convolab.strategies import StructuredMemory, Summarizing

PACKAGE = Path(__file__).resolve().parents[1] / "convolab"


@pytest.mark.parametrize(("make", "error", "words"), [
    (lambda: Summarizing(keep_recent_turns=0), ConfigurationError, "keep_recent_turns"),
    (lambda: StructuredMemory(max_items=0), ConfigurationError, "max_items"),
    (lambda: synthetic(5), ConfigurationError, "at least 20 turns"),
    (lambda: ManualClock().advance(-1), ConfigurationError, "only moves forward"),
    (lambda: parse_locomo_date("teatime on Sunday"), InvalidDataset, "like '1:56 pm on 8 May, 2023'"),
])
def test_bad_input_raises_a_typed_error_that_is_still_a_value_error(make, error, words):
    with pytest.raises(error, match=words) as caught:
        make()
    assert isinstance(caught.value, ConvolabError) and isinstance(caught.value, ValueError)


def test_the_package_raises_no_bare_value_error():
    bare = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            for path in PACKAGE.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
            and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "ValueError"]
    assert not bare
