"""The one place that cuts history: an incremental index of turns and token counts.

Every strategy that sends part of a conversation asks a ``HistoryIndex`` where to cut. The
index only ever cuts at turn boundaries (``convolab.model.group_turns``: a turn starts at a
plain user message), so a ``tool_use`` is never separated from its ``tool_result`` and a
window never starts on an assistant message or a dangling tool result.

The index is incremental: conversations only grow, so it keeps the turn starts and the
cumulative token count of every message and extends them when new messages appear. Choosing
the last N turns, or as many turns as fit a budget, is a lookup and a binary search, not a
walk over the history: building a window costs the same at 10 messages or 10,000.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from convolab.errors import InvalidConversation
from convolab.model import Conversation, Message, is_plain_user
from convolab.tokens import TokenCounter


@dataclass(frozen=True)
class Window:
    """Messages ``start`` to ``end`` (exclusive) of a conversation, and their token count."""

    start: int
    end: int
    tokens: int
    turns: int

    @property
    def empty(self) -> bool:
        return self.end <= self.start


class HistoryIndex:
    """Turn starts and cumulative message tokens for one conversation and one counter.

    ``refresh()`` (called by every query) indexes messages added since the last call; it
    raises ``InvalidConversation`` if earlier messages were replaced or removed, because
    the index (and every strategy's state) assumes history is append-only. The cumulative
    counts are keyed on the counter's ``version``: when a calibrating counter learns, they are
    added up again (the turn starts stay).
    """

    def __init__(self, conversation: Conversation, counter: TokenCounter, model: str | None = None):
        self.conversation = conversation
        self.counter = counter
        self.model = model or conversation.model
        self._cum: list[int] = [0]  # _cum[i] = tokens of messages[:i]
        self._turn_starts: list[int] = []
        self._last: Message | None = None  # the last indexed message, to detect rewrites
        self._version = counter.version  # the counter's version the sums were added up with

    def refresh(self) -> None:
        msgs = self.conversation.messages
        n = len(self._cum) - 1
        if n and (len(msgs) < n or msgs[n - 1] is not self._last):
            raise InvalidConversation(
                "the conversation's earlier messages changed after they were indexed; "
                "conversations are append-only: start a new Conversation to rewrite history"
            )
        if self._version != self.counter.version:
            self._recount(n)
        if len(msgs) == n:
            return
        count, model, cum, starts = self.counter.count_message, self.model, self._cum, self._turn_starts
        total = cum[-1]
        for i in range(n, len(msgs)):
            m = msgs[i]
            if is_plain_user(m) or i == 0:
                starts.append(i)
            total += count(m, model=model)
            cum.append(total)
        self._last = msgs[-1]

    def _recount(self, n: int) -> None:
        """Add up the first ``n`` messages' counts again (the counter's counts changed)."""
        count, model, msgs = self.counter.count_message, self.model, self.conversation.messages
        self._version = self.counter.version
        total, cum = 0, [0]
        for m in msgs[:n]:
            total += count(m, model=model)
            cum.append(total)
        self._cum = cum

    def truncate(self) -> None:
        """Forget indexed messages the conversation no longer has (after the newest ones were
        taken back with ``Conversation.discard_last``); the rest of the index is kept.

        Raises ``InvalidConversation`` if a message that is still there was replaced."""
        msgs = self.conversation.messages
        k = len(msgs)
        if k >= len(self._cum) - 1:
            return
        if k:
            del self._cum[k + 1:]
            del self._turn_starts[bisect_left(self._turn_starts, k):]
            self._last = msgs[k - 1]
        else:
            self._cum[:] = [0]
            self._turn_starts.clear()
            self._last = None

    def __len__(self) -> int:
        self.refresh()
        return len(self._cum) - 1

    @property
    def turn_starts(self) -> list[int]:
        """Index of the first message of each turn (a copy)."""
        self.refresh()
        return list(self._turn_starts)

    def tokens(self, start: int, end: int | None = None) -> int:
        """Tokens of messages ``start`` to ``end`` (exclusive), by the index's counter."""
        self.refresh()
        end = len(self._cum) - 1 if end is None else end
        return self._cum[end] - self._cum[start]

    def window(self, *, end: int | None = None, max_turns: int | None = None,
               budget_tokens: int | None = None, min_start: int = 0) -> Window:
        """The longest run of whole turns ending at ``end`` that keeps both limits.

        ``max_turns`` counts turns (the last turn may be incomplete, e.g. the new user
        message); ``budget_tokens`` caps the messages' tokens; ``min_start`` forbids going
        earlier than that message. Cuts fall only on turn starts. If even the last turn
        does not fit the budget the window is empty (the caller decides what that means).
        """
        self.refresh()
        n = len(self._cum) - 1
        end = n if end is None else end
        starts = self._turn_starts
        hi = bisect_left(starts, end)  # turns starting before `end`
        lo = bisect_left(starts, min_start)
        if max_turns is not None:
            lo = max(lo, hi - max_turns)
        if budget_tokens is not None:
            # earliest turn start s with cum[end] - cum[s] <= budget: cum[s] >= cum[end] - budget
            need = self._cum[end] - budget_tokens
            k = bisect_left(self._cum, need)
            lo = max(lo, bisect_left(starts, k))
        if lo >= hi:
            return Window(end, end, 0, 0)
        start = starts[lo]
        return Window(start, end, self._cum[end] - self._cum[start], hi - lo)
