"""``MessageRetrieval``: the most recent whole turns, plus older turns retrieved for the new
message and sent as messages before them.

Every request sends the system prompt, the most recent whole turns (``keep_recent_turns``, as
many as fit; at least the newest, and every unanswered user message) and, in what is left of
``budget_tokens``, older turns ranked for the newest user message
(``convolab.strategies.retrieval_index``). The unit is a whole turn (a plain user message and
everything up to the next one), so tool exchanges stay real ``tool_use``/``tool_result``
blocks and a call never travels without its result. Each hit brings its ``neighbours`` (the
turns just before and after it). Chosen turns are packed best first but sent in conversation
order, and every run of them starts with a short header carrying the run's date (the first
message's ``created_at``), e.g. ``[Earlier in the conversation, 2023-05-08 13:56 UTC]``; a run
also gets a header where the day changes inside it, and the recent window gets one
(``[Recent conversation, ...]``) when something was retrieved before it. A message whose text
already opens with a dated bracket ("[8 May, 2023 1:56 pm] Caroline: ...") keeps its own.
Headers go on copies of the messages (same id): the conversation is never changed.

Cache. The system prompt (and tools) are the stable prefix and carry the breakpoint; retrieved
turns come after them, so they change the messages' prefix with every new message: expect a
cache read of the system prefix only, and a cache write of the messages on every turn (1.25x
the input price for tokens that are seldom read). ``cache_messages=False`` (the default) drops
the automatic breakpoint and keeps the system one. ``payload.cache.expected_read`` compares what
is actually sent, headers included. ``Retrieval`` (quoted excerpts after a cached window) is the
cheaper layout; this one keeps tool blocks real.

Budget: the recent window comes first; if the newest turn alone does not fit, ``build`` raises
``ContextOverflow``. Packing estimates a header's tokens, then checks the exact total and drops
the lowest-priority turn while it is over.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Any, ClassVar

from convolab import catalog
from convolab.errors import ConfigurationError, ContextOverflow, InvalidConversation
from convolab.model import Conversation, Message
from convolab.strategies.base import Payload
from convolab.strategies.retrieval_index import RetrievalBase, when_text

__all__ = ["MessageRetrieval"]

_DATED = re.compile(r"\s*\[[^\]]*\b(?:19|20)\d\d\b[^\]]*\]")  # "[8 May, 2023 1:56 pm] ..." already dated


def _with_header(message: Message, header: str) -> Message:
    """A copy of ``message`` (same id, seq, time) whose text starts with ``header``, on the
    same line, so that a reader (or the simulator) takes the date as the first sentence's."""
    content = message.content
    if isinstance(content, str):
        new: Any = f"{header} {content}" if content.strip() else header
    elif content and content[0].get("type") == "text" and isinstance(content[0].get("text"), str):
        first = content[0]
        text = f"{header} {first['text']}" if first["text"].strip() else header
        new = [{**first, "text": text}, *content[1:]]
    else:
        new = [{"type": "text", "text": header}, *content]
    return Message(message.role, new, id=message.id, seq=message.seq, created_at=message.created_at,
                   metadata=message.metadata)


class _Runs:
    """Where the date headers go for a set of chosen turns (before a run, at a change of day
    inside one, before the recent window), and how many a new turn would add."""

    def __init__(self, msgs: list[Message], starts: list[int], recent: int, newest: int, on: bool):
        self.msgs, self.starts, self.recent, self.newest, self.on = msgs, starts, recent, newest, on
        self._dated: dict[int, bool] = {}

    def day(self, t: int) -> Any:
        return self.msgs[self.starts[t]].created_at.date()

    def own_date(self, t: int) -> bool:
        """Does the turn's text open with its own date (LoCoMo-style)?"""
        if t not in self._dated:
            content = self.msgs[self.starts[t]].content
            first = content if isinstance(content, str) else next(
                (b.get("text") for b in content[:1] if b.get("type") == "text"), None)
            self._dated[t] = isinstance(first, str) and _DATED.match(first) is not None
        return self._dated[t]

    def labels(self, chosen: set[int]) -> dict[int, str]:
        if not self.on or not chosen:
            return {}
        out = {}
        for t in sorted(chosen) + ([self.recent] if self.recent != self.newest else []):
            if self.own_date(t):
                continue
            if t - 1 not in chosen:
                out[t] = "Recent conversation" if t == self.recent else "Earlier in the conversation"
            elif self.day(t) != self.day(t - 1):
                out[t] = "Conversation continued"
        return out

    def added(self, t: int, chosen: set[int]) -> int:
        """How many headers adding turn ``t`` to ``chosen`` adds (as ``labels`` counts them)."""
        if not self.on:
            return 0
        recent, newest = self.recent, self.newest
        delta = int(not self.own_date(t) and (t - 1 not in chosen or self.day(t) != self.day(t - 1)))
        if not chosen:  # the recent window gets its header with the first retrieved turn
            if recent != newest and not self.own_date(recent):
                delta += 1 if t + 1 != recent or self.day(recent) != self.day(t) else 0
        elif (t + 1 in chosen or (t + 1 == recent != newest)) and not self.own_date(t + 1) \
                and self.day(t + 1) == self.day(t):
            delta -= 1  # the next run now continues this one: its header goes
        return delta


class MessageRetrieval(RetrievalBase):
    """Recent whole turns plus older turns retrieved for the new message, sent as messages
    before them with dated headers (see the module docstring).

    Knobs: ``budget_tokens`` caps everything billed as input; ``keep_recent_turns`` turns are
    always sent verbatim when they fit (at least the newest one, and every unanswered user
    message); ``date_headers`` puts a dated header before each run of retrieved turns and
    before the recent window; ``cache_messages=True`` keeps the automatic breakpoint on the last
    message (rarely read once retrieval starts). Ranking knobs as for ``Retrieval``.
    """

    name: ClassVar[str] = "retrieval-messages"
    unit: ClassVar[str] = "turn"

    def __init__(self, budget_tokens: int = 8000, keep_recent_turns: int = 4, *, date_headers: bool = True,
                 cache_messages: bool = False, **kwargs: Any):
        super().__init__(budget_tokens, **kwargs)
        if keep_recent_turns < 1:
            raise ConfigurationError("keep_recent_turns must be at least 1 (the newest turn is always sent)")
        self.keep_recent_turns = keep_recent_turns
        self.date_headers = date_headers
        self.cache_messages = cache_messages
        self._fp: tuple[tuple[str, str], ...] | None = None  # what the build being finished sends
        self._last_fp: tuple[tuple[str, str], ...] = ()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "keep_recent_turns": self.keep_recent_turns, "date_headers": self.date_headers,
                "cache_messages": self.cache_messages}

    def forget(self, conversation: Conversation) -> None:
        super().forget(conversation)
        self._last_fp = ()

    def retract(self, conversation: Conversation) -> None:
        super().retract(conversation)
        self._last_fp = ()

    # -- build -------------------------------------------------------------------------------
    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        if not conversation.messages:
            raise InvalidConversation("the conversation has no messages to send")
        msgs = conversation.messages
        model = self.model_for(conversation)
        idx = self.index(conversation)
        starts = idx.turn_starts
        fixed = self.fixed_tokens(conversation, model, [])
        room = min(self.budget_tokens, self.window_limit(model))
        available = room - fixed["system"] - fixed["tools"]
        w = self._recent_window(conversation, idx, starts, available, room - available, room)
        recent = bisect_left(starts, w.start)  # turn index of the window's first turn
        runs = _Runs(msgs, starts, recent, len(starts) - 1, self.date_headers)
        ri, hits = self.rank(conversation, starts, recent)
        order = self._pack(ri, hits, runs, idx, recent, available - w.tokens, model)
        chosen = set(order)
        while True:
            prefix, retrieved, start, extra = self._assemble(conversation, starts, chosen, recent,
                                                             runs.labels(chosen), w.start)
            if fixed["system"] + fixed["tools"] + retrieved + w.tokens + extra > room and order:
                chosen.discard(order.pop())
                continue
            self._fp = tuple((m.id, m.content_hash) for m in [*prefix, *msgs[start:]])
            try:
                payload = self.finish(conversation, start=start, prefix_messages=prefix, retrieved=retrieved,
                                      budget=self.budget_tokens)
            except ContextOverflow:
                if not order:
                    raise
                chosen.discard(order.pop())  # merging at a run's edge counted differently: one turn less
                continue
            finally:
                self._fp = None
            break
        self.last_retrieved = sorted(chosen)
        for h in self.last_hits:
            h.sent = h.unit in chosen
        if not self.cache_messages and self.cache:
            payload.request.pop("cache_control", None)
            payload.cache.breakpoints = [bp for bp in payload.cache.breakpoints if "automatic" not in bp]
        return payload

    def _recent_window(self, conversation: Conversation, idx: Any, starts: list[int], available: int,
                       fixed: int, room: int) -> Any:
        """``keep_recent_turns`` and every unanswered user message, if they fit."""
        msgs = conversation.messages
        first_pending = len(msgs)
        while first_pending and msgs[first_pending - 1].role == "user":
            first_pending -= 1
        pending_turns = len(starts) - max(bisect_right(starts, first_pending) - 1, 0)
        w = idx.window(max_turns=max(self.keep_recent_turns, pending_turns), budget_tokens=max(available, 0))
        if w.empty:
            raise ContextOverflow(fixed + idx.tokens(starts[-1]), room, what="the retrieval payload",
                                  hint="The system prompt, tools and the newest turn alone exceed budget_tokens; "
                                  "raise it or shorten the newest message.")
        return w

    def _pack(self, ri: Any, hits: list, runs: _Runs, idx: Any, recent: int, left: int, model: str) -> list[int]:
        """Turns in the order chosen (best first; each hit, then its neighbours), while they and
        the headers they add fit in ``left`` tokens."""
        starts = runs.starts
        tz = runs.msgs[-1].created_at.tzname() or ""  # a fixed text (an ExactCounter caches its count)
        header_cost = self.counter.count_message(
            {"role": "user", "content": f"[Earlier in the conversation, 2000-01-01 00:00 {tz}]"}, model=model)
        chosen: set[int] = set()
        order: list[int] = []
        used = heads = 0
        for hit in hits:
            for t in [hit.unit, *self.around(ri, hit.unit, recent)]:
                if t in chosen:
                    continue
                more = runs.added(t, chosen)
                cost = idx.tokens(starts[t], starts[t + 1])
                if used + cost + header_cost * (heads + more) <= left:
                    chosen.add(t)
                    order.append(t)
                    used += cost
                    heads += more
                elif t == hit.unit:
                    break  # the hit does not fit: its neighbours would come without it
        return order

    def _assemble(self, conversation: Conversation, starts: list[int], chosen: set[int], recent: int,
                  labels: dict[int, str], recent_start: int) -> tuple[list[Message], int, int, int]:
        """Prefix messages (retrieved turns in conversation order, headers added to copies),
        their tokens, where the verbatim part of the recent window starts, and the tokens the
        recent window's header adds."""
        msgs, model = conversation.messages, self.model_for(conversation)
        heads = {t: f"[{label}, {when_text(msgs[starts[t]].created_at)}]" for t, label in labels.items()}
        prefix: list[Message] = []
        for t in sorted(chosen):
            turn = msgs[starts[t]:starts[t + 1]]
            prefix += [_with_header(turn[0], heads[t]), *turn[1:]] if t in heads else turn
        retrieved = sum(self.counter.count_message(m, model=model) for m in prefix)
        if recent in heads:
            first = _with_header(msgs[recent_start], heads[recent])
            prefix.append(first)
            extra = self.counter.count_message(first, model=model) - self.counter.count_message(msgs[recent_start],
                                                                                               model=model)
            return prefix, retrieved, recent_start + 1, extra
        return prefix, retrieved, recent_start, 0

    # -- cache expectations ------------------------------------------------------------------
    def _expect(self, key: Any, sent_ids: list[str], stable: int, total: int, model: str) -> tuple[int, int]:
        """As ``BaseStrategy._expect``, but comparing what is sent (ids *and* content, since
        header copies keep their message's id) and honouring ``cache_messages``."""
        fp = self._fp if self._fp is not None else tuple((i, "") for i in sent_ids)
        minimum = catalog.get_model(model).min_cacheable_tokens
        read = 0
        if self._last is not None and self._last[0] == key:
            prev_stable, prev_total = self._last[2], self._last[3]
            prev = self._last_fp
            if self.cache_messages and prev and fp[:len(prev)] == prev and prev_total >= minimum:
                read = prev_total
            elif prev_stable >= minimum:
                read = prev_stable
        self._last_fp = fp
        if not self.cache_messages:
            return read, (stable - read if stable >= minimum else 0)
        return read, (total - read if total >= minimum else 0)
