"""Relative dates resolved against the day they were said."""

from __future__ import annotations

from datetime import date

import pytest

from convolab.dates import relative_dates, resolve_relative

MAY_8 = date(2023, 5, 8)  # a Monday


@pytest.mark.parametrize(("text", "value"), [
    ("I went yesterday", "7 May 2023"),
    ("It was fun last night", "7 May 2023"),
    ("I ran a race last Saturday", "6 May 2023"),
    ("last Fri I took the kids", "5 May 2023"),
    ("I joined a group last Tues.", "2 May 2023"),
    ("three days ago", "5 May 2023"),
    ("last week", "the week before 8 May 2023"),
    ("this past weekend", "the weekend before 8 May 2023"),
    ("two weekends ago", "two weekends before 8 May 2023"),
    ("a few weeks ago", "a few weeks before 8 May 2023"),
    ("next month", "June 2023"),
    ("this month", "May 2023"),
    ("last year", "2022"),
    ("ten years ago", "2013"),
    ("next Friday", "12 May 2023"),
])
def test_relative_phrases(text, value):
    (found,) = relative_dates(text, MAY_8)
    assert found.value == value
    assert text[found.start:found.end] == found.phrase


def test_an_exact_day_is_given_when_the_phrase_names_one():
    (saturday,) = relative_dates("last Saturday", MAY_8)
    assert saturday.day == date(2023, 5, 6)
    (week,) = relative_dates("last week", MAY_8)
    assert week.day is None


def test_resolve_relative_writes_notes():
    assert resolve_relative("I went yesterday and again last Saturday.", MAY_8) == [
        "yesterday = 7 May 2023", "last Saturday = 6 May 2023"]
    assert resolve_relative("Nothing relative here.", MAY_8) == []
