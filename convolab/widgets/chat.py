"""``ChatWidget``: a chat box over a ``ChatSession``, with tokens, cache and cost per turn, the
request inspector, a live token chart, and a fork ("what if this had used another strategy?")."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import anthropic
import ipywidgets as widgets

from convolab.commands.chat import turn_line
from convolab.errors import ConvolabError
from convolab.model import Message, blocks_of, is_plain_user
from convolab.session import IDEMPOTENCY_HEADER
from convolab.strategies.registry import NAMES, make_strategy
from convolab.widgets._static import (
    AMBER,
    FONT,
    INK,
    LINE,
    MUTED,
    NO_MATH,
    PANEL,
    PURPLE,
    StaticFallback,
    badge,
    details,
    error_line,
    esc,
    figures_line,
    muted,
    panel,
    table,
)
from convolab.widgets.growth import TokenGrowthChart
from convolab.widgets.inspector import PayloadInspector

#: errors shown as a red line by ``send`` (anything else is a bug and propagates)
EXPECTED_ERRORS = (ConvolabError, anthropic.APIError)
SWITCH_NOTE = ("the conversation is kept; the new strategy's own state (summary, memory) starts fresh "
               "unless this conversation stored one for it earlier")
BUBBLE = {"user": ("#ddf4ff", "you"), "assistant": ("#f6f8fa", "claude")}
STREAM_EVERY = 0.05  # seconds between two redraws of a reply that is streaming in
STATS = (("turns", "turns"), ("requests", "requests"), ("input", "input_tokens"),
         ("cache read", "cache_read_tokens"), ("cache write", "cache_write_tokens"), ("output", "output_tokens"),
         ("cost", "cost_usd"), ("last request", "last_input_tokens"), ("left out", "last_left_out"))


def _message_html(m: Message | None, *, waiting: bool = False, partial: str | None = None) -> str:
    """One bubble: a stored message, or (``partial``) a reply still streaming in."""
    role = "assistant" if m is None else m.role.value
    bg, who = BUBBLE.get(role, ("#ffffff", role))
    parts = []
    for b in blocks_of(m) if m is not None else [{"type": "text", "text": partial or ""}]:
        kind = b.get("type")
        if kind == "text":
            parts.append(esc(b.get("text", "")))
        elif kind in ("tool_use", "tool_result"):
            parts.append(badge(f"{kind} {b.get('name', '')}".strip(), PURPLE))
        else:
            parts.append(badge(str(kind), MUTED))
    note = badge("no reply yet: sent again with the next message", AMBER) if waiting else ""
    note += badge("writing...", MUTED) if partial is not None else ""
    return (f'<div data-role="{esc(role)}" style="background:{bg};border-radius:6px;padding:5px 9px;'
            f'margin:4px 0;white-space:pre-wrap;word-break:break-word;color:{INK}">'
            f'<b style="color:{MUTED}">{who}</b> {note}<br>{"<br>".join(parts)}</div>')


def stats_html(stats: dict[str, Any]) -> str:
    """A session's ``stats`` as a one-row table: tokens with separators, cost in dollars."""
    def shown(key: str) -> str:
        value = stats.get(key)
        if value is None:
            return "-"
        return f"${value:,.4f}" if key == "cost_usd" else f"{value:,}"

    return table([[shown(key) for _, key in STATS]], [name for name, _ in STATS], numeric=range(len(STATS)))


class _StreamingMessages:
    """``client.messages``, except that a session's reply request (the one carrying an
    ``Idempotency-Key``) is streamed, its text passed to ``on_text`` as it arrives. The SDK's
    final ``Message`` is returned, so the session stores and bills exactly what it would have."""

    def __init__(self, messages: Any, on_text: Callable[[str], None]):
        self._messages, self._on_text = messages, on_text

    def create(self, **request: Any) -> Any:
        if IDEMPOTENCY_HEADER not in (request.get("extra_headers") or {}):
            return self._messages.create(**request)  # a strategy's side call: as it was
        with self._messages.stream(**request) as stream:
            for text in stream.text_stream:
                self._on_text(text)
            return stream.get_final_message()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._messages, name)


class _StreamingClient:
    """A client whose ``messages`` are ``_StreamingMessages``; everything else is the client's."""

    def __init__(self, client: Any, on_text: Callable[[str], None]):
        self._client = client
        self.messages = _StreamingMessages(client.messages, on_text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class ChatWidget(StaticFallback, widgets.VBox):
    """A chat over a ``ChatSession``: each reply with its line of figures (input, cache read,
    cache write, output tokens, cost, messages left out), the session's stats as a small table,
    a strategy picker, a fork control, the last payload (``PayloadInspector``, which says why
    the turn read the cache or missed it) and input tokens per turn (``TokenGrowthChart``).

    ``ChatWidget(session, strategies=NAMES, budget_tokens=4000, stream=True)``. Enter or
    **Send** sends the text box; while the request runs the box and the button wait, and with
    ``stream`` the reply is shown as it streams in. ``send(text)`` sends from code and returns
    the ``SentTurn`` (``None`` after an error, shown as a red line). ``switch_strategy(name)``
    is what the picker does: a new strategy (``make_strategy(name, budget_tokens=...)``) for
    the same conversation. ``fork(at_turn, name)`` is what **Fork** does: the conversation up to
    ``at_turn`` under strategy ``name`` as a new stored conversation (``ChatSession.fork``), its
    later user messages sent again there, and the chat goes on in the fork; the chart keeps
    both branches. ``to_html()`` is the static view.
    """

    def __init__(self, session: Any, *, strategies: Sequence[str] = NAMES, budget_tokens: int | None = 4000,
                 stream: bool = True, **kwargs: Any):
        self.session = session
        self.budget_tokens = budget_tokens
        self.stream = stream
        self.turns: list[Any] = []
        self.branches: list[Any] = [session]  # the original session, then each fork
        self.last_error: str | None = None
        self._suffix = ""  # added to the chart's line names in a fork: " (fork at turn N)"
        self._labels: set[str] = set()  # the chart's line names of this branch
        self._figures: dict[str, str] = {}  # reply message id -> figures line
        self._events: list[tuple[int, str]] = []  # (messages before it, html): switches, forks, errors
        self._partial: str | None = None  # the reply streaming in
        self._drawn = 0.0
        self._syncing = False

        current = session.strategy.name
        options = list(strategies) + ([current] if current not in strategies else [])
        self.picker = widgets.Dropdown(options=options, value=current, description="strategy")
        self.picker.observe(self._on_pick, names="value")
        self.header = widgets.HTML()
        self.transcript = widgets.HTML()
        self.status = widgets.HTML()
        self.stats = widgets.HTML()
        self.input = widgets.Text(placeholder="Message Claude (Enter sends)", layout=widgets.Layout(width="70%"))
        self.input.on_msg(self._on_input_msg)  # the Text view sends {"event": "submit"} on Enter
        self.send_button = widgets.Button(description="Send", button_style="primary", tooltip="Send the message")
        self.send_button.on_click(self._on_click)
        self.fork_turn = widgets.BoundedIntText(value=0, min=0, max=0, description="fork at turn",
                                                layout=widgets.Layout(width="190px"))
        self.fork_picker = widgets.Dropdown(options=options, value=options[0], description="under",
                                            layout=widgets.Layout(width="240px"))
        self.fork_button = widgets.Button(description="Fork", tooltip="Replay this conversation from that turn on "
                                          "under another strategy, as a new conversation; the chart shows both")
        self.fork_button.on_click(self._on_fork)
        self.inspector = PayloadInspector()
        self.chart = TokenGrowthChart(model=session.conversation.model, title="Input tokens per request")
        self.payload_box = widgets.Accordion(children=[self.inspector], titles=("Last payload",))
        super().__init__(children=[widgets.HBox([self.picker, self.header]), self.transcript, self.status,
                                   widgets.HBox([self.input, self.send_button]), self.stats, self.chart,
                                   widgets.HBox([self.fork_turn, self.fork_picker, self.fork_button]),
                                   self.payload_box], **kwargs)
        self._refresh()

    # -- actions -------------------------------------------------------------------------------
    def send(self, text: str) -> Any:
        """Send ``text`` through the session; the ``SentTurn``, or ``None`` if it failed (the
        error is shown as a red line: ``BudgetExceeded``, ``ContextOverflow``, API errors)."""
        text = text.strip()
        if not text:
            return None
        try:
            turn = self._send(self.session, text)
        except EXPECTED_ERRORS as e:
            self._error(e)
            return None
        self.last_error = None
        self._record(turn)
        self._refresh()
        return turn

    def _send(self, session: Any, text: str) -> Any:
        """``session.send(text)``, streaming the reply into the transcript when ``stream``."""
        if not self.stream:
            return session.send(text)
        client = session.client
        self._partial = ""
        session.client = _StreamingClient(client, self._on_text)
        try:
            return session.send(text)
        finally:
            session.client = client
            self._partial = None

    def _on_text(self, text: str) -> None:
        self._partial = (self._partial or "") + text
        now = time.monotonic()
        if now - self._drawn >= STREAM_EVERY:
            self._drawn = now
            self._draw_transcript()

    def _record(self, turn: Any) -> None:
        """A finished turn: its figures line, its point on the chart, the inspector."""
        # the request before it (in a fork: the original's request at the fork's turn, whose
        # prefix the fork repeats): what the cache verdict compares with
        previous = self.turns[-1] if self.turns and self.turns[-1].payload is not None else None
        self.turns.append(turn)
        self._figures[turn.messages[-1].id] = turn_line(turn)
        label = turn.payload.strategy + self._suffix
        self._labels.add(label)
        self.chart.add_turn(turn, strategy=label)
        seconds = None
        if previous is not None:
            seconds = (turn.messages[0].created_at - previous.messages[0].created_at).total_seconds()
        self.inspector.update(turn.payload, usage=turn.usage, previous=previous and previous.payload,
                              seconds_since=seconds)

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
                             figures_line(f"strategy switched: {old} -> {name} ({SWITCH_NOTE})")))
        self.chart.break_line()
        self._set_picker(name)
        self._refresh()

    def fork(self, at_turn: int, strategy: str) -> Any:
        """Fork the conversation at ``at_turn`` under ``strategy`` (a name), send its later user
        messages again in the fork, and go on there. Returns the fork's session (``None`` after
        an error, shown as a red line)."""
        original = self.session
        later = [m.text for t in original.conversation.turns()[at_turn:] for m in t.messages if is_plain_user(m)]
        try:
            fork = original.fork(at_turn=at_turn, strategy=make_strategy(strategy, budget_tokens=self.budget_tokens))
        except EXPECTED_ERRORS as e:
            self._error(e)
            return None
        suffix = f" (fork at turn {at_turn})"
        self.chart.branch(sorted(self._labels), f"{strategy}{suffix}", at_turn)
        self.session, self._suffix, self._labels = fork, suffix, set()
        self.branches.append(fork)
        self.turns = [t for t in self.turns if t.index < at_turn]
        self._events = [(pos, markup) for pos, markup in self._events if pos <= len(fork.conversation.messages)]
        self._events.append((len(fork.conversation.messages), figures_line(
            f"forked at turn {at_turn} under {strategy}: a new conversation ({fork.conversation_id}); "
            f"the {len(later)} later message(s) are sent again here")))
        self._set_picker(strategy)
        for text in later:
            if self.send(text) is None and self.last_error:
                break
        self._refresh()
        return fork

    # -- callbacks -----------------------------------------------------------------------------
    def _on_input_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":
            self._on_click()

    def _on_click(self, _button: Any = None) -> None:
        text, self.input.value = self.input.value, ""
        if not text.strip():
            return
        self._waiting(True)
        try:
            stored_before = len(self.session.conversation.messages)
            if self.send(text) is None and self.last_error and len(self.session.conversation.messages) == stored_before:
                self.input.value = text  # refused before sending (nothing stored): let the user edit it
        except Exception as e:  # a bug, still no traceback in the notebook
            self._error(e, unexpected=True)
        finally:
            self._waiting(False)

    def _on_fork(self, _button: Any = None) -> None:
        self._waiting(True, what="Forking")
        try:
            self.fork(int(self.fork_turn.value), self.fork_picker.value)
        except Exception as e:
            self._error(e, unexpected=True)
        finally:
            self._waiting(False)

    def _waiting(self, on: bool, *, what: str = "Sending") -> None:
        """While a request runs: the box, the buttons and the picker wait, the status says so."""
        for w in (self.input, self.send_button, self.fork_button, self.picker):
            w.disabled = on
        self.send_button.description = f"{what}..." if on else "Send"
        if on:
            self.status.value = muted(f"{what}: waiting for Claude...")
        elif not self.last_error:
            self.status.value = ""

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
        line = error_line(self.last_error)
        self._events.append((len(self.session.conversation.messages), line))
        self._refresh()
        self.status.value = line

    # -- views ---------------------------------------------------------------------------------
    def transcript_html(self) -> str:
        """The conversation with each reply's figures line, strategy switches, forks and errors."""
        msgs = self.session.conversation.messages
        waiting = {m.id for m in self.session.unanswered()} if self._partial is None else set()
        events: dict[int, list[str]] = {}
        for pos, markup in self._events:
            events.setdefault(pos, []).append(markup)
        out = []
        for i, m in enumerate(msgs):
            out += events.get(i, [])
            out.append(_message_html(m, waiting=m.id in waiting))
            figures = self._figures.get(m.id) or self._figures.get(m.metadata.get("forked_from_message", ""))
            if figures:
                out.append(figures_line(figures))
        out += events.get(len(msgs), [])
        if self._partial is not None:
            out.append(_message_html(None, partial=self._partial))
        return "".join(out) or muted("no messages yet")

    def _header_text(self) -> str:
        c = self.session.conversation
        return (f"conversation {c.session_id}{self._suffix} · {c.model} · {self.session.strategy.name} · "
                f"{self.session.stats['turns']} turns")

    def _draw_transcript(self) -> None:
        # column-reverse keeps the box scrolled to its newest message, without script
        self.transcript.value = (
            f'<div class="{NO_MATH}" style="display:flex;flex-direction:column-reverse;'
            f'max-height:420px;overflow:auto;{FONT};border:1px solid {LINE};border-radius:6px;padding:4px 8px;'
            f'background:{PANEL}"><div>{self.transcript_html()}</div></div>')

    def _refresh(self) -> None:
        self.header.value = f'<div style="padding:4px 8px">{muted(self._header_text())}</div>'
        self._draw_transcript()
        self.status.value = error_line(self.last_error) if self.last_error else ""
        self.stats.value = f'<div class="{NO_MATH}">{stats_html(self.session.stats)}</div>'
        turns = self.session.stats["turns"] - len(self.session.unanswered())
        self.fork_turn.max = max(turns, 0)
        self.fork_turn.value = min(max(self.fork_turn.value, 1), turns) if turns > 0 else 0

    def to_html(self) -> str:
        body = (f'<div style="margin-bottom:6px">{muted(self._header_text())}</div>'
                f'<div data-convolab="transcript">{self.transcript_html()}</div>'
                f'<div data-convolab="stats">{stats_html(self.session.stats)}</div>'
                + self.chart.to_html()
                + details("Last payload", self.inspector.to_html()))
        return panel(body, kind="chat", title="Chat")

    def __repr__(self) -> str:
        return f"ChatWidget(conversation_id={self.session.conversation_id!r}, strategy={self.session.strategy.name!r})"
