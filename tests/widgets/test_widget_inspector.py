"""PayloadInspector: blocks, tokens, breakpoints, left-out messages and the JSON view."""

from __future__ import annotations

import json
import re

import convolab
from convolab.sim import ManualClock, SimTokenCounter, Simulator
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
    assert "<b>Cache</b>" in markup
    for point in p.cache.breakpoints:  # "system", "last message (automatic)"
        assert f">{point}</span>" in markup
    assert "cache breakpoint (automatic: top-level cache_control)" in markup
    assert re.search(rf">cache read</td><td[^>]*>{p.cache.expected_read:,}</td>", markup)  # the plan
    assert "<b>Left out</b>: 0 messages" in markup
    assert insp.verdict().status == "planned" and "Planned (not sent here): read 1," in markup
    insp.update(p, usage=turn.usage)
    assert f"Read {turn.usage.cache_read_input_tokens:,} of {p.input_tokens:,}" in insp.to_html()
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
    left = re.search(r'<div data-convolab="left-out"><details[^>]*><summary[^>]*>(.*?)</summary>(.*?)</details>',
                     markup)
    assert left, "the left-out messages are collapsed behind their count"
    assert left.group(1) == "Left out: 4 messages (stored, not sent); their ids"
    for mid in turn.payload.left_out:
        assert mid in left.group(2)


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


def sent(conv, strategy, client, text):
    conv.add("user", text)
    payload = strategy.build(conv)
    reply = payload.create(client)
    conv.add("assistant", reply.content)
    return payload, reply.usage


def verdict_of(payload, usage, previous, seconds=None):
    return PayloadInspector(payload, usage=usage, previous=previous, seconds_since=seconds).verdict()


def test_cache_verdicts_read_below_minimum_prefix_changed_and_expired(policy):
    clock = ManualClock()
    client = Simulator(clock=clock).client()
    strategy = FullHistory()
    conv = convolab.Conversation(system_prompt=policy, model=MODEL)
    first, u1 = sent(conv, strategy, client, "I'm Ada.")
    assert verdict_of(first, u1, None).status == "first"
    second, u2 = sent(conv, strategy, client, "I fly to Lisbon.")
    v = verdict_of(second, u2, first)
    assert v.status == "read" and f"Read {u2.cache_read_input_tokens:,} of {second.input_tokens:,}" in v.text

    clock.advance(301)  # over the 5-minute TTL
    third, u3 = sent(conv, strategy, client, "On 12 May.")
    assert u3.cache_read_input_tokens == 0
    v = verdict_of(third, u3, second, seconds=301)
    assert v.status == "expired" and "5 minutes earlier, over the 5m TTL" in v.text
    assert verdict_of(third, u3, second).status == "expired"  # without the time: by elimination

    other = convolab.Conversation(system_prompt=policy.replace("Rule 1:", "Rule one:"), model=MODEL)
    changed, u4 = sent(other, strategy, client, "I'm Ada.")
    v = verdict_of(changed, u4, first)
    assert u4.cache_read_input_tokens == 0
    assert (v.status, v.changed_at, v.where) == ("prefix-changed", 1, "system block 1")
    assert "prefix changed at block 1 (system block 1)" in v.text

    short = convolab.Conversation(system_prompt="You are brief.", model=MODEL)
    a, ua = sent(short, strategy, client, "Hello.")
    b, ub = sent(short, strategy, client, "Again.")
    assert verdict_of(a, ua, None).status == "below-minimum"
    v = verdict_of(b, ub, a)
    assert v.status == "below-minimum" and "minimum cacheable length (1,024)" in v.text


def test_a_moved_window_reads_only_the_system_prompt(policy):
    client = Simulator(clock=ManualClock()).client()
    strategy = SlidingWindow(max_turns=1)
    conv = convolab.Conversation(system_prompt=policy, model=MODEL)
    first, _ = sent(conv, strategy, client, "I'm Ada.")
    second, usage = sent(conv, strategy, client, "I fly to Lisbon.")
    v = verdict_of(second, usage, first)
    assert v.status == "partial" and (v.changed_at, v.where) == (2, "message 1 (user)")
    assert 0 < usage.cache_read_input_tokens < second.input_tokens


def test_no_breakpoint_means_caching_is_off(policy):
    conv = convolab.Conversation(system_prompt=policy, model=MODEL)
    payload, usage = sent(conv, FullHistory(cache=False), Simulator().client(), "Hello.")
    assert verdict_of(payload, usage, None).status == "off"
