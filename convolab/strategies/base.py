"""What every strategy shares: the ``Strategy`` protocol, the ``Payload`` it builds, and the
finishing steps (repair, cache breakpoints, counting, budget and window checks) that make
every payload valid for the strict API and honest about its cost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol, runtime_checkable

from convolab import catalog
from convolab.errors import ConfigurationError, ContextOverflow, ConvolabError, InvalidConversation
from convolab.history import HistoryIndex, Window
from convolab.model import Conversation, Message, Turn, is_plain_user
from convolab.repair import RepairReport, repair_messages
from convolab.sending import acreate_message, check_max_tokens, create_message
from convolab.tokens import TokenCounter

EPHEMERAL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4  # cache_control blocks per request, the top-level one included
CACHE_TTLS = ("5m", "1h")


def check_knob(name: str, value: Any, *, minimum: int = 1, optional: bool = False) -> int | None:
    """A strategy's whole-number setting (``budget_tokens``, ``keep_recent_turns``, ...), checked when
    the strategy is made: ``ConfigurationError`` unless it is an int of at least ``minimum`` (or
    None, when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be a whole number of at least {minimum:,}"
                                 + (" (or None)" if optional else "") + f", got {value!r}")
    return value


def _limit_breakpoints(request: dict[str, Any]) -> int:
    """Drop the earliest ``cache_control`` of stored message blocks while the request has more
    breakpoints than the API allows (the strategy's own come first). Returns how many."""
    def blocks(msgs: list[dict[str, Any]]) -> list[tuple[int, int]]:
        return [(i, k) for i, m in enumerate(msgs) if isinstance(m["content"], list)
                for k, b in enumerate(m["content"]) if "cache_control" in b]

    system = request.get("system") or []
    count = (sum(1 for b in system if "cache_control" in b) + sum(1 for t in request.get("tools") or []
                                                                   if "cache_control" in t)
             + ("cache_control" in request))
    msgs = request["messages"]
    found = blocks(msgs)
    excess = count + len(found) - MAX_BREAKPOINTS
    for i, k in found[:max(excess, 0)]:
        content = list(msgs[i]["content"])
        content[k] = {key: v for key, v in content[k].items() if key != "cache_control"}
        msgs[i] = {**msgs[i], "content": content}
    return max(excess, 0)


@dataclass
class CachePlan:
    """Where a payload puts its cache breakpoints and what it expects the cache to do.

    ``expected_read`` is the prefix (in tokens) that should be read from the cache if the
    previous payload of the same strategy was sent within the TTL; ``expected_write`` is what
    should be written after it. The simulator's usage shows whether that happened.
    """

    breakpoints: list[str] = field(default_factory=list)
    stable_prefix_tokens: int = 0
    expected_read: int = 0
    expected_write: int = 0


@dataclass
class Payload:
    """The exact request a strategy built, and what it is made of.

    ``request`` is the keyword arguments for ``client.messages.create`` (for
    ``client.beta.messages.create`` when ``betas`` is not empty). ``input_tokens`` is what
    the API will bill as input (system and tools included); ``breakdown`` splits it into
    system / tools / summary / memory / retrieved / recent; ``left_out`` lists the ids of
    stored messages not sent.
    """

    strategy: str
    request: dict[str, Any]
    input_tokens: int
    breakdown: dict[str, int]
    sent: list[str]
    cache: CachePlan
    repair: RepairReport
    betas: list[str] = field(default_factory=list)
    omitted: Callable[[], list[str]] = field(default=list, repr=False, compare=False)

    @cached_property
    def left_out(self) -> list[str]:
        """Ids of the stored messages this request does not send (computed on first use,
        so building stays independent of the history's length)."""
        return self.omitted()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.request["messages"]

    def create(self, client: Any, **extra: Any) -> Any:
        """Send the request with ``client`` (sync) and return the SDK's ``Message``; streamed when
        ``max_tokens`` is past the SDK's non-streaming limit (``convolab.sending``)."""
        return create_message(client, self.request, betas=self.betas, **extra)

    async def acreate(self, client: Any, **extra: Any) -> Any:
        """Send the request with an ``AsyncAnthropic`` client (streamed like ``create``)."""
        return await acreate_message(client, self.request, betas=self.betas, **extra)

    def to_json(self, indent: int = 2) -> str:
        """The request as JSON, exactly as the SDK will send it (for inspectors and docs)."""
        return json.dumps(self.request, indent=indent, ensure_ascii=False)


@runtime_checkable
class Strategy(Protocol):
    """Decides what the next request sends. Never mutates the conversation.

    Everything sessions, the evaluation and widgets use is here; ``BaseStrategy`` implements it.
    A strategy makes its side calls (summaries, memory extraction) with ``client.messages.create``
    on the ``client`` it is given: a session's client reserves and books them in the user's budget.
    """

    name: str
    side_usage: list[tuple[str, Any]]  # (model, usage) of every side call made, its delegates' included

    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        """The payload of the next request, from the conversation as it is now."""
        ...

    def state(self) -> dict[str, Any]:
        """What to persist (JSON-able, with ``"strategy"`` and ``"version"``)."""
        ...

    def load_state(self, state: dict[str, Any]) -> None:
        """Take back a ``state()`` (``ConfigurationError`` for another strategy's or version's)."""
        ...

    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """Learn from the exchange just completed (may make side calls with ``client``)."""
        ...

    def retract(self, conversation: Conversation) -> None:
        """The newest messages of ``conversation`` were taken back: bring what is indexed in step."""
        ...


def local_counter() -> TokenCounter:
    """The counter strategies and sessions use when given none: ``convolab.sim.SimTokenCounter``.

    It is the one counter that needs no request (``ExactCounter`` calls ``count_tokens``) and
    no history of calls (``CalibratedEstimate`` learns from usage): it tokenizes locally with
    the catalog's tokenizer generations and frames blocks as the API bills them, so it is exact
    for the simulator and close for Claude. For exact budgets on the real API pass
    ``counter=ExactCounter(client)``."""
    from convolab.sim import SimTokenCounter

    return SimTokenCounter()


class BaseStrategy:
    """Shared machinery. Subclasses choose which messages (and extra context) to send.

    ``max_tokens`` (the reply's cap, reserved out of the window) and ``cache_ttl`` are checked
    when the strategy is made, against ``model`` when it is given, else against the
    conversation's model when a payload is built (``ConfigurationError`` naming the limit).
    ``counter`` counts tokens against the budget: ``local_counter()`` (``SimTokenCounter``,
    local and request-free; see there) unless one is given.
    """

    name: ClassVar[str] = "base"
    state_version: ClassVar[int] = 1  # bump when state() changes shape; load_state refuses others

    def __init__(self, *, model: str | None = None, max_tokens: int = 1024,
                 counter: TokenCounter | None = None, cache: bool = True, cache_ttl: str = "5m"):
        if model is not None:
            catalog.get_model(model)
        if cache_ttl not in CACHE_TTLS:
            raise ConfigurationError(f"cache_ttl must be one of {', '.join(CACHE_TTLS)}, got {cache_ttl!r}")
        self.model = model
        self.max_tokens = check_max_tokens(max_tokens, model)
        self.counter = counter or local_counter()
        self.cache = cache
        self.cache_ttl = cache_ttl
        self.side_usage: list[tuple[str, Any]] = []  # (model, usage) of side calls, for the evaluation's ledger
        self._indexes: dict[str, HistoryIndex] = {}
        self._last: tuple[Any, list[str], int, int] | None = None  # (prefix key, sent ids, stable, total)
        # conversation id -> (window start, window messages, their API dicts) of the last clean repair
        self._repairs: dict[str, tuple[int, list[Message], list[dict[str, Any]]]] = {}

    # -- protocol defaults ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"strategy": self.name, "version": self.state_version}

    def load_state(self, state: dict[str, Any]) -> None:
        """Check that ``state`` is this strategy's, saved in the format this version reads."""
        if state and state.get("strategy") not in (None, self.name):
            raise ConfigurationError(f"state belongs to strategy {state.get('strategy')!r}, not {self.name!r}")
        if state and state.get("version", 1) != self.state_version:
            raise ConfigurationError(
                f"the stored {self.name} state has format version {state.get('version')!r}; this convolab reads "
                f"version {self.state_version}. Upgrade convolab, or start the strategy afresh on this "
                "conversation (a new strategy object, without resuming its state)")

    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """Learn from the exchange just completed (``turn``); nothing to learn by default."""

    def stable_window(self, conversation: Conversation, idx: HistoryIndex, w: Window, available: int,
                      starts: dict[str, str], headroom: float, *, max_turns: int | None = None) -> Window:
        """Cache-aware cut of the window ``w`` (the tightest that fits ``available``): keep the
        previous start (``starts[session id]``, a message id) while it still fits, so the prompt
        starts with the previous one and the cache reads it; when it must move, cut ``headroom``
        of ``available`` more, so the next turns fit without moving it again."""
        prev = starts.get(conversation.session_id)
        start = None
        if prev is not None and prev in conversation._by_id:
            at = conversation.index_of(prev)
            if at >= w.start:  # the tightest window starts earlier: the previous start fits
                start = at
        if start is None and w.start > 0:  # the window has to move: move it past some headroom
            roomy = idx.window(max_turns=max_turns, budget_tokens=int(available * (1 - headroom)))
            start = roomy.start if not roomy.empty else w.start
        if start is None:
            start = w.start
        starts[conversation.session_id] = conversation.messages[start].id
        return idx.window(max_turns=max_turns, budget_tokens=idx.tokens(start), min_start=start)

    def retract(self, conversation: Conversation) -> None:
        """Bring the indexes back in step after the newest messages were taken back
        (``Conversation.discard_last``), keeping what was indexed before them: cheaper than
        ``forget`` when a message is added and withdrawn many times (evaluation questions)."""
        idx = self._indexes.get(conversation.session_id)
        if idx is not None and idx.conversation is conversation:
            idx.truncate()
        self._repairs.pop(conversation.session_id, None)
        self._last = None

    def forget(self, conversation: Conversation) -> None:
        """Drop what was indexed for ``conversation`` (after a session took back an unsent
        message); the next build re-indexes it."""
        self._indexes.pop(conversation.session_id, None)
        self._repairs.pop(conversation.session_id, None)
        self._last = None

    # -- helpers -------------------------------------------------------------------------
    def model_for(self, conversation: Conversation) -> str:
        return self.model or conversation.model

    def index(self, conversation: Conversation) -> HistoryIndex:
        idx = self._indexes.get(conversation.session_id)
        if idx is None or idx.conversation is not conversation:
            idx = self._indexes[conversation.session_id] = HistoryIndex(conversation, self.counter,
                                                                        self.model_for(conversation))
        return idx

    def window_limit(self, model: str) -> int:
        """Input tokens the model's window leaves after reserving ``max_tokens`` for the reply
        (``ConfigurationError`` when ``max_tokens`` is past what the model can write)."""
        return catalog.get_model(model).context_window - check_max_tokens(self.max_tokens, model)

    def fixed_tokens(self, conversation: Conversation, model: str, extra_system: list[dict[str, Any]]) -> dict[str, int]:
        """Tokens of what every request carries: system prompt, tools, extra system blocks."""
        system = self.counter.count_system(conversation.system_prompt or None, model=model)
        tools = self.counter.count_tools(conversation.tools, model=model)
        extra = sum(self.counter.count_system([b], model=model) - self.counter.count_system(None, model=model)
                    for b in extra_system)
        return {"system": system, "tools": tools, "extra": extra}

    def finish(self, conversation: Conversation, *, start: int, end: int | None = None,
               extra_system: list[tuple[str, dict[str, Any]]] = (), prefix_messages: list[Message] = (),
               retrieved: int = 0, budget: int | None = None, extra_request: dict[str, Any] | None = None,
               betas: list[str] | None = None, volatile_system: int = 0) -> Payload:
        """Build the payload from ``conversation.messages[start:end]`` plus extra context.

        ``extra_system`` are ``(label, text block)`` pairs appended to the system prompt (a
        summary, a memory); ``prefix_messages`` are older messages sent before the window
        (retrieved turns), ``retrieved`` their token count. The system breakpoint goes on the
        last block before the ``volatile_system`` trailing blocks (the ones that change more
        often), so the stable part stays cached when they change.
        """
        model = self.model_for(conversation)
        msgs = conversation.messages
        end = len(msgs) if end is None else end
        window = [*prefix_messages, *msgs[start:end]]
        api_msgs, report = self._repaired(conversation, window, start, prefix=bool(prefix_messages))
        blocks = [b for _, b in extra_system]
        request, system_blocks, breakpoints = self._request(conversation, model, api_msgs, blocks,
                                                            volatile_system, extra_request)
        idx = self.index(conversation)
        fixed = self.fixed_tokens(conversation, model, blocks)
        if report.is_clean and not prefix_messages:
            recent = idx.tokens(start, end)
        else:
            recent = sum(self.counter.count_message(m, model=model) for m in api_msgs) - retrieved
        total = fixed["system"] + fixed["tools"] + fixed["extra"] + retrieved + recent
        limit = self.window_limit(model) if budget is None else min(budget, self.window_limit(model))
        if total > limit:
            raise ContextOverflow(total, limit, what=f"the {self.name} payload",
                                  hint=self._overflow_hint(budget))
        breakdown = self._breakdown(model, fixed, extra_system, retrieved, recent)
        sent_ids = [m.id for m in window]
        plan = self._plan(breakpoints, (system_blocks, conversation.tools), sent_ids,
                          fixed["system"] + fixed["tools"] + fixed["extra"], total, model)

        def omitted(history: list[Message] = msgs, upto: int = end, sent: list[str] = sent_ids) -> list[str]:
            ids = set(sent)
            return [m.id for m in history[:upto] if m.id not in ids]

        return Payload(self.name, request, total, breakdown, sent_ids, plan, report, betas or [], omitted)

    def _request(self, conversation: Conversation, model: str, api_msgs: list[dict[str, Any]],
                 extra_blocks: list[dict[str, Any]], volatile_system: int,
                 extra_request: dict[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """The request body, its system blocks, and where its cache breakpoints are (the system
        one on the last block before the ``volatile_system`` trailing ones)."""
        system_blocks = self._system_blocks(conversation, extra_blocks)
        breakpoints = []
        stable_end = len(system_blocks) - volatile_system
        if self.cache and stable_end > 0:
            system_blocks[stable_end - 1] = {**system_blocks[stable_end - 1], "cache_control": self._cc()}
            breakpoints.append("system" if stable_end == 1 else f"system block {stable_end}")
        request: dict[str, Any] = {"model": model, "max_tokens": self.max_tokens, "messages": api_msgs}
        if system_blocks:
            request["system"] = system_blocks
        if conversation.tools:
            request["tools"] = conversation.tools
        if self.cache:
            request["cache_control"] = self._cc()
            breakpoints.append("last message (automatic)")
        if extra_request:
            request.update(extra_request)
        dropped = _limit_breakpoints(request)
        if dropped:
            breakpoints.append(f"{dropped} stored message breakpoint(s) dropped (the API allows {MAX_BREAKPOINTS})")
        return request, system_blocks, breakpoints

    def _breakdown(self, model: str, fixed: dict[str, int], extra_system: list[tuple[str, dict[str, Any]]],
                   retrieved: int, recent: int) -> dict[str, int]:
        """Input tokens by part of the payload (each extra system block under its label)."""
        breakdown = {"system": fixed["system"], "tools": fixed["tools"], "summary": 0, "memory": 0,
                     "retrieved": retrieved, "recent": recent}
        for label, block in extra_system:
            breakdown[label] = breakdown.get(label, 0) + (
                self.counter.count_system([block], model=model) - self.counter.count_system(None, model=model))
        return breakdown

    def _plan(self, breakpoints: list[str], key: Any, sent_ids: list[str], stable: int, total: int,
              model: str) -> CachePlan:
        """The cache plan: what this request should read and write, given the last one."""
        plan = CachePlan(breakpoints, stable, 0, 0)
        if self.cache:
            plan.expected_read, plan.expected_write = self._expect(key, sent_ids, stable, total, model)
            self._last = (key, sent_ids, stable, total)
        return plan

    def _repaired(self, conversation: Conversation, window: list[Message], start: int, *,
                  prefix: bool) -> tuple[list[dict[str, Any]], RepairReport]:
        """``repair_messages(window, for_request=True)``, reusing the last build's output when
        the window has the same start and only grew: the new messages are repaired from the
        previous window's last message on (a plain user message with an assistant message before
        it, so nothing merges or pairs across the cut). Only clean repairs are reused; anything
        else is repaired whole. The API dicts are shared between payloads: treat them as read-only.
        """
        cached = None if prefix else self._repairs.get(conversation.session_id)
        if cached is not None:
            c_start, c_window, c_out = cached
            n = len(c_window)
            if (c_start == start and 1 < n <= len(window) and window[n - 1] is c_window[-1]
                    and window[n - 2] is c_window[-2] and is_plain_user(c_window[-1])
                    and c_window[-2].role == "assistant"):
                tail, report = repair_messages(window[n - 1:], for_request=True)
                if report.is_clean:
                    out = c_out[:n - 1] + tail
                    self._repairs[conversation.session_id] = (start, window, out)
                    return list(out), report
        out, report = repair_messages(window, for_request=True)
        if report.is_clean and not prefix:
            self._repairs[conversation.session_id] = (start, window, out)
        else:
            self._repairs.pop(conversation.session_id, None)
        return list(out), report

    def _expect(self, key: Any, sent_ids: list[str], stable: int, total: int, model: str) -> tuple[int, int]:
        """Expected cache read and write if the previous build was sent within the TTL.

        Same system/tools and the previous messages still at the front: the automatic
        breakpoint reads the whole previous prompt. Same system/tools only: the system
        breakpoint reads the stable prefix. Prefixes under the model's minimum are not cached.
        """
        minimum = catalog.get_model(model).min_cacheable_tokens
        read = 0
        if self._last is not None and self._last[0] == key:
            _, prev_ids, prev_stable, prev_total = self._last
            if prev_ids and sent_ids[:len(prev_ids)] == prev_ids and prev_total >= minimum:
                read = prev_total
            elif prev_stable >= minimum:
                read = prev_stable
        write = total - read if total >= minimum else 0
        return read, write

    def newest_turn_overflow(self, conversation: Conversation, fixed_tokens: int, room: int, *,
                             what: str = "the newest turn", hint: str = "") -> ConvolabError:
        """The error for a window that came out empty: ``InvalidConversation`` when there is
        nothing to send, else ``ContextOverflow`` saying by how much the newest turn is over."""
        idx = self.index(conversation)
        starts = idx.turn_starts
        if not starts:
            return InvalidConversation("the conversation has no messages: add a user message before building a payload")
        return ContextOverflow(fixed_tokens + idx.tokens(starts[-1]), room, what=what, hint=hint)

    def _cc(self) -> dict[str, Any]:
        return {"type": "ephemeral", "ttl": self.cache_ttl} if self.cache_ttl != "5m" else dict(EPHEMERAL)

    @staticmethod
    def _system_blocks(conversation: Conversation, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sp = conversation.system_prompt
        blocks = [{"type": "text", "text": sp}] if isinstance(sp, str) and sp else [dict(b) for b in sp or []]
        return blocks + [dict(b) for b in extra]

    def _overflow_hint(self, budget: int | None) -> str:
        if budget is None:
            return ("The whole history no longer fits the model's window: use a budgeted strategy "
                    "(SlidingWindow, Summarizing, ...) or lower max_tokens.")
        return "Raise budget_tokens, lower max_tokens, or shorten the newest message."
