"""Acknowledgements restate what the user said, as sentences in their own words turned round."""

from __future__ import annotations

import pytest

from convolab.sim.acknowledge import MAX_WORDS, acknowledge


@pytest.mark.parametrize(("said", "expected"), [
    ("I'm Priya, the report must use metric units, our budget is 4,200 euros",
     "Noted: you're Priya, the report must use metric units, and the budget is 4,200 euros."),
    ("I'm Ada. I fly to Lisbon on 12 May and I'm vegetarian.",
     "Noted: you're Ada, and you fly to Lisbon on 12 May and you're vegetarian."),
    ("I just adopted a cat named Miso.", "Noted: you just adopted a cat named Miso."),
    ("Please send me your notes by Friday.", "Noted: I'll send you my notes by Friday."),
    ("Actually, the budget is now 5,000 euros.", "Noted: the budget is now 5,000 euros."),
    ("Quick update: the launch moved to 3 June.", "Noted: the launch moved to 3 June."),
    ("I'm Priya. Our offsite is in Porto on 3 June.", "Noted: you're Priya, and the offsite is in Porto on 3 June."),
    ("We are 14 people. Two of us are vegetarian.", "Noted: you are 14 people, and two of you are vegetarian."),
])
def test_the_statement_is_restated_in_the_users_words(said, expected):
    assert acknowledge(said) == expected


def test_greetings_thanks_and_questions_are_left_out():
    said = "Hey Mel! Thanks so much! I went to a support group yesterday. How are you?"
    assert acknowledge("Caroline: " + said) == "Noted: you went to a support group yesterday."
    assert acknowledge("Hi! Thanks!") == "You're welcome."
    assert acknowledge("Hello!") == "Hello! What would you like to talk about?"
    assert acknowledge("Hmm.") == "Noted."


def test_a_long_message_keeps_its_names_numbers_and_requirements_first():
    said = ("It was a lovely day and the park was full of people walking their dogs in the sun. "
            "We must be in Porto by 3 June. The budget is 900 euros. "
            "The trees were green and the birds were singing all afternoon long near the lake.")
    out = acknowledge(said)
    assert "3 June" in out and "900 euros" in out and "must" in out
    assert len(out.split()) <= MAX_WORDS + 6
    assert out.index("Porto") < out.index("900")  # in the order said


@pytest.mark.parametrize(("said", "expected"), [
    ("I keep a running list of small bugs, and it's getting longer rather than shorter.",
     "Noted: you keep a running list of small bugs, and it's getting longer rather than shorter."),
    ("It was a quiet week otherwise, mostly emails and a few short meetings. "
     "The staging build broke again on Thursday, so I lost a couple of hours to that.",
     "Noted: it was a quiet week otherwise, the staging build broke again on Thursday, "
     "so you lost a couple of hours to that."),
])
def test_clauses_are_restated_whole_and_joined_once(said, expected):
    assert acknowledge(said) == expected
