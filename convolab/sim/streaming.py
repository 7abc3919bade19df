"""Server-sent events for ``stream=True``, in the order the Messages API sends them:
``message_start`` (usage with input figures), per block ``content_block_start``, deltas
(``text_delta`` in word-sized chunks, ``input_json_delta`` for tool input, ``thinking_delta`` and
``signature_delta``, one ``compaction_delta`` for a beta compaction block),
``content_block_stop``, then ``message_delta`` (stop reason, output tokens) and
``message_stop``. See https://platform.claude.com/docs/en/build-with-claude/streaming."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_CHUNK = re.compile(r"\S+\s*|\s+")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def events(message: dict[str, Any]) -> Iterator[str]:
    usage = dict(message["usage"])
    start_usage = {**usage, "output_tokens": min(1, usage["output_tokens"])}
    yield _event("message_start", {"type": "message_start", "message": {
        **message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            yield _event("content_block_start", {"type": "content_block_start", "index": i,
                                                 "content_block": {"type": "text", "text": ""}})
            for piece in _CHUNK.findall(block["text"]):
                yield _event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                     "delta": {"type": "text_delta", "text": piece}})
        elif kind == "tool_use":
            yield _event("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
            raw = json.dumps(block["input"], ensure_ascii=False)
            for k in range(0, len(raw), 24):
                yield _event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                     "delta": {"type": "input_json_delta", "partial_json": raw[k:k + 24]}})
        elif kind == "compaction":  # the block opens empty; its summary arrives in one compaction_delta
            yield _event("content_block_start", {"type": "content_block_start", "index": i,
                                                 "content_block": {"type": "compaction", "content": None}})
            yield _event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "compaction_delta", "content": block.get("content"),
                "encrypted_content": block.get("encrypted_content")}})
        elif kind == "thinking":
            yield _event("content_block_start", {"type": "content_block_start", "index": i,
                                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
            for piece in _CHUNK.findall(block.get("thinking", "")):
                yield _event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                     "delta": {"type": "thinking_delta", "thinking": piece}})
            yield _event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "signature_delta", "signature": block.get("signature", "")}})
        else:
            yield _event("content_block_start", {"type": "content_block_start", "index": i, "content_block": block})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": i})
    delta_event: dict[str, Any] = {"type": "message_delta",
                                   "delta": {"stop_reason": message["stop_reason"],
                                             "stop_sequence": message.get("stop_sequence")},
                                   "usage": usage}
    if "context_management" in message:  # beta: the applied edits, as the stream accumulator reads them
        delta_event["context_management"] = message["context_management"]
    yield _event("message_delta", delta_event)
    yield _event("message_stop", {"type": "message_stop"})


def sse_body(message: dict[str, Any]) -> bytes:
    return "".join(events(message)).encode()
