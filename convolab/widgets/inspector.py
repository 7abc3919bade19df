"""``PayloadInspector``: the exact request a strategy built, as the API receives it."""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets

from convolab.model import blocks_of
from convolab.strategies.base import Payload
from convolab.strategies.retrieval import EXCERPT_INTRO
from convolab.tokens import TokenCounter
from convolab.widgets import _static as s

SYSTEM_KINDS = (  # how the strategies' extra system blocks open (see convolab/strategies)
    ("[Summary of earlier conversation", "summary"),
    ("[Requirements the user stated", "pins"),
    ("[Conversation memory", "memory"),
)
RETRIEVED_HEAD = "[Earlier in the conversation"  # MessageRetrieval
CONTINUED_HEAD = "[Conversation continued"
RECENT_HEAD = "[Recent conversation"
LEFT_OUT_SHOWN = 40  # ids listed before "... and N more"


def system_kind(block: dict[str, Any]) -> str:
    """``summary``, ``pins``, ``memory`` or ``system`` for one system block."""
    text = block.get("text") if isinstance(block.get("text"), str) else ""
    for prefix, kind in SYSTEM_KINDS:
        if text.startswith(prefix):
            return kind
    return "system"


def _first_text(message: dict[str, Any]) -> str:
    for b in blocks_of(message):
        if b.get("type") == "text" and isinstance(b.get("text"), str):
            return b["text"]
    return ""


def message_kinds(messages: list[dict[str, Any]]) -> list[str]:
    """``retrieved`` for messages Retrieval brought back (from an ``[Earlier in the conversation``
    header to the ``[Recent conversation`` one), ``compaction`` for a compaction block, else the role."""
    kinds, retrieved = [], False
    for m in messages:
        head = _first_text(m)
        if head.startswith(RETRIEVED_HEAD):
            retrieved = True
        elif head.startswith(RECENT_HEAD):
            retrieved = False
        if any(b.get("type") == "compaction" for b in blocks_of(m)):
            kinds.append("compaction")
        else:
            kinds.append("retrieved" if retrieved else m.get("role", "?"))
    return kinds


def _block_html(b: dict[str, Any]) -> str:
    kind = b.get("type")
    cc = s.badge("cache breakpoint", s.AMBER, title=json.dumps(b["cache_control"])) if "cache_control" in b else ""
    if kind == "text":
        text = b.get("text", "")
        quoted = s.badge("retrieved excerpts (quoted)", s.GREEN) if text.startswith(EXCERPT_INTRO) else ""
        return cc + quoted + s.text_box(text)
    if kind == "tool_use":
        body = json.dumps(b.get("input"), ensure_ascii=False, indent=1)
        return cc + s.badge(f"tool_use {b.get('name')}", s.PURPLE) + s.muted(str(b.get("id", ""))) + s.text_box(body)
    if kind == "tool_result":
        content = b.get("content")
        text = content if isinstance(content, str) else "\n".join(
            c.get("text", f"[{c.get('type')}]") for c in content or [] if isinstance(c, dict))
        err = s.badge("is_error", s.RED) if b.get("is_error") else ""
        return cc + s.badge("tool_result", s.PURPLE) + err + s.muted(str(b.get("tool_use_id", ""))) + s.text_box(text)
    if kind == "compaction":
        return cc + s.badge("compaction", s.PURPLE) + s.text_box(str(b.get("content", "")))
    shown = {k: v for k, v in b.items() if k not in ("data", "source")}
    return cc + s.badge(str(kind), s.MUTED) + s.text_box(json.dumps(shown, ensure_ascii=False)[:2000])


class PayloadInspector(s.StaticFallback, widgets.VBox):
    """The request a strategy built: system blocks, tools, each message with its tokens, where
    the cache breakpoints sit, what was left out, summary / memory / retrieved parts
    highlighted, and the request as JSON.

    ``PayloadInspector(payload, counter=None)``; ``update(payload)`` shows another one;
    ``to_html()`` is the static view (also the widget's ``text/html`` fallback).
    """

    def __init__(self, payload: Payload | None = None, *, counter: TokenCounter | None = None, **kwargs: Any):
        if counter is None:
            from convolab.sim import SimTokenCounter

            counter = SimTokenCounter()
        self.counter = counter
        self.payload = payload
        self._view = widgets.HTML()
        super().__init__(children=[self._view], **kwargs)
        self._refresh()

    def update(self, payload: Payload | None) -> None:
        self.payload = payload
        self._refresh()

    def _refresh(self) -> None:
        self._view.value = self.to_html()

    def __repr__(self) -> str:
        p = self.payload
        if p is None:
            return "PayloadInspector(no payload)"
        return f"PayloadInspector(strategy={p.strategy!r}, input_tokens={p.input_tokens}, messages={len(p.messages)})"

    # -- static view ---------------------------------------------------------------------------
    def message_tokens(self) -> list[int | None]:
        """Each message's tokens as counted by ``counter`` (``None`` where it cannot count it)."""
        p = self.payload
        if p is None:
            return []
        model = p.request["model"]
        out: list[int | None] = []
        for m in p.messages:
            try:
                out.append(self.counter.count_message(m, model=model))
            except Exception:  # a block type the counter does not know: shown as "?"
                out.append(None)
        return out

    def to_html(self) -> str:
        p = self.payload
        if p is None:
            return s.panel(s.muted("no payload yet: send a message"), kind="payload", title="Payload")
        req, model = p.request, p.request["model"]
        parts = [self._summary_html(p), self._cache_html(p), self._system_html(req, model),
                 self._tools_html(req, model), self._messages_html(p), self._left_out_html(p)]
        if not p.repair.is_clean:
            parts.append(s.block(s.text_box(str(p.repair)), kind="pins", label="repaired before sending"))
        parts.append(s.details("request JSON (exactly what the SDK sends)", s.json_view(p.to_json())))
        title = f"Payload: {p.strategy}, {p.input_tokens:,} input tokens, {len(p.messages)} messages"
        return s.panel("".join(parts), kind="payload", title=title)

    @staticmethod
    def _summary_html(p: Payload) -> str:
        rows = [[k, s.fmt(v)] for k, v in p.breakdown.items() if v]
        rows.append(["total input", s.fmt(p.input_tokens)])
        extra = {k: v for k, v in p.request.items() if k not in ("model", "max_tokens", "messages", "system", "tools")}
        facts = [f"model {p.request['model']}", f"max_tokens {p.request.get('max_tokens')}"]
        if p.betas:
            facts.append("betas " + ", ".join(p.betas))
        facts += [f"{k} {json.dumps(v)}" for k, v in extra.items()]
        return (f'<div style="margin-bottom:4px">{s.muted(" | ".join(facts))}</div>'
                + s.table(rows, ["part", "tokens"], numeric=[1]))

    @staticmethod
    def _cache_html(p: Payload) -> str:
        c = p.cache
        points = "".join(s.badge(b, s.AMBER) for b in c.breakpoints) or s.muted("no cache breakpoints")
        plan = (f"stable prefix {c.stable_prefix_tokens:,} tokens; expected read {c.expected_read:,}, "
                f"expected write {c.expected_write:,} (if the previous request was within the TTL)")
        return (f'<div data-convolab="cache" style="margin:6px 0"><b>Cache breakpoints</b> {points}<br>'
                f"{s.muted(plan)}</div>")

    def _system_html(self, req: dict[str, Any], model: str) -> str:
        system = req.get("system")
        if not system:
            return s.block(s.muted("no system prompt"), label="system")
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        base = self.counter.count_system(None, model=model)
        out = []
        for i, b in enumerate(blocks):
            kind = system_kind(b)
            tokens = self.counter.count_system([b], model=model) - base
            badges = s.badge(f"{tokens:,} tokens", s.MUTED)
            if "cache_control" in b:
                badges += s.badge("cache breakpoint", s.AMBER, title=json.dumps(b["cache_control"]))
            out.append(s.block(s.text_box(b.get("text", json.dumps(b))), kind=kind, badges=badges,
                               label=f"system block {i + 1}" + ("" if kind == "system" else f" ({kind})")))
        return "".join(out)

    def _tools_html(self, req: dict[str, Any], model: str) -> str:
        tools = req.get("tools")
        if not tools:
            return ""
        total = self.counter.count_tools(tools, model=model)
        names = "".join(s.badge(t.get("name", t.get("type", "?")), s.PURPLE)
                        + (s.badge("cache breakpoint", s.AMBER) if "cache_control" in t else "") for t in tools)
        return s.block(names, label=f"tools ({len(tools)}, {total:,} tokens)")

    def _messages_html(self, p: Payload) -> str:
        msgs = p.messages
        tokens = self.message_tokens()
        kinds = message_kinds(msgs)
        auto = "cache_control" in p.request
        out = []
        for i, (m, n, kind) in enumerate(zip(msgs, tokens, kinds, strict=True)):
            badges = s.badge(f"{n:,} tokens" if n is not None else "? tokens", s.MUTED)
            if kind == "retrieved":
                badges += s.badge("retrieved", s.GREEN)
            elif any(b.get("type") == "text" and str(b.get("text", "")).startswith(EXCERPT_INTRO)
                     for b in blocks_of(m)):
                badges += s.badge("with retrieved excerpts", s.GREEN)
            if auto and i == len(msgs) - 1:
                badges += s.badge("cache breakpoint (automatic: top-level cache_control)", s.AMBER)
            body = "".join(_block_html(b) for b in blocks_of(m))
            out.append(s.block(body, kind=kind, label=f"#{i + 1} {m.get('role')}",
                               badges=badges))
        total = sum(n for n in tokens if n is not None)
        head = f'<div style="margin-top:8px"><b>Messages</b> {s.muted(f"{len(msgs)} sent, {total:,} tokens")}</div>'
        return head + "".join(out)

    @staticmethod
    def _left_out_html(p: Payload) -> str:
        left = p.left_out
        if not left:
            return '<div data-convolab="left-out" style="margin:6px 0"><b>Left out</b>: 0 messages</div>'
        ids = ", ".join(left[:LEFT_OUT_SHOWN]) + (f" ... and {len(left) - LEFT_OUT_SHOWN} more"
                                                 if len(left) > LEFT_OUT_SHOWN else "")
        note = s.muted("(stored, not sent)")
        return (f'<div data-convolab="left-out" style="margin:6px 0"><b>Left out</b>: {len(left)} messages {note}'
                f'<div style="{s.MONO};color:{s.MUTED}">{s.esc(ids)}</div></div>')
