"""What a session checks before it stores a user message: content the Messages API would accept.

A message that the API refuses for its content would otherwise be stored, refused, and sent
again with every later message. ``check_user_content`` finds such content before anything is
written and raises ``InvalidMessage`` naming the field by its path, written the way the content
is (``content``, ``content[2].cache_control.ttl``, ``content[0].content[1].source.media_type``):

- content is a non-empty string or a non-empty list of blocks, each a dict with a ``type``;
- block types are the ones a user message may hold (``tool_use``, ``thinking`` and the other
  assistant blocks are refused), with their required fields (text, image and document sources,
  ``tool_use_id``, ...);
- text is not empty after stripping whitespace, and every string encodes as UTF-8 (a lone
  surrogate such as ``"\\ud83d"`` does not);
- ``cache_control`` is ``{"type": "ephemeral"}`` with an optional ``ttl`` of ``"5m"`` or ``"1h"``;
- a ``tool_result`` answers a ``tool_use`` of the assistant's last message, which no user
  message answers yet, and comes before the message's other blocks.

The rules follow the Messages API reference (content block params of ``anthropic`` 2.x, checked
December 2026) and the simulator's validation (``convolab/sim/rules.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convolab.errors import InvalidMessage
from convolab.model import Message, tool_use_ids

USER_BLOCKS = ("text", "image", "document", "search_result", "tool_result", "container_upload")
ASSISTANT_ONLY = ("tool_use", "server_tool_use", "thinking", "redacted_thinking", "compaction",
                  "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
SOURCES = {  # block type -> source type -> {field: required values, or None for any string}
    "image": {"base64": {"media_type": IMAGE_TYPES, "data": None}, "url": {"url": None},
              "file": {"file_id": None}},
    "document": {"base64": {"media_type": ("application/pdf",), "data": None},
                 "text": {"media_type": ("text/plain",), "data": None}, "url": {"url": None},
                 "file": {"file_id": None}, "content": {}},
}
RESULT_BLOCKS = ("text", "image", "document", "search_result")  # what a tool_result's content may hold


def check_user_content(content: Any, *, previous: Message | None = None, waiting: int = 0) -> None:
    """Raise ``InvalidMessage`` unless ``content`` can be sent as a new user message.

    ``previous`` is the last message of the conversation (a ``tool_result`` must answer its
    ``tool_use`` blocks); ``waiting`` is how many user messages before this one have no reply
    yet (a ``tool_result`` cannot follow them).
    """
    if hasattr(content, "model_dump") or (isinstance(content, Mapping) and "type" in content):
        content = [content]  # one block, as normalize_content takes it
    if isinstance(content, str):
        _check_text(content, "content")
        return
    if not isinstance(content, Sequence) or isinstance(content, bytes | bytearray):
        raise InvalidMessage("content", f"must be a string or a list of content blocks, not {type(content).__name__}")
    if not content:
        raise InvalidMessage("content", "is an empty list: give at least one block, e.g. {'type': 'text', 'text': '...'}")
    blocks = [b.model_dump(mode="json", exclude_none=True) if hasattr(b, "model_dump") else b for b in content]
    _check_strings(blocks, "content")
    for i, block in enumerate(blocks):
        _check_block(block, f"content[{i}]", USER_BLOCKS)
    _check_tool_results(blocks, previous, waiting)


def _check_strings(value: Any, path: str) -> None:
    """Every string (keys included) must encode as UTF-8: no lone surrogates."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidMessage(path, f"holds a lone surrogate ({value[e.start]!r}) at character {e.start}, which "
                                 "UTF-8 cannot encode; remove it or decode the text with errors='replace'") from None
    elif isinstance(value, Mapping):
        for key, v in value.items():
            _check_strings(key, path)
            _check_strings(v, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_strings(v, f"{path}[{i}]")


def _check_text(text: Any, path: str) -> None:
    if not isinstance(text, str):
        raise InvalidMessage(path, f"must be a string, not {type(text).__name__}")
    _check_strings(text, path)
    if not text.strip():
        raise InvalidMessage(path, "is empty or only whitespace, which the API refuses: write some text")


def _check_block(block: Any, path: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
        raise InvalidMessage(path, "must be a dict with a 'type', e.g. {'type': 'text', 'text': '...'}")
    kind = block["type"]
    if kind not in allowed:
        where = ("belongs in assistant messages" if kind in ASSISTANT_ONLY else "is not a content block type")
        raise InvalidMessage(f"{path}.type", f"{kind!r} {where}; here the API takes {', '.join(allowed)}")
    if "cache_control" in block:
        _check_cache_control(block["cache_control"], f"{path}.cache_control")
    if kind == "text":
        _check_text(block.get("text"), f"{path}.text")
    elif kind in SOURCES:
        _check_source(block.get("source"), f"{path}.source", kind)
    elif kind == "tool_result":
        _check_tool_result(block, path)
    elif kind == "search_result":
        for key in ("source", "title"):
            _required_string(block, key, path)
        _check_nested(block.get("content"), f"{path}.content", ("text",), required=True)
    elif kind == "container_upload":
        _required_string(block, "file_id", path)


def _required_string(block: Mapping[str, Any], key: str, path: str) -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"{path}.{key}", "is required: a non-empty string")
    return value


def _check_cache_control(cc: Any, path: str) -> None:
    if not isinstance(cc, Mapping) or cc.get("type") != "ephemeral":
        got = cc.get("type") if isinstance(cc, Mapping) else cc
        raise InvalidMessage(f"{path}.type" if isinstance(cc, Mapping) else path,
                             f"{got!r} is not a cache_control the API takes; use {{'type': 'ephemeral'}}")
    if cc.get("ttl", "5m") not in ("5m", "1h"):
        raise InvalidMessage(f"{path}.ttl", f"{cc['ttl']!r} is not a cache lifetime; use '5m' or '1h'")
    extra = sorted(set(cc) - {"type", "ttl"})
    if extra:
        raise InvalidMessage(f"{path}.{extra[0]}", "is not a cache_control field (only 'type' and 'ttl' are)")


def _check_source(source: Any, path: str, kind: str) -> None:
    kinds = SOURCES[kind]
    if not isinstance(source, Mapping) or source.get("type") not in kinds:
        got = source.get("type") if isinstance(source, Mapping) else source
        raise InvalidMessage(f"{path}.type" if isinstance(source, Mapping) else path,
                             f"{got!r} is not a {kind} source; use one of {', '.join(kinds)}")
    for key, values in kinds[source["type"]].items():
        value = _required_string(source, key, path)
        if values is not None and value not in values:
            raise InvalidMessage(f"{path}.{key}", f"{value!r} is not supported; use one of {', '.join(values)}")
    if source["type"] == "content":
        _check_nested(source.get("content"), f"{path}.content", ("text", "image"), required=True)


def _check_nested(content: Any, path: str, allowed: tuple[str, ...], *, required: bool = False) -> None:
    """Content inside a block (a tool result's, a search result's): a string or a list of blocks."""
    if content is None and not required:
        return
    if isinstance(content, str):
        if required:
            _check_text(content, path)
        return
    if not isinstance(content, list) or (required and not content):
        raise InvalidMessage(path, "must be a string or a non-empty list of content blocks")
    for i, block in enumerate(content):
        _check_block(block, f"{path}[{i}]", allowed)


def _check_tool_result(block: Mapping[str, Any], path: str) -> None:
    _required_string(block, "tool_use_id", path)
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise InvalidMessage(f"{path}.is_error", "must be true or false")
    _check_nested(block.get("content"), f"{path}.content", RESULT_BLOCKS)


def _check_tool_results(blocks: list[Mapping[str, Any]], previous: Message | None, waiting: int) -> None:
    """Tool results answer the assistant's last message, once each, before any other block."""
    calls = set(tool_use_ids(previous)) if previous is not None else set()
    seen_other = False
    for i, b in enumerate(blocks):
        if b["type"] != "tool_result":
            seen_other = True
            continue
        path = f"content[{i}]"
        if waiting:
            raise InvalidMessage(path, f"a tool_result must answer the assistant's last message, but {waiting} "
                                 "user message(s) before this one are still waiting for a reply")
        if b["tool_use_id"] not in calls:
            raise InvalidMessage(f"{path}.tool_use_id", f"{b['tool_use_id']!r} answers no tool_use of the "
                                 "assistant's last message" + (f" (its calls: {', '.join(sorted(calls))})" if calls
                                                               else " (it made no tool call)"))
        calls.discard(b["tool_use_id"])
        if seen_other:
            raise InvalidMessage(path, "tool_result blocks must come first in the message, before any other block")


__all__ = ["check_user_content"]
