"""Shared helpers of the strategy tests."""

from __future__ import annotations

import pytest


def _chat(strategy, conv, sim, questions, *, client=None):
    """Send each question through ``strategy`` to the simulator, append the reply, let the
    strategy observe the turn, and move the clock 20 s on; returns ``[(payload, reply), ...]``."""
    client = client or sim.client()
    out = []
    for q in questions:
        conv.add("user", q)
        p = strategy.build(conv, client=client)
        r = p.create(client)
        conv.add("assistant", r.content)
        strategy.observe(conv.turns()[-1], client=client, conversation=conv)
        out.append((p, r))
        sim.clock.advance(20)
    return out


@pytest.fixture
def chat():
    return _chat
