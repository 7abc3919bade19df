"""The LLM judge: its versioned prompt, its forced tool, the simulator's stand-in, and the columns
it adds (judge_accuracy with its interval, judge_agreement as Cohen's kappa)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from convolab.datasets import synthetic
from convolab.errors import ConfigurationError
from convolab.eval import run_eval
from convolab.eval.judge import Judge, cohen_kappa, load_prompt
from convolab.sim import ManualClock, Simulator
from convolab.sim.judge import decide

PROMPT = Path(__file__).parents[2] / "data" / "judge" / "v1.toml"


@pytest.mark.parametrize(("a", "b", "kappa"), [
    ([True, True, False, False], [True, False, False, False], 0.5),
    ([True, False, True, False], [True, False, True, False], 1.0),
    ([True, False, True, False], [False, True, False, True], -1.0),
    ([True, True, False, False], [True, False, True, False], 0.0),
])
def test_cohen_kappa(a, b, kappa):
    assert cohen_kappa(a, b) == pytest.approx(kappa)


def test_cohen_kappa_is_undefined_when_both_raters_say_one_thing_or_there_is_nothing():
    assert cohen_kappa([True, True], [True, True]) is None
    assert cohen_kappa([], []) is None


@pytest.mark.parametrize(("gold", "reply", "correct"), [
    ("Haskell", "Her favourite language is Haskell.", True),
    ("an oat flat white", "She drinks oat flat whites every morning.", True),
    ("7 May 2023", "It was on 7 May 2023.", True),
    ("7 May 2023", "It was on 8 May 2023.", False),  # every number of the gold answer must be there
    ("150", "We have 60 beta testers.", False),
    ("Ghent", "I don't know: that isn't mentioned in our conversation, though Ghent came up.", False),  # declines
    ("painting, hiking and pottery classes", "She likes hiking.", False),  # 1 of 4 key words
    ("painting, hiking and pottery classes", "She paints and hikes, and took a pottery class.", True),
])
def test_the_stand_in_grades_by_a_stated_rule(gold, reply, correct):
    verdict, reason = decide(gold, reply)
    assert verdict is correct and reason.endswith(".")


def test_the_prompt_is_versioned_and_hashed_and_the_request_forces_the_verdict_tool():
    prompt = load_prompt()
    assert prompt.version == 1 and prompt.sha256 == hashlib.sha256(PROMPT.read_bytes()).hexdigest()
    request = Judge().request("Where is the office?", "Ghent", "In Ghent.")
    assert request["model"] == "claude-haiku-4-5" and request["system"] == prompt.system
    assert request["tool_choice"] == {"type": "tool", "name": "verdict"}
    assert request["tools"][0]["input_schema"]["properties"]["verdict"]["enum"] == ["correct", "incorrect"]
    assert "<gold_answer>Ghent</gold_answer>" in request["messages"][0]["content"]
    assert Judge().config["judge_prompt_sha256"] == prompt.sha256


def test_a_judge_model_that_cannot_be_forced_to_call_a_tool_is_refused():
    with pytest.raises(ConfigurationError, match="forced tool choice"):
        Judge("claude-opus-5-5")


def test_judged_run_adds_accuracy_intervals_and_agreement_through_the_real_sdk():
    sample = synthetic(60, seed=1)
    client = Simulator(clock=ManualClock()).client()  # the SDK's own Message types, as against the API
    result = run_eval([sample], ["full", "sliding"], budget_tokens=1500, judge=Judge(client=client))
    graded = result.items.filter(result.items["category"] != 5)
    assert graded["judge_verdict"].null_count() == 0
    assert result.items.filter(result.items["category"] == 5)["judge_verdict"].null_count() == len(
        [q for q in sample.qa if q.category == 5]) * 2
    row = result.summary.row(0, named=True)
    assert row["judge_accuracy_lo"] <= row["judge_accuracy"] <= row["judge_accuracy_hi"]
    assert row["judge_accuracy"] == pytest.approx(graded.filter(graded["strategy"] == "full")["judge_verdict"].mean())
    assert -1 <= row["judge_agreement"] <= 1 and row["judge_requests"] == graded.height // 2
    assert result.kinds["judge calls"].requests == graded.height
    assert "judge_accuracy" in result.by_category.columns
    assert result.config["judge_prompt_sha256"] == load_prompt().sha256


def test_no_judge_keeps_the_columns_empty():
    result = run_eval([synthetic(40, seed=1)], ["sliding"], budget_tokens=1500)
    assert result.summary["judge_accuracy"].null_count() == result.summary.height
    assert result.items["judge_verdict"].null_count() == result.items.height


def test_the_stand_in_requires_every_part_of_a_multi_part_gold_answer():
    from convolab.sim.judge import decide
    assert not decide("baroque music and Noor Haddad", "Elena listens to baroque music while coding.")[0]
    assert decide("baroque music and Noor Haddad", "Baroque music. Noor Haddad designed the logo.")[0]


def test_the_stand_in_grades_an_outdated_value_stated_first_wrong():
    from convolab.sim.judge import decide
    correct, reason = decide("75", "Elena's project has 35 beta testers. Later 75 were mentioned.")
    assert not correct and "35" in reason
    assert decide("75", "Elena's project has signed up 75 beta testers.")[0]
