"""Metrics on hand-made payloads and replies: words, evidence, the 80% rule, declines, intervals."""

from __future__ import annotations

import pytest

from convolab.datasets import synthetic
from convolab.datasets.records import QAItem
from convolab.eval import metrics
from convolab.eval.replay import score_item
from convolab.sim.responder import DONT_KNOW


def test_words_are_lowercase_stemmed_without_function_words_and_keep_numbers():
    assert metrics.words("The 8th of May, 2023") == ["8", "may", "2023"]
    assert metrics.words("She paid $4,200 for two bikes.") == ["paid", "4200", "2", "bik"]
    assert metrics.words("dancing") == metrics.words("dance") == metrics.words("danced")
    assert metrics.words("Caroline's") == ["carolin"]
    assert metrics.answer_words("") == frozenset()


def test_eighty_percent_of_the_answer_words_must_be_present():
    have = set(metrics.words("psychology counseling certification mental health"))
    assert metrics.words_present(metrics.answer_words("Psychology, counseling certification"), have) == 1.0
    five = metrics.answer_words("red blue green yellow purple")
    assert metrics.words_present(five, set(metrics.words("red blue green yellow"))) == 0.8  # 4 of 5: enough
    assert metrics.words_present(five, set(metrics.words("red blue green"))) == 0.6  # 3 of 5: not
    assert metrics.words_present(frozenset(), have) is None


def _request(*texts: str, system: str = "You are Sam.") -> dict:
    msgs = [{"role": "user" if k % 2 == 0 else "assistant", "content": t} for k, t in enumerate(texts)]
    return {"model": "claude-sonnet-4-6", "max_tokens": 100, "system": [{"type": "text", "text": system}],
            "messages": msgs}


@pytest.fixture(scope="module")
def sample():
    return synthetic(60, seed=1)


def _item(sample, category=4):
    return next(q for q in sample.qa if q.category == category and q.evidence)


def test_evidence_is_found_by_the_message_sent_or_by_its_text(sample):
    item = _item(sample)
    dia = item.evidence[0]
    text = sample.dia_text[dia]
    quoted = text.split(": ", 1)[1]  # a summary quoting the turn without its speaker
    question = item.question
    by_id = score_item(sample, item, _request("unrelated", "ok", question), [sample.dia_index[dia]], "")
    by_text = score_item(sample, item, _request(f"[Summary] {quoted.upper()}", "ok", question), [], "")
    missing = score_item(sample, item, _request("unrelated", "ok", question), [], "")
    assert by_id["evidence_recall"] == by_text["evidence_recall"] == 1.0
    assert missing["evidence_recall"] == 0.0


def test_answer_in_context_ignores_the_question_and_correctness_reads_the_reply(sample):
    item = QAItem("Is the code name Heron Blue?", "Heron Blue", [], 4)
    in_question_only = score_item(sample, item, _request("hello", "hi", item.question), [], "no idea")
    assert in_question_only["answer_in_context"] is False
    assert in_question_only["correctness"] is False
    assert in_question_only["evidence_recall"] is None  # no evidence to look for
    found = score_item(sample, item, _request("The code name is Heron Blue.", "Noted.", item.question), [],
                       "From our conversation: the code name is heron blue.")
    assert found["answer_in_context"] is True and found["correctness"] is True
    assert found["declines"] is None


def test_category_five_is_scored_by_declining_the_false_premise(sample):
    item = QAItem("What is Sam's sister called?", "", [], 5, adversarial_answer="Sofia")
    req = _request("My sister is Sofia.", "Noted.", item.question)
    assert score_item(sample, item, req, [], DONT_KNOW)["declines"] is True
    assert score_item(sample, item, req, [], "From our conversation: My sister is Sofia.")["declines"] is False
    assert score_item(sample, item, req, [], "I don't know, maybe Sofia?")["declines"] is False
    assert score_item(sample, item, req, [], DONT_KNOW)["answer_in_context"] is None
    assert metrics.declines(DONT_KNOW, "Not mentioned")  # a refusal as the "adversarial" answer
    assert metrics.declines("There's no mention of a sister in our conversation.", "Sofia")


def test_a_decline_counts_only_in_the_first_sentence():
    assert metrics.is_decline(DONT_KNOW)
    assert metrics.is_decline("Caroline never mentioned a charity race.")
    assert not metrics.is_decline("From our conversation: Mel: I'm swamped. I'm not sure I don't know it.")


def test_tool_calls_and_results_count_as_payload_text():
    request = {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                           "input": {"city": "Reykjavik"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Sleet, 2 degrees"}]},
    ]}
    text = metrics.payload_texts(request)
    assert "reykjavik" in text and "sleet" in text and "2" in text
    assert text.has_text("sleet,   2 DEGREES")


def test_wilson_and_mean_intervals():
    lo, hi = metrics.wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert metrics.wilson(0, 10)[0] == 0.0 and metrics.wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert metrics.wilson(0, 0) == (None, None)
    lo, hi = metrics.mean_interval([0.0, 1.0, 0.5, 0.5])
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    assert metrics.mean_interval([1.0, 1.0]) == (1.0, 1.0)


def test_iso_dates_read_like_written_dates():
    assert metrics.words("[Earlier in the conversation, 2023-05-08 13:56 UTC]")[:5] == [
        "earlier", "conversation", "8", "may", "2023"]
    assert metrics.words("2023-13-45") == ["2023", "13", "45"]


def test_a_weekday_before_a_date_is_the_day_it_names():
    """Gold answers written "The Friday before 15 July 2023" match a reply that resolved the day."""
    gold = metrics.answer_words("The Friday before 15 July 2023")
    assert gold == {"14", "july", "2023"}
    reply = "Caroline went to the adoption meeting on 14 July 2023."
    assert metrics.words_present(gold, set(metrics.words(reply))) == 1.0
    assert metrics.answer_words("the Sunday before 25 May, 2023") == {"21", "may", "2023"}
    assert metrics.answer_words("the week before 9 June 2023") == set(metrics.words("week before 9 June 2023"))
