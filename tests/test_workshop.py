"""The workshop's checkers accept right answers, explain wrong ones and skip missing ones."""

from __future__ import annotations

import pytest

from convolab import workshop
from convolab.strategies import FullHistory, SlidingWindow


@pytest.mark.parametrize("n", sorted(workshop.EXERCISES))
def test_the_hidden_solution_passes_its_check(n, capsys):
    scope = {"workshop": workshop}
    exec(workshop.EXERCISES[n].solution, scope)
    assert workshop.check(n, scope["answer"]) is True
    assert f"Exercise {n}: correct." in capsys.readouterr().out


@pytest.mark.parametrize("n", sorted(workshop.EXERCISES))
def test_unanswered_is_a_reminder_not_a_failure(n, capsys):
    assert workshop.check(n, None) is False
    assert "not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize(("n", "wrong", "why"), [
    (1, 123, "is not what the request bills"),
    (2, SlidingWindow(max_turns=60), "input tokens"),
    (2, FullHistory(), "should be a SlidingWindow"),
    (3, SlidingWindow(budget_tokens=1000), "the fact was not in the request"),
    (3, FullHistory(), "input tokens"),
    (4, 0.01, "is not the cost"),
])
def test_wrong_answers_are_explained_with_a_hint(n, wrong, why):
    with pytest.raises(workshop.WorkshopMiss, match=why) as err:
        workshop.check(n, wrong)
    assert "Hint:" in str(err.value)


def test_unknown_exercise():
    with pytest.raises(ValueError, match="no exercise 9"):
        workshop.check(9, 1)
