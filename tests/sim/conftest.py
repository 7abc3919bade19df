"""Shared fixtures of the simulator tests: an echoing responder, a simulator on a manual clock
that answers with it, and a real SDK client (no retries) on that simulator."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from convolab.sim import ManualClock, Simulator
from convolab.sim.responder import Reply


def _echo(request: dict[str, Any]) -> Reply:
    """Repeats the last message's text: ``"You said: <text>"``."""
    last = request["messages"][-1]["content"]
    text = " ".join(b.get("text", "") for b in last if b["type"] == "text") or "ok"
    return Reply([{"type": "text", "text": f"You said: {text}"}])


@pytest.fixture
def echo():
    return _echo


@pytest.fixture
def sim() -> Simulator:
    return Simulator(clock=ManualClock(), responder=_echo)


@pytest.fixture
def client(sim: Simulator) -> anthropic.Anthropic:
    return sim.client(max_retries=0)
