"""The store protocols are small enough to fake on a screen, and code written against one of
them works with such a fake: ``CostTracker`` needs only a ``Ledger``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from convolab.costs import CostTracker
from convolab.errors import BudgetExceeded
from convolab.stores import ConversationStore, DuckDBStore, Ledger, Store
from convolab.stores.base import Reservation, UsageEvent


class FakeLedger:
    """A whole ``Ledger`` in a few dicts."""

    def __init__(self) -> None:
        self.events: dict[str, UsageEvent] = {}
        self.held: dict[str, Reservation] = {}

    def record_usage(self, event: UsageEvent) -> bool:
        if event.request_id in self.events:
            return False
        self.events[event.request_id] = replace(event, created_at=event.created_at or datetime.now(UTC))
        return True

    def usage_events(self, user_id, *, start=None, end=None, conversation_id=None):
        return [e for e in self.events.values() if e.user_id == user_id
                and (start is None or e.created_at >= start) and (end is None or e.created_at < end)
                and conversation_id in (None, e.conversation_id)]

    def spent_usd(self, user_id, *, start, end):
        return sum(e.cost_usd for e in self.usage_events(user_id, start=start, end=end))

    def reserve(self, reservation, *, daily_limit_usd=None, day_start=None):
        held = sum(r.amount_usd for r in self.held.values() if r.user_id == reservation.user_id)
        spent = self.spent_usd(reservation.user_id, start=day_start or datetime.min.replace(tzinfo=UTC),
                               end=datetime.max.replace(tzinfo=UTC))
        if daily_limit_usd is not None and spent + held + reservation.amount_usd > daily_limit_usd:
            raise BudgetExceeded(reservation.user_id, spent + held, reservation.amount_usd, daily_limit_usd)
        self.held[reservation.request_id] = replace(reservation, created_at=datetime.now(UTC))

    def open_reservations(self, user_id, *, conversation_id=None):
        return [r for r in self.held.values() if r.user_id == user_id and conversation_id in (None, r.conversation_id)]

    def release(self, request_id, *, user_id):
        self.held.pop(request_id, None)

    def book_reservation(self, request_id, *, user_id):
        r = self.held.pop(request_id, None)
        if r is None:
            return None
        event = UsageEvent(r.request_id, user_id, r.model or "", cost_usd=r.amount_usd, confirmed=False)
        self.record_usage(event)
        return event


def test_a_fake_ledger_is_a_ledger_and_not_a_store():
    assert isinstance(FakeLedger(), Ledger)
    assert not isinstance(FakeLedger(), ConversationStore) and not isinstance(FakeLedger(), Store)


def test_both_backends_are_all_three():
    with DuckDBStore(":memory:") as store:
        assert isinstance(store, Store) and isinstance(store, Ledger) and isinstance(store, ConversationStore)


def test_cost_tracker_works_on_the_ledger_protocol_alone():
    tracker = CostTracker(FakeLedger())
    tracker.record("ada", "claude-sonnet-4-6", 1000, 500, request_id="r1")
    tracker.record("ada", "claude-sonnet-4-6", 1000, 500, request_id="r1")  # the same request: once
    assert tracker.daily_cost("ada") == pytest.approx(0.0105)  # 1000 * $3/M + 500 * $15/M
    held = tracker.reserve("ada", "claude-sonnet-4-6", 1000, 1000, daily_limit_usd=1.0)
    assert tracker.day("ada").reserved_usd == pytest.approx(held.amount_usd)
    with pytest.raises(BudgetExceeded):
        tracker.reserve("ada", "claude-sonnet-4-6", 1000, 1000, daily_limit_usd=0.02)
    assert tracker.within_budget("ada", 1.0) and not tracker.within_budget("ada", 0.01)
