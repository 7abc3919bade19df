"""ChatSession and CostTracker against a real DuckDB store and the simulator.

Every session test runs through ``drive``: the same test for the synchronous ``ChatSession`` and
for ``AsyncChatSession``.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime

import anthropic
import pytest

from convolab import BudgetExceeded, ConfigurationError, ContextOverflow, NotFound
from convolab.async_session import AsyncChatSession, PersistentAssistant
from convolab.blocks import SUMMARY_MARKER
from convolab.costs import CostTracker
from convolab.errors import InvalidMessage
from convolab.model import Message, unanswered
from convolab.repair import repair_messages
from convolab.session import ChatSession, SentTurn
from convolab.sim import ManualClock, SimTokenCounter, Simulator
from convolab.stores.base import Reservation
from convolab.strategies import (
    NAMES,
    FullHistory,
    Retrieval,
    ServerCompaction,
    SlidingWindow,
    StructuredMemory,
    Summarizing,
    make_strategy,
)
from convolab.strategies.base import CachePlan, Payload, Strategy

MODEL = "claude-sonnet-4-6"
TOOLS = [{"name": "lookup", "description": "Look a word up.", "input_schema": {"type": "object"}}]


class Sync:
    """Opens, resumes and drives a ``ChatSession``."""

    def close(self):
        pass

    def open(self, store, sim, *, user_id="ada", max_retries=2, model=MODEL, **kw):
        kw.setdefault("strategy", FullHistory())
        return ChatSession(store=store, user_id=user_id, client=sim.client(max_retries=max_retries),
                           system_prompt="You are terse.", model=model, **kw)

    def resume(self, store, cid, sim, *, user_id="ada", strategy=None, **kw):
        return ChatSession.resume(store, cid, user_id=user_id, client=sim.client(), strategy=strategy or FullHistory(),
                                  **kw)

    def send(self, s, content):
        return s.send(content)

    def switch(self, s, strategy):
        s.switch_strategy(strategy)

    def usage(self, s):
        return s.usage()

    def stats(self, s):
        return s.stats

    def history(self, s):
        return s.history()

    def concurrently(self, sessions, texts):
        """Each session sends ``texts(k)`` in its own thread; the ``BudgetExceeded`` raised."""
        refused = []

        def run(s, k):
            for text in texts(k):
                try:
                    s.send(text)
                except BudgetExceeded as e:
                    refused.append(e)

        threads = [threading.Thread(target=run, args=(s, k)) for k, s in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return refused


class Async:
    """Opens, resumes and drives an ``AsyncChatSession`` on an event loop of its own."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()

    def close(self):
        self.loop.close()

    def wait(self, coro):
        return self.loop.run_until_complete(coro)

    def open(self, store, sim, *, user_id="ada", max_retries=2, model=MODEL, **kw):
        kw.setdefault("strategy", FullHistory())
        s = AsyncChatSession(store=store, user_id=user_id, client=sim.async_client(max_retries=max_retries),
                             system_prompt="You are terse.", model=model, **kw)
        return self.wait(s.open())

    def resume(self, store, cid, sim, *, user_id="ada", strategy=None, **kw):
        return self.wait(AsyncChatSession.resume(store, cid, user_id=user_id, client=sim.async_client(),
                                                 strategy=strategy or FullHistory(), **kw))

    def send(self, s, content):
        return self.wait(s.send(content))

    def switch(self, s, strategy):
        self.wait(s.switch_strategy(strategy))

    def usage(self, s):
        return self.wait(s.usage())

    def stats(self, s):
        return self.wait(s.stats())

    def history(self, s):
        return self.wait(s.history())

    def concurrently(self, sessions, texts):
        """Each session sends ``texts(k)`` in a task of its own; the ``BudgetExceeded`` raised."""
        refused = []

        async def run(s, k):
            for text in texts(k):
                try:
                    await s.send(text)
                except BudgetExceeded as e:
                    refused.append(e)

        async def main():
            await asyncio.gather(*(run(s, k) for k, s in enumerate(sessions)))

        self.wait(main())
        return refused


@pytest.fixture(params=[Sync, Async], ids=["sync", "async"])
def drive(request):
    d = request.param()
    yield d
    d.close()


@pytest.fixture
def sim():
    return Simulator(clock=ManualClock(), keep_requests=True)


def test_send_persists_both_messages_usage_and_state_before_returning(drive, store, sim):
    s = drive.open(store, sim)
    turn = drive.send(s, "Hi, my name is Ada and I live in Lisbon.")
    assert isinstance(turn, SentTurn) and turn.reply and "Ada" in turn.reply
    rows = store.get_recent_messages(s.conversation_id, user_id="ada")
    assert [r["role"] for r in rows] == ["user", "assistant"]
    assert rows[0]["content"] == "Hi, my name is Ada and I live in Lisbon."
    assert rows[1]["id"] == turn.messages[-1].id
    (event,) = store.usage_events("ada", conversation_id=s.conversation_id)
    assert event.request_id == turn.request_id and event.kind == "reply" and event.confirmed
    assert event.input_tokens == turn.usage.input_tokens and event.cost_usd == turn.cost_usd > 0
    assert store.load_strategy_state(s.conversation_id, user_id="ada", strategy="full")["strategy"] == "full"
    assert not store.open_reservations("ada")
    # the request carried the idempotency key that the ledger uses as request_id
    assert sim.history[-1].idempotency_key == turn.request_id


def test_turn_indexes_count_the_conversations_turns(drive, store, sim):
    s = drive.open(store, sim)
    assert [drive.send(s, f"Message {i}").index for i in range(3)] == [0, 1, 2]
    again = drive.resume(store, s.conversation_id, sim)
    assert drive.send(again, "Message 3").index == 3


def test_resume_restores_history_and_strategy_state(drive, store, sim):
    s = drive.open(store, sim, strategy=StructuredMemory(budget_tokens=4000, keep_recent_turns=1))
    drive.send(s, "My name is Priya and my favourite colour is teal.")
    drive.send(s, "The weather is mild today.")
    again = drive.resume(store, s.conversation_id, sim, strategy=StructuredMemory(budget_tokens=4000,
                                                                                   keep_recent_turns=1))
    assert [m.id for m in again.conversation.messages] == [m.id for m in s.conversation.messages]
    assert again.strategy.facts() == s.strategy.facts()
    assert {f["topic"]: f["what"] for f in again.strategy.facts()["facts"]}["name"].endswith("name is Priya.")
    assert not again.recovered
    turn = drive.send(again, "What is my favourite colour?")
    assert "teal" in turn.reply  # from the restored memory: turn 1 is outside the window
    assert s.conversation.messages[0].id in turn.payload.left_out


def test_another_user_cannot_resume(drive, store, sim):
    s = drive.open(store, sim)
    drive.send(s, "Hello")
    with pytest.raises(NotFound):
        drive.resume(store, s.conversation_id, sim, user_id="mallory")


def test_a_strategy_by_name(drive, store, sim):
    s = drive.open(store, sim, strategy="sliding")
    assert isinstance(s.strategy, SlidingWindow)
    assert drive.send(s, "Hello").payload.strategy == "sliding"
    drive.switch(s, "full")
    assert drive.send(s, "Hello again").payload.strategy == "full"
    with pytest.raises(ConfigurationError, match="unknown strategy 'nope'"):
        drive.open(store, sim, strategy="nope")
    with pytest.raises(ConfigurationError, match="Strategy or its name"):
        drive.open(store, sim, strategy=42)


# -- bad input: nothing stored, the conversation goes on ---------------------------------------

INVALID = [
    ([{"type": "text", "text": "hi", "cache_control": {"type": "bogus"}}], "content[0].cache_control.type"),
    ([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "2h"}}],
     "content[0].cache_control.ttl"),
    ([{"type": "video", "source": "x"}], "content[0].type"),
    ([{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}], "content[0].type"),
    ([{"type": "tool_result", "tool_use_id": "t9", "content": "42"}], "content[0].tool_use_id"),
    ([{"type": "text", "text": "see"}, {"type": "image", "source": {"type": "base64", "media_type": "image/bmp",
                                                                   "data": "Qk0="}}], "content[1].source.media_type"),
    ([{"type": "text"}], "content[0].text"),
    ([{"type": "text", "text": " \n\t"}], "content[0].text"),
    ([], "content"),
    ("", "content"),
    ("   \n  ", "content"),
    ("lone \ud83d surrogate", "content"),
    ([{"type": "text", "text": "ok", "citations": ["\udc00"]}], "content[0].citations[0]"),
    (42, "content"),
]


@pytest.mark.parametrize(("content", "path"), INVALID, ids=[p + f"-{i}" for i, (_, p) in enumerate(INVALID)])
def test_invalid_content_is_refused_by_path_and_nothing_is_stored(drive, store, sim, content, path):
    s = drive.open(store, sim, tools=TOOLS)
    drive.send(s, "First.")
    before = len(sim.history)
    with pytest.raises(InvalidMessage) as err:
        drive.send(s, content)
    assert err.value.path == path and str(err.value).startswith(f"{path}: ")
    assert len(sim.history) == before  # nothing sent
    assert len(store.get_messages(s.conversation_id, user_id="ada")) == 2  # nothing stored
    assert len(s.conversation.messages) == 2 and not store.open_reservations("ada")
    assert drive.send(s, "hello").reply
    again = drive.resume(store, s.conversation_id, sim)
    assert not again.recovered and drive.send(again, "hello").reply


def test_tool_results_are_taken_where_the_api_allows_them(drive, store, sim):
    s = drive.open(store, sim, tools=TOOLS)
    drive.send(s, "Please call lookup with the word 'tea'.")  # the simulator calls the tool when asked
    calls = [b["id"] for b in s.conversation.messages[-1].content if b["type"] == "tool_use"]
    assert calls, "the simulator made a tool call"
    with pytest.raises(InvalidMessage, match="come first"):
        drive.send(s, [{"type": "text", "text": "here"}, {"type": "tool_result", "tool_use_id": calls[0],
                                                         "content": "a drink"}])
    turn = drive.send(s, [{"type": "tool_result", "tool_use_id": calls[0], "content": "a drink"}])
    assert turn.reply


def test_a_request_the_api_rejects_marks_the_message_and_the_conversation_goes_on(drive, store, sim):
    s = drive.open(store, sim)  # FullHistory caches its system prompt for 5 minutes ...
    drive.send(s, "First message.")
    bad = [{"type": "text", "text": "Keep this for an hour.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    with pytest.raises(anthropic.BadRequestError) as err:  # ... and the API refuses a 1h breakpoint after it
        drive.send(s, bad)
    assert any("stored as rejected" in note for note in err.value.__notes__)
    rows = store.get_messages(s.conversation_id, user_id="ada")
    assert [r["role"] for r in rows] == ["user", "assistant", "user"]
    assert "ttl='1h'" in rows[-1]["rejected"]  # kept, with the API's reason
    assert not store.open_reservations("ada") and len(store.usage_events("ada")) == 1  # nothing billed
    assert len(s.conversation.messages) == 2 and not s.unanswered()
    turn = drive.send(s, "hello")
    assert turn.reply and "Keep this" not in turn.payload.to_json()
    again = drive.resume(store, s.conversation_id, sim)
    assert [m.id for m in again.recovered.rejected] == [rows[-1]["id"]]
    assert "rejected by the API" in str(again.recovered) and not again.recovered.unanswered
    turn = drive.send(again, "hello")
    assert turn.reply and "Keep this" not in turn.payload.to_json()
    assert [m.rejected is not None for m in drive.history(again).messages] == [False, False, True, False, False, False,
                                                                          False]


def test_a_transient_api_error_keeps_the_user_message_and_sends_it_again_merged(drive, store):
    sim = Simulator(clock=ManualClock(), faults=[529, 529, 529])
    s = drive.open(store, sim, daily_budget_usd=1.0)
    with pytest.raises(anthropic.InternalServerError):
        drive.send(s, "My sister is called Ilse.")
    rows = store.get_recent_messages(s.conversation_id, user_id="ada")
    assert [r["role"] for r in rows] == ["user"] and rows[0]["rejected"] is None  # stored, never lost
    assert not store.open_reservations("ada") and not store.usage_events("ada")  # answered: not billed
    assert s.unanswered()[0].text == "My sister is called Ilse."
    turn = drive.send(s, "What is my sister called?")
    assert turn.resent == (rows[0]["id"],) and turn.index == 0
    assert "Ilse" in turn.reply
    sent = turn.payload.request["messages"]
    assert len(sent) == 1 and "Ilse" in str(sent[0]["content"])  # one merged user message
    assert [r["role"] for r in store.get_recent_messages(s.conversation_id, user_id="ada")] == [
        "user", "user", "assistant"]


def test_a_request_without_an_answer_is_booked_unconfirmed(drive, store):
    sim = Simulator(clock=ManualClock(), faults=["lost"])  # billed, then the answer is lost
    s = drive.open(store, sim, daily_budget_usd=1.0, max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        drive.send(s, "My sister is called Ilse.")
    (booked,) = store.usage_events("ada")
    assert not booked.confirmed and booked.cost_usd > 0 and not store.open_reservations("ada")
    assert booked.request_id == sim.history[-1].idempotency_key  # the billed request is in the ledger
    assert CostTracker(store).day("ada").unconfirmed_usd == booked.cost_usd
    assert "Ilse" in drive.send(s, "What is my sister called?").reply


def test_resume_books_what_a_crash_left_unconfirmed(drive, store, sim):
    s = drive.open(store, sim, daily_budget_usd=1.0)
    drive.send(s, "First message.")
    # a crash after the first transaction: the user message and its reservation are stored
    orphan = Message("user", "Remember: the deadline is May 3.")
    store.begin_turn(s.conversation_id, [orphan], user_id="ada",
                     reservation=Reservation("req-crashed", "ada", 0.05, conversation_id=s.conversation_id,
                                             model=MODEL))
    again = drive.resume(store, s.conversation_id, sim)
    assert [m.id for m in again.recovered.unanswered] == [orphan.id]
    assert [(e.request_id, e.cost_usd, e.confirmed) for e in again.recovered.booked] == [("req-crashed", 0.05, False)]
    assert not store.open_reservations("ada")
    assert "booked as unconfirmed, $0.0500 at most" in str(again.recovered)
    assert CostTracker(store).daily_cost("ada") == pytest.approx(0.05 + s.last.cost_usd)  # never under-counted
    assert "May 3" in drive.send(again, "When is the deadline?").reply


# -- refusals before anything is stored ----------------------------------------------------------

def test_budget_is_enforced_before_the_call_and_nothing_is_written(drive, store, sim):
    s = drive.open(store, sim, daily_budget_usd=0.0001)
    before = len(sim.history)
    with pytest.raises(BudgetExceeded) as err:
        drive.send(s, "Hello there")
    assert len(sim.history) == before  # not sent
    assert err.value.limit_usd == 0.0001 and err.value.reserved_usd > 0.0001
    assert store.get_recent_messages(s.conversation_id, user_id="ada") == []
    assert s.conversation.messages == []
    s.daily_budget_usd = 1.0
    assert drive.send(s, "Hello again").reply  # the session is still usable after a refusal


def test_context_overflow_writes_nothing_and_the_session_goes_on(drive, store, sim):
    s = drive.open(store, sim, strategy=SlidingWindow(budget_tokens=300))
    with pytest.raises(ContextOverflow):
        drive.send(s, "word " * 2000)
    assert store.get_recent_messages(s.conversation_id, user_id="ada") == []
    assert drive.send(s, "short").reply


@pytest.mark.parametrize("max_tokens", [32_000, 128_000])
def test_every_valid_max_tokens_works_streamed_past_the_sdks_limit(drive, store, sim, max_tokens):
    s = drive.open(store, sim, strategy=FullHistory(max_tokens=max_tokens))
    turn = drive.send(s, "Hello, I'm Ada.")
    assert turn.reply and turn.usage.output_tokens > 0
    assert sim.history[-1].request.get("stream") is True  # the SDK's messages.stream, unnoticed
    assert store.usage_events("ada")[0].output_tokens == turn.usage.output_tokens
    assert drive.send(s, "And again.").reply


@pytest.mark.parametrize("max_tokens", [-1, 0, 10**9, 2.5, True])
def test_out_of_range_max_tokens_is_refused_when_the_strategy_is_made(max_tokens):
    with pytest.raises(ConfigurationError, match="max_tokens"):
        FullHistory(max_tokens=max_tokens, model=MODEL)


def test_max_tokens_past_the_conversations_model_is_refused_before_anything_is_stored(drive, store, sim):
    s = drive.open(store, sim, strategy=FullHistory(max_tokens=100_000), model="claude-haiku-4-5")
    with pytest.raises(ConfigurationError, match="64,000"):
        drive.send(s, "Hello")
    assert store.get_messages(s.conversation_id, user_id="ada") == [] and not sim.history
    drive.switch(s, FullHistory(max_tokens=64_000))
    assert drive.send(s, "Hello").reply


@pytest.mark.parametrize("name", ["sliding", "summarizing", "memory", "retrieval"])
@pytest.mark.parametrize("budget", [-5, 0, 2.5, "4000", True])
def test_strategy_knobs_are_checked_when_the_strategy_is_made(name, budget):
    with pytest.raises(ConfigurationError, match="budget_tokens"):
        make_strategy(name, budget_tokens=budget)


def test_other_knobs_are_checked_too():
    for make in (lambda: SlidingWindow(max_turns=0), lambda: SlidingWindow(max_turns=3, headroom=1.5),
                 lambda: FullHistory(cache_ttl="10m"), lambda: Retrieval(budget_tokens=2000, max_tokens=-3)):
        with pytest.raises(ConfigurationError):
            make()


# -- budgets across threads and side calls ---------------------------------------------------------

def test_concurrent_sessions_of_one_user_cannot_overspend(drive, store):
    sim = Simulator(clock=ManualClock())
    limit = 0.05
    sessions = [drive.open(store, sim, daily_budget_usd=limit) for _ in range(8)]
    refused = drive.concurrently(sessions, lambda k: ["Hi"] * 6)
    tracker = CostTracker(store)
    assert refused, "the limit is reached"
    assert tracker.daily_cost("ada") <= limit
    assert tracker.day("ada").reserved_usd == 0


def side_heavy(name: str):
    """Each strategy, set up so that its side calls (if it makes any) happen every turn or two."""
    if name == "summarizing":
        return Summarizing(budget_tokens=600, keep_recent_turns=1, compress_at=100)
    if name == "memory":
        return StructuredMemory(budget_tokens=1500, keep_recent_turns=1, extract_max_tokens=512)  # a small worst case: extractions fit under the limit
    if name == "compaction":  # on a model without server compaction: its summarizing fallback
        return ServerCompaction(fallback=Summarizing(budget_tokens=600, keep_recent_turns=1, compress_at=100))
    return make_strategy(name, budget_tokens=1500)


def billed_keys(sim) -> set[str]:
    return {e.idempotency_key for e in sim.history if e.path == "/v1/messages" and e.usage and not e.replayed}


@pytest.mark.parametrize("name", NAMES)
def test_eight_concurrent_sessions_of_one_user_never_record_more_than_the_limit(drive, store, name):
    sim = Simulator(clock=ManualClock())
    limit = 0.02
    sessions = [drive.open(store, sim, strategy=side_heavy(name), model="claude-haiku-4-5", daily_budget_usd=limit)
                for _ in range(8)]
    refused = drive.concurrently(sessions, lambda k: [
        f"Update {k}.{i}: the plan for stage {i} is to review draft {i} with Omar on day {i + 1}." for i in range(8)])
    tracker = CostTracker(store)
    events = tracker.events("ada")
    assert refused, "the limit is reached"
    assert tracker.daily_cost("ada") <= limit
    assert sum(e.cost_usd for e in events) == pytest.approx(tracker.daily_cost("ada"))
    assert tracker.day("ada").reserved_usd == 0
    assert billed_keys(sim) == {e.request_id for e in events}  # every billed request, side calls included
    if name in ("summarizing", "memory", "compaction"):
        assert {e.kind for e in events} > {"reply"}, "side calls were made and booked"


def test_summaries_near_the_limit_are_reserved_before_they_are_sent(drive, store, sim):
    s = drive.open(store, sim, strategy=side_heavy("summarizing"), daily_budget_usd=0.05)
    refused = None
    for i in range(60):
        before = len(sim.history)
        try:
            drive.send(s, f"Update {i}: the plan for stage {i} is to review draft {i} with Omar on day {i + 1}.")
        except BudgetExceeded as e:
            refused = e
            break
        assert len(sim.history) > before
    assert refused is not None, "the limit is reached"
    events = drive.usage(s)
    assert billed_keys(sim) == {e.request_id for e in events}  # the summaries sent are all in the ledger
    assert "summary" in {e.kind for e in events}
    assert CostTracker(store).daily_cost("ada") <= 0.05
    what = "summary request" if refused.kind == "summary" else "request"
    assert f"The {what} was not sent" in str(refused)


def test_a_side_call_refused_by_the_budget_keeps_the_reply(drive, store, sim):
    s = drive.open(store, sim, strategy=StructuredMemory(budget_tokens=3000, keep_recent_turns=1))
    drive.send(s, "My favourite colour is teal.")
    spent = CostTracker(store).daily_cost("ada")
    extraction = next(e for e in drive.usage(s) if e.kind == "memory")
    # room for the reply's worst case, not for the extraction's as well
    s.daily_budget_usd = spent + s.last.payload.input_tokens * 6e-6 + 1024 * 15e-6 + extraction.cost_usd
    turn = drive.send(s, "I live in Porto.")
    assert turn.reply and turn.side_cost_usd == 0  # the extraction was not sent: the reply is kept
    assert [e.kind for e in drive.usage(s)] == ["reply", "memory", "reply"]
    assert CostTracker(store).daily_cost("ada") <= s.daily_budget_usd


def test_side_calls_are_in_the_ledger(drive, store, sim):
    s = drive.open(store, sim, strategy=Summarizing(budget_tokens=600, keep_recent_turns=1, compress_at=100))
    for i in range(8):
        drive.send(s, f"Update {i}: the plan for stage {i} is to review draft {i} with Omar on day {i + 1}.")
    kinds = [e.kind for e in drive.usage(s)]
    assert "summary" in kinds and kinds.count("reply") == 8
    stats = drive.stats(s)
    assert stats["side_cost_usd"] > 0
    assert stats["cost_usd"] == pytest.approx(sum(e.cost_usd for e in drive.usage(s)), abs=1e-6)


def test_stats_give_the_sessions_figures(drive, store, sim):
    s = drive.open(store, sim, strategy=SlidingWindow(max_turns=2))
    for i in range(4):
        drive.send(s, f"Message {i}")
    st = drive.stats(s)
    assert st["turns"] == 4 and st["messages"] == 8 and st["strategy"] == "sliding"
    assert st["last_sent_messages"] == 3 and st["last_left_out"] == 4
    assert st["input_tokens"] + st["cache_read_tokens"] + st["cache_write_tokens"] > 0
    assert st["unconfirmed_usd"] == 0


def test_switching_strategy_keeps_the_conversation_and_restores_stored_state(drive, store, sim):
    s = drive.open(store, sim, strategy=StructuredMemory(budget_tokens=3000, keep_recent_turns=1))
    drive.send(s, "My favourite colour is teal.")
    drive.switch(s, SlidingWindow(max_turns=1))
    turn = drive.send(s, "Some small talk.")
    assert turn.payload.strategy == "sliding" and len(s.conversation.messages) == 4
    drive.switch(s, StructuredMemory(budget_tokens=3000, keep_recent_turns=1))
    assert s.strategy.facts()["facts"]  # restored from the store, not started again
    assert "teal" in drive.send(s, "What is my favourite colour?").reply
    assert [e.kind for e in drive.usage(s)].count("memory") == 2  # side calls of both memory turns, once each


# -- costs ----------------------------------------------------------------------------------

def test_cost_tracker_prices_the_growth_example_at_todays_prices(store):
    """600, 1,800 and 6,600 input tokens at turns 1, 5 and 20, priced today: Sonnet 4.6 $3/M input
    and $15/M output, Opus 4.6 $5/$25, Haiku 4.5 $1/$5."""
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


def test_the_default_strategy_and_names(store, sim):
    s = ChatSession(store=store, user_id="ada", client=sim.client(), model=MODEL)
    assert isinstance(s.strategy, Summarizing)
    assert set(NAMES) >= {"full", "sliding", "summarizing", "memory", "retrieval", "compaction"}


# -- the async session: the same design ----------------------------------------------------------

def test_async_and_sync_sessions_send_the_same_requests_and_read_the_same_cache(store):
    script = [f"Message {i}: " + "the itinerary has many stops along the coast. " * 150 for i in range(3)]
    reads, requests = {}, {}
    for drive in (Sync(), Async()):
        sim = Simulator(clock=ManualClock(), keep_requests=True)
        s = drive.open(store, sim, strategy=Summarizing(budget_tokens=20_000))
        turns = [drive.send(s, text) for text in script]
        reads[type(drive).__name__] = [t.usage.cache_read_input_tokens for t in turns]
        requests[type(drive).__name__] = [e.request for e in sim.history]
        drive.close()
    assert reads["Sync"] == reads["Async"] and reads["Sync"][1] > 1000 and reads["Sync"][2] > reads["Sync"][1]
    assert requests["Sync"] == requests["Async"]  # built by the strategy, cache breakpoints included


def test_one_async_session_takes_its_turns_one_at_a_time(store, sim):
    async def main():
        s = await AsyncChatSession(store=store, user_id="ada", client=sim.async_client(), strategy="full",
                                   model=MODEL).open()
        turns = await asyncio.gather(*(s.send(f"Message {i}") for i in range(4)))
        return s, turns

    s, turns = asyncio.run(main())
    assert sorted(t.index for t in turns) == [0, 1, 2, 3]
    rows = store.get_messages(s.conversation_id, user_id="ada")
    assert [r["role"] for r in rows] == ["user", "assistant"] * 4 and not store.open_reservations("ada")


def test_the_persistent_assistant_serves_conversations_by_id(store):
    sim = Simulator(clock=ManualClock())

    async def main():
        bot = PersistentAssistant(store, client=sim.async_client(), model=MODEL,
                                  strategy=lambda: Summarizing(budget_tokens=700, keep_recent_turns=2, compress_at=200))
        sid = await bot.start_session("ada", "You are a project assistant.")
        other = await bot.start_session("bob", "You are a project assistant.")
        await bot.chat(sid, "My budget is 4,200 euros and the report must use metric units.", user_id="ada")
        for i in range(12):
            await bot.chat(sid, f"Status {i}: task {i} moved forward, Omar reviewed draft {i} on day {i + 1}.",
                           user_id="ada")
        await bot.chat(other, "Hello from Bob.", user_id="bob")
        with pytest.raises(NotFound):
            await bot.chat(other, "Hello from Ada.", user_id="ada")
        restarted = PersistentAssistant(store, client=sim.async_client(), model=MODEL, max_open=1)
        return sid, await restarted.chat(sid, "What is my budget?", user_id="ada")

    sid, last = asyncio.run(main())
    assert "4,200" in last.reply and last.index == 13
    kinds = {e.kind for e in store.usage_events("ada", conversation_id=sid)}
    assert kinds == {"reply", "summary"}  # the recent turns plus a running summary
    assert len(store.get_messages(sid, user_id="ada")) == 28


# -- a strategy written against the protocol alone ----------------------------------------------

class LastMessageOnly:
    """Implements ``Strategy`` and nothing more: sends the newest user messages, and after each
    exchange asks the model (a side call on the client it is given) for a one-line note."""

    name = "last-only"

    def __init__(self):
        self.side_usage: list = []
        self.notes: list[str] = []
        self.retracted = 0
        self.counter = SimTokenCounter()

    def build(self, conversation, *, client=None):
        tail = conversation.messages[len(conversation.messages) - len(unanswered(conversation.messages)):]
        messages, report = repair_messages(tail, for_request=True)
        request = {"model": conversation.model, "max_tokens": 300, "messages": messages}
        tokens = self.counter.count_system(None, model=conversation.model) + sum(
            self.counter.count_message(m, model=conversation.model) for m in messages)
        return Payload(self.name, request, tokens, {"recent": tokens}, [m.id for m in tail], CachePlan(), report)

    def state(self):
        return {"strategy": self.name, "version": 1, "notes": list(self.notes)}

    def load_state(self, state):
        self.notes = list(state.get("notes", []))

    def observe(self, turn, *, client=None, conversation=None):
        if client is None:
            return
        text = " ".join(m.text for m in turn.messages)
        reply = client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=[
            {"role": "user", "content": f"{SUMMARY_MARKER} Summarize in one line:\n{text}"}])
        self.side_usage.append(("claude-haiku-4-5", reply.usage))
        self.notes.append(reply.content[0].text)

    def retract(self, conversation):
        self.retracted += 1


def test_a_strategy_written_against_the_protocol_alone_gets_everything(drive, store, sim):
    strategy = LastMessageOnly()
    assert isinstance(strategy, Strategy)
    s = drive.open(store, sim, strategy=strategy, daily_budget_usd=1.0)
    turn = drive.send(s, "My name is Ada.")
    assert turn.reply and turn.side_cost_usd > 0 and strategy.notes
    kinds = [(e.kind, e.confirmed) for e in drive.usage(s)]
    assert kinds == [("reply", True), ("last-only-side", True)]  # its side call reserved and booked
    assert billed_keys(sim) == {e.request_id for e in drive.usage(s)}
    s.daily_budget_usd = 0.0
    with pytest.raises(BudgetExceeded):
        drive.send(s, "Hello?")
    assert strategy.retracted == 1  # the refused message was taken back, and the strategy told
    again = drive.resume(store, s.conversation_id, sim, strategy=LastMessageOnly())
    assert again.strategy.notes == strategy.notes  # its state came back


def test_the_evaluation_replays_a_protocol_only_strategy():
    from convolab.datasets import synthetic
    from convolab.eval.replay import replay_sample

    strategy = LastMessageOnly()
    run = replay_sample(synthetic(20, seed=1), strategy, qa=None)
    assert run.side.requests == len(strategy.side_usage) > 0  # its side calls are counted
    assert strategy.retracted == len(run.items)  # every question taken back


def test_both_sessions_take_the_same_arguments():
    import inspect

    assert inspect.signature(ChatSession) == inspect.signature(AsyncChatSession)
    assert list(inspect.signature(ChatSession.resume).parameters) == list(
        inspect.signature(AsyncChatSession.resume).parameters)
