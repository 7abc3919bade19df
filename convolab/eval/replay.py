"""Replay one conversation through one strategy, then ask its questions against the final state.

Turns, in order (teacher forcing): the simulated clock is set to the user message's
``created_at`` (so the 5-minute cache expires between sessions as it would), the strategy
builds its payload, the payload is sent (usage and cache figures are the API's), then the
*recorded* assistant messages of that turn are appended, not the reply, and the strategy
observes the exchange (summaries and memory extraction call the model here). A last user
message the dataset has no reply to gets the model's own reply, so that questions start a
turn of their own.

Questions, each against the final state alone: the question is appended as a user message,
the payload is built (with the client, as a live turn would be) and sent, then the question is
taken back (``Conversation.discard_last``) and the strategy's indexes trimmed
(``strategy.retract``); its ``state()`` is restored
when building changed it (a compression, the last hits). Side calls made while answering
(a summary written in ``build``) are billed to the question.

Every request is counted: the turns', the questions', and the strategy's side calls
(``strategy.side_usage``, its delegates' included), each priced by ``convolab.pricing`` for its own model.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from convolab.blocks import reply_text
from convolab.datasets.records import QAItem, Sample
from convolab.errors import ConfigurationError
from convolab.eval import metrics
from convolab.eval.direct import DirectClient
from convolab.eval.kinds import kind
from convolab.model import DEFAULT_MODEL, Conversation, Message, Turn, group_turns
from convolab.pricing import cost_usd, usage_tokens
from convolab.strategies import make_strategy
from convolab.strategies.base import Strategy

__all__ = ["MODES", "PACES", "QUESTION_SPACING", "USAGE_KEYS", "Run", "new_strategy", "replay_sample"]

QUESTION_SPACING = timedelta(seconds=10)  # questions are asked one after another, like messages
USAGE_KEYS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")


def _usage(usage: Any) -> dict[str, int]:
    t = usage_tokens(usage)
    return {"input_tokens": t["input"], "cache_write_tokens": t["cache_write_5m"] + t["cache_write_1h"],
            "cache_read_tokens": t["cache_read"], "output_tokens": t["output"]}


@dataclass
class UsageTotals:
    """Token and cost totals of a set of requests (not the store's usage ``Ledger``: these are
    sums the evaluation keeps in memory)."""

    requests: int = 0
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, model: str, usage: Any, at: date | None, *also: UsageTotals) -> dict[str, Any]:
        """Count one request (priced once), here and in the totals ``also``."""
        u = _usage(usage)
        cost = cost_usd(model, usage, at)
        for totals in (self, *also):
            totals.requests += 1
            for k, v in u.items():
                setattr(totals, k, getattr(totals, k) + v)
            totals.cost_usd += cost
        return {**u, "cost_usd": cost}

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {f"{prefix}{k}": getattr(self, k) for k in ("requests", *USAGE_KEYS, "cost_usd")}

    def plus(self, other: UsageTotals, sign: int = 1) -> UsageTotals:
        """New totals with ``other``'s added (``sign=-1``: taken away)."""
        return UsageTotals(**{k: getattr(self, k) + sign * getattr(other, k) for k in ("requests", *USAGE_KEYS,
                                                                                   "cost_usd")})

    @property
    def prompt_tokens(self) -> int:
        """Every input token: uncached, cache writes and cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass
class Run:
    """What one replay of one sample through one strategy measured.

    ``main``: the turns' and questions' own requests; ``side``: the strategy's side calls
    (summaries, memory extraction); ``qa``: the questions' requests and the side calls made
    while answering them (a subset of both); ``turn``: the turns' requests (a part of ``main``;
    counted, not sent, when ``turns_estimated``). ``items``: one dict per QA item (its metrics,
    payload size, reply). ``build_ms``: every build (turns, then questions), in order.
    """

    strategy: str
    sample_id: str
    model: str
    turns: int
    main: UsageTotals = field(default_factory=UsageTotals)
    side: UsageTotals = field(default_factory=UsageTotals)
    qa: UsageTotals = field(default_factory=UsageTotals)
    turn: UsageTotals = field(default_factory=UsageTotals)  # the turns' own requests (a part of main)
    turns_estimated: bool = False  # --mode qa: turn usage from the cache model, not billed
    build_ms: list[float] = field(default_factory=list)
    turn_input_tokens: list[int] = field(default_factory=list)  # payload size of each turn
    items: list[dict[str, Any]] = field(default_factory=list)
    state_before_questions: dict[str, Any] = field(default_factory=dict)
    state_after_questions: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> UsageTotals:
        return self.main.plus(self.side)

    def row(self) -> dict[str, Any]:
        """One row for the runs frame (no per-item data)."""
        total = self.total
        return {"strategy": self.strategy, "sample_id": self.sample_id, "model": self.model, "turns": self.turns,
                "qa_items": len(self.items), **total.as_dict(), "side_requests": self.side.requests,
                "side_cost_usd": self.side.cost_usd, "qa_requests": self.qa.requests, "qa_cost_usd": self.qa.cost_usd,
                "build_ms_p50": statistics.median(self.build_ms) if self.build_ms else None,
                "turn_requests": self.turn.requests, "turn_cost_usd": self.turn.cost_usd,
                "turns_estimated": self.turns_estimated}


def new_strategy(name: str, budget_tokens: int | None) -> Strategy:
    """The strategy ``name`` from the registry; ``budget_tokens`` for the budgeted ones."""
    return make_strategy(name, budget_tokens=budget_tokens)


def _text(reply: Any) -> str:
    return reply_text(reply).strip()


def take_back(strategy: Strategy, conversation: Conversation, message: Message) -> None:
    """Remove the unsent last ``message`` and bring the strategy's indexes back in step."""
    conversation.discard_last(message)
    strategy.retract(conversation)


def _side_delta(strategy: Strategy, seen: list[int]) -> list[tuple[str, Any]]:
    """Side calls (model, usage) made since the last look (``Strategy.side_usage`` holds its
    delegates' too, e.g. a ``ServerCompaction`` fallback's)."""
    calls = strategy.side_usage
    if not seen:
        seen.append(0)
    new, seen[0] = calls[seen[0]:], len(calls)
    return list(new)


def _evidence(sample: Sample, item: QAItem, sent: set[str], text: metrics.PayloadText) -> float | None:
    found = []
    for d in item.evidence:
        mid = sample.dia_index.get(d)
        if mid is None:
            continue
        found.append(mid in sent or text.has_text(sample.dia_text[d]))
    return sum(found) / len(found) if found else None


def score_item(sample: Sample, item: QAItem, request: dict[str, Any], sent: list[str], reply: str,
               cache: dict | None = None) -> dict[str, Any]:
    """The metrics of one QA item from the question's request, the ids it sent and the reply."""
    text = metrics.payload_texts(request, item.question, cache)
    need = metrics.answer_words(item.answer)
    in_context = in_message = correct = declined = None
    if item.category != 5:
        share = metrics.words_present(need, text)
        if share is not None:
            in_context = share >= metrics.THRESHOLD
            in_message = text.best_share(need) >= metrics.THRESHOLD
            correct = metrics.words_present(need, set(metrics.words(reply))) >= metrics.THRESHOLD
    else:
        declined = metrics.declines(reply, item.adversarial_answer)
    return {"evidence_recall": _evidence(sample, item, set(sent), text), "answer_in_context": in_context,
            "answer_in_message": in_message, "correctness": correct, "declines": declined}


PACES = ("dataset", "live")
MODES = ("replay", "qa")


@dataclass
class _Question:
    """A question built and taken back, waiting for its reply."""

    item: QAItem
    index: int
    payload: Any
    build_ms: float


class _Replay:
    """One replay's state: the clients, the clock, the strategy and the conversation so far."""

    def __init__(self, sample: Sample, strategy: str | Strategy, *, budget_tokens: int | None, model: str,
                 simulator: Any, client: Any, priced_at: date | None, keep_requests: bool, sdk: bool, mode: str,
                 pace: str):
        from convolab.sim import ManualClock, Simulator

        if mode not in MODES or pace not in PACES:
            raise ConfigurationError(f"mode must be one of {MODES} and pace one of {PACES}, got {mode!r}, {pace!r}")
        src = sample.conversation
        first = src.messages[0].created_at if src.messages else None
        if client is None:
            simulator = simulator or Simulator(clock=ManualClock(first), keep_history=0)
            client = simulator.client() if sdk else DirectClient(simulator)
        self.sample, self.model, self.client, self.keep_requests = sample, model, client, keep_requests
        self.clocks = [c for c in (getattr(simulator, "clock", None),) if c is not None and hasattr(c, "set")]
        self.turn_client = client
        if mode == "qa":  # turns are counted and cached by a simulator of their own, never sent
            turn_sim = Simulator(clock=ManualClock(first), keep_history=0)
            self.turn_client = DirectClient(turn_sim)
            self.clocks.append(turn_sim.clock)
        if pace == "live":  # the clock moves only by the simulator's latency, as in a run sent in one go
            self.clocks = []
        self.priced_at = priced_at or datetime.now(UTC).date()
        self.strat = new_strategy(strategy, budget_tokens) if isinstance(strategy, str) else strategy
        self.conv = Conversation(session_id=f"eval:{sample.sample_id}", system_prompt=src.system_prompt,
                                 model=model, tools=src.tools)
        self.run = Run(strategy=self.strat.name, sample_id=sample.sample_id, model=model, turns=0,
                       turns_estimated=mode == "qa")
        self.seen: list[int] = []

    def tick(self, when: datetime) -> None:
        for clock in self.clocks:
            if when > clock.now():
                clock.set(when)

    def account_side(self, into_qa: bool) -> None:
        also = (self.run.qa,) if into_qa else ()
        for m, u in _side_delta(self.strat, self.seen):
            self.run.side.add(m, u, self.priced_at, *also)

    # -- turns -------------------------------------------------------------------------------
    def play_turns(self) -> None:
        for turn in group_turns(self.sample.conversation.messages):
            users = [k for k, m in enumerate(turn.messages) if m.role == "user"]
            if not users:  # assistant messages before any user message: context only
                self.conv.extend(turn.messages)
                continue
            self.play_turn(turn, users[0] + 1)
        self.run.state_before_questions = copy.deepcopy(self.strat.state())

    def play_turn(self, turn: Turn, head: int) -> None:
        conv, run = self.conv, self.run
        start = len(conv.messages)
        conv.extend(turn.messages[:head])
        self.tick(conv.messages[-1].created_at)
        t0 = time.perf_counter()
        payload = self.strat.build(conv, client=self.client)
        run.build_ms.append(1000 * (time.perf_counter() - t0))
        with kind("turns"):
            reply = payload.create(self.turn_client)
        run.main.add(self.model, reply.usage, self.priced_at, run.turn)
        run.turn_input_tokens.append(payload.input_tokens)
        run.turns += 1
        rest = turn.messages[head:]
        if rest:
            conv.extend(rest)
        else:  # the dataset has no reply to this message: keep the model's own
            conv.add("assistant", reply.content, created_at=conv.messages[-1].created_at)
        done = Turn(index=run.turns - 1, start=start, end=len(conv.messages), messages=tuple(conv.messages[start:]))
        self.strat.observe(done, client=self.client, conversation=conv)
        self.account_side(False)

    # -- questions ---------------------------------------------------------------------------
    def prepare(self, item: QAItem, k: int, when: datetime) -> _Question:
        """Build the question's payload against the final state, then take the question back."""
        self.tick(when)
        question = self.conv.add("user", item.question, id=f"{self.sample.sample_id}:qa:{k}", created_at=when)
        try:
            t0 = time.perf_counter()
            payload = self.strat.build(self.conv, client=self.client)
            ms = 1000 * (time.perf_counter() - t0)
        finally:
            take_back(self.strat, self.conv, question)
        self.account_side(True)
        if self.strat.state() != self.run.state_before_questions:
            self.strat.load_state(copy.deepcopy(self.run.state_before_questions))
        return _Question(item, k, payload, ms)

    def score(self, q: _Question, reply: Any) -> None:
        run, item, sample = self.run, q.item, self.sample
        run.build_ms.append(q.build_ms)
        billed = run.main.add(self.model, reply.usage, self.priced_at, run.qa)
        answer = _text(reply)
        row = {"strategy": run.strategy, "sample_id": sample.sample_id, "qa_index": q.index,
               "category": item.category, "category_name": item.category_name, "question": item.question,
               "answer": item.answer, "adversarial_answer": item.adversarial_answer, "evidence": len(item.evidence),
               **score_item(sample, item, q.payload.request, q.payload.sent, answer),
               "payload_tokens": q.payload.input_tokens, **billed, "build_ms": q.build_ms, "reply": answer}
        if self.keep_requests:
            row["request"] = q.payload.request
        run.items.append(row)

    def ask(self, asked: list[QAItem], numbers: list[int], send_all: SendAll | None) -> None:
        """Ask each question in turn (build, send, score); with ``send_all``, build them all first
        and send them together (they are independent: each is asked against the final state)."""
        conv = self.conv
        when = conv.messages[-1].created_at if conv.messages else datetime(2026, 1, 1, tzinfo=UTC)
        prepared = []
        for item, k in zip(asked, numbers, strict=True):
            when = when + QUESTION_SPACING
            q = self.prepare(item, k, when)
            if send_all is None:
                with kind("questions"):
                    reply = q.payload.create(self.client)
                self.score(q, reply)
            else:
                prepared.append(q)
        if send_all is not None and prepared:
            with kind("questions"):
                replies = send_all([q.payload for q in prepared])
            for q, reply in zip(prepared, replies, strict=True):
                self.score(q, reply)
        self.run.state_after_questions = copy.deepcopy(self.strat.state())


SendAll = Callable[[list[Any]], list[Any]]


def replay_sample(sample: Sample, strategy: str | Strategy, *, budget_tokens: int | None = 4000,
                  model: str = DEFAULT_MODEL, simulator: Any = None, client: Any = None,
                  qa: list[QAItem] | None = None, priced_at: date | None = None, keep_requests: bool = False,
                  sdk: bool = False, mode: str = "replay", pace: str = "dataset",
                  send_all: SendAll | None = None) -> Run:
    """Replay ``sample`` through ``strategy`` (a name or an instance) and ask its questions.

    ``simulator``/``client``: by default a new ``Simulator`` on a ``ManualClock`` at the first
    message's time; pass a client (e.g. a real ``anthropic.Anthropic``, or a
    ``convolab.eval.live.TaskClient``) to replay against it. With a simulator, requests go
    straight to its handler (``DirectClient``: the same body, reply and bill, a third faster)
    unless ``sdk=True`` (through the real ``anthropic.Anthropic``). ``qa`` asks only these items
    (default: all). ``priced_at`` fixes the price date (default: today, UTC). ``keep_requests``
    keeps each question's request in its item (``"request"``) for inspection.

    ``mode="qa"``: the turns are built and counted by a simulator of their own (tokens, cache,
    cost: ``Run.turns_estimated``), never sent to ``client``; side calls and questions are.
    ``pace="live"``: the simulator's clock is not set to the messages' times (only its latency
    moves it), as when a whole replay is sent in minutes. ``send_all``: a function sending a
    list of question payloads at once (a message batch) and returning their replies in order.
    """
    r = _Replay(sample, strategy, budget_tokens=budget_tokens, model=model, simulator=simulator, client=client,
                priced_at=priced_at, keep_requests=keep_requests, sdk=sdk, mode=mode, pace=pace)
    r.play_turns()
    asked = sample.qa if qa is None else qa
    numbers = list(range(len(asked))) if qa is None else [sample.qa.index(item) for item in qa]
    r.ask(list(asked), numbers, send_all)
    return r.run
