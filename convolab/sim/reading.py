"""What the simulated model reads in a request: the texts of the system prompt, of the earlier
messages (with who sent each), and of the last user message, split into the message itself and
the material that comes with it (tool results, quoted excerpts, an earlier unanswered message).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cached_property
from typing import Any

from convolab import blocks
from convolab.blocks import SUMMARY_MARKER

# The model reads its earlier tool calls as calls, not as things said: an input value ("Lisbon",
# "2023-05-08") is no sentence of the conversation, and the reader answers from sentences.
READS = replace(blocks.CONTEXT, tool_use=False)

_QUESTION_START = re.compile(
    r"^\s*(what|when|where|who|whom|whose|why|how|which|do|does|did|is|are|was|were|can|could|"
    r"would|will|should|has|have|had|tell me|remind me|list|name|describe|explain|recall)\b", re.I)
_PARAGRAPHS = re.compile(r"\n\s*\n")
# A line that is only an editor's note in brackets ("[End of excerpts. My message:]"), not a date
# header ("[8 May, 2023 1:56 pm]"): framing around quoted material, not something anyone said
_NOTE = re.compile(r"^[ \t]*\[(?![^\]\n]*\b(?:19|20)\d\d\b)(?!shares a photo)[^\]\n]*\][ \t]*$", re.M)
SUMMARY_ASK = re.compile(r"^\s*summari[sz]e|summari[sz]e (the|this|our) conversation|summary of", re.I)


def is_question(text: str) -> bool:
    """Does ``text`` ask something (a question mark, or a question word first)?"""
    return "?" in text or bool(_QUESTION_START.match(text))


def block_texts(content: Any) -> list[str]:
    """The non-blank texts the simulated model reads in a content value: ``convolab.blocks``'
    ``CONTEXT`` rules less tool calls' inputs (``READS``)."""
    return [t for t in blocks.block_texts(content, READS) if t.strip()]


def _only_tool_results(content: Any) -> bool:
    if not isinstance(content, list) or not content:
        return False
    kinds = {b.get("type") for b in content if isinstance(b, dict)}
    return "tool_result" in kinds and "text" not in kinds


class Parts:
    """A request as the model reads it.

    ``history`` holds the texts of the earlier messages in order (tool results included) and the
    material sent with the last message; ``roles`` says for each who wrote it: ``"user"``,
    ``"assistant"``, or ``"material"`` (tool results and quoted excerpts beside the question).
    ``query`` is the last user message's own text, ``last`` every text of that message. The
    history is read only when a reply needs it (an acknowledgement does not).
    """

    def __init__(self, query: str, tool_results: bool, system: list[str], last: list[str],
                 earlier: list[dict[str, Any]], extra: list[str] = (), extra_roles: list[str] = ()):
        self.query, self.tool_results, self.system, self.last = query, tool_results, system, last
        self._earlier, self._extra, self._extra_roles = earlier, list(extra), list(extra_roles)

    @cached_property
    def _read(self) -> tuple[list[str], list[str]]:
        texts, roles = _history(self._earlier)
        return texts + self._extra, roles + self._extra_roles

    @property
    def history(self) -> list[str]:
        return self._read[0]

    @property
    def roles(self) -> list[str]:
        return self._read[1]

    def texts(self) -> list[tuple[str, str]]:
        """Everything the model may quote, with its role: system prompt, then history."""
        return [*((t, "system") for t in self.system), *zip(self.history, self.roles, strict=True)]

    @property
    def is_summary_request(self) -> bool:
        """Does the request ask for a summary (convolab's marker, or "Summarize ...")?"""
        return any(SUMMARY_MARKER in t for t in self.system) or SUMMARY_MARKER in self.query \
            or bool(SUMMARY_ASK.search(self.query))


# The last history read: each message's content (its only block, or its string) and role, how
# many texts the messages before it gave, and the texts and roles; one tuple, replaced whole (a
# simulator may serve several threads). A request whose history starts with the same message
# contents (the same objects: the server passes a conversation's blocks on from request to
# request) reads only what is new.
_last_read: tuple[tuple[Any, ...], tuple[Any, ...], tuple[int, ...], tuple[str, ...], tuple[str, ...]] = (
    (), (), (0,), (), ())


def _history(msgs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    global _last_read
    last_contents, last_roles_of, last_starts, last_texts, last_roles = _last_read
    n, limit = 0, min(len(msgs), len(last_contents))
    while n < limit:
        m = msgs[n]
        content = m.get("content")
        key = content[0] if type(content) is list and len(content) == 1 else content
        if key is not last_contents[n] or m.get("role") != last_roles_of[n]:
            break
        n += 1
    contents, roles_of, starts = list(last_contents[:n]), list(last_roles_of[:n]), list(last_starts[:n + 1])
    texts, roles = list(last_texts[:starts[-1]]), list(last_roles[:starts[-1]])
    for m in msgs[n:]:
        content = m.get("content")
        contents.append(content[0] if type(content) is list and len(content) == 1 else content)
        roles_of.append(m.get("role"))
        _read_message(m, content, texts, roles)
        starts.append(len(texts))
    _last_read = (tuple(contents), tuple(roles_of), tuple(starts), tuple(texts), tuple(roles))
    return texts, roles


def _read_message(m: dict[str, Any], content: Any, texts: list[str], roles: list[str]) -> None:
    role = "assistant" if m.get("role") == "assistant" else "user"
    if type(content) is str:  # the common case, kept fast: a history holds hundreds of messages
        if content and not content.isspace():
            texts.append(content)
            roles.append(role)
        return
    if type(content) is list and len(content) == 1 and type(content[0]) is dict \
            and content[0].get("type") == "text":  # a normalized plain message
        text = content[0].get("text")
        if isinstance(text, str) and text.strip():
            texts.append(text)
            roles.append(role)
        return
    if role == "user" and isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        role = "material"
    for t in block_texts(content):
        texts.append(t)
        roles.append(role)


def read_request(request: dict[str, Any]) -> Parts:
    """The ``Parts`` of a Messages API request body (normalized or raw)."""
    system_texts = block_texts(request.get("system") or [])
    msgs = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    last_idx = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=-1)
    earlier = msgs[:last_idx] if last_idx >= 0 else msgs
    if last_idx < 0:
        return Parts("", False, system_texts, [], earlier)
    content = msgs[last_idx].get("content")
    last = block_texts(content)
    if _only_tool_results(content):
        return Parts("", True, system_texts, last, earlier)
    plain = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"] \
        if isinstance(content, list) else [content if isinstance(content, str) else ""]
    plain = [t for t in plain if isinstance(t, str) and t.strip()]
    query = plain[-1].strip() if plain else ""
    extra = [t for t in last if t not in plain]  # tool results beside the question are material
    if len(plain) > 1 and not any(SUMMARY_MARKER in t for t in plain):
        # several text blocks (quoted excerpts, then the message): the last block is the
        # message, the others are material, as they would be for a reader
        extra = [*extra, *(x for t in plain[:-1] for x in _PARAGRAPHS.split(_NOTE.sub("", t)) if x.strip())]
    elif plain:
        query = "\n\n".join(plain).strip()
    extra_roles = ["material"] * len(extra)
    paragraphs = [x.strip() for x in _PARAGRAPHS.split(query) if x.strip()]
    if len(paragraphs) > 1 and SUMMARY_MARKER not in query and is_question(paragraphs[-1]):
        # merged user messages (an unanswered one sent again with the next): what came before
        # the final question is the user's own earlier words
        query, extra = paragraphs[-1], [*extra, *paragraphs[:-1]]
        extra_roles += ["user"] * (len(paragraphs) - 1)
    return Parts(query, False, system_texts, last, earlier, extra, extra_roles)
