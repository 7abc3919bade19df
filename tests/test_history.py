from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab import Conversation, InvalidConversation
from convolab.history import HistoryIndex
from convolab.model import group_turns, tool_exchanges
from convolab.tokens import CharEstimate


def build(kinds: list[str]) -> Conversation:
    """u = plain user, a = assistant text, t = assistant tool_use + user tool_result."""
    conv = Conversation()
    for i, k in enumerate(kinds):
        if k == "u":
            conv.add("user", f"user message {i} " + "x" * (i % 7) * 4)
        elif k == "a":
            conv.add("assistant", f"assistant reply {i}")
        else:
            conv.add("assistant", [{"type": "tool_use", "id": f"t{i}", "name": "f", "input": {"i": i}}])
            conv.add("user", [{"type": "tool_result", "tool_use_id": f"t{i}", "content": f"r{i}"}])
    return conv


kinds = st.lists(st.sampled_from("uat"), min_size=1, max_size=40)


@given(kinds, st.integers(0, 60), st.integers(0, 12))
def test_window_cuts_only_at_turn_starts_and_keeps_limits(ks, budget, max_turns):
    conv = build(ks)
    idx = HistoryIndex(conv, CharEstimate())
    w = idx.window(budget_tokens=budget, max_turns=max_turns)
    starts = {t.start for t in group_turns(conv.messages)}
    assert w.empty or w.start in starts
    assert w.tokens <= budget
    assert w.turns <= max_turns
    assert w.tokens == sum(CharEstimate().count_message(m, model=conv.model) for m in conv.messages[w.start:w.end])
    kept = conv.messages[w.start:w.end]
    for ex in tool_exchanges(kept):  # no tool_use cut from its result
        assert ex.result_index is not None or ex.call_index == len(kept) - 1


@given(kinds, st.integers(0, 200))
def test_window_is_the_longest_that_fits(ks, budget):
    conv = build(ks)
    idx = HistoryIndex(conv, CharEstimate())
    w = idx.window(budget_tokens=budget)
    earlier = [t.start for t in group_turns(conv.messages) if t.start < w.start]
    if earlier:  # the next turn back would not have fit
        assert idx.tokens(earlier[-1]) > budget


def test_index_extends_incrementally_without_recounting():
    calls = []

    class Recording(CharEstimate):
        def count_message(self, message, *, model):
            calls.append(message.id)
            return super().count_message(message, model=model)

    conv = build(list("ua" * 50))
    idx = HistoryIndex(conv, Recording())
    assert idx.window(max_turns=3).turns == 3
    assert len(calls) == 100
    conv.add("user", "one more")
    w = idx.window(max_turns=2)
    assert len(calls) == 101
    assert (w.start, w.end, w.turns) == (98, 101, 2)


def test_rewritten_history_is_refused():
    conv = build(list("uaua"))
    idx = HistoryIndex(conv, CharEstimate())
    len(idx)
    conv.messages[-1] = build(["a"]).messages[0]
    with pytest.raises(InvalidConversation, match="append-only"):
        idx.window(max_turns=1)


def test_window_never_starts_on_assistant_or_tool_result():
    conv = build(list("uatatuatu"))
    idx = HistoryIndex(conv, CharEstimate())
    for n in range(1, 6):
        w = idx.window(max_turns=n)
        first = conv.messages[w.start]
        assert first.role == "user" and isinstance(first.content, str)
