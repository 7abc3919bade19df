"""``Retrieval``: a cache-aware recent window, plus excerpts of the older conversation most
relevant to the new message, quoted at the top of it.

Layout: ``[system][recent window][newest user message: excerpts, then the message]``.

- The recent window is a cache-aware sliding window over ``1 - excerpt_share`` of the budget:
  it keeps its start while it fits and moves by ``headroom`` of its budget when it must (as
  ``SlidingWindow`` does), and the cache breakpoint sits on its last message, so the next turn
  reads the whole window from the cache. There is no automatic breakpoint (it would write the
  excerpts, which the next request does not send).
- Excerpts, in what the window leaves (at least ``excerpt_share`` of the budget), are the
  units the ranker puts first (``convolab.strategies.retrieval_index``: BM25, semantic or
  hybrid, with a multi-hop pass),
  then their neighbours while room is left, quoted in conversation order as one text block at
  the top of the newest turn's user message. Each run of consecutive messages is dated in words
  (``[8 May 2023, 13:56]``), relative dates resolved against the day they were said ("yesterday
  [yesterday = 7 May 2023]", ``convolab.dates``). Tool calls are quoted as text (their input
  values and results), so a unit can be a single message here: excerpts never split a tool pair
  in the request.
- Only the newest message and the excerpts are billed at the full input price; everything
  before them is read from the cache within the TTL.

Budget. ``budget_tokens`` caps everything billed as input; if the newest turn alone does not fit
(with the system prompt and tools), ``build`` raises ``ContextOverflow`` saying by how much. The
excerpts' size is estimated while packing and the exact count checked after: the last chosen
excerpt is dropped while the request is over.

Failure modes: a question whose words and meaning are both far from the fact's retrieves the
wrong turns (static embeddings know "car" is near "vehicle", not that a "coffee run" is about
the user's morning drink); excerpts are retrieved for every message, questions or not, and
billed uncached; the newest turn itself carries no date header (it would become part of the
question).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, ClassVar

from convolab import catalog
from convolab.dates import fmt_date, resolve_relative
from convolab.errors import ConfigurationError, InvalidConversation
from convolab.model import Conversation, Message
from convolab.strategies.base import Payload, _limit_breakpoints
from convolab.strategies.retrieval_index import Hit, RetrievalBase, RetrievalIndex, asks, turn_text

__all__ = ["EXCERPT_INTRO", "EXCERPT_OUTRO", "Retrieval"]

EXCERPT_INTRO = "[Excerpts from earlier in our conversation, retrieved for my message below]"
EXCERPT_OUTRO = "[End of excerpts. My message:]"
RETRIEVE_ON = ("questions", "every message")
EXCERPT_OVERHEAD = 16  # tokens of a run's date line and separators, an estimate checked after
LINE_OVERHEAD = 2  # a message joining a run: its line break
_DATED = re.compile(r"\s*\[[^\]]*\b(?:19|20)\d\d\b[^\]]*\]")  # "[8 May, 2023 1:56 pm] ..." already dated


def _quote_target(api: list[dict[str, Any]]) -> int:
    """Index of the message to quote into: the newest user message holding no tool result (the
    one that opened the newest turn; tool results must lead their message)."""
    for j in range(len(api) - 1, -1, -1):
        m = api[j]
        content = m["content"]
        if m["role"] == "user" and (isinstance(content, str) or not any(
                b.get("type") == "tool_result" for b in content)):
            return j
    return len(api) - 1


def _with_quote(message: dict[str, Any], text: str) -> dict[str, Any]:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return {**message, "content": [{"type": "text", "text": text}, *blocks]}


def _with_breakpoint(message: dict[str, Any], cc: dict[str, Any]) -> dict[str, Any]:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    for k in range(len(blocks) - 1, -1, -1):
        if blocks[k].get("type") in ("text", "tool_use", "tool_result", "image", "document"):
            blocks[k] = {**blocks[k], "cache_control": cc}
            break
    return {**message, "content": blocks}


class Retrieval(RetrievalBase):
    """A cache-aware recent window plus excerpts of the older messages most relevant to the
    new one, quoted at the top of it (see the module docstring).

    Knobs: ``budget_tokens`` caps everything billed as input; the window gets at most
    ``1 - excerpt_share`` of the budget and the excerpts what it leaves; ``headroom`` is how
    far the window moves when it must (a share of its budget); ``resolve_dates`` adds resolved dates after
    relative phrases; ``date_headers=False`` quotes runs without their dates. Ranking:
    ``ranker`` (``"bm25"``, ``"semantic"``, ``"hybrid"``), ``embedder`` (default WordLlama, for
    the last two), ``semantic_weight`` (hybrid), ``k1``/``b`` (BM25), ``max_hits``,
    ``neighbours``, ``multi_hop``, ``rewrite_followups``; ``vectors`` keeps message vectors
    between sessions (``store.vector_store(user_id=...)``). ``convolab.strategies.retrieval_index``
    explains each.

    After ``build``: ``last_hits`` (ranked ``Hit`` objects), ``last_retrieved`` (indices of the
    quoted units) and ``last_query`` (the query's terms) say what was found and why.
    """

    name: ClassVar[str] = "retrieval"
    unit: ClassVar[str] = "message"

    def __init__(self, budget_tokens: int = 8000, *, excerpt_share: float = 0.5, headroom: float = 0.25,
                 resolve_dates: bool = True, date_headers: bool = True, retrieve_on: str = "questions",
                 **kwargs: Any):
        kwargs.setdefault("ranker", "hybrid")
        kwargs.setdefault("max_hits", 12)
        kwargs.setdefault("rewrite_followups", True)
        super().__init__(budget_tokens, **kwargs)
        if retrieve_on not in RETRIEVE_ON:
            raise ConfigurationError(f"retrieve_on must be one of {', '.join(RETRIEVE_ON)}, not {retrieve_on!r}")
        if not 0 < excerpt_share < 1:
            raise ConfigurationError("excerpt_share must be above 0 and below 1 (a share of the budget)")
        if not 0 <= headroom < 1:
            raise ConfigurationError("headroom must be at least 0 and below 1 (a share of the budget)")
        self.excerpt_share = excerpt_share
        self.retrieve_on = retrieve_on
        self.headroom = headroom
        self.resolve_dates = resolve_dates
        self.date_headers = date_headers
        self._starts: dict[str, str] = {}  # conversation id -> id of the window's first message
        self._quoted: dict[tuple[str, str], str] = {}  # a final message's excerpt text
        self._quoted_last: tuple[Any, str | None, int, int] | None = None  # (key, start id, end, tokens)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "excerpt_share": self.excerpt_share, "retrieve_on": self.retrieve_on,
                "headroom": self.headroom,
                "resolve_dates": self.resolve_dates, "date_headers": self.date_headers}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "starts": dict(self._starts)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._starts = dict(state.get("starts", {}))

    def forget(self, conversation: Conversation) -> None:
        super().forget(conversation)
        self._quoted_last = None
        self._quoted = {k: v for k, v in self._quoted.items() if k[0] != conversation.session_id}

    def retract(self, conversation: Conversation) -> None:
        super().retract(conversation)
        self._quoted_last = None

    # -- build -------------------------------------------------------------------------------
    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        """A cache-aware sliding window, then excerpts of older messages quoted at the top of
        the newest turn's user message; the cache breakpoint sits on the message before it."""
        if not conversation.messages:
            raise InvalidConversation("the conversation has no messages to send")
        model, idx, starts, room, available = self._room(conversation)
        w = self._window(conversation, idx, room, available)
        limit = w.start if self.unit == "message" else bisect_left(starts, w.start)
        chosen: list[int] = []
        notes = ""
        if self.retrieve_on == "every message" or asks(self.query_text(conversation.messages, starts)):
            ri, hits = self.rank(conversation, starts, limit)
            left = available - w.tokens  # the window took at most 1 - excerpt_share: the rest
            notes = self.notes(conversation, left)
            if notes:
                left -= self.counter.count_message({"role": "user", "content": notes}, model=model)
            chosen = self._pack(ri, hits, limit, left)
        else:  # a message that asks nothing: the window alone (the index still learns it)
            ri = self.retrieval_index(conversation, starts)
            self.last_hits, self.last_query = [], []
        payload = self.finish(conversation, start=w.start, budget=self.budget_tokens)
        j, prefix_tokens = self._quote_into(payload, ri, chosen, notes, room, model)
        self.last_retrieved = sorted(chosen)
        for h in self.last_hits:
            h.sent = h.unit in chosen
        if self.cache:
            self._quoted_cache(payload, conversation, starts[-1], j, prefix_tokens, model)
        return payload

    def notes(self, conversation: Conversation, budget_tokens: int) -> str:
        """Text quoted before the excerpts, within ``budget_tokens`` (none here; a memory in
        ``MemoryRetrieval``)."""
        return ""

    def _quote_into(self, payload: Payload, ri: RetrievalIndex, chosen: list[int], notes: str, room: int,
                    model: str) -> tuple[int, int]:
        """Quote ``notes`` and the ``chosen`` units into the newest turn's user message, dropping
        the least wanted unit (then the notes) while the exact count is over ``room``. Returns
        the quoted message's index and the tokens before it."""
        request = payload.request
        api = request["messages"] = list(request["messages"])
        j = _quote_target(api)
        head = sum(self.counter.count_message(m, model=model) for m in api[j:])
        prefix_tokens = payload.input_tokens - head
        while True:
            parts = [p for p in (notes, self._excerpts(ri, chosen) if chosen else "") if p]
            quoted = _with_quote(api[j], "\n\n".join(parts)) if parts else api[j]
            new_head = sum(self.counter.count_message(m, model=model) for m in [quoted, *api[j + 1:]])
            if prefix_tokens + new_head <= room or not parts:
                break
            if chosen:
                chosen.pop()  # the estimate was short: drop the last chosen (the least wanted) and retry
            else:
                notes = ""
        api[j] = quoted
        extra = new_head - head
        payload.input_tokens += extra
        payload.breakdown["retrieved"] = extra
        return j, prefix_tokens

    def _room(self, conversation: Conversation) -> tuple[str, Any, list[int], int, int]:
        """Model, history index, turn starts, the budget (capped by the window) and what it
        leaves after the system prompt and tools."""
        model = self.model_for(conversation)
        idx = self.index(conversation)
        fixed = self.fixed_tokens(conversation, model, [])
        room = min(self.budget_tokens, self.window_limit(model))
        return model, idx, idx.turn_starts, room, room - fixed["system"] - fixed["tools"]

    def _window(self, conversation: Conversation, idx: Any, room: int, available: int) -> Any:
        """The recent window: ``1 - excerpt_share`` of what is available (all of it when the
        newest turn needs it), kept in place while it fits."""
        for_window = int(available * (1 - self.excerpt_share))
        w = idx.window(budget_tokens=max(for_window, 0))
        if w.empty:  # the newest turn is long: it may use the excerpts' share too
            w = idx.window(budget_tokens=max(available, 0))
        if w.empty:
            raise self.newest_turn_overflow(conversation, room - available, room,
                                            hint="The system prompt, tools and the newest turn alone exceed "
                                            "budget_tokens; raise it or shorten the newest message.")
        if self.cache and self.headroom:
            w = self.stable_window(conversation, idx, w, min(available, max(for_window, w.tokens)), self._starts,
                                   self.headroom)
        return w

    def _pack(self, ri: RetrievalIndex, hits: list[Hit], limit: int, left: int) -> list[int]:
        """Units to quote, in the order wanted: hits best first, then their neighbours nearest
        first, each while its messages not quoted yet fit in ``left`` tokens."""
        idx = self.index(ri.conversation)
        chosen: list[int] = []
        covered: set[int] = set()
        used = 0
        for unit in [[h.unit] for h in hits] + [self.around(ri, h.unit, limit) for h in hits]:
            for u in unit:
                if u in chosen:
                    continue
                a, z = ri.unit_span(u)
                new = [i for i in range(a, z) if i not in covered]
                joins = a - 1 in covered or z in covered  # continues a run: no date line of its own
                cost = sum(idx.tokens(i, i + 1) for i in new) + (LINE_OVERHEAD if joins else EXCERPT_OVERHEAD)
                if used + cost <= left:
                    chosen.append(u)
                    covered.update(new)
                    used += cost
        return chosen

    def _excerpts(self, ri: RetrievalIndex, units: Sequence[int]) -> str:
        """The quoted messages in conversation order, each run of consecutive messages of one
        day under its date and time, relative dates resolved against the day they were said."""
        msgs = ri.conversation.messages
        covered = sorted({i for u in units for i in range(*ri.unit_span(u))})
        parts, run = [EXCERPT_INTRO], []
        for i in covered:
            if run and (i != run[-1] + 1 or msgs[i].created_at.date() != msgs[run[-1]].created_at.date()):
                parts.append(self._quote_run(ri.conversation, run))
                run = []
            run.append(i)
        if run:
            parts.append(self._quote_run(ri.conversation, run))
        return "\n\n".join(parts) + "\n" + EXCERPT_OUTRO

    def _quote_run(self, conversation: Conversation, run: list[int]) -> str:
        msgs = conversation.messages
        lines = [self._quote_message(conversation.session_id, msgs[i]) for i in run]
        when = msgs[run[0]].created_at
        head = f"[{fmt_date(when.date())}, {when.strftime('%H:%M')}]" if self.date_headers else "[...]"
        return head + "\n" + "\n".join(line for line in lines if line)

    def _quote_message(self, session_id: str, m: Message) -> str:
        key = (session_id, m.id)  # a final message never changes
        text = self._quoted.get(key)
        if text is None:
            text = turn_text([m]).strip()
            if text and self.resolve_dates:
                notes = resolve_relative(text, m.created_at.date())
                if notes:
                    text += " [" + "; ".join(notes) + "]"
            self._quoted[key] = text
        return text

    def _quoted_cache(self, payload: Payload, conversation: Conversation, newest: int, j: int, prefix_tokens: int,
                      model: str) -> None:
        """Breakpoint on the message before the quoted one (what the next turn starts with);
        no automatic one (it would write the excerpts, which the next turn does not send)."""
        request = payload.request
        request.pop("cache_control", None)
        plan = payload.cache
        plan.breakpoints = [bp for bp in plan.breakpoints if "automatic" not in bp]
        if j > 0:
            api = request["messages"]
            api[j - 1] = _with_breakpoint(api[j - 1], self._cc())
            plan.breakpoints.append(f"message {j} (before the newest turn)")
            dropped = _limit_breakpoints(request)
            if dropped:
                plan.breakpoints.append(f"{dropped} stored message breakpoint(s) dropped")
        stable = plan.stable_prefix_tokens
        cached = prefix_tokens if j > 0 else stable
        key = (request.get("system"), request.get("tools"))  # compared by value, as BaseStrategy does
        # the cached prefix is conversation messages [start, end): the next request starts with
        # it if it has the same start and reaches at least as far (history is append-only)
        msgs, end = conversation.messages, newest
        while end > 0 and msgs[end - 1].role == "user":  # merged into the quoted message
            end -= 1
        start_id = payload.sent[0] if payload.sent else None
        minimum = catalog.get_model(model).min_cacheable_tokens
        read = 0
        prev = self._quoted_last
        if prev is not None and prev[0] == key:
            if prev[3] >= minimum and prev[1] == start_id and prev[2] <= end and prev[3] <= cached:
                read = prev[3]
            elif stable >= minimum:
                read = stable
        plan.expected_read = read
        plan.expected_write = cached - read if cached >= minimum else (stable - read if stable >= minimum else 0)
        self._quoted_last = (key, start_id, end, cached)
