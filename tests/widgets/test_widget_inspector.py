"""PayloadInspector: blocks, tokens, breakpoints, left-out messages and the JSON view."""

from __future__ import annotations

import json
import re

import convolab
from convolab.sim import SimTokenCounter
from convolab.strategies import (
    FullHistory,
    MessageRetrieval,
    Retrieval,
    SlidingWindow,
    StructuredMemory,
    Summarizing,
)
from convolab.widgets import PayloadInspector
from convolab.widgets._static import json_from_html, json_spans

MODEL = "claude-sonnet-4-6"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def kinds(markup: str) -> list[str]:
    return re.findall(r'data-kind="(\w+)"', markup)


def test_breakpoints_tokens_and_the_json_view(make_session, policy):
    session = make_session(FullHistory(), system_prompt=policy)
    session.send("I'm Ada. I fly to Lisbon on 12 May.")
    turn = session.send("When do I fly?")
    p = turn.payload
    insp = PayloadInspector(p)
    markup = insp.to_html()
    assert "Cache breakpoints" in markup
    for point in p.cache.breakpoints:  # "system", "last message (automatic)"
        assert f">{point}</span>" in markup
    assert "cache breakpoint (automatic: top-level cache_control)" in markup
    assert f"expected read {p.cache.expected_read:,}" in markup
    assert "<b>Left out</b>: 0 messages" in markup
    # each message with its tokens, as the counter counts its dict form
    counter = SimTokenCounter()
    tokens = [counter.count_message(m, model=MODEL) for m in p.messages]
    assert insp.message_tokens() == tokens and sum(tokens) == p.breakdown["recent"]
    for i, n in enumerate(tokens):
        assert re.search(rf"#{i + 1} {p.messages[i]['role']}</b> <span[^>]*>{n:,} tokens</span>", markup)
    # the JSON view parses back to the request, exactly
    assert json_from_html(markup) == [json.loads(p.to_json())]
    assert 'data-convolab="json"' in markup and "<script" not in markup


def test_left_out_count_and_ids(make_session):
    session = make_session(SlidingWindow(max_turns=1))
    for text in ("One.", "Two.", "Three."):
        turn = session.send(text)
    markup = PayloadInspector(turn.payload).to_html()
    assert len(turn.payload.left_out) == 4
    assert "<b>Left out</b>: 4 messages" in markup
    for mid in turn.payload.left_out:
        assert mid in markup


def test_summary_and_pins_are_highlighted(make_session):
    session = make_session(Summarizing(budget_tokens=1200, keep_recent_turns=1, compress_at=60))
    for text in ("I'm Ada. I fly to Lisbon on 12 May. You must always quote prices in euros.",
                 "I also need a hotel near the river, quiet, with a view of the old town and breakfast included.",
                 "Which hotel area did I want, and what about breakfast and the view?", "And my flight date?"):
        turn = session.send(text)
    markup = PayloadInspector(turn.payload).to_html()
    assert turn.payload.breakdown["summary"] > 0
    assert "summary" in kinds(markup) and "pins" in kinds(markup)
    assert "(summary)</b>" in markup and "[Summary of earlier conversation" in markup


def test_memory_block_is_highlighted(make_session):
    session = make_session(StructuredMemory(budget_tokens=4000))
    for text in ("I'm Ada. I fly to Lisbon on 12 May.", "Which hotel area did I want?", "Anything else?"):
        turn = session.send(text)
    assert turn.payload.breakdown["memory"] > 0
    markup = PayloadInspector(turn.payload).to_html()
    assert "memory" in kinds(markup) and "[Conversation memory" in markup


def test_retrieved_messages_are_marked(make_session):
    # MessageRetrieval: retrieved turns travel as messages under "[Earlier in the conversation"
    # headers, which the inspector marks (Retrieval puts excerpts in the newest message)
    session = make_session(MessageRetrieval(budget_tokens=4000, keep_recent_turns=1))
    session.send("My passport number is X123 and it expires in March.")
    for i in range(4):
        session.send(f"Tell me about museum {i} opening hours on weekdays.")
    turn = session.send("When does my passport expire?")
    assert turn.payload.breakdown["retrieved"] > 0
    markup = PayloadInspector(turn.payload).to_html()
    assert "retrieved" in kinds(markup) and ">retrieved</span>" in markup


def test_quoted_excerpts_are_marked(make_session):
    # Retrieval: the excerpts are a text block at the top of the newest message
    session = make_session(Retrieval(budget_tokens=1500))
    session.send("My passport number is X123 and it expires in March.")
    for i in range(40):
        session.send(f"Tell me about museum {i} opening hours on weekdays and the queues at the entrance.")
    turn = session.send("When does my passport expire?")
    assert turn.payload.breakdown["retrieved"] > 0
    markup = PayloadInspector(turn.payload).to_html()
    assert markup.count("retrieved excerpts (quoted)") == 1 and "with retrieved excerpts" in markup
    assert "X123" in markup


def test_tool_blocks_and_unsafe_text_are_shown_escaped():
    conv = convolab.Conversation(system_prompt="You help.", model=MODEL,
                                 tools=[{"name": "get_weather", "description": "Weather.",
                                         "input_schema": {"type": "object", "properties": {}}}])
    conv.add("user", 'What is the weather? <script>alert("x")</script> & "quotes"')
    conv.add("assistant", [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Lisbon"}}])
    conv.add("user", [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 24 C"}])
    p = FullHistory().build(conv)
    markup = PayloadInspector(p).to_html()
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert "tool_use get_weather" in markup and "tool_result" in markup and "Sunny, 24 C" in markup
    assert "tools (1, " in markup
    assert json_from_html(markup) == [p.request]


def test_json_spans_keep_the_text_exactly():
    text = json.dumps({"a": [1, -2.5e3, True, None, "x\"<y>&"], "k: v": "\\n"}, indent=2)
    spans = json_spans(text)
    assert json_from_html(f'<pre data-convolab="json">{spans}</pre>') == [json.loads(text)]
    assert '<span style="color:#0550ae">"a"</span>' in spans  # keys coloured apart from values


def test_no_payload_and_update(make_session):
    insp = PayloadInspector()
    assert "no payload yet" in insp.to_html() and repr(insp) == "PayloadInspector(no payload)"
    turn = make_session().send("Hello")
    insp.update(turn.payload)
    assert "Payload: sliding" in insp._view.value
    bundle = insp._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["text/html"] == insp.to_html()
