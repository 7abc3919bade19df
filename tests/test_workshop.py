"""The workshop's checks: every worked solution and every approach a hint suggests passes,
numbers pass within the stated tolerance, a wrong or broken answer is one friendly line (never
a traceback), and the instructor's notebook is made from the same solutions and checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from convolab import workshop
from convolab.strategies import FullHistory, SlidingWindow

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "notebooks" / "instructor" / "solutions.ipynb"
DATA = {"store": lambda ns: ns["store"], "conversation_id": lambda ns: ns["chat"].conversation_id,
        "result": lambda ns: ns["result"]}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def run(ex: workshop.Exercise, code: str) -> workshop.Grade:
    """Run the exercise's setup and ``code`` (which sets ``answer``) and grade the answer."""
    scope: dict = {}
    exec(ex.setup + "\n" + code, scope)
    return workshop.grade(ex.key, scope["answer"], **{name: DATA[name](scope) for name in ex.data})


ANSWERS = [(key, code) for key, ex in workshop.EXERCISES.items() for code in (ex.solution, *ex.also)]


@pytest.mark.parametrize(("key", "code"), ANSWERS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(ANSWERS)])
def test_the_solution_and_every_approach_the_hint_suggests_pass(key, code):
    result = run(workshop.EXERCISES[key], code)
    assert result.passed is True, result.line
    assert result.line.startswith(f"Exercise {key}: correct (")


@pytest.mark.parametrize("key", sorted(workshop.EXERCISES))
def test_unanswered_is_a_reminder(key, capsys):
    assert workshop.grade(key, None).passed is None
    workshop.check(key, None)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "is waiting for your answer" in out and f"workshop.hint('{key}')" in out


@pytest.mark.parametrize(("key", "wrong", "why"), [
    ("01.1", 30_000, "more than 3% away"),
    ("01.1", "lots", "should be a number of tokens, not str"),
    ("01.2", 2.0, "more than 5% away"),
    ("01b.1", "You are brief.", "caches nothing under 4,096"),
    ("01b.1", 42, "should be the system prompt"),
    ("01b.2", 0.0, "more than 2% away"),
    ("02.1", "full", "one strategy cost less"),
    ("02.1", "cheapest", "one of the strategy names"),
    ("03.1", SlidingWindow(budget_tokens=500), "does not hold the rule word for word"),
    ("03.1", FullHistory(), "the limit is 500"),
    ("05.1", 0.5, "4 or more turn(s) went through"),
    ("05.1", 0.0, "0 turn(s) went through"),
    ("05.2", 0.5, "more than 1% away"),
    ("07.1", 123, "is not what the request bills"),
    ("07.2", SlidingWindow(max_turns=60), "the limit is 1,500"),
    ("07.2", FullHistory(), "should be a SlidingWindow"),
    ("07.3", SlidingWindow(budget_tokens=1000), "does not hold the locker code"),
    ("07.3", FullHistory(), "the limit is 1,000"),
    ("07.3", "Retrieval", "should be a strategy object"),
    ("07.4", 0.025, "more than 1% away"),
])
def test_a_wrong_answer_is_one_friendly_line_with_a_hint(key, wrong, why, capsys):
    result = workshop.grade(key, wrong)
    assert result.passed is False and why in result.line, result.line
    assert result.line.startswith(f"Exercise {key}: not yet.") and "Hint:" in result.line
    workshop.check(key, wrong)
    out = capsys.readouterr().out
    assert out == result.line + "\n" and "Traceback" not in out


def test_numbers_are_accepted_within_the_stated_tolerance():
    right = workshop.grade("07.4", 0.02375)
    assert right.passed and workshop.grade("07.4", 0.0238).passed and workshop.grade("07.4", 0.0237).passed
    assert "(within 1%)" in workshop.EXERCISES["07.4"].task
    assert not workshop.grade("07.4", 0.0241).passed  # 1.5% off
    assert not workshop.grade("07.4", True).passed  # a bool is not a number


def test_a_broken_answer_is_a_line_not_a_traceback(capsys):
    class Broken(FullHistory):
        def build(self, conversation, *, client=None):
            raise RuntimeError("boom")

    result = workshop.grade("07.3", Broken())
    assert not result.passed and "Checking it raised RuntimeError: boom" in result.line
    refused = workshop.grade("03.1", SlidingWindow(budget_tokens=15))  # the newest turn cannot fit
    assert not refused.passed and "did not run through: ContextOverflow" in refused.line


def test_data_the_check_needs_is_asked_for_kindly():
    result = workshop.grade("04.1", 3)
    assert not result.passed and "pass store=..., conversation_id=... to the check" in result.line


def test_an_unknown_exercise_is_a_line_too(capsys):
    assert not workshop.grade("9.9", 1).passed
    workshop.check("9.9", 1)
    assert "There is no exercise '9.9'" in capsys.readouterr().out


def test_every_exercise_is_asked_in_its_notebook_and_only_those():
    asked = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if path == SOLUTIONS:
            continue
        for cell in json.loads(path.read_text())["cells"]:
            for key in re.findall(r'workshop\.check\("([^"]+)"', "".join(cell["source"])):
                asked.setdefault(key, path.stem)
    assert sorted(asked) == sorted(workshop.EXERCISES)
    for key, stem in asked.items():
        assert stem.startswith(workshop.EXERCISES[key].notebook + "_"), (key, stem)
    notebooks = {e.notebook for e in workshop.EXERCISES.values()}
    assert {"01", "01b", "02", "03", "04", "05", "06"} <= notebooks


def test_the_solutions_notebook_is_made_from_the_exercises():
    committed = nbformat.read(SOLUTIONS, as_version=4)
    made = workshop.solutions_notebook()
    assert [(c.cell_type, c.id, c.source) for c in committed.cells] == [(c.cell_type, c.id, c.source) for c in made.cells], \
        "notebooks/instructor/solutions.ipynb is stale: run workshop.write_solutions_notebook()"
    checks = [c.source for c in made.cells if "workshop.check(" in c.source]
    assert len(checks) == len(workshop.EXERCISES)
