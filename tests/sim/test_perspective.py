"""Turning first-person words round: back to the user, or told about the speaker."""

from __future__ import annotations

import pytest

from convolab.sim.perspective import to_second_person, to_third_person


@pytest.mark.parametrize(("said", "expected"), [
    ("I'm Priya and my budget is 4,200 euros.", "You're Priya and your budget is 4,200 euros."),
    ("Last week I was in Rome with my sister.", "Last week you were in Rome with your sister."),
    ("I am tired, so I'm staying in.", "You are tired, so you're staying in."),
])
def test_second_person(said, expected):
    assert to_second_person(said) == expected


def test_second_person_with_swap_turns_the_assistant_round_too():
    assert to_second_person("You told me my flight is at 9.", swap=True) == "I told you your flight is at 9."


@pytest.mark.parametrize(("said", "expected"), [
    ("I went to a support group yesterday.", "Caroline went to a support group yesterday."),
    ("I love painting and I play the violin.", "Caroline loves painting and they play the violin."),
    ("I'm a counselor and I've been one for years.", "Caroline is a counselor and they have been one for years."),
    ("I just signed up for a pottery class.", "Caroline just signed up for a pottery class."),
    ("My friends are my rocks.", "Caroline's friends are their rocks."),
    ("We went camping with our kids.", "Caroline said they went camping with their kids."),
    ("Last week we shipped it.", "Caroline said last week they shipped it."),
    ("Our new puppy is called Juniper.", "Caroline's new puppy is called Juniper."),
    ("My birthday is in May, in case you want to remember it.",
     "Caroline's birthday is in May, in case Mel wants to remember it."),
    ("I'd love to see it.", "Caroline would love to see it."),
    ("I try hard and I watch films.", "Caroline tries hard and they watch films."),
])
def test_third_person(said, expected):
    assert to_third_person(said, "Caroline", "Mel") == expected


def test_third_person_names_the_addressee():
    assert to_third_person("You are right, your book helped me.", "Melanie", "Caroline") \
        == "Caroline is right, Caroline's book helped them."


def test_a_name_ends_with_its_sentence():
    from convolab.sim.spans import names, places
    assert names("Here's a pic of Oliver. Can you show me one?") == ["Oliver"]
    assert places("He hid his bone in Melanie's slipper once!") == ["Melanie's slipper"]
