"""Server-side context management (beta): the edits the API applies before the model reads.

Modelled from the context editing and compaction docs
(https://platform.claude.com/docs/en/build-with-claude/context-editing,
https://platform.claude.com/docs/en/build-with-claude/compaction):

- ``clear_thinking_20251015``: thinking blocks of all but the last ``keep`` assistant turns
  (default ``{"type": "thinking_turns", "value": 1}``; ``"all"`` keeps every one) are removed;
  the response reports ``cleared_thinking_turns`` and ``cleared_input_tokens``. Combined with
  other edits it must be listed first (a 400 otherwise), and it runs first.
- ``clear_tool_uses_20250919``: once the prompt exceeds ``trigger`` (default 100,000 input
  tokens, or a number of tool uses), the oldest tool results are replaced by a placeholder,
  keeping the last ``keep`` tool uses (default 3) and any tool named in ``exclude_tools``;
  with ``clear_tool_inputs`` the calls' inputs are cleared too. If fewer than
  ``clear_at_least`` tokens would be freed, nothing is cleared. The response reports
  ``cleared_tool_uses`` and ``cleared_input_tokens`` under ``context_management``.
- ``compact_20260112``: once the prompt exceeds ``trigger`` (default 150,000; at least
  50,000), the conversation so far is summarized into a ``compaction`` block that starts the
  response's content; the reply is then generated from the summary plus the newest user
  message. With ``pause_after_compaction`` the response stops after the block
  (``stop_reason: "compaction"``). A request that carries a compaction block drops every
  message before it: the block's summary stands in for them. The compaction pass is billed as
  its own iteration in ``usage.iterations``; the top-level usage is the message iteration's.

Edits run on a copy: the client's history is never changed (the API edits server-side only).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from convolab.blocks import block_texts
from convolab.sim.api_error import invalid
from convolab.sim.reading import READS
from convolab.sim.thinking import THINKING_BLOCKS

CLEAR_PLACEHOLDER = "[tool result cleared by context management]"
CLEAR_DEFAULT_TRIGGER = 100_000
CLEAR_DEFAULT_KEEP = 3
THINKING_DEFAULT_KEEP = {"type": "thinking_turns", "value": 1}
COMPACT_DEFAULT_TRIGGER = 150_000
COMPACT_MIN_TRIGGER = 50_000
BETA_HEADERS = {"clear_tool_uses_20250919": "context-management-2025-06-27",
                "clear_thinking_20251015": "context-management-2025-06-27",
                "compact_20260112": "compact-2026-01-12"}


@dataclass
class Edits:
    """The validated ``context_management`` of a request."""

    clear: dict[str, Any] | None = None
    compact: dict[str, Any] | None = None
    clear_thinking: dict[str, Any] | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)


def _threshold(obj: Any, where: str, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("value"), int) \
            or obj["value"] < 0:
        raise invalid(f"{where}: expected {{'type': {' or '.join(repr(k) for k in kinds)}, 'value': <int >= 0>}}")
    return obj


def parse(cm: Any, spec: Any, betas: set[str] | frozenset[str]) -> Edits:
    """Validate ``context_management`` for model ``spec`` with the request's beta headers."""
    if not isinstance(cm, dict) or not isinstance(cm.get("edits"), list):
        raise invalid("context_management.edits: Field required (a list of edits)")
    out = Edits()
    for i, edit in enumerate(cm["edits"]):
        where = f"context_management.edits.{i}"
        kind = edit.get("type") if isinstance(edit, dict) else None
        if kind not in BETA_HEADERS:
            raise invalid(f"{where}.type: Input should be one of {', '.join(repr(k) for k in BETA_HEADERS)}")
        if BETA_HEADERS[kind] not in betas:
            raise invalid(f"{where}: {kind} needs the beta header anthropic-beta: {BETA_HEADERS[kind]}")
        feature = "compaction" if kind == "compact_20260112" else "context_management_clear_tool_uses"
        if kind != "clear_thinking_20251015" and not spec.supports(feature):
            raise invalid(f"{where}: {kind} is not supported by {spec.id}")
        if kind == "clear_tool_uses_20250919":
            _threshold(edit.get("trigger"), f"{where}.trigger", ("input_tokens", "tool_uses"))
            _threshold(edit.get("keep"), f"{where}.keep", ("tool_uses",))
            _threshold(edit.get("clear_at_least"), f"{where}.clear_at_least", ("input_tokens",))
            out.clear = edit
        elif kind == "compact_20260112":
            trig = _threshold(edit.get("trigger"), f"{where}.trigger", ("input_tokens",))
            if trig is not None and trig["value"] < COMPACT_MIN_TRIGGER:
                raise invalid(f"{where}.trigger.value: must be at least {COMPACT_MIN_TRIGGER}")
            out.compact = edit
        else:
            if i > 0:
                raise invalid(f"{where}: clear_thinking_20251015 must be listed first in edits when it is "
                              "combined with other strategies")
            _thinking_keep(edit.get("keep"), f"{where}.keep")
            out.clear_thinking = edit
    return out


def _thinking_keep(keep: Any, where: str) -> None:
    if keep is None or keep == "all" or (isinstance(keep, dict) and keep.get("type") == "all" and len(keep) == 1):
        return
    _threshold(keep, where, ("thinking_turns",))


def parse_compaction_request(payload: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    """The beta top-level ``compaction`` parameter (anthropic 2.13 ``BetaCompactionConfigParam``):
    ``{"type": "summarize", "instructions": ...}``; the response is the compaction block alone
    (``stop_reason: "compaction"``). "Cannot be combined with `context_management`"."""
    config = payload.get("compaction")
    if config is None:
        return None
    if not isinstance(config, dict) or config.get("type") != "summarize":
        raise invalid("compaction.type: Input should be 'summarize'")
    if payload.get("context_management"):
        raise invalid("compaction: cannot be combined with `context_management`")
    if not spec.supports("compaction"):
        raise invalid(f"compaction: compaction is not supported by {spec.id}")
    return config


def drop_before_compaction(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages from the last compaction block on, the block's summary standing in for the rest."""
    for k in range(len(messages) - 1, -1, -1):
        blocks = messages[k]["content"]
        idx = [j for j, b in enumerate(blocks) if b.get("type") == "compaction"]
        if not idx:
            continue
        j = idx[-1]
        summary = blocks[j].get("content")
        if summary is None:  # a failed compaction is a no-op
            return messages
        head = {"role": "user", "content": [{"type": "text", "text": f"[Summary of earlier conversation]\n{summary}"}]}
        rest = blocks[j + 1:]
        tail = messages[k + 1:]
        if rest:
            tail = [{"role": messages[k]["role"], "content": rest}, *tail]
        if tail and tail[0]["role"] == "user":
            tail = [{"role": "user", "content": head["content"] + tail[0]["content"]}, *tail[1:]]
            return tail
        return [head, *tail]
    return messages


def clear_tool_uses(messages: list[dict[str, Any]], edit: dict[str, Any], total: int,
                    cost: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Apply ``clear_tool_uses_20250919``; ``cost(block)`` gives a block's tokens."""
    uses = [(i, j, b) for i, m in enumerate(messages) for j, b in enumerate(m["content"]) if b.get("type") == "tool_use"]
    trigger = edit.get("trigger") or {"type": "input_tokens", "value": CLEAR_DEFAULT_TRIGGER}
    measure = total if trigger["type"] == "input_tokens" else len(uses)
    if measure <= trigger["value"]:
        return messages, None
    keep = (edit.get("keep") or {"value": CLEAR_DEFAULT_KEEP})["value"]
    exclude = set(edit.get("exclude_tools") or [])
    clear_inputs = edit.get("clear_tool_inputs") or False
    candidates = [u for u in uses[:max(0, len(uses) - keep)] if u[2].get("name") not in exclude]
    ids = {b["id"]: (i, j) for i, j, b in candidates}
    out = copy.deepcopy(messages)
    freed, cleared = 0, 0
    for m in out:
        for k, b in enumerate(m["content"]):
            if b.get("type") == "tool_result" and b.get("tool_use_id") in ids:
                new = {"type": "tool_result", "tool_use_id": b["tool_use_id"], "content": CLEAR_PLACEHOLDER}
                freed += cost(b) - cost(new)
                m["content"][k] = new
                cleared += 1
            elif b.get("type") == "tool_use" and b.get("id") in ids and (
                    clear_inputs is True or (isinstance(clear_inputs, list) and b.get("name") in clear_inputs)):
                new = {**b, "input": {}}
                freed += cost(b) - cost(new)
                m["content"][k] = new
    at_least = (edit.get("clear_at_least") or {"value": 0})["value"]
    if cleared == 0 or freed < at_least:
        return messages, None
    return out, {"type": "clear_tool_uses_20250919", "cleared_tool_uses": cleared, "cleared_input_tokens": freed}


def clear_thinking(messages: list[dict[str, Any]], edit: dict[str, Any], total: int,
                   cost: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Apply ``clear_thinking_20251015``: drop the thinking blocks of assistant turns before the
    last ``keep`` ones; ``cost(block)`` gives a block's tokens (``total`` is unused: the edit has
    no trigger)."""
    keep = edit.get("keep") or THINKING_DEFAULT_KEEP
    if keep == "all" or keep.get("type") == "all":
        return messages, None
    turns = [k for k, m in enumerate(messages) if m["role"] == "assistant"
             and any(b.get("type") in THINKING_BLOCKS for b in m["content"])]
    cleared = turns[:max(0, len(turns) - keep["value"])]
    if not cleared:
        return messages, None
    out, freed = list(messages), 0
    for k in cleared:
        kept = [b for b in messages[k]["content"] if b.get("type") not in THINKING_BLOCKS]
        freed += sum(cost(b) for b in messages[k]["content"] if b.get("type") in THINKING_BLOCKS)
        out[k] = {**messages[k], "content": kept}
    return out, {"type": "clear_thinking_20251015", "cleared_thinking_turns": len(cleared),
                 "cleared_input_tokens": freed}


def compaction_needed(edit: dict[str, Any], total: int) -> bool:
    trigger = edit.get("trigger") or {"value": COMPACT_DEFAULT_TRIGGER}
    return total > trigger["value"]


def transcript(messages: list[dict[str, Any]]) -> list[str]:
    """Plain text of each message, for the compaction summary (read as the model reads it)."""
    out = []
    for m in messages:
        parts = [t for t in block_texts(m["content"], READS) if t]
        if parts:
            out.append(f"{m['role'].capitalize()}: " + " ".join(parts))
    return out
