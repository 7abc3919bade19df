"""ChatWidget driven programmatically: replies, figures, Enter, the waiting state, streaming,
stats, strategy switches, forks, errors, static HTML."""

from __future__ import annotations

import html

from convolab import catalog
from convolab.commands.chat import turn_line
from convolab.session import ChatSession
from convolab.sim import ManualClock, Simulator
from convolab.strategies import Summarizing
from convolab.widgets import ChatWidget
from convolab.widgets.chat import STATS

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_send_shows_the_reply_and_the_figures_line(make_session, policy):
    chat = ChatWidget(make_session("full", system_prompt=policy))
    first = chat.send("I'm Ada. I fly to Lisbon on 12 May.")
    turn = chat.send("When do I fly to Lisbon?")
    assert "12 May" in turn.reply and turn.usage.cache_read_input_tokens > 0
    static = chat.to_html()
    for t in (first, turn):
        assert html.escape(t.reply) in static
        assert html.escape(turn_line(t)) in static  # the terminal chat's figures, same function
    assert "cache read 1,4" in turn_line(turn)
    assert html.escape(turn.reply) in chat.transcript.value  # the live view too
    assert chat.turns == [first, turn]


def test_display_bundle_has_the_widget_and_its_static_fallback(make_session):
    chat = ChatWidget(make_session())
    chat.send("Hello there, I'm Ada.")
    bundle = chat._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle[WIDGET_VIEW]["model_id"] == chat.model_id
    assert bundle["text/html"] == chat.to_html()
    assert 'data-convolab="chat"' in bundle["text/html"] and "<svg" in bundle["text/html"]
    assert "<script" not in bundle["text/html"] and "http" not in bundle["text/html"].replace(
        'xmlns="http://www.w3.org/2000/svg"', "").replace('xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    assert len(bundle["text/plain"]) < 200 and "ChatWidget(" in bundle["text/plain"]


def test_the_picker_switches_strategy_on_the_same_conversation(make_session):
    session = make_session("sliding", budget_tokens=4000)
    chat = ChatWidget(session)
    first = chat.send("I'm Ada. I fly to Lisbon on 12 May.")
    chat.picker.value = "full"  # what choosing in the dropdown does
    assert session.strategy.name == "full"
    turn = chat.send("When do I fly?")
    assert turn.payload.strategy == "full"
    assert first.messages[0].id in turn.payload.sent  # the conversation was kept
    static = chat.to_html()
    assert "strategy switched: sliding -&gt; full" in static
    assert "starts fresh" in static
    frame = chat.chart.frame
    assert frame.select("strategy", "turn").rows() == [("sliding", 1), ("full", 2)]
    chat.switch_strategy("full")  # the same one again: nothing happens
    assert static.count("strategy switched") == chat.to_html().count("strategy switched") == 1


def test_switching_back_starts_a_new_line_segment(make_session):
    session = make_session("summarizing", budget_tokens=4000)
    chat = ChatWidget(session)
    chat.send("One.")
    chat.switch_strategy("sliding")
    chat.send("Two.")
    chat.switch_strategy("summarizing")
    chat.send("Three.")
    f = chat.chart.frame
    assert f.filter(strategy="summarizing")["segment"].to_list() == [0, 1]
    assert chat.picker.value == "summarizing"


def test_after_a_switch_the_new_strategys_side_calls_reach_the_ledger(make_session):
    session = make_session(Summarizing(budget_tokens=600, keep_recent_turns=1, compress_at=100))
    chat = ChatWidget(session, budget_tokens=600)
    for i in range(5):
        chat.send(f"Update {i}: the plan for stage {i} is to review draft {i} with Omar on day {i + 1}.")
    assert "summary" in [e.kind for e in session.usage()]  # summaries were made
    chat.switch_strategy("memory")
    chat.send("I also need a hotel near the river.")
    assert "memory" in [e.kind for e in session.usage()]


def test_a_refused_message_is_a_red_line_and_the_chat_goes_on(make_session):
    chat = ChatWidget(make_session("sliding", budget_tokens=300))
    assert chat.send("word " * 2000) is None
    assert chat.last_error.startswith("ContextOverflow: ")
    static = chat.to_html()
    assert 'data-convolab="error"' in static and "ContextOverflow" in static and "Traceback" not in static
    assert "ContextOverflow" in chat.status.value
    turn = chat.send("short")
    assert turn.reply and chat.last_error is None and chat.status.value == ""


def test_budget_exceeded_is_a_red_line(make_session):
    chat = ChatWidget(make_session(daily_budget_usd=0.000001))
    assert chat.send("Hello") is None
    assert "BudgetExceeded" in chat.last_error and "BudgetExceeded" in chat.to_html()


def test_an_api_error_is_a_red_line_and_the_message_waits_for_the_next(make_session):
    chat = ChatWidget(make_session(sim=Simulator(clock=ManualClock(), faults=[529])))
    assert chat.send("My sister is called Ilse.") is None
    assert chat.last_error.startswith("OverloadedError: Error code: 529")
    assert "no reply yet: sent again with the next message" in chat.to_html()
    turn = chat.send("What is my sister called?")
    assert "Ilse" in turn.reply
    assert "no reply yet" not in chat.to_html()


def test_the_send_button_sends_the_text_box(make_session):
    chat = ChatWidget(make_session("sliding", budget_tokens=300))
    chat.input.value = "I'm Ada."
    chat.send_button.click()
    assert chat.input.value == "" and len(chat.turns) == 1
    assert html.escape(chat.turns[0].reply) in chat.transcript.value
    chat.input.value = "word " * 2000  # refused before sending: the text comes back to edit
    chat.send_button.click()
    assert chat.input.value == "word " * 2000 and "ContextOverflow" in chat.status.value
    chat.input.value = "   "
    chat.send_button.click()
    assert len(chat.turns) == 1


def test_the_button_shows_a_bug_as_a_red_line_too(make_session):
    session = make_session()
    chat = ChatWidget(session)

    def broken(text):
        raise RuntimeError("boom")

    session.send = broken
    chat.input.value = "hi"
    chat.send_button.click()
    assert "unexpected RuntimeError: boom" in chat.status.value


def test_embedded_inspector_and_chart_follow_the_turns(make_session):
    chat = ChatWidget(make_session("sliding", budget_tokens=4000))
    assert "no payload yet" in chat.inspector.to_html()
    turn = chat.send("I'm Ada.")
    assert chat.inspector.payload is turn.payload
    assert chat.chart.window == catalog.get_model(turn.payload.request["model"]).context_window
    assert "context window (1,000,000 tokens) is far above" in chat.chart._view.value
    assert "<svg" in chat.chart._view.value


def test_a_resumed_conversation_shows_its_history(make_session, store):
    first = make_session("sliding")
    first.send("I'm Ada. I fly to Lisbon on 12 May.")
    again = ChatSession.resume(store, first.conversation_id, user_id="ada", strategy=first.strategy,
                               client=Simulator(clock=ManualClock()).client())
    chat = ChatWidget(again)
    assert "I&#x27;m Ada. I fly to Lisbon on 12 May." in chat.to_html()
    assert "1 turns" in chat.header.value and chat.chart.frame.is_empty()


def test_static_is_the_fallback_alone(make_session):
    chat = ChatWidget(make_session())
    chat.send("Hello")
    shown = chat.static()
    assert shown._repr_html_() == chat.to_html()


def submit(chat, text):
    """What pressing Enter in the text box does: the view sends {"event": "submit"}."""
    chat.input.value = text
    chat.input._handle_custom_msg({"event": "submit"}, [])


def test_enter_sends(make_session):
    chat = ChatWidget(make_session())
    submit(chat, "I'm Ada. I fly to Lisbon on 12 May.")
    assert len(chat.turns) == 1 and chat.input.value == ""
    assert html.escape(chat.turns[0].reply) in chat.transcript.value
    submit(chat, "   ")  # nothing to send
    assert len(chat.turns) == 1


def test_the_box_and_buttons_wait_while_the_request_runs(make_session):
    session = make_session()
    chat = ChatWidget(session)
    seen = {}
    send = session.send

    def watched(text):
        seen.update(input=chat.input.disabled, button=chat.send_button.disabled, fork=chat.fork_button.disabled,
                    label=chat.send_button.description, status=chat.status.value)
        return send(text)

    session.send = watched
    submit(chat, "Hello, I'm Ada.")
    assert seen == {"input": True, "button": True, "fork": True, "label": "Sending...",
                    "status": seen["status"]} and "waiting for Claude" in seen["status"]
    assert not chat.input.disabled and not chat.send_button.disabled and chat.send_button.description == "Send"
    assert chat.status.value == ""


def test_the_reply_streams_into_the_transcript(make_session):
    chat = ChatWidget(make_session())
    drawn = []
    chat.transcript.observe(lambda change: drawn.append(change["new"]), names="value")
    with_stream = chat.send("I'm Ada. I fly to Lisbon on 12 May and I'm vegetarian.")
    writing = [v for v in drawn if "writing..." in v]
    assert writing, "no partial reply was drawn"
    assert html.escape(with_stream.reply) not in writing[0]  # drawn before the whole reply was there
    assert "writing..." not in chat.transcript.value  # the finished reply replaces it
    # the stored and billed turn is the same as without streaming
    plain = ChatWidget(make_session(), stream=False).send("I'm Ada. I fly to Lisbon on 12 May and I'm vegetarian.")
    assert with_stream.reply == plain.reply and with_stream.cost_usd == plain.cost_usd
    assert with_stream.usage.input_tokens == plain.usage.input_tokens


def test_side_calls_are_not_streamed(make_session):
    session = make_session(Summarizing(budget_tokens=600, keep_recent_turns=1, compress_at=100))
    chat = ChatWidget(session, budget_tokens=600)
    partials = []
    chat._on_text = partials.append
    for i in range(4):
        chat.send(f"Update {i}: the plan for stage {i} is to review draft {i} with Omar on day {i + 1}.")
    assert session.strategy.side_usage
    streamed = "".join(partials)
    assert all(t.reply in streamed for t in chat.turns)
    assert "Summar" not in streamed  # no summary text went to the transcript


def test_stats_are_a_small_table(make_session):
    chat = ChatWidget(make_session())
    chat.send("Hello, I'm Ada.")
    stats = chat.session.stats
    for name, _ in STATS:
        assert f">{name}</th>" in chat.stats.value
    assert f"${stats['cost_usd']:,.4f}" in chat.stats.value
    assert 'data-convolab="stats"' in chat.to_html()


def test_the_fork_control_replays_the_later_turns_under_another_strategy(make_session, policy):
    session = make_session("sliding", system_prompt=policy)
    chat = ChatWidget(session)
    texts = ["I'm Ada. I fly to Lisbon on 12 May.", "I'm vegetarian.", "My hotel is by the river.", "When do I fly?"]
    for text in texts:
        chat.send(text)
    assert chat.fork_turn.max == 4
    chat.fork_turn.value, chat.fork_picker.value = 2, "full"
    chat.fork_button.click()
    fork = chat.session
    assert fork is not session and chat.branches == [session, fork] and chat.last_error is None
    assert fork.strategy.name == "full" and chat.picker.value == "full"
    assert [m.text for m in fork.conversation.messages if m.role == "user"] == texts  # 2 copied, 2 sent again
    assert len(session.conversation.messages) == 8  # the original is untouched
    frame = chat.chart.frame
    assert frame.filter(strategy="sliding")["turn"].to_list() == [1, 2, 3, 4]
    assert frame.filter(strategy="full (fork at turn 2)")["turn"].to_list() == [1, 2, 3, 4]
    static = chat.to_html()
    assert "forked at turn 2 under full" in static and "(fork at turn 2)" in chat.header.value
    assert static.count("[in ") == 4  # the copied turns keep their figures lines
    chat.send("And my hotel?")  # the chat goes on in the fork
    assert len(fork.conversation.messages) == 10 and len(session.conversation.messages) == 8


def test_a_fork_that_cannot_be_made_is_a_red_line(make_session):
    chat = ChatWidget(make_session())
    chat.send("Hello")
    assert chat.fork(5, "full") is None
    assert "InvalidConversation" in chat.last_error and len(chat.branches) == 1


def test_the_inspector_says_why_the_cache_was_missed(make_session, policy):
    chat = ChatWidget(make_session("full"))  # a short system prompt: below Sonnet's minimum
    chat.send("Hello, I'm Ada.")
    chat.send("I fly to Lisbon.")
    assert chat.inspector.verdict().status == "below-minimum"
    assert "minimum cacheable length (1,024)" in chat.inspector.to_html()
    cached = ChatWidget(make_session("full", system_prompt=policy))
    cached.send("Hello, I'm Ada.")
    cached.send("I fly to Lisbon.")
    assert cached.inspector.verdict().status == "read"
