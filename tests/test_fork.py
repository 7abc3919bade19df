"""ChatSession.fork: the same conversation up to a turn, under another strategy, stored apart."""

from __future__ import annotations

import pytest

from convolab.errors import BudgetExceeded, InvalidConversation
from convolab.session import ChatSession
from convolab.sim import ManualClock, Simulator
from convolab.stores.duckdb import DuckDBStore
from convolab.strategies import FullHistory, SlidingWindow, Summarizing

SCRIPT = ["I'm Ada. I fly to Lisbon on 12 May.", "I need a vegetarian breakfast at the hotel.",
          "The hotel should be near the river.", "My return flight is on 19 May.", "What do you know about my trip?"]


@pytest.fixture
def original():
    """A five-turn conversation on its own in-memory store (``original.store``)."""
    with DuckDBStore(":memory:") as store:
        session = ChatSession(store=store, user_id="ada", client=Simulator(clock=ManualClock()).client(),
                              strategy=SlidingWindow(max_turns=2), system_prompt="You are a travel assistant.")
        for text in SCRIPT:
            session.send(text)
        yield session


@pytest.fixture
def store(original):
    return original.store


def snapshot(store, session):
    conv = store.load_conversation(session.conversation_id, user_id="ada")
    return [(m.id, m.role, m.content) for m in conv.messages], len(session.usage())


def test_the_fork_repeats_the_first_turns_with_new_ids_and_leaves_the_original_alone(store, original):
    before = snapshot(store, original)
    fork = original.fork(at_turn=3, strategy=FullHistory())
    assert fork.conversation_id != original.conversation_id
    copied, source = fork.conversation.messages, original.conversation.messages[:6]
    assert [(m.role, m.content) for m in copied] == [(m.role, m.content) for m in source]
    assert not {m.id for m in copied} & {m.id for m in original.conversation.messages}
    assert [m.metadata["forked_from_message"] for m in copied] == [m.id for m in source]
    record = store.get_conversation(fork.conversation_id, user_id="ada")
    assert record.metadata["forked_from"] == original.conversation_id and record.metadata["fork_at_turn"] == 3
    assert record.system_prompt == "You are a travel assistant."
    assert snapshot(store, original) == before  # nothing written to the original


def test_the_fork_goes_on_under_the_new_strategy(store, original):
    fork = original.fork(at_turn=2, strategy=FullHistory())
    turn = fork.send("When do I fly home?")
    assert turn.payload.strategy == "full" and fork.strategy.name == "full"
    assert len(turn.payload.messages) == 5  # the two copied turns, whole, and the new message
    assert turn.payload.messages[0]["content"] == SCRIPT[0]
    assert len(store.load_conversation(fork.conversation_id, user_id="ada").messages) == 6
    assert [e.kind for e in fork.usage()] == ["reply"]  # the fork's own ledger starts empty
    # the original goes on too, under its own strategy, and never sees the fork's turn
    later = original.send("Anything else?")
    assert later.payload.strategy == "sliding" and "When do I fly home?" not in later.payload.to_json()


def test_a_summary_is_built_from_the_copied_turns_and_billed_once(store, original):
    fork = original.fork(at_turn=4, strategy=Summarizing(budget_tokens=2000, keep_recent_turns=1, compress_at=40))
    assert fork.strategy.summaries, "the copied turns were summarized"
    side = [e for e in fork.usage() if e.kind == "summary"]
    assert side and all(e.conversation_id == fork.conversation_id for e in side)
    fork.send("Summarize my plans.")
    after = [e for e in fork.usage() if e.kind == "summary"]
    assert after[:len(side)] == side  # the warm-up's side calls were not recorded a second time
    assert [e.request_id for e in after] == list(dict.fromkeys(e.request_id for e in after))
    stored = store.load_strategy_state(fork.conversation_id, user_id="ada", strategy="summarizing")
    assert stored["summaries"]


def test_a_stored_fork_resumes_with_its_strategy_state(store, original):
    fork = original.fork(at_turn=4, strategy=Summarizing(budget_tokens=2000, keep_recent_turns=1, compress_at=40))
    again = ChatSession.resume(store, fork.conversation_id, user_id="ada", client=fork.client,
                               strategy=Summarizing(budget_tokens=2000, keep_recent_turns=1, compress_at=40))
    assert [b.text for b in again.strategy.summaries] == [b.text for b in fork.strategy.summaries]
    assert len(again.conversation.messages) == 8 and not again.recovered


def test_fork_at_zero_keeps_only_the_system_prompt(original):
    fork = original.fork(at_turn=0, strategy=FullHistory())
    assert fork.conversation.messages == [] and fork.conversation.system_prompt == "You are a travel assistant."
    assert fork.send("Hello").payload.messages[0]["content"] == "Hello"


@pytest.mark.parametrize("at_turn", [-1, 6, 99])
def test_a_turn_out_of_range_is_refused_and_nothing_is_stored(store, original, at_turn):
    before = len(store.list_conversations("ada"))
    with pytest.raises(InvalidConversation, match="pick at_turn from 0 to 5"):
        original.fork(at_turn=at_turn, strategy=FullHistory())
    assert len(store.list_conversations("ada")) == before


def test_a_turn_still_waiting_for_its_reply_cannot_be_forked_at():
    with DuckDBStore(":memory:") as store:
        sim = Simulator(clock=ManualClock(), faults=[529])
        session = ChatSession(store=store, user_id="ada", client=sim.client(max_retries=0), strategy=FullHistory())
        with pytest.raises(Exception, match="529"):
            session.send("My sister is called Ilse.")
        with pytest.raises(InvalidConversation, match="0 answered turn"):
            session.fork(at_turn=1, strategy=FullHistory())


def test_the_forks_side_calls_are_within_the_daily_budget(store, original):
    original.daily_budget_usd = sum(e.cost_usd for e in store.usage_events("ada"))  # spent to the cent
    before = {c.id for c in store.list_conversations("ada")}
    with pytest.raises(BudgetExceeded):
        original.fork(at_turn=4, strategy=Summarizing(budget_tokens=2000, keep_recent_turns=1, compress_at=40))
    forks = [c for c in store.list_conversations("ada", include_archived=True) if c.id not in before]
    assert len(forks) == 1 and forks[0].is_archived  # the half-made fork is put away
    assert not store.open_reservations("ada")


def test_an_async_session_forks_the_same_way(store, original):
    import asyncio

    from convolab.async_session import AsyncChatSession

    async def main():
        s = await AsyncChatSession.resume(store, original.conversation_id, user_id="ada",
                                          client=Simulator(clock=ManualClock()).async_client(),
                                          strategy=SlidingWindow(max_turns=2))
        fork = await s.fork(at_turn=4, strategy=Summarizing(budget_tokens=2000, keep_recent_turns=1, compress_at=40))
        return fork, await fork.usage()

    fork, usage = asyncio.run(main())
    assert fork.strategy.summaries and {e.kind for e in usage} == {"summary"}
    assert len(fork.conversation.messages) == 8
