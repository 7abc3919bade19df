"""Billing internals: incremental flattening gives exactly what a fresh flatten gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from convolab.sim.billing import flatten
from convolab.sim.tokenizer import Tokenizer

TOK = Tokenizer()
texts = st.text(alphabet="abc 12.\n", min_size=1, max_size=20)
blocks = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": texts}), min_size=1, max_size=3)
messages = st.lists(st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["user", "assistant"]), blocks),
                    min_size=1, max_size=8)


def shape(prompt):
    return [(u.where, u.tokens, u.end_tokens, u.digest) for u in prompt.units], prompt.total, prompt.message_ends


@given(messages, messages, st.integers(0, 8))
def test_resumed_flatten_equals_a_fresh_one(first, tail, keep):
    keep = min(keep, len(first))
    second = first[:keep] + tail
    system = [{"type": "text", "text": "sys"}]
    before = flatten("m", TOK, tools=[], system=system, messages=first)
    resumed = flatten("m", TOK, tools=[], system=system, messages=second, resume=before, resume_messages=keep)
    fresh = flatten("m", TOK, tools=[], system=system, messages=second)
    assert shape(resumed) == shape(fresh)


def test_equal_prefixes_have_equal_digests_and_different_ones_differ():
    a = flatten("m", TOK, tools=[], system=[], messages=[{"role": "user", "content": [{"type": "text", "text": "x"}]}])
    b = flatten("m", TOK, tools=[], system=[], messages=[{"role": "user", "content": [{"type": "text", "text": "x"}]},
                                                          {"role": "assistant", "content": [{"type": "text", "text": "y"}]}])
    c = flatten("m", TOK, tools=[], system=[], messages=[{"role": "assistant", "content": [{"type": "text", "text": "x"}]}])
    assert a.units[0].digest == b.units[0].digest != c.units[0].digest  # the role is part of the key
