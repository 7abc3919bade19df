"""The texts inside content blocks: which blocks count, and the text of a reply.

A message's content is a string or a list of content blocks (``text``, ``tool_use``,
``tool_result``, ``document``, ``thinking``, ``compaction``, ``image``, ...), as dicts when
convolab builds or stores them and as SDK objects in a response. Every module that needs "the
text of" some content goes through this one, with the rules spelled out in an ``Include``:

- ``text``: a text block's ``text``.
- ``tool_use``: the string and number values of a tool call's ``input``, keys left out (what
  the call says: a city, a date, a query), in order.
- ``tool_result``: the texts of a tool result's content (a string, or blocks read by the same
  rules).
- ``compaction``: the summary text of a server-side compaction block.
- ``document``: a plain-text document's data (base64, PDF and URL sources carry no text here).
- ``thinking``: a thinking block's reasoning. Off in every rule set below: it is the model's
  scratch work, not something the conversation said.

Named rule sets: ``TEXT`` (text blocks only: what a reader of a chat sees) and ``CONTEXT``
(everything the model is given to read: retrieval's index, the evaluation's "was the evidence
in the payload" test). The simulated model reads with ``CONTEXT`` less tool calls' inputs
(``convolab.sim.reading``, which says why).

``reply_text`` is the text of an SDK ``Message`` (or of a content list): its text blocks
joined with nothing between, since the API splits one cited answer into consecutive text
blocks. ``SUMMARY_MARKER`` is the one tag that marks a summarization request, written by the
summarizing strategies and recognized by the simulator (plain text to real Claude).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTEXT", "SUMMARY_MARKER", "TEXT", "Include", "block_texts", "content_text", "input_values",
           "reply_text"]

SUMMARY_MARKER = "[convolab:summarize]"


@dataclass(frozen=True)
class Include:
    """Which blocks' texts ``block_texts`` yields (the module docstring says what each means)."""

    text: bool = True
    tool_use: bool = False
    tool_result: bool = False
    compaction: bool = False
    document: bool = False
    thinking: bool = False


TEXT = Include()
CONTEXT = Include(tool_use=True, tool_result=True, compaction=True, document=True)


def input_values(value: Any) -> Iterator[str]:
    """The strings (and numbers, as text) inside a tool call's input, keys left out, in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from input_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from input_values(v)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _field(block: Any, name: str) -> Any:
    return block.get(name) if isinstance(block, Mapping) else getattr(block, name, None)


def _document_text(block: Any) -> str | None:
    source = _field(block, "source")
    data = _field(source, "data") if source is not None else None
    media = (_field(source, "media_type") if source is not None else None) or "text/plain"
    return data if isinstance(data, str) and media.startswith("text") else None


def block_texts(content: Any, include: Include = CONTEXT) -> Iterator[str]:
    """The texts in ``content`` (a string, or a list of blocks as dicts or SDK objects) that
    ``include`` admits, in order. A bare string inside a list counts as text."""
    if isinstance(content, str):
        if include.text:
            yield content
        return
    for b in content or ():
        if isinstance(b, str):
            if include.text:
                yield b
            continue
        kind = _field(b, "type")
        if kind in ("text", "thinking") and getattr(include, kind) and isinstance(_field(b, kind), str):
            yield _field(b, kind)
        elif kind == "tool_use" and include.tool_use:
            yield from input_values(_field(b, "input"))
        elif kind == "tool_result" and include.tool_result:
            yield from block_texts(_field(b, "content"), include)
        elif kind == "compaction" and include.compaction and isinstance(_field(b, "content"), str):
            yield _field(b, "content")
        elif kind == "document" and include.document and (text := _document_text(b)) is not None:
            yield text


def content_text(content: Any) -> str:
    """The text blocks of ``content``, paragraphs apart (a string is returned as is)."""
    if isinstance(content, str):
        return content
    return "\n\n".join(block_texts(content, TEXT))


def reply_text(reply: Any) -> str:
    """The text of a reply: an SDK ``Message`` (or anything with ``.content``), a content list
    or a string; text blocks joined as the API splits them (nothing between)."""
    content = reply if isinstance(reply, str | list) else getattr(reply, "content", None)
    return "".join(block_texts(content, TEXT))
