"""ChatSession, AsyncChatSession and CostTracker against a real DuckDB store and the simulator."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime

import anthropic
import pytest

from convolab import BudgetExceeded, ContextOverflow, NotFound
from convolab.async_session import AsyncChatSession
from convolab.costs import CostTracker, worst_case_usd
from convolab.session import ChatSession, SentTurn
from convolab.sim import ManualClock, Simulator
from convolab.stores.duckdb import DuckDBStore
from convolab.strategies import FullHistory, SlidingWindow, StructuredMemory, Summarizing

MODEL = "claude-sonnet-4-6"


@pytest.fixture
def store():
    s = DuckDBStore(":memory:")
    yield s
    s.close()


@pytest.fixture
def sim():
    return Simulator(clock=ManualClock())


def session(store, sim, **kw) -> ChatSession:
    kw.setdefault("strategy", FullHistory())
    return ChatSession(store=store, user_id="ada", client=sim.client(), system_prompt="You are terse.",
                       model=MODEL, **kw)


def test_send_persists_both_messages_usage_and_state_before_returning(store, sim):
    s = session(store, sim)
    turn = s.send("Hi, my name is Ada and I live in Lisbon.")
    assert isinstance(turn, SentTurn) and turn.reply and "Ada" in turn.reply
    rows = store.get_recent_messages(s.conversation_id, user_id="ada")
    assert [r["role"] for r in rows] == ["user", "assistant"]
    assert rows[0]["content"] == "Hi, my name is Ada and I live in Lisbon."
    assert rows[1]["id"] == turn.messages[-1].id
    (event,) = store.usage_events("ada", conversation_id=s.conversation_id)
    assert event.request_id == turn.request_id and event.kind == "reply"
    assert event.input_tokens == turn.usage.input_tokens and event.cost_usd == turn.cost_usd > 0
    assert store.load_strategy_state(s.conversation_id, user_id="ada", strategy="full")["strategy"] == "full"
    # the request carried the idempotency key that the ledger uses as request_id
    assert sim.history[-1].idempotency_key == turn.request_id


def test_resume_restores_history_and_strategy_state(store, sim):
    s = ChatSession(store=store, user_id="ada", client=sim.client(), model=MODEL,
                    strategy=StructuredMemory(budget_tokens=4000, keep_recent_turns=1))
    s.send("My name is Priya and my favourite colour is teal.")
    s.send("The weather is mild today.")
    again = ChatSession.resume(store, s.conversation_id, user_id="ada", client=sim.client(),
                               strategy=StructuredMemory(budget_tokens=4000, keep_recent_turns=1))
    assert [m.id for m in again.conversation.messages] == [m.id for m in s.conversation.messages]
    assert again.strategy.facts() == s.strategy.facts()
    assert {f["topic"]: f["what"] for f in again.strategy.facts()["facts"]}["name"].endswith("name is Priya.")
    assert not again.recovered
    turn = again.send("What is my favourite colour?")
    assert "teal" in turn.reply  # from the restored memory: turn 1 is outside the window
    assert s.conversation.messages[0].id in turn.payload.left_out


def test_another_user_cannot_resume(store, sim):
    s = session(store, sim)
    s.send("Hello")
    with pytest.raises(NotFound):
        ChatSession.resume(store, s.conversation_id, user_id="mallory", client=sim.client())


def test_api_error_keeps_the_user_message_and_sends_it_again_merged(store):
    sim = Simulator(clock=ManualClock(), faults=[529, 529, 529])
    s = session(store, sim, daily_budget_usd=1.0)
    with pytest.raises(anthropic.InternalServerError):
        s.send("My sister is called Ilse.")
    rows = store.get_recent_messages(s.conversation_id, user_id="ada")
    assert [r["role"] for r in rows] == ["user"]  # stored, never lost
    assert not store.open_reservations("ada")  # the refused request holds no money
    assert s.unanswered()[0].text == "My sister is called Ilse."
    turn = s.send("What is my sister called?")
    assert turn.resent == (rows[0]["id"],)
    assert "Ilse" in turn.reply
    sent = turn.payload.request["messages"]
    assert len(sent) == 1 and "Ilse" in str(sent[0]["content"])  # one merged user message
    assert [r["role"] for r in store.get_recent_messages(s.conversation_id, user_id="ada")] == ["user", "user", "assistant"]


def test_resume_reports_and_releases_what_a_crash_left(store, sim):
    s = session(store, sim, daily_budget_usd=1.0)
    s.send("First message.")
    # a crash after the first transaction: the user message and its reservation are stored
    from convolab.model import Message
    from convolab.stores.base import Reservation

    orphan = Message("user", "Remember: the deadline is May 3.")
    store.begin_turn(s.conversation_id, [orphan], user_id="ada",
                     reservation=Reservation("req-crashed", "ada", 0.05, conversation_id=s.conversation_id))
    again = ChatSession.resume(store, s.conversation_id, user_id="ada", client=sim.client(), strategy=FullHistory())
    assert [m.id for m in again.recovered.unanswered] == [orphan.id]
    assert [r.request_id for r in again.recovered.released] == ["req-crashed"]
    assert not store.open_reservations("ada")
    assert "May 3" in again.chat("When is the deadline?")


def test_budget_is_enforced_before_the_call_and_nothing_is_written(store, sim):
    s = session(store, sim, daily_budget_usd=0.0001)
    before = len(sim.history)
    with pytest.raises(BudgetExceeded) as err:
        s.send("Hello there")
    assert len(sim.history) == before  # not sent
    assert err.value.limit_usd == 0.0001 and err.value.reserved_usd > 0.0001
    assert store.get_recent_messages(s.conversation_id, user_id="ada") == []
    assert s.conversation.messages == []
    s.daily_budget_usd = 1.0
    assert s.send("Hello again").reply  # the session is still usable after a refusal


def test_context_overflow_writes_nothing_and_the_session_goes_on(store, sim):
    s = session(store, sim, strategy=SlidingWindow(budget_tokens=300))
    with pytest.raises(ContextOverflow):
        s.send("word " * 2000)
    assert store.get_recent_messages(s.conversation_id, user_id="ada") == []
    assert s.send("short").reply


def test_concurrent_sessions_of_one_user_cannot_overspend(store):
    sim = Simulator(clock=ManualClock())
    limit = 0.05
    one = worst_case_usd(MODEL, 40, 1024)
    sessions = [session(store, sim, daily_budget_usd=limit) for _ in range(8)]
    refused = []

    def run(s):
        for _ in range(6):
            try:
                s.send("Hi")
            except BudgetExceeded:
                refused.append(s)

    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracker = CostTracker(store)
    assert refused, "the limit is reached"
    assert tracker.daily_cost("ada") <= limit
    assert tracker.day("ada").reserved_usd == 0
    assert one > 0


def test_side_calls_are_in_the_ledger(store, sim):
    s = session(store, sim, strategy=Summarizing(budget_tokens=600, keep_recent_turns=1, compress_at=100))
    for i in range(8):
        s.send(f"Update {i}: the plan for stage {i} is to review draft {i} with Omar on day {i + 1}.")
    kinds = [e.kind for e in s.usage()]
    assert "summary" in kinds and kinds.count("reply") == 8
    assert s.stats["side_cost_usd"] > 0
    assert s.stats["cost_usd"] == pytest.approx(sum(e.cost_usd for e in s.usage()), abs=1e-6)


def test_stats_keep_the_chapter_shape(store, sim):
    s = session(store, sim, strategy=SlidingWindow(max_turns=2))
    for i in range(4):
        s.chat(f"Message {i}")
    st = s.stats
    assert st["turns"] == 4 and st["messages"] == 8 and st["strategy"] == "sliding"
    assert st["last_sent_messages"] == 3 and st["last_left_out"] == 4
    assert st["input_tokens"] + st["cache_read_tokens"] + st["cache_write_tokens"] > 0


# -- costs ----------------------------------------------------------------------------------

def test_cost_tracker_reproduces_the_chapter_example_at_todays_prices(store):
    """The chapter's growth example (600, 1,800 and 6,600 input tokens at turns 1, 5 and 20),
    priced today: Sonnet 4.6 $3/M input and $15/M output, Opus 4.6 $5/$25 (the chapter says
    $15/$75), Haiku 4.5 $1/$5 (the chapter says $0.25/$1.25)."""
    tracker = CostTracker(store)
    day = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for model in ("claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5"):
        for tokens in (600, 1800, 6600):
            tracker.record(f"u-{model}", model, tokens, 100, at=day)
    assert tracker.daily_cost("u-claude-sonnet-4-6", date(2026, 11, 20)) == pytest.approx(9000 * 3e-6 + 300 * 15e-6)
    assert tracker.daily_cost("u-claude-opus-4-6", date(2026, 11, 20)) == pytest.approx(9000 * 5e-6 + 300 * 25e-6)
    assert tracker.daily_cost("u-claude-haiku-4-5", date(2026, 11, 20)) == pytest.approx(9000 * 1e-6 + 300 * 5e-6)
    assert tracker.daily_cost("u-claude-opus-4-6", date(2026, 11, 21)) == 0


def test_record_twice_with_one_request_id_bills_once(store):
    tracker = CostTracker(store)
    tracker.record("ada", MODEL, 1000, 500, cache_creation_input_tokens=2000, cache_read_input_tokens=10000,
                   request_id="r1")
    tracker.record("ada", MODEL, 1000, 500, request_id="r1")
    assert tracker.daily_cost("ada") == pytest.approx(0.021)  # the example, once
    assert tracker.within_budget("ada", 0.03) and not tracker.within_budget("ada", 0.02)


# -- async ----------------------------------------------------------------------------------

def test_async_session_mirrors_the_persistent_assistant(store):
    sim = Simulator(clock=ManualClock())

    async def main():
        async with AsyncChatSession(store, client=sim.async_client(), model=MODEL, max_context_tokens=700,
                                    summarize_after=12) as bot:
            sid = await bot.start_session("ada", "You are a project assistant.")
            first = await bot.chat(sid, "My budget is 4,200 euros and the report must use metric units.", user_id="ada")
            for i in range(14):
                await bot.chat(sid, f"Status {i}: task {i} moved forward, Omar reviewed draft {i} on day {i + 1}.",
                               user_id="ada")
            return sid, first, bot

    sid, first, bot = asyncio.run(main())
    assert first.reply
    assert not bot._tasks and not bot.errors  # aclose() waited for the background summaries
    summaries = store.get_summaries(sid, user_id="ada")
    assert summaries and summaries[-1]["covers"]
    assert "4,200" in store.get_latest_summary(sid, user_id="ada")
    rows = store.get_messages(sid, user_id="ada")
    assert len(rows) == 30 and [r["seq"] for r in rows] == list(range(30))
    kinds = {e.kind for e in store.usage_events("ada", conversation_id=sid)}
    assert kinds == {"reply", "summary"}
    requests = [e for e in sim.history if e.model == MODEL]
    assert all(e.status == 200 for e in requests)


def test_switching_strategy_keeps_the_conversation_and_restores_stored_state(store, sim):
    s = session(store, sim, strategy=StructuredMemory(budget_tokens=3000, keep_recent_turns=1))
    s.send("My favourite colour is teal.")
    s.switch_strategy(SlidingWindow(max_turns=1))
    turn = s.send("Some small talk.")
    assert turn.payload.strategy == "sliding" and len(s.conversation.messages) == 4
    s.switch_strategy(StructuredMemory(budget_tokens=3000, keep_recent_turns=1))
    assert s.strategy.facts()["facts"]  # restored from the store, not started again
    assert "teal" in s.send("What is my favourite colour?").reply
    assert [e.kind for e in s.usage()].count("memory") == 2  # side calls of both memory turns, once each
