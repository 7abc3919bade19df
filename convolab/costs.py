"""``CostTracker``: what each user spent, read from the store's usage ledger, and budgets
enforced *before* a request is sent.

Costs kept in a process-memory dict are lost on restart, a price table without dates goes
stale, a silent fallback to another model's prices hides a missing row, and a budget checked
after spending is overrun by the request that crosses it. Here every billed request is a
``UsageEvent`` row (``request_id`` unique, so nothing is recorded twice) priced by
``convolab.pricing`` with cache writes and reads, and a request's worst case is reserved
against the day's limit in the same transaction that checks it.

>>> from convolab import CostTracker, DuckDBStore                      # doctest: +SKIP
>>> tracker = CostTracker(DuckDBStore(":memory:"))                     # doctest: +SKIP
>>> tracker.record("ada", "claude-sonnet-4-6", 1000, 500)              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from convolab.model import new_id
from convolab.pricing import PER, cost_usd, price_for, usage_tokens
from convolab.stores.base import Ledger, Reservation, UsageEvent


def usage_event(user_id: str, model: str, usage: Any, *, request_id: str | None = None,
                conversation_id: str | None = None, kind: str = "reply", response_id: str | None = None,
                at: datetime | None = None) -> UsageEvent:
    """A ledger row for one response's ``usage`` (the SDK's ``Usage`` or a dict with its keys),
    priced at ``at`` (default now, UTC)."""
    at = at or datetime.now(UTC)
    tokens = usage_tokens(usage)
    prompt = tokens["input"] + tokens["cache_write_5m"] + tokens["cache_write_1h"] + tokens["cache_read"]
    price = price_for(model, at=at, prompt_tokens=prompt)
    return UsageEvent(
        request_id=request_id or new_id(), user_id=user_id, model=model, input_tokens=tokens["input"],
        output_tokens=tokens["output"], cache_creation_input_tokens=tokens["cache_write_5m"] + tokens["cache_write_1h"],
        cache_read_input_tokens=tokens["cache_read"], cache_creation_5m_tokens=tokens["cache_write_5m"],
        cache_creation_1h_tokens=tokens["cache_write_1h"], cost_usd=cost_usd(model, usage, at),
        price_date=price.effective_from, conversation_id=conversation_id, kind=kind, response_id=response_id,
        created_at=at)


def worst_case_usd(model: str, input_tokens: int, max_tokens: int, *, cache_ttl: str | None = "5m",
                   at: datetime | None = None) -> float:
    """The most a request can cost: every input token billed at the dearer of the input and
    cache-write rates (a prompt may be written to the cache whole), and ``max_tokens`` of output."""
    p = price_for(model, at=at, prompt_tokens=input_tokens)
    write = {"5m": p.cache_write_5m, "1h": p.cache_write_1h}.get(cache_ttl or "", 0.0)
    return round((input_tokens * max(p.input, write) + max_tokens * p.output) / PER, 10)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def cache_ttl_of(request: dict[str, Any]) -> str | None:
    """The longest cache lifetime a request asks for (``"1h"``, ``"5m"``), or None when it has no
    ``cache_control`` at all (nothing can be written to the cache)."""
    ttls = set()

    def look(block: Any) -> None:
        if isinstance(block, dict):
            cc = block.get("cache_control")
            if isinstance(cc, dict):
                ttls.add(cc.get("ttl", "5m"))
            if isinstance(block.get("content"), list):  # a tool result's blocks
                for inner in block["content"]:
                    look(inner)

    look(request)  # the top-level (automatic) breakpoint
    blocks = [*_listed(request.get("system")), *_listed(request.get("tools"))]
    blocks += [b for m in request.get("messages", ()) for b in _listed(m.get("content"))]
    for block in blocks:
        look(block)
    return "1h" if "1h" in ttls else "5m" if ttls else None


def request_worst_case_usd(request: dict[str, Any], input_tokens: int, *, at: datetime | None = None) -> float:
    """``worst_case_usd`` of a Messages request (its model, ``max_tokens`` and cache lifetimes)
    whose input counts ``input_tokens``: what a session reserves before sending it."""
    return worst_case_usd(request["model"], input_tokens, request["max_tokens"], cache_ttl=cache_ttl_of(request),
                          at=at)


@dataclass
class DaySpend:
    """A user's day: ``spent_usd`` from the ledger, ``reserved_usd`` held by requests in flight;
    ``unconfirmed_usd`` is the part of ``spent_usd`` booked at reserved worst cases (requests whose
    outcome is unknown, ``UsageEvent.confirmed`` False)."""

    user_id: str
    day: date
    spent_usd: float
    reserved_usd: float
    unconfirmed_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.spent_usd + self.reserved_usd


class CostTracker:
    """Per-user, per-day costs from a store's ledger; days are UTC unless ``tz`` says otherwise.

    The familiar tracker's API: ``record(user_id, model, input_tokens, output_tokens)``,
    ``daily_cost(user_id, day=None)`` and ``within_budget(user_id, daily_limit_usd)``, now read
    from the store (shared by every process using it) and priced with cache writes and reads.
    """

    def __init__(self, store: Ledger, *, tz: tzinfo = UTC):
        self.store = store
        self.tz = tz

    # -- days ------------------------------------------------------------------------------
    def today(self) -> date:
        return datetime.now(self.tz).date()

    def day_start(self, day: date | None = None) -> datetime:
        """The first instant of ``day`` (default: today) in this tracker's time zone."""
        return datetime.combine(day or self.today(), time(0), tzinfo=self.tz)

    def _bounds(self, day: date | None) -> tuple[datetime, datetime]:
        start = self.day_start(day)
        return start, start + timedelta(days=1)

    # -- recording -------------------------------------------------------------------------
    def record(self, user_id: str, model: str, input_tokens: int, output_tokens: int, *,
               cache_creation_input_tokens: int = 0, cache_read_input_tokens: int = 0,
               request_id: str | None = None, conversation_id: str | None = None,
               at: datetime | None = None) -> UsageEvent:
        """Record one request (its model and token counts, plus cache tokens) and return its row.
        Recording the same ``request_id`` twice keeps the first row."""
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                 "cache_creation_input_tokens": cache_creation_input_tokens,
                 "cache_read_input_tokens": cache_read_input_tokens}
        return self.record_usage(user_id, model, usage, request_id=request_id, conversation_id=conversation_id,
                                 kind="manual", at=at)

    def record_usage(self, user_id: str, model: str, usage: Any, *, request_id: str | None = None,
                     conversation_id: str | None = None, kind: str = "reply", response_id: str | None = None,
                     at: datetime | None = None) -> UsageEvent:
        """Record a response's SDK ``Usage`` (or a dict with its keys)."""
        event = usage_event(user_id, model, usage, request_id=request_id, conversation_id=conversation_id,
                            kind=kind, response_id=response_id, at=at)
        self.store.record_usage(event)
        return event

    # -- reading ---------------------------------------------------------------------------
    def daily_cost(self, user_id: str, day: date | None = None) -> float:
        """USD the user spent on ``day`` (default: today), from the ledger."""
        start, end = self._bounds(day)
        return round(self.store.spent_usd(user_id, start=start, end=end), 10)

    def day(self, user_id: str, day: date | None = None) -> DaySpend:
        """Spent (of it, unconfirmed) and reserved (requests in flight or interrupted) on ``day``."""
        start, end = self._bounds(day)
        held = sum(r.amount_usd for r in self.store.open_reservations(user_id)
                   if r.created_at is not None and start <= r.created_at < end)
        unconfirmed = sum(e.cost_usd for e in self.unconfirmed(user_id, day))
        return DaySpend(user_id, start.date(), self.daily_cost(user_id, day), round(held, 10), round(unconfirmed, 10))

    def unconfirmed(self, user_id: str, day: date | None = None) -> list[UsageEvent]:
        """The day's ledger rows booked at a reserved worst case (their outcome unknown)."""
        return [e for e in self.events(user_id, day) if not e.confirmed]

    def within_budget(self, user_id: str, daily_limit_usd: float) -> bool:
        """Whether today's spend plus open reservations is still under the limit."""
        return self.day(user_id).total_usd < daily_limit_usd

    def events(self, user_id: str, day: date | None = None) -> list[UsageEvent]:
        start, end = self._bounds(day)
        return self.store.usage_events(user_id, start=start, end=end)

    # -- budgets ---------------------------------------------------------------------------
    def reserve(self, user_id: str, model: str, input_tokens: int, max_tokens: int, *, daily_limit_usd: float,
                request_id: str | None = None, conversation_id: str | None = None,
                cache_ttl: str | None = "5m") -> Reservation:
        """Hold a request's worst-case cost against today's limit; ``BudgetExceeded`` (and
        nothing held) when it would not fit. Settle with ``store.finish_turn(release=...)`` or
        ``store.release``."""
        res = Reservation(request_id or new_id(), user_id, worst_case_usd(model, input_tokens, max_tokens,
                                                                         cache_ttl=cache_ttl),
                          conversation_id=conversation_id, model=model)
        self.store.reserve(res, daily_limit_usd=daily_limit_usd, day_start=self.day_start())
        return res
