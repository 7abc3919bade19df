"""Repair a stored message sequence into one the Messages API accepts, never losing user text.

A validator that drops the second of two consecutive same-role messages (a common way to make
a sequence alternate) loses the user's own words after a crash between two saves. ``repair_messages``
merges instead, and reports everything it did::

    >>> msgs = [{"role": "user", "content": "Hi, I'm Ada."}, {"role": "user", "content": "Still there?"}]
    >>> fixed, report = repair_messages(msgs, for_request=True)
    >>> fixed
    [{'role': 'user', 'content': "Hi, I'm Ada.\\n\\nStill there?"}]
    >>> print(report)
    repaired: 1 merged
      merged messages 0+1 (user): consecutive user messages merged, content kept in order

Rules, in the order they apply (indices in the report are positions in the input):

1. Empty text is dropped: empty or whitespace-only string content and text blocks (the API
   rejects them). A message left with no content is dropped.
2. Runs of one role are merged into one message: strings joined by a blank line, block lists
   concatenated (a string meeting blocks becomes a text block). In a user message,
   ``tool_result`` blocks are moved to the front (the API requires them first), keeping
   their order, then the other blocks in order.
3. With ``for_request=True`` the result is also a valid request:

   * it starts with a user message: leading assistant messages are *set aside*;
   * it ends with a user message: a trailing assistant message is *set aside* (not merged
     away, not lost: ``report.set_aside`` holds it, e.g. to store or show it);
   * an assistant ``tool_use`` whose ``tool_result`` is not at the start of the next user
     message gets a synthetic result there: ``{"type": "tool_result", "tool_use_id": ...,
     "is_error": True, "content": MISSING_RESULT}``. The assistant's message (its text and
     the call) is kept whole, and Claude is told plainly that the result was lost, which
     is what it would see had the tool failed;
   * a ``tool_result`` that answers no ``tool_use`` of the immediately preceding assistant
     message (or answers one twice) becomes text: a text block naming the tool_use id,
     followed by the result's content (text joined, images and documents kept as blocks),
     so whatever the user's side had stays in the request.
   * a tool_use repeating an id already used in the same assistant message (a reply saved
     twice, then merged) is dropped: the API wants ids unique, and the first call stays.

Valid input comes back equal and with a clean report, and the function is idempotent.

Copying (chosen for speed: strategies repair on every request). The input is never
mutated. The output is always a new list of new ``{"role", "content"}`` dicts. A message
repair did not change keeps its content *object*: the same string, or the same list of
the same block dicts as the input (a ``Message``'s own content, which is immutable by
convention). A message that was merged or changed gets a new content list of shallow-copied
block dicts, so nothing repair built aliases a list or block of the input. Values nested in
blocks (a ``cache_control`` dict, a tool_result's content, an image source) are always
shared. So treat output content as read-only: to add a cache breakpoint, build a new
block and a new list (``{**blocks[-1], "cache_control": ...}``), never set keys in place.
One linear pass, no deep copies: 10,000 valid messages take about 10 ms on a slow shared
2-core machine, about as long as ``[m.to_api() for m in messages]``; long runs of one role
merge in linear time (strings are joined once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from convolab.errors import InvalidConversation
from convolab.model import Message, as_role, normalize_content

__all__ = ["MISSING_RESULT", "Dropped", "Merged", "RepairReport", "SetAside", "ToolFix",
           "repair_messages"]

MISSING_RESULT = "tool result missing (lost before it was stored)"

Block = dict[str, Any]
_ROLES = {"user": "user", "assistant": "assistant"}
ApiMessage = dict[str, Any]


# -- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Merged:
    """Input messages ``absorbed`` were merged into message ``kept`` (all of role ``role``)."""

    kept: int
    absorbed: tuple[int, ...]
    role: str
    reason: str


@dataclass(frozen=True)
class Dropped:
    """Empty content dropped from input message ``index``: one block, or (``block=None``) the message."""

    index: int
    block: int | None
    reason: str


@dataclass(frozen=True)
class SetAside:
    """A message left out of the request but kept here: ``message`` came from inputs ``indices``."""

    indices: tuple[int, ...]
    message: ApiMessage
    reason: str


@dataclass(frozen=True)
class ToolFix:
    """A tool pairing repaired in the message that starts at input ``index``.

    ``action`` is ``"synthetic_result"`` (an unanswered tool_use got an error result),
    ``"result_to_text"`` (an orphan tool_result became text), ``"moved_first"``
    (tool_result blocks moved to the start of a user message) or ``"repeated_use_dropped"``
    (a second tool_use with the same id in one assistant message, as when a reply was
    saved twice and merged: the first is kept).
    """

    index: int
    tool_use_id: str
    action: str
    reason: str


@dataclass
class RepairReport:
    """What ``repair_messages`` changed; empty lists (``is_clean``) when the input was valid."""

    merged: list[Merged] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)
    tool_fixes: list[ToolFix] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the output differs from the input in anything but copying."""
        return bool(self.merged or self.dropped or self.set_aside or self.tool_fixes)

    @property
    def is_clean(self) -> bool:
        """True when nothing needed repair."""
        return not self.changed

    def entries(self) -> list[Merged | Dropped | SetAside | ToolFix]:
        """Every entry, merged first, then dropped, set aside and tool fixes."""
        return [*self.merged, *self.dropped, *self.set_aside, *self.tool_fixes]

    def __str__(self) -> str:
        if self.is_clean:
            return "clean: nothing to repair"
        counts = [f"{len(items)} {name}" for name, items in (
            ("merged", self.merged), ("dropped", self.dropped),
            ("set aside", self.set_aside), ("tool fixes", self.tool_fixes)) if items]
        lines = ["repaired: " + ", ".join(counts)]
        for m in self.merged:
            lines.append(f"  merged messages {'+'.join(map(str, (m.kept, *m.absorbed)))} ({m.role}): {m.reason}")
        for d in self.dropped:
            where = f"message {d.index}" if d.block is None else f"message {d.index} block {d.block}"
            lines.append(f"  dropped {where}: {d.reason}")
        for s in self.set_aside:
            lines.append(f"  set aside message {'+'.join(map(str, s.indices))} "
                         f"({s.message['role']}): {s.reason}")
        for t in self.tool_fixes:
            lines.append(f"  {t.action} {t.tool_use_id} at message {t.index}: {t.reason}")
        return "\n".join(lines)


# -- reading the input -----------------------------------------------------------------------

def _read(message: Any, index: int) -> tuple[str, Any]:
    """Role (plain string) and content (as given, not copied) of one input message."""
    if isinstance(message, Message):
        return message.role.value, message.content
    if not isinstance(message, Mapping):
        raise InvalidConversation(
            f"message {index} must be a convolab.Message or a dict with 'role' and 'content', "
            f"got {type(message).__name__}")
    try:
        role, content = message["role"], message["content"]
    except KeyError as e:
        raise InvalidConversation(f"message {index} has no {e.args[0]!r}: API messages need "
                                  "'role' and 'content'") from None
    if role == "user":
        return "user", content
    if role == "assistant":
        return "assistant", content
    return as_role(role).value, content  # raises InvalidConversation, naming the role


def _clean_blocks(content: Any, index: int, report: RepairReport) -> tuple[list[Block], bool]:
    """``content`` as a block list without empty text blocks, and whether it is a fresh copy.

    Valid content comes back as the same list (not copied: the caller shares it). When a
    block is dropped or converted the result is a new list of shallow-copied block dicts.
    Dropped blocks are reported. A block that is not a dict with a string ``type`` is
    converted when it is an SDK block object and raises ``InvalidConversation`` otherwise;
    so does a text block whose ``text`` is not a string.
    """
    fresh = False
    if type(content) is not list:
        try:
            content = normalize_content(content)  # a single block dict, a tuple, or an error
        except InvalidConversation as e:
            raise InvalidConversation(f"message {index}: {e}") from None
        fresh = True  # normalize_content copies
    out: list[Block] | None = None  # built only once something changes
    for j, b in enumerate(content):
        if type(b) is dict:  # the fast path: a valid block, kept as it is
            t = b.get("type")
            if t == "text":
                text = b.get("text")
                if type(text) is str and text and not text.isspace():
                    if out is not None:
                        out.append(b.copy())
                    continue
            elif type(t) is str:
                if out is not None:
                    out.append(b.copy())
                continue
        converted = type(b) is not dict or type(b.get("type")) is not str
        if converted:
            try:
                b = normalize_content([b])[0]  # SDK block objects; anything else raises
            except InvalidConversation as e:
                raise InvalidConversation(f"message {index}: {e}") from None
        if b["type"] == "text":
            text = b.get("text")
            if not isinstance(text, str):
                raise InvalidConversation(
                    f"message {index} block {j}: a text block needs a string 'text', got {text!r:.60}")
            if not text or text.isspace():
                extra = " (its cache_control breakpoint is lost)" if "cache_control" in b else ""
                report.dropped.append(Dropped(index, j, f"empty text block{extra}"))
                if out is None:
                    out = [c.copy() for c in content[:j]]
                continue
        if out is None:
            out = [c.copy() for c in content[:j]]
        out.append(b if converted else b.copy())
    if out is None:
        return content, fresh
    return out, True


def _results_misplaced(blocks: list[Block]) -> bool:
    """True when a tool_result block follows some other block."""
    seen_other = False
    for b in blocks:
        if b["type"] == "tool_result":
            if seen_other:
                return True
        else:
            seen_other = True
    return False


# -- tool pairing (for requests) -------------------------------------------------------------

def _result_as_text(block: Block) -> list[Block]:
    """An orphan tool_result as user content: a text block naming it, then its content."""
    tid = block.get("tool_use_id", "?")
    header = f"[tool result for {tid}" + (", an error" if block.get("is_error") else "") + "]"
    content = block.get("content")
    texts: list[str] = [header]
    others: list[Block] = []
    if isinstance(content, str):
        if content.strip():
            texts.append(content)
    elif isinstance(content, list):
        for c in content:
            if isinstance(c, Mapping) and c.get("type") == "text":
                if isinstance(c.get("text"), str) and c["text"].strip():
                    texts.append(c["text"])
            elif isinstance(c, Mapping) and isinstance(c.get("type"), str):
                others.append(dict(c))  # image, document, search_result: valid user blocks
    out: list[Block] = [{"type": "text", "text": "\n\n".join(texts)}, *others]
    if "cache_control" in block:
        out[-1]["cache_control"] = block["cache_control"]
    return out


def _drop_repeated_calls(msg: ApiMessage, index: int, fresh: bool, report: RepairReport) -> list[str]:
    """Keep the first tool_use of each id in an assistant message (the API wants ids unique;
    repeats come from a reply saved twice and merged). Returns the ids kept, in order."""
    seen: list[str] = []
    blocks: list[Block] = []
    for b in msg["content"]:
        tid = b.get("id") if b["type"] == "tool_use" else None
        if type(tid) is str:
            if tid in seen:
                report.tool_fixes.append(ToolFix(index, tid, "repeated_use_dropped",
                                                 "a second tool_use with the same id in one message "
                                                 "(a reply saved twice?); the first is kept"))
                continue
            seen.append(tid)
        blocks.append(b if fresh else b.copy())
    msg["content"] = blocks
    return seen


def _pair_tools(out: list[ApiMessage], starts: list[int], fresh: set[int], report: RepairReport) -> None:
    """Make every tool_use answered at the start of the next user message, and every
    tool_result answer a tool_use of the previous assistant message (in place on ``out``;
    a message whose content is not in ``fresh`` gets new block dicts before it changes)."""
    pending: list[str] = []  # tool_use ids of the previous assistant message
    for k, msg in enumerate(out):
        content = msg["content"]
        if msg["role"] == "assistant":
            pending = _calls_of(msg, starts[k], k in fresh, report)
            continue
        if not pending and (type(content) is str or content[0]["type"] != "tool_result"):
            continue  # nothing asked, nothing answered
        blocks: list[Block] = [{"type": "text", "text": content}] if type(content) is str else content
        if not _answers_in_order(blocks, pending):
            _answer(msg, blocks, pending, k, starts, k in fresh, report)
        pending = []


def _calls_of(msg: ApiMessage, index: int, fresh: bool, report: RepairReport) -> list[str]:
    """The tool_use ids of an assistant message, a repeated id dropped (``_drop_repeated_calls``)."""
    content = msg["content"]
    if type(content) is not list:
        return []
    ids = [b["id"] for b in content if b["type"] == "tool_use" and type(b.get("id")) is str]
    if len(ids) > 1 and len(set(ids)) < len(ids):
        return _drop_repeated_calls(msg, index, fresh, report)
    return ids


def _answers_in_order(blocks: list[Block], pending: list[str]) -> bool:
    """The common case: the message starts with exactly one tool_result per call, in order."""
    p = len(pending)
    return bool(p and len(blocks) >= p and blocks[p - 1]["type"] == "tool_result"
                and (len(blocks) == p or blocks[p]["type"] != "tool_result")
                and (blocks[0].get("tool_use_id") == pending[0] if p == 1
                     else [b.get("tool_use_id") for b in blocks[:p]] == pending))


def _answer(msg: ApiMessage, blocks: list[Block], pending: list[str], k: int, starts: list[int],
            fresh: bool, report: RepairReport) -> None:
    """Rewrite user message ``k`` so that its leading tool_results answer exactly ``pending``:
    orphan results become text, missing ones get a synthetic error result."""
    n = 0
    while n < len(blocks) and blocks[n]["type"] == "tool_result":
        n += 1
    want = set(pending)
    kept: list[Block] = []
    texts: list[Block] = []
    for b in blocks[:n]:
        tid = b.get("tool_use_id")
        if isinstance(tid, str) and tid in want:
            want.discard(tid)
            kept.append(b)
        else:
            why = ("answers a tool_use already answered" if tid in pending else
                   "answers no tool_use of the previous assistant message")
            report.tool_fixes.append(ToolFix(starts[k], str(tid), "result_to_text",
                                             f"orphan tool_result {why}; kept as text"))
            texts.extend(_result_as_text(b))
    missing = [t for t in pending if t in want]
    for tid in missing:
        report.tool_fixes.append(ToolFix(starts[k - 1], tid, "synthetic_result",
                                         "tool_use had no tool_result at the start of the next "
                                         "user message; an is_error result was added"))
    synthetic = [{"type": "tool_result", "tool_use_id": t, "is_error": True, "content": MISSING_RESULT}
                 for t in missing]
    if missing or texts:
        rest = blocks[n:]
        if not fresh:
            kept = [b.copy() for b in kept]
            rest = [b.copy() for b in rest]
        msg["content"] = [*kept, *synthetic, *texts, *rest]


# -- the function ----------------------------------------------------------------------------

@dataclass
class _Output:
    """The messages being built, and what the later passes need to know about them."""

    out: list[ApiMessage] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # input index of each output message's first source
    runs: dict[int, list[int]] = field(default_factory=dict)  # position -> input indices, merged ones only
    fresh: set[int] = field(default_factory=set)  # positions whose content list and blocks are our copies
    check: list[int] = field(default_factory=list)  # user messages whose tool_results may be misplaced
    parts: dict[int, list[str]] = field(default_factory=dict)  # position -> strings of a run, joined once


def repair_messages(messages: Iterable[Message | Mapping[str, Any]],
                    for_request: bool = False) -> tuple[list[ApiMessage], RepairReport]:
    """Merge, clean and (with ``for_request``) make a message sequence valid for the API.

    ``messages`` are ``convolab.Message`` objects or API-style dicts, mixed freely. Returns
    fresh API dicts ``{"role", "content"}`` and a ``RepairReport`` of every change; user
    text is never dropped (only empty text is). Invalid roles or content blocks raise
    ``InvalidConversation``. See the module docstring for the rules.
    """
    report = RepairReport()
    o = _Output()
    out, starts = o.out, o.starts
    last_role = None
    for i, m in enumerate(messages):
        if type(m) is dict and isinstance(r := m.get("role"), str) and r in _ROLES and "content" in m:
            role, content = _ROLES[r], m["content"]  # the fast path; Role members match too
        elif type(m) is Message:
            role, content = m.role._value_, m.content  # ``.value`` is a slow enum property
        else:
            role, content = _read(m, i)
        content, copied = _non_empty(content, i, report)
        if content is None:
            continue
        if role == last_role:
            _merge(o, role, content, copied)
            o.runs.setdefault(len(out) - 1, [starts[-1]]).append(i)
        else:
            if copied:
                o.fresh.add(len(out))
            if role == "user" and type(content) is list and len(content) > 1 and _results_misplaced(content):
                o.check.append(len(out))
            out.append({"role": role, "content": content})
            starts.append(i)
            last_role = role
    _close_runs(o, report)
    _move_results_first(o, report)
    if for_request:
        _as_request(o, report)
    return out, report


def _non_empty(content: Any, i: int, report: RepairReport) -> tuple[Any, bool]:
    """Input ``i``'s content with empty text left out (``None``: nothing left), and whether the
    list is a copy of ours."""
    if type(content) is str:
        if not content or content.isspace():
            report.dropped.append(Dropped(i, None, "empty or whitespace-only text"))
            return None, False
        return content, False
    content, copied = _clean_blocks(content, i, report)
    if not content:
        report.dropped.append(Dropped(i, None, "no non-empty content"))
        return None, False
    return content, copied


def _merge(o: _Output, role: str, content: Any, copied: bool) -> None:
    """Add ``content`` to the last output message (of the same ``role``)."""
    k = len(o.out) - 1
    prev = o.out[k]["content"]
    if type(prev) is str and type(content) is str:
        o.parts.setdefault(k, [prev]).append(content)  # joining once keeps long runs linear
        return
    if k in o.parts:
        prev = o.out[k]["content"] = "\n\n".join(o.parts.pop(k))
    if k not in o.fresh:  # never extend a list the caller gave us
        prev = o.out[k]["content"] = ([{"type": "text", "text": prev}] if type(prev) is str
                                      else [b.copy() for b in prev])
        o.fresh.add(k)
    if type(content) is str:
        prev.append({"type": "text", "text": content})
    else:
        prev.extend(content if copied else [b.copy() for b in content])
    if role == "user" and (not o.check or o.check[-1] != k):
        o.check.append(k)


def _close_runs(o: _Output, report: RepairReport) -> None:
    """Join the strings of each merged run once, and report the merges."""
    for k, strings in o.parts.items():
        o.out[k]["content"] = "\n\n".join(strings)
    for k, idx in o.runs.items():
        report.merged.append(Merged(idx[0], tuple(idx[1:]), o.out[k]["role"],
                                    f"consecutive {o.out[k]['role']} messages merged, content kept in order"))


def _move_results_first(o: _Output, report: RepairReport) -> None:
    """In each user message that may need it, tool_result blocks go first, in their order."""
    for k in o.check:
        blocks = o.out[k]["content"]
        if not _results_misplaced(blocks):
            continue
        if k not in o.fresh:
            blocks = [b.copy() for b in blocks]
            o.fresh.add(k)
        moved = ([b for b in blocks if b["type"] == "tool_result"]
                 + [b for b in blocks if b["type"] != "tool_result"])
        o.out[k]["content"] = moved
        report.tool_fixes.append(ToolFix(o.starts[k], str(moved[0].get("tool_use_id", "?")), "moved_first",
                                         "tool_result blocks moved before the other content, "
                                         "as the API requires"))


def _as_request(o: _Output, report: RepairReport) -> None:
    """Start and end with a user message (setting assistant ones aside) and pair the tools."""
    out, fresh = o.out, o.fresh
    # the end first: popping it leaves the positions in ``runs`` valid for the start
    if out and out[-1]["role"] == "assistant":
        _set_aside(out, o.starts, o.runs, len(out) - 1, report,
                   "a request must end with a user message (an unanswered or incomplete turn)")
    if out and out[0]["role"] == "assistant":
        _set_aside(out, o.starts, o.runs, 0, report, "a request must start with a user message")
        fresh = {k - 1 for k in fresh}
    _pair_tools(out, o.starts, fresh, report)


def _set_aside(out: list[ApiMessage], starts: list[int], runs: dict[int, list[int]], k: int,
               report: RepairReport, reason: str) -> None:
    """Move output message ``k`` into ``report.set_aside``, with the input indices it came from."""
    indices = tuple(runs.get(k, [starts[k]]))
    report.set_aside.append(SetAside(indices, out.pop(k), reason))
    starts.pop(k)
