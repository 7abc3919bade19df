"""The replay: teacher forcing, the clock, accounting against the simulator's bill, questions
that leave no trace, identical results in worker processes, the direct client."""

from __future__ import annotations

import pytest

from convolab.eval import replay_sample, run_eval
from convolab.model import group_turns
from convolab.pricing import cost_usd, usage_tokens
from convolab.sim import ManualClock, Simulator
from convolab.strategies import NAMES


def _simulator(sample, **kw) -> Simulator:
    return Simulator(clock=ManualClock(sample.conversation.messages[0].created_at), keep_history=100_000, **kw)


def _items(run) -> list[dict]:
    return [{k: v for k, v in i.items() if k != "build_ms"} for i in run.items]


@pytest.mark.parametrize("name", ["full", "summarizing", "memory"])
def test_accounting_equals_the_simulators_bill_side_calls_included(small, name):
    sim = _simulator(small)
    run = replay_sample(small, name, budget_tokens=2500, simulator=sim)
    billed = [ex for ex in sim.history if ex.status == 200]
    assert run.total.requests == len(billed) == run.turns + len(small.qa) + run.side.requests
    total = {k: sum(usage_tokens(ex.usage)[k] for ex in billed) for k in ("input", "cache_read", "output")}
    assert run.total.input_tokens == total["input"]
    assert run.total.cache_read_tokens == total["cache_read"]
    assert run.total.output_tokens == total["output"]
    assert run.total.cache_write_tokens == sum(ex.usage["cache_creation_input_tokens"] for ex in billed)
    assert run.total.cost_usd == pytest.approx(sum(cost_usd(ex.model, ex.usage) for ex in billed))
    if name != "full":
        assert run.side.requests > 0 and {ex.model for ex in billed} == {"claude-sonnet-4-6", "claude-haiku-4-5"}
    assert sum(i["input_tokens"] for i in run.items) <= run.qa.input_tokens


def test_teacher_forcing_sends_the_recorded_history_and_the_clock_follows_the_sessions(small):
    sim = _simulator(small, keep_requests=True)
    run = replay_sample(small, "full", simulator=sim)
    turns = [t for t in group_turns(small.conversation.messages) if t.messages[0].role == "user"]
    requests = [ex.request for ex in sim.history][:run.turns]
    assert run.turns == len(turns) == len(requests)
    src = small.conversation.messages
    for turn, request in zip(turns, requests, strict=True):
        assert [m["content"] for m in request["messages"]] == [m.content for m in src[:turn.start + 1]]
    # a new session starts days later: the 5-minute cache has expired, so nothing is read
    reads = [ex.usage["cache_read_input_tokens"] for ex in sim.history][:run.turns]
    starts = {s.message_ids[0] for s in small.sessions}
    for k, turn in enumerate(turns):
        if k and turn.messages[0].id in starts:
            assert reads[k] == 0
    assert sum(reads) > 0


@pytest.mark.parametrize("name", NAMES)
def test_questions_leave_no_trace_in_history_or_state(small, name):
    run = replay_sample(small, name, budget_tokens=2500, keep_requests=True)
    assert run.state_after_questions == run.state_before_questions
    assert len(small.conversation.messages) == len(small.conversation)  # the sample is untouched
    # the last question, asked after all the others, sees exactly what it sees when asked alone
    last = small.qa[-1]
    alone = replay_sample(small, name, budget_tokens=2500, keep_requests=True, qa=[last])
    assert alone.items[0]["request"] == run.items[-1]["request"]
    assert alone.items[0]["reply"] == run.items[-1]["reply"]
    for item in run.items:
        assert item["question"] not in str(item["request"]["messages"][:-1])


def test_a_last_user_message_without_a_recorded_reply_gets_the_models_reply(locomo_small):
    src = locomo_small.conversation.messages
    assert src[-1].role == "user"
    run = replay_sample(locomo_small, "full")
    assert run.turns == sum(1 for t in group_turns(src) if t.messages[0].role == "user")
    scored = [i for i in run.items if i["evidence_recall"] is not None]
    assert scored and all(i["evidence_recall"] == 1.0 for i in scored)  # full history sends every turn
    retrieval = replay_sample(locomo_small, "retrieval", budget_tokens=2500)
    assert retrieval.main.cache_read_tokens == 0 or retrieval.qa.requests == len(locomo_small.qa)
    assert sum(i["payload_tokens"] for i in retrieval.items) < sum(i["payload_tokens"] for i in run.items)


def test_replays_are_deterministic_and_the_direct_client_bills_like_the_sdk(small):
    for name in ("sliding", "memory", "compaction"):
        direct = replay_sample(small, name, budget_tokens=2500)
        again = replay_sample(small, name, budget_tokens=2500)
        sdk = replay_sample(small, name, budget_tokens=2500, sdk=True)
        assert _items(direct) == _items(again) == _items(sdk)
        assert direct.total == again.total == sdk.total
        assert direct.turn_input_tokens == sdk.turn_input_tokens


def test_jobs_give_the_serial_results(small):
    from convolab.datasets import synthetic

    samples = [small, synthetic(60, seed=5)]
    names = ["full", "summarizing", "retrieval"]
    serial = run_eval(samples, names, budget_tokens=2500, jobs=1)
    parallel = run_eval(samples, names, budget_tokens=2500, jobs=2)
    timing = ["build_ms_p50", "build_ms_p90"]
    assert serial.summary.drop(timing).equals(parallel.summary.drop(timing))
    assert serial.by_category.equals(parallel.by_category)
    assert serial.items.drop("build_ms").equals(parallel.items.drop("build_ms"))
    assert serial.runs.drop("build_ms_p50").equals(parallel.runs.drop("build_ms_p50"))
    assert serial.summary["strategy"].to_list() == names
    assert serial.items.height == len(names) * (len(samples[0].qa) + len(samples[1].qa))


def test_unknown_strategy_or_model_fails_before_anything_runs(small):
    from convolab.errors import ConfigurationError, UnknownModel

    with pytest.raises(ConfigurationError, match="unknown strategy 'bogus'"):
        run_eval([small], ["full", "bogus"])
    with pytest.raises(UnknownModel):
        run_eval([small], ["full"], model="claude-nope")


def test_a_summary_written_while_answering_is_billed_to_the_question_and_then_undone(small):
    from convolab.strategies import Summarizing

    def make():
        return Summarizing(budget_tokens=2500, keep_recent_turns=1, compress_at=50)

    run = replay_sample(small, make(), keep_requests=True)
    assert run.qa.requests > len(small.qa)  # each question's build summarized the last turn first
    assert run.state_after_questions == run.state_before_questions
    alone = replay_sample(small, make(), keep_requests=True, qa=[small.qa[-1]])
    assert alone.items[0]["request"] == run.items[-1]["request"]
