"""Taking a message back: ``retract`` (keep the indexes, trim what was added) must leave every
strategy exactly where ``forget`` (drop the indexes, rebuild them) does, and both must leave it
where it would be had the message never been added."""

from __future__ import annotations

import json

import pytest

from convolab.datasets import synthetic
from convolab.eval import DirectClient
from convolab.history import HistoryIndex
from convolab.model import Turn, group_turns
from convolab.sim import ManualClock, Simulator
from convolab.strategies import NAMES, make_strategy
from convolab.tokens import CharEstimate


def _replay(name: str, model: str, turns: int = 80):
    """A strategy that has seen ``turns`` of a synthetic conversation, the conversation, a client."""
    sample = synthetic(turns, seed=3)
    src = sample.conversation
    sim = Simulator(clock=ManualClock(src.messages[0].created_at))
    client = DirectClient(sim)
    strategy = make_strategy(name, budget_tokens=2500)
    from convolab.model import Conversation

    conv = Conversation(session_id="c", system_prompt=src.system_prompt, model=model, tools=src.tools)
    for turn in group_turns(src.messages):
        start = len(conv.messages)
        conv.extend(turn.messages)
        if turn.messages[0].role != "user":
            continue
        strategy.build(conv, client=client)
        strategy.observe(Turn(index=0, start=start, end=len(conv.messages), messages=tuple(conv.messages[start:])),
                         client=client, conversation=conv)
    return strategy, conv, client, sample


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-haiku-4-5"])  # haiku: compaction's fallback
@pytest.mark.parametrize("name", NAMES)
def test_retract_and_forget_leave_the_same_strategy(name, model):
    a, conv_a, client_a, sample = _replay(name, model)
    b, conv_b, client_b, _ = _replay(name, model)
    never, conv_n, client_n, _ = _replay(name, model)
    for k, item in enumerate(sample.qa[:4]):
        for s, conv, client, undo in ((a, conv_a, client_a, "retract"), (b, conv_b, client_b, "forget")):
            q = conv.add("user", item.question, id=f"q{k}")
            s.build(conv, client=client)
            conv.discard_last(q)
            getattr(s, undo)(conv)
    for conv in (conv_a, conv_b, conv_n):
        conv.add("user", "And what did I say about my plans?", id="next")
    requests = [json.dumps(s.build(conv, client=client).request, sort_keys=True, default=str)
                for s, conv, client in ((a, conv_a, client_a), (b, conv_b, client_b), (never, conv_n, client_n))]
    assert requests[0] == requests[1] == requests[2]


def test_history_index_truncate_equals_a_fresh_index():
    conv = synthetic(60, seed=5).conversation
    idx = HistoryIndex(conv, CharEstimate())
    len(idx)
    added = [conv.add("user", f"question {k} about the garden") for k in range(3)]
    assert len(idx) == len(conv.messages)
    for m in reversed(added):
        conv.discard_last(m)
    idx.truncate()
    fresh = HistoryIndex(conv, CharEstimate())
    assert len(idx) == len(fresh) == len(conv.messages)
    assert idx.turn_starts == fresh.turn_starts
    assert [idx.tokens(0, k) for k in range(len(conv.messages))] == [fresh.tokens(0, k) for k in range(len(conv.messages))]
    conv.add("user", "one more")
    assert len(idx) == len(conv.messages)  # keeps indexing after a truncate


def test_retract_works_while_a_profiler_holds_the_ranking_frames():
    """A sampling profiler (a Dask worker's) keeps frames alive, with their locals: the semantic
    ranking's arrays must not pin the index's buffers, or taking the question back fails."""
    import sys

    strategy, conv, client, _ = _replay("retrieval", "claude-sonnet-4-6", turns=40)
    held = []

    def keep(frame, event, arg):
        if event == "return" and frame.f_code.co_name == "semantic":
            held.append(frame)

    question = conv.add("user", "What did we decide about the launch date?")
    sys.setprofile(keep)
    try:
        strategy.build(conv, client=client)
    finally:
        sys.setprofile(None)
    assert held, "the semantic ranking did not run: the test would prove nothing"
    conv.discard_last(question)
    strategy.retract(conv)  # raised BufferError while `held` kept a view of the index's array
