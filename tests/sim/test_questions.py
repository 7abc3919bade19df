"""The question reader: answer type, whom it asks about, and a date it is restricted to."""

from __future__ import annotations

import pytest

from convolab.sim.questions import ASKER, AnswerType, read_question

PEOPLE = frozenset({"caroline", "melanie"})


@pytest.mark.parametrize(("question", "kind"), [
    ("When did Caroline go to the support group?", AnswerType.DATE),
    ("What year did Melanie paint the sunrise?", AnswerType.DATE),
    ("How long ago was Caroline's birthday?", AnswerType.DATE),
    ("How long has Caroline known her friends?", AnswerType.DURATION),
    ("How many children does Melanie have?", AnswerType.NUMBER),
    ("Who performed at the concert?", AnswerType.PERSON),
    ("Where did Caroline move from?", AnswerType.PLACE),
    ("Why did Caroline choose the agency?", AnswerType.REASON),
    ("What motivated Caroline to pursue counseling?", AnswerType.REASON),
    ("Did Melanie make the bowl?", AnswerType.YES_NO),
    ("Would Caroline likely enjoy a museum?", AnswerType.YES_NO),
    ("What book did Caroline recommend?", AnswerType.NAME),
    ("What was Melanie's favorite book from her childhood?", AnswerType.NAME),
    ("What books has Melanie read?", AnswerType.LIST),
    ("Where has Melanie camped?", AnswerType.LIST),
    ("What has Melanie painted?", AnswerType.LIST),
    ("What did Caroline realize after the race?", AnswerType.TEXT),
    ("What kind of art does Caroline make?", AnswerType.TEXT),
])
def test_answer_types(question, kind):
    assert read_question(question, PEOPLE).kind == kind


def test_people_nicknames_and_the_asker():
    q = read_question("What did Mel and Caroline paint?", PEOPLE)
    assert set(q.persons) == {"melanie", "caroline"} and "mel" not in q.focus
    assert read_question("What is my dog called?", PEOPLE).persons == (ASKER,)


def test_a_date_restriction_is_not_a_search_term():
    q = read_question("What painting did Melanie show to Caroline on October 13, 2023?", PEOPLE)
    assert q.when == (2023, 10, 13)
    assert not {"2023", "13", "octob"} & set(q.focus)
    assert read_question("What did Caroline do in July 2023?", PEOPLE).when == (2023, 7, None)
    assert read_question("When did Caroline go?", PEOPLE).when is None


def test_shape_words_are_not_search_terms():
    q = read_question("How long did I live in Paris?", PEOPLE)
    assert set(q.focus) == {"liv", "paris"}
