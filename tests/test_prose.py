"""The package, its docs and tests explain things in their own words: nothing sends the reader
to a book's chapter, section or numbered pitfall they do not have (notebooks: test_notebooks)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = re.compile(r"\bchapter\b|\bsection \d|\bpitfall\b|\bof the book\b", re.IGNORECASE)
GUARDS = {Path(__file__).name, "test_notebooks.py"}  # the two tests that spell the words out


def test_no_reference_to_a_book():
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "convolab").rglob("*.py"),
             *(p for p in (ROOT / "tests").rglob("*.py") if p.name not in GUARDS)]
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in files
             for i, line in enumerate(p.read_text().splitlines(), 1) if BOOK.search(line)]
    assert not found
