"""Injected faults and latency: what the real API does on a bad day, reproducibly.

``faults`` takes either a schedule, one entry per request in order (``None`` for a normal
answer; ``429``, ``529``, ``500``, ``504``, ``"spend_limit"``, ``"timeout"`` or ``"lost"``), or
a dict of rates such as ``{"429": 0.05, "529": 0.01, "timeout": 0.01}`` drawn from a seeded
generator. A 429 carries ``retry-after`` (seconds) and ``retry-after-ms`` headers, as the API's
rate limiter does; the SDK's own retry logic reads them. ``"spend_limit"`` is the 429 the API
answers once the organization's monthly spend cap is reached (rate limits page): no
``retry-after``, ``error.details.error_code`` ``enforced_spend_limit_reached``, access back on the
first day of the next month. ``504`` is ``timeout_error`` (errors page). ``"timeout"`` fails
before the request is processed; ``"lost"`` processes and bills it, then drops the response (the
client sees a read timeout and retries): the case an idempotency key exists for.

``latency`` is simulated time added to the simulator's clock per request: a number of
seconds, or a dict ``{"base": s, "per_input_token": s, "per_output_token": s}``. Real
sleeping is off unless ``real_sleep=True``, so tests stay fast and replays deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from convolab.errors import ConfigurationError
from convolab.sim.api_error import ApiError

FAULT_KINDS = {429, 500, 504, 529, "spend_limit", "timeout", "lost"}
FAULT_NAMES = "None, 429, 500, 504, 529, 'spend_limit', 'timeout' or 'lost'"


class SimulatedTimeout(Exception):
    """Raised by the transport to make the SDK see a read timeout."""


class FaultPlan:
    """Decides, per request number, whether to fail and how."""

    def __init__(self, faults: Sequence[Any] | Mapping[Any, float] | None = None, *, seed: int = 0,
                 retry_after: float = 0.01):
        self.schedule: list[Any] | None = None
        self.rates: dict[Any, float] = {}
        self.retry_after = retry_after
        self._rng = random.Random(seed)
        if faults is None:
            return
        if isinstance(faults, Mapping):
            for k, v in faults.items():
                kind = int(k) if str(k).isdigit() else k
                if kind not in FAULT_KINDS:
                    raise ConfigurationError(f"unknown fault {k!r}; use one of {FAULT_NAMES}")
                self.rates[kind] = float(v)
            if sum(self.rates.values()) > 1:
                raise ConfigurationError("fault rates add up to more than 1")
        else:
            self.schedule = list(faults)
            bad = [f for f in self.schedule if f is not None and f not in FAULT_KINDS]
            if bad:
                raise ConfigurationError(f"unknown faults in schedule: {bad!r}; use {FAULT_NAMES}")

    def pick(self, n: int) -> Any:
        """The fault for request number ``n`` (0-based), or None."""
        if self.schedule is not None:
            return self.schedule[n] if n < len(self.schedule) else None
        if not self.rates:
            return None
        x = self._rng.random()
        for kind, rate in self.rates.items():
            if x < rate:
                return kind
            x -= rate
        return None

    def raise_for(self, kind: Any, now: datetime | None = None) -> None:
        """Fail before processing (``"lost"`` fails after, in the simulator's handler); ``now``
        dates the end of a spend-limit pause."""
        if kind is None or kind == "lost":
            return
        if kind == "timeout":
            raise SimulatedTimeout("simulated read timeout")
        if kind == "spend_limit":
            raise _spend_limit(now or datetime.now())
        if kind == 504:
            raise ApiError(504, "timeout_error", "The request timed out while processing (simulated). "
                           "Consider streaming for long-running requests.")
        if kind == 429:
            secs = self.retry_after
            raise ApiError(429, "rate_limit_error",
                           "This request would exceed your organization's rate limit (simulated). "
                           "Retry after the time in the retry-after header.",
                           headers={"retry-after": f"{max(secs, 0.0):g}", "retry-after-ms": f"{secs * 1000:g}"})
        if kind == 529:
            raise ApiError(529, "overloaded_error", "Overloaded (simulated)")
        raise ApiError(500, "api_error", "Internal server error (simulated)")


def _spend_limit(now: datetime) -> ApiError:
    first = now.date().replace(day=1)
    resume = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return ApiError(429, "rate_limit_error",
                    "You have reached your API usage limits: your organization has crossed its monthly API usage "
                    f"threshold, set based on your organization's API tier. You will regain access on "
                    f"{resume.isoformat()} at 00:00 UTC. (simulated)",
                    details={"error_code": "enforced_spend_limit_reached"})


class Latency:
    """Simulated seconds a request takes."""

    def __init__(self, spec: float | Mapping[str, float] | None = None):
        if spec is None:
            spec = 0.0
        if isinstance(spec, int | float):
            spec = {"base": float(spec)}
        unknown = set(spec) - {"base", "per_input_token", "per_output_token"}
        if unknown:
            raise ConfigurationError(f"unknown latency keys {sorted(unknown)}; use base, per_input_token, per_output_token")
        self.base = spec.get("base", 0.0)
        self.per_in = spec.get("per_input_token", 0.0)
        self.per_out = spec.get("per_output_token", 0.0)

    def seconds(self, input_tokens: int, output_tokens: int) -> float:
        return self.base + self.per_in * input_tokens + self.per_out * output_tokens
