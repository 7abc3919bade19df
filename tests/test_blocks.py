"""Which block texts each rule set reads, and the text of a reply."""

from __future__ import annotations

from types import SimpleNamespace

from convolab.blocks import CONTEXT, TEXT, Include, block_texts, content_text, reply_text
from convolab.sim.reading import READS

CONTENT = [
    {"type": "thinking", "thinking": "let me think", "signature": "x"},
    {"type": "text", "text": "Booked."},
    {"type": "tool_use", "id": "t1", "name": "book", "input": {"city": "Lisbon", "nights": 3, "ok": True}},
    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ref 42"}]},
    {"type": "compaction", "content": "earlier: flights"},
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "the memo"}},
    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}},
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
]


def test_each_rule_set_reads_exactly_its_kinds():
    assert list(block_texts(CONTENT, TEXT)) == ["Booked."]
    assert list(block_texts(CONTENT, CONTEXT)) == ["Booked.", "Lisbon", "3", "ref 42", "earlier: flights", "the memo"]
    assert list(block_texts(CONTENT, Include(text=False, thinking=True))) == ["let me think"]
    # the simulated model reads everything the context holds except its own calls' inputs
    assert list(block_texts(CONTENT, READS)) == ["Booked.", "ref 42", "earlier: flights", "the memo"]


def test_a_string_is_its_own_text_and_sdk_objects_read_like_dicts():
    assert list(block_texts("plain", CONTEXT)) == ["plain"] and content_text("plain") == "plain"
    sdk = [SimpleNamespace(type="text", text="Hello "), SimpleNamespace(type="tool_use", input={"q": "x"}),
           SimpleNamespace(type="text", text="there.")]
    assert list(block_texts(sdk, CONTEXT)) == ["Hello ", "x", "there."]
    assert reply_text(SimpleNamespace(content=sdk)) == "Hello there."  # split text blocks join as one
    assert reply_text(CONTENT) == "Booked." and reply_text("as is") == "as is"
    assert content_text([*CONTENT, {"type": "text", "text": "Done."}]) == "Booked.\n\nDone."
