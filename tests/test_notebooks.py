"""Notebooks are code: each one under notebooks/ (and the instructor's solutions) runs top to
bottom on a fresh kernel, offline (no API key), with nothing on stderr, and is committed without
outputs. They stand alone: their text never sends the reader to a book's chapter, section or
pitfall, writes no dollar sign that would be typeset as math, and each lesson ends with
takeaways and checked exercises."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = ROOT / "notebooks" / "instructor" / "solutions.ipynb"
LESSONS = [p for p in NOTEBOOKS if re.match(r"0[1-6]b?_", p.name)]  # each ends with exercises and takeaways
BOOK = re.compile(r"\bchapter\b|\bsection \d|\bpitfall\b|\b\d+\.\d+ of the book\b", re.IGNORECASE)
CLASSIC_NAMES = ("SlidingWindowConversation", "SummarizingConversation", "StructuredMemoryConversation")


def markdown(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ should hold at least the quickstart"
    assert (ROOT / "notebooks" / "00_quickstart.ipynb") in NOTEBOOKS
    assert len(LESSONS) == 7 and SOLUTIONS.exists()


@pytest.mark.parametrize("path", [*NOTEBOOKS, SOLUTIONS], ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them (nbstripout or Clear All Outputs)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_text_stands_alone_and_has_no_math(path: Path):
    text = "\n".join(markdown(path))
    assert not BOOK.search(text), f"{path.name}: {BOOK.search(text).group(0)!r}: explain the idea instead"
    assert "$" not in text, f"{path.name}: a dollar sign in markdown is typeset as math: write USD"
    # the classic class names may appear once, in one short note
    notes = [cell for cell in markdown(path) if any(name in cell for name in CLASSIC_NAMES)]
    assert len(notes) <= 1, f"{path.name}: the classic class names belong in one short note"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_ends_with_takeaways_and_has_exercises(path: Path):
    cells = json.loads(path.read_text())["cells"]
    last_markdown = next(c for c in reversed(cells) if c["cell_type"] == "markdown")
    assert "".join(last_markdown["source"]).startswith("## Takeaways")
    checks = [c for c in cells if c["cell_type"] == "code" and "workshop.check(" in "".join(c["source"])]
    assert 1 <= len(checks) <= 2
    assert all("answer = None" in "".join(c["source"]) for c in checks)  # unanswered until the learner writes


@pytest.mark.parametrize("path", [*NOTEBOOKS, SOLUTIONS], ids=lambda p: p.stem)
def test_runs_top_to_bottom_offline_without_stderr(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = [o["text"] for o in outputs if o.get("name") == "stderr"]
    assert not stderr, f"{path.name} wrote to stderr (a red box in JupyterLab): {stderr}"
    text = "".join(o.get("text", "") for o in outputs)
    assert "Traceback" not in text
    assert os.environ.get("ANTHROPIC_API_KEY") is None
