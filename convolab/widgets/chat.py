"""``ChatWidget``: a chat box over a ``ChatSession``, with tokens, cache and cost per turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic
import ipywidgets as widgets

from convolab.commands.chat import turn_line
from convolab.errors import ConvolabError
from convolab.model import Message, blocks_of
from convolab.strategies.registry import NAMES, make_strategy
from convolab.widgets import _static as s
from convolab.widgets.growth import TokenGrowthChart
from convolab.widgets.inspector import PayloadInspector

#: errors shown as a red line by ``send`` (anything else is a bug and propagates)
EXPECTED_ERRORS = (ConvolabError, anthropic.APIError)
SWITCH_NOTE = ("the conversation is kept; the new strategy's own state (summary, memory) starts fresh "
               "unless this conversation stored one for it earlier")
BUBBLE = {"user": ("#ddf4ff", "you"), "assistant": ("#f6f8fa", "claude")}


def _message_html(m: Message, *, waiting: bool) -> str:
    bg, who = BUBBLE.get(m.role.value, ("#ffffff", m.role.value))
    parts = []
    for b in blocks_of(m):
        kind = b.get("type")
        if kind == "text":
            parts.append(s.esc(b.get("text", "")))
        elif kind == "tool_use":
            parts.append(s.badge(f"tool_use {b.get('name')}", s.PURPLE))
        elif kind == "tool_result":
            parts.append(s.badge("tool_result", s.PURPLE))
        else:
            parts.append(s.badge(str(kind), s.MUTED))
    note = s.badge("no reply yet: sent again with the next message", s.AMBER) if waiting else ""
    return (f'<div data-role="{s.esc(m.role.value)}" style="background:{bg};border-radius:6px;padding:5px 9px;'
            f'margin:4px 0;white-space:pre-wrap;word-break:break-word;color:{s.INK}">'
            f'<b style="color:{s.MUTED}">{who}</b> {note}<br>{"<br>".join(parts)}</div>')


class ChatWidget(s.StaticFallback, widgets.VBox):
    """A chat over a ``ChatSession``: each reply with its line of figures (input, cache read,
    cache write, output tokens, cost, messages left out), a strategy picker, the last payload
    (``PayloadInspector``, collapsed) and input tokens per turn (``TokenGrowthChart``).

    ``ChatWidget(session, strategies=NAMES, budget_tokens=4000)``. ``send(text)`` sends from
    code and returns the ``SentTurn`` (``None`` after an error, shown as a red line).
    ``switch_strategy(name)`` is what the picker does: a new strategy (``make_strategy(name,
    budget_tokens=...)``) for the same conversation; it starts fresh unless this conversation
    stored a state for that strategy earlier. ``to_html()`` is the static view.
    """

    def __init__(self, session: Any, *, strategies: Sequence[str] = NAMES, budget_tokens: int | None = 4000,
                 **kwargs: Any):
        self.session = session
        self.budget_tokens = budget_tokens
        self.turns: list[Any] = []
        self.last_error: str | None = None
        self._figures: dict[str, str] = {}  # reply message id -> figures line
        self._events: list[tuple[int, str]] = []  # (messages before it, html): switches and errors
        self._syncing = False

        current = session.strategy.name
        options = list(strategies) + ([current] if current not in strategies else [])
        self.picker = widgets.Dropdown(options=options, value=current, description="strategy")
        self.picker.observe(self._on_pick, names="value")
        self.header = widgets.HTML()
        self.transcript = widgets.HTML()
        self.status = widgets.HTML()
        self.input = widgets.Text(placeholder="Message Claude", layout=widgets.Layout(width="70%"))
        self.send_button = widgets.Button(description="Send", button_style="primary", tooltip="Send the message")
        self.send_button.on_click(self._on_click)
        self.inspector = PayloadInspector()
        self.chart = TokenGrowthChart(model=session.conversation.model)
        self.payload_box = widgets.Accordion(children=[self.inspector], titles=("Last payload",))
        super().__init__(children=[widgets.HBox([self.picker, self.header]), self.transcript, self.status,
                                   widgets.HBox([self.input, self.send_button]), self.chart, self.payload_box],
                         **kwargs)
        self._refresh()

    # -- actions -------------------------------------------------------------------------------
    def send(self, text: str) -> Any:
        """Send ``text`` through the session; the ``SentTurn``, or ``None`` if it failed (the
        error is shown as a red line: ``BudgetExceeded``, ``ContextOverflow``, API errors)."""
        text = text.strip()
        if not text:
            return None
        try:
            turn = self.session.send(text)
        except EXPECTED_ERRORS as e:
            self._error(e)
            return None
        self.last_error = None
        self.turns.append(turn)
        self._figures[turn.messages[-1].id] = turn_line(turn)
        self.chart.add_turn(turn)
        self.inspector.update(turn.payload)
        self._refresh()
        return turn

    def switch_strategy(self, name: str) -> None:
        """Use strategy ``name`` from the next turn on, on the same conversation."""
        old = self.session.strategy.name
        if name == old:
            return
        try:
            self.session.switch_strategy(make_strategy(name, budget_tokens=self.budget_tokens))
        except EXPECTED_ERRORS as e:
            self._error(e)
            self._set_picker(old)
            return
        self._events.append((len(self.session.conversation.messages),
                             s.figures_line(f"strategy switched: {old} -> {name} ({SWITCH_NOTE})")))
        self.chart.break_line()
        self._set_picker(name)
        self._refresh()

    # -- callbacks -----------------------------------------------------------------------------
    def _on_click(self, _button: Any = None) -> None:
        text, self.input.value = self.input.value, ""
        self.send_button.disabled = True
        try:
            stored_before = len(self.session.conversation.messages)
            if self.send(text) is None and self.last_error and len(self.session.conversation.messages) == stored_before:
                self.input.value = text  # refused before sending (nothing stored): let the user edit it
        except Exception as e:  # a bug, still no traceback in the notebook
            self._error(e, unexpected=True)
        finally:
            self.send_button.disabled = False

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            try:
                self.switch_strategy(change["new"])
            except Exception as e:
                self._error(e, unexpected=True)

    def _set_picker(self, name: str) -> None:
        self._syncing = True
        try:
            self.picker.value = name
        finally:
            self._syncing = False

    def _error(self, e: BaseException, *, unexpected: bool = False) -> None:
        self.last_error = f"{'unexpected ' if unexpected else ''}{type(e).__name__}: {e}"
        line = s.error_line(self.last_error)
        self._events.append((len(self.session.conversation.messages), line))
        self._refresh()
        self.status.value = line

    # -- views ---------------------------------------------------------------------------------
    def transcript_html(self) -> str:
        """The conversation with each reply's figures line, strategy switches and errors."""
        msgs = self.session.conversation.messages
        waiting = {m.id for m in self.session.unanswered()}
        events: dict[int, list[str]] = {}
        for pos, markup in self._events:
            events.setdefault(pos, []).append(markup)
        out = []
        for i, m in enumerate(msgs):
            out += events.get(i, [])
            out.append(_message_html(m, waiting=m.id in waiting))
            if m.id in self._figures:
                out.append(s.figures_line(self._figures[m.id]))
        out += events.get(len(msgs), [])
        return "".join(out) or s.muted("no messages yet")

    def _header_text(self) -> str:
        c = self.session.conversation
        return (f"conversation {c.session_id} · {c.model} · {self.session.strategy.name} · "
                f"{self.session.stats['turns']} turns")

    def _refresh(self) -> None:
        self.header.value = f'<div style="padding:4px 8px">{s.muted(self._header_text())}</div>'
        # column-reverse keeps the box scrolled to its newest message, without script
        self.transcript.value = (
            f'<div style="display:flex;flex-direction:column-reverse;max-height:420px;overflow:auto;'
            f'{s.FONT};border:1px solid {s.LINE};border-radius:6px;padding:4px 8px;background:{s.PANEL}">'
            f"<div>{self.transcript_html()}</div></div>")
        self.status.value = s.error_line(self.last_error) if self.last_error else ""

    def to_html(self) -> str:
        body = (f'<div style="margin-bottom:6px">{s.muted(self._header_text())}</div>'
                f'<div data-convolab="transcript">{self.transcript_html()}</div>'
                + self.chart.to_html()
                + s.details("Last payload", self.inspector.to_html()))
        return s.panel(body, kind="chat", title="Chat")

    def __repr__(self) -> str:
        return f"ChatWidget(conversation_id={self.session.conversation_id!r}, strategy={self.session.strategy.name!r})"
