"""``PayloadInspector``: the exact request a strategy built, as the API receives it."""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets

from convolab.model import blocks_of
from convolab.strategies.base import Payload
from convolab.strategies.retrieval import EXCERPT_INTRO
from convolab.tokens import TokenCounter
from convolab.widgets._static import (
    AMBER,
    GREEN,
    MONO,
    MUTED,
    PURPLE,
    RED,
    StaticFallback,
    badge,
    block,
    details,
    esc,
    fmt,
    json_view,
    muted,
    panel,
    table,
    text_box,
)
from convolab.widgets.cache_verdict import CacheVerdict, cache_verdict

SYSTEM_KINDS = (  # how the strategies' extra system blocks open (see convolab/strategies)
    ("[Summary of earlier conversation", "summary"),
    ("[Requirements the user stated", "pins"),
    ("[Conversation memory", "memory"),
)
RETRIEVED_HEAD = "[Earlier in the conversation"  # MessageRetrieval
CONTINUED_HEAD = "[Conversation continued"
RECENT_HEAD = "[Recent conversation"
LEFT_OUT_SHOWN = 200  # ids listed (collapsed) before "... and N more"
VERDICT_COLORS = {"read": GREEN, "partial": AMBER, "first": MUTED, "off": MUTED, "planned": MUTED}


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
    cc = badge("cache breakpoint", AMBER, title=json.dumps(b["cache_control"])) if "cache_control" in b else ""
    if kind == "text":
        text = b.get("text", "")
        quoted = badge("retrieved excerpts (quoted)", GREEN) if text.startswith(EXCERPT_INTRO) else ""
        return cc + quoted + text_box(text)
    if kind == "tool_use":
        body = json.dumps(b.get("input"), ensure_ascii=False, indent=1)
        return cc + badge(f"tool_use {b.get('name')}", PURPLE) + muted(str(b.get("id", ""))) + text_box(body)
    if kind == "tool_result":
        content = b.get("content")
        text = content if isinstance(content, str) else "\n".join(
            c.get("text", f"[{c.get('type')}]") for c in content or [] if isinstance(c, dict))
        err = badge("is_error", RED) if b.get("is_error") else ""
        return cc + badge("tool_result", PURPLE) + err + muted(str(b.get("tool_use_id", ""))) + text_box(text)
    if kind == "compaction":
        return cc + badge("compaction", PURPLE) + text_box(str(b.get("content", "")))
    shown = {k: v for k, v in b.items() if k not in ("data", "source")}
    return cc + badge(str(kind), MUTED) + text_box(json.dumps(shown, ensure_ascii=False)[:2000])


class PayloadInspector(StaticFallback, widgets.VBox):
    """The request a strategy built: system blocks, tools, each message with its tokens, where
    the cache breakpoints sit and why the request read the cache or missed it, what was left
    out (collapsed behind its count), summary / memory / retrieved parts highlighted, and the
    request as JSON.

    ``PayloadInspector(payload, counter=None, usage=None, previous=None, seconds_since=None)``:
    with the ``usage`` the API returned for it and the conversation's ``previous`` payload
    (and the seconds between the two, when known), the cache section says why the request
    read the cache or missed it (``cache_verdict``). ``update(payload, ...)`` shows another
    one; ``to_html()`` is the static view (also the widget's ``text/html`` fallback).
    """

    def __init__(self, payload: Payload | None = None, *, counter: TokenCounter | None = None, usage: Any = None,
                 previous: Payload | None = None, seconds_since: float | None = None, **kwargs: Any):
        if counter is None:
            from convolab.sim import SimTokenCounter

            counter = SimTokenCounter()
        self.counter = counter
        self.payload, self.usage, self.previous, self.seconds_since = payload, usage, previous, seconds_since
        self._view = widgets.HTML()
        super().__init__(children=[self._view], **kwargs)
        self._refresh()

    def update(self, payload: Payload | None, *, usage: Any = None, previous: Payload | None = None,
               seconds_since: float | None = None) -> None:
        """Show ``payload`` (with its usage and the request before it, for the cache verdict)."""
        self.payload, self.usage, self.previous, self.seconds_since = payload, usage, previous, seconds_since
        self._refresh()

    def verdict(self) -> CacheVerdict | None:
        """Why the payload read the cache or missed it (``None`` without a payload)."""
        if self.payload is None:
            return None
        return cache_verdict(self.payload, self.usage, previous=self.previous, seconds_since=self.seconds_since)

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
            return panel(muted("no payload yet: send a message"), kind="payload", title="Payload")
        req, model = p.request, p.request["model"]
        parts = [self._summary_html(p), self._cache_html(p), self._system_html(req, model),
                 self._tools_html(req, model), self._messages_html(p), self._left_out_html(p)]
        if not p.repair.is_clean:
            parts.append(block(text_box(str(p.repair)), kind="pins", label="repaired before sending"))
        parts.append(details("request JSON (exactly what the SDK sends)", json_view(p.to_json())))
        title = f"Payload: {p.strategy}, {p.input_tokens:,} input tokens, {len(p.messages)} messages"
        return panel("".join(parts), kind="payload", title=title)

    @staticmethod
    def _summary_html(p: Payload) -> str:
        rows = [[k, fmt(v)] for k, v in p.breakdown.items() if v]
        rows.append(["total input", fmt(p.input_tokens)])
        extra = {k: v for k, v in p.request.items() if k not in ("model", "max_tokens", "messages", "system", "tools")}
        facts = [f"model {p.request['model']}", f"max_tokens {p.request.get('max_tokens')}"]
        if p.betas:
            facts.append("betas " + ", ".join(p.betas))
        facts += [f"{k} {json.dumps(v)}" for k, v in extra.items()]
        return (f'<div style="margin-bottom:4px">{muted(" | ".join(facts))}</div>'
                + table(rows, ["part", "tokens"], numeric=[1]))

    def _cache_html(self, p: Payload) -> str:
        c = p.cache
        points = "".join(badge(b, AMBER) for b in c.breakpoints) or muted("no cache breakpoints")
        verdict = self.verdict()
        color = VERDICT_COLORS.get(verdict.status, RED)
        line = (f'<div data-convolab="cache-verdict" data-status="{esc(verdict.status)}" '
                f'style="color:{color};margin:3px 0">{esc(verdict.text)}</div>')
        rows = [["cache read", fmt(c.expected_read)], ["cache write", fmt(c.expected_write)]]
        header = ["", "planned"]
        if self.usage is not None:
            header.append("billed")
            for row, key in zip(rows, ("cache_read_input_tokens", "cache_creation_input_tokens"), strict=True):
                row.append(fmt(int(getattr(self.usage, key, 0) or 0) if not isinstance(self.usage, dict)
                               else int(self.usage.get(key) or 0)))
        plan = muted(f"stable prefix {c.stable_prefix_tokens:,} tokens; planned figures assume the previous "
                     "request was sent within the TTL")
        return (f'<div data-convolab="cache" style="margin:6px 0"><b>Cache</b> {points}{line}'
                f"{table(rows, header, numeric=[1, 2])}{plan}</div>")

    def _system_html(self, req: dict[str, Any], model: str) -> str:
        system = req.get("system")
        if not system:
            return block(muted("no system prompt"), label="system")
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        base = self.counter.count_system(None, model=model)
        out = []
        for i, b in enumerate(blocks):
            kind = system_kind(b)
            tokens = self.counter.count_system([b], model=model) - base
            badges = badge(f"{tokens:,} tokens", MUTED)
            if "cache_control" in b:
                badges += badge("cache breakpoint", AMBER, title=json.dumps(b["cache_control"]))
            out.append(block(text_box(b.get("text", json.dumps(b))), kind=kind, badges=badges,
                               label=f"system block {i + 1}" + ("" if kind == "system" else f" ({kind})")))
        return "".join(out)

    def _tools_html(self, req: dict[str, Any], model: str) -> str:
        tools = req.get("tools")
        if not tools:
            return ""
        total = self.counter.count_tools(tools, model=model)
        names = "".join(badge(t.get("name", t.get("type", "?")), PURPLE)
                        + (badge("cache breakpoint", AMBER) if "cache_control" in t else "") for t in tools)
        return block(names, label=f"tools ({len(tools)}, {total:,} tokens)")

    def _messages_html(self, p: Payload) -> str:
        msgs = p.messages
        tokens = self.message_tokens()
        kinds = message_kinds(msgs)
        auto = "cache_control" in p.request
        out = []
        for i, (m, n, kind) in enumerate(zip(msgs, tokens, kinds, strict=True)):
            badges = badge(f"{n:,} tokens" if n is not None else "? tokens", MUTED)
            if kind == "retrieved":
                badges += badge("retrieved", GREEN)
            elif any(b.get("type") == "text" and str(b.get("text", "")).startswith(EXCERPT_INTRO)
                     for b in blocks_of(m)):
                badges += badge("with retrieved excerpts", GREEN)
            if auto and i == len(msgs) - 1:
                badges += badge("cache breakpoint (automatic: top-level cache_control)", AMBER)
            body = "".join(_block_html(b) for b in blocks_of(m))
            out.append(block(body, kind=kind, label=f"#{i + 1} {m.get('role')}",
                               badges=badges))
        total = sum(n for n in tokens if n is not None)
        head = f'<div style="margin-top:8px"><b>Messages</b> {muted(f"{len(msgs)} sent, {total:,} tokens")}</div>'
        return head + "".join(out)

    @staticmethod
    def _left_out_html(p: Payload) -> str:
        left = p.left_out
        if not left:
            return '<div data-convolab="left-out" style="margin:6px 0"><b>Left out</b>: 0 messages</div>'
        ids = ", ".join(left[:LEFT_OUT_SHOWN]) + (f" ... and {len(left) - LEFT_OUT_SHOWN:,} more"
                                                 if len(left) > LEFT_OUT_SHOWN else "")
        body = f'<div style="{MONO};color:{MUTED};word-break:break-all">{esc(ids)}</div>'
        return ('<div data-convolab="left-out">'
                + details(f"Left out: {len(left):,} messages (stored, not sent); their ids", body) + "</div>")
