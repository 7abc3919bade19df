"""``convolab.client()``: the real API when a key is set, the simulator otherwise."""

from __future__ import annotations

import logging
import os
from typing import Any

import anthropic

log = logging.getLogger("convolab")


def client_kind() -> str:
    """``"anthropic"`` when ``ANTHROPIC_API_KEY`` is set (non-empty), else ``"simulated"``."""
    return "anthropic" if os.environ.get("ANTHROPIC_API_KEY", "").strip() else "simulated"


def client(**options: Any) -> anthropic.Anthropic:
    """A ready client: ``anthropic.Anthropic()`` with a key, else a simulated one.

    ``options`` go to ``anthropic.Anthropic`` for the real API, or to
    ``convolab.sim.Simulator`` (clock, seed, latency, faults, ...) for the simulator.
    The key is read by the SDK from the environment and never logged.
    """
    if client_kind() == "anthropic":
        log.info("convolab: using the real Anthropic API (ANTHROPIC_API_KEY is set)")
        return anthropic.Anthropic(**options)
    from convolab.sim import simulated_client

    log.info("convolab: using the simulated Claude (no ANTHROPIC_API_KEY set)")
    return simulated_client(**options)


def async_client(**options: Any) -> anthropic.AsyncAnthropic:
    """The async twin of ``client()``."""
    if client_kind() == "anthropic":
        log.info("convolab: using the real Anthropic API (ANTHROPIC_API_KEY is set)")
        return anthropic.AsyncAnthropic(**options)
    from convolab.sim import simulated_async_client

    log.info("convolab: using the simulated Claude (no ANTHROPIC_API_KEY set)")
    return simulated_async_client(**options)
