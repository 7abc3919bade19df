"""Widgets driven from code: ChatSessions on an in-memory DuckDB store and the simulator."""

from __future__ import annotations

import pytest

from convolab.session import ChatSession
from convolab.sim import ManualClock, Simulator
from convolab.strategies.registry import make_strategy

MODEL = "claude-sonnet-4-6"
# Over Sonnet 4.6's 1,024-token caching minimum, so the cache reads and writes show.
POLICY = " ".join(f"Rule {i}: quote fares in euros and name the airline for route {i}." for i in range(1, 90))


@pytest.fixture
def policy():
    return POLICY


@pytest.fixture
def make_session(store):
    def make(strategy="sliding", *, sim=None, system_prompt="You are a travel assistant.", cls=ChatSession, **kw):
        if isinstance(strategy, str):
            strategy = make_strategy(strategy, budget_tokens=kw.pop("budget_tokens", 4000))
        sim = sim or Simulator(clock=ManualClock())
        return cls(store=store, user_id="ada", strategy=strategy, client=sim.client(max_retries=0),
                   system_prompt=system_prompt, model=MODEL, **kw)

    return make
