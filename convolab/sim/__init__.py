"""A deterministic, strict, cache-aware simulated Claude behind the real anthropic SDK.

>>> from convolab.sim import simulated_client
>>> client = simulated_client()
>>> reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=200,
...                                messages=[{"role": "user", "content": "Hi, I'm Ada."}])
>>> reply.usage.input_tokens > 0
True

The rules it models, their sources, and what it leaves out are in ``docs/simulator.md``.
"""

from __future__ import annotations

from typing import Any

import anthropic

from convolab.sim.clock import ManualClock, SystemClock
from convolab.sim.counter import SimTokenCounter
from convolab.sim.exchange import Exchange
from convolab.sim.server import Simulator
from convolab.sim.tokenizer import Tokenizer


def simulated_client(simulator: Simulator | None = None, *, max_retries: int = 2, **options: Any) -> anthropic.Anthropic:
    """A real ``anthropic.Anthropic`` client talking to ``simulator`` (a new one from ``options``)."""
    return (simulator or Simulator(**options)).client(max_retries=max_retries)


def simulated_async_client(simulator: Simulator | None = None, *, max_retries: int = 2,
                           **options: Any) -> anthropic.AsyncAnthropic:
    """A real ``anthropic.AsyncAnthropic`` client talking to ``simulator`` (a new one from ``options``)."""
    return (simulator or Simulator(**options)).async_client(max_retries=max_retries)


__all__ = ["Exchange", "ManualClock", "SimTokenCounter", "Simulator", "SystemClock", "Tokenizer",
           "simulated_async_client", "simulated_client"]
