"""PostgresStore under load: concurrent sessions, one crowded conversation, racing processes."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from convolab import BudgetExceeded, Message
from convolab.stores import PostgresStore, Reservation, UsageEvent
from convolab.stores.migrations import MIGRATIONS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SESSIONS, TURNS = 8, 500
MODEL = "claude-sonnet-4-6"


@pytest.fixture
def pg_store(postgres_dsn):
    with PostgresStore(postgres_dsn, max_size=SESSIONS + 2) as store:
        yield store


def test_postgres_concurrent_sessions_lose_nothing(pg_store):
    """8 sessions x 500 turns, each turn the two transactions a ChatSession makes."""
    convs = [pg_store.create_conversation(f"user{s}", "s") for s in range(SESSIONS)]

    def session(s: int) -> None:
        cid, user = convs[s], f"user{s}"
        for t in range(TURNS):
            rid = f"{s}-{t}"
            pg_store.begin_turn(cid, [Message("user", f"q{s}.{t}")], user_id=user,
                                reservation=Reservation(rid, user, 0.01), daily_limit_usd=100.0)
            pg_store.finish_turn(cid, [Message("assistant", [{"type": "text", "text": f"a{s}.{t}"}])], user_id=user,
                                 usage=[UsageEvent(rid, user, MODEL, cost_usd=0.001)], strategy="window",
                                 strategy_state={"turn": t}, release=rid)

    with ThreadPoolExecutor(SESSIONS) as pool:
        list(pool.map(session, range(SESSIONS)))
    for s, cid in enumerate(convs):
        msgs = pg_store.get_messages(cid, user_id=f"user{s}")
        assert [m["seq"] for m in msgs] == list(range(2 * TURNS))
        assert [m["content"] for m in msgs[::2]] == [f"q{s}.{t}" for t in range(TURNS)]
        assert [m["content"][0]["text"] for m in msgs[1::2]] == [f"a{s}.{t}" for t in range(TURNS)]
        assert len(pg_store.usage_events(f"user{s}")) == TURNS
        assert pg_store.open_reservations(f"user{s}") == []
        assert pg_store.load_strategy_state(cid, user_id=f"user{s}") == {"turn": TURNS - 1}


def test_postgres_one_conversation_many_writers(pg_store):
    """8 threads x 500 appends into one conversation: seq gapless, each writer's order kept."""
    cid = pg_store.create_conversation("ada", "s")
    start = threading.Barrier(SESSIONS)

    def writer(w: int) -> None:
        start.wait()
        for i in range(TURNS):
            pg_store.append_message(cid, "user" if i % 2 == 0 else "assistant", f"{w}:{i}", user_id="ada")

    with ThreadPoolExecutor(SESSIONS) as pool:
        list(pool.map(writer, range(SESSIONS)))
    msgs = pg_store.get_messages(cid, user_id="ada")
    assert [m["seq"] for m in msgs] == list(range(SESSIONS * TURNS))
    for w in range(SESSIONS):
        assert [m["content"] for m in msgs if m["content"].split(":")[0] == str(w)] == [f"{w}:{i}" for i in range(TURNS)]
    assert pg_store.get_conversation(cid, user_id="ada").message_count == SESSIONS * TURNS


def _reserve_in_a_process(dsn: str, cid: str, i: int, day: datetime, barrier) -> bool:
    with PostgresStore(dsn, max_size=1) as store:
        barrier.wait()
        try:
            store.begin_turn(cid, [Message("user", f"p{i}")], user_id="ada",
                             reservation=Reservation(f"p{i}", "ada", 0.25, created_at=day),
                             daily_limit_usd=1.0, day_start=day)
            return True
        except BudgetExceeded:
            return False


def test_postgres_racing_processes_never_pass_the_budget(pg_store, postgres_dsn):
    cid = pg_store.create_conversation("ada", "s")
    day = datetime(2026, 9, 1, tzinfo=UTC)
    pg_store.record_usage(UsageEvent("spent", "ada", MODEL, cost_usd=0.25, created_at=day + timedelta(hours=1)))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(SESSIONS)
        with ctx.Pool(SESSIONS) as pool:
            admitted = pool.starmap(_reserve_in_a_process, [(postgres_dsn, cid, i, day, barrier) for i in range(SESSIONS)])
    assert sum(admitted) == 3  # 0.25 spent + 3 x 0.25 held = the 1.00 limit
    assert len(pg_store.open_reservations("ada")) == 3
    assert len(pg_store.get_messages(cid, user_id="ada")) == 3


def _open_in_a_process(dsn: str, barrier) -> int:
    barrier.wait()
    with PostgresStore(dsn, max_size=1) as store:
        return store.schema_version()


def test_postgres_processes_starting_at_once_migrate_once(postgres_dsn):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            assert pool.starmap(_open_in_a_process, [(postgres_dsn, barrier)] * 4) == [len(MIGRATIONS)] * 4
