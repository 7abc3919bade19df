"""Clocks for the simulator: real UTC time, or a manual clock tests and replays move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from convolab.errors import ConfigurationError


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        """Simulated latency does not move real time; nothing to do."""


class ManualClock:
    """A clock that moves only when told: ``advance(seconds)`` or ``set(when)``.

    >>> c = ManualClock(datetime(2026, 1, 1, tzinfo=UTC)); c.advance(301); c.now().minute
    5
    """

    def __init__(self, start: datetime | None = None):
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ConfigurationError("a clock only moves forward; use set() to jump")
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when < self._now:
            raise ConfigurationError(f"cannot move the clock back from {self._now} to {when}")
        self._now = when
