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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from convolab.datasets.records import QAItem, Sample
from convolab.eval import metrics
from convolab.eval.direct import DirectClient
from convolab.model import DEFAULT_MODEL, Conversation, Message, Turn, group_turns
from convolab.pricing import cost_usd, usage_tokens
from convolab.strategies import make_strategy
from convolab.strategies.base import Strategy

__all__ = ["QUESTION_SPACING", "USAGE_KEYS", "Run", "new_strategy", "replay_sample"]

QUESTION_SPACING = timedelta(seconds=10)  # questions are asked one after another, like messages
USAGE_KEYS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")


def _usage(usage: Any) -> dict[str, int]:
    t = usage_tokens(usage)
    return {"input_tokens": t["input"], "cache_write_tokens": t["cache_write_5m"] + t["cache_write_1h"],
            "cache_read_tokens": t["cache_read"], "output_tokens": t["output"]}


@dataclass
class Ledger:
    """Token and cost totals of a set of requests."""

    requests: int = 0
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, model: str, usage: Any, at: date | None) -> dict[str, Any]:
        u = _usage(usage)
        cost = cost_usd(model, usage, at)
        self.requests += 1
        for k, v in u.items():
            setattr(self, k, getattr(self, k) + v)
        self.cost_usd += cost
        return {**u, "cost_usd": cost}

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {f"{prefix}{k}": getattr(self, k) for k in ("requests", *USAGE_KEYS, "cost_usd")}


@dataclass
class Run:
    """What one replay of one sample through one strategy measured.

    ``main``: the turns' and questions' own requests; ``side``: the strategy's side calls
    (summaries, memory extraction); ``qa``: the questions' requests and the side calls made
    while answering them (a subset of both). ``items``: one dict per QA item (its metrics,
    payload size, reply). ``build_ms``: every build (turns, then questions), in order.
    """

    strategy: str
    sample_id: str
    model: str
    turns: int
    main: Ledger = field(default_factory=Ledger)
    side: Ledger = field(default_factory=Ledger)
    qa: Ledger = field(default_factory=Ledger)
    build_ms: list[float] = field(default_factory=list)
    turn_input_tokens: list[int] = field(default_factory=list)  # payload size of each turn
    items: list[dict[str, Any]] = field(default_factory=list)
    state_before_questions: dict[str, Any] = field(default_factory=dict)
    state_after_questions: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> Ledger:
        out = Ledger()
        for part in (self.main, self.side):
            out.requests += part.requests
            for k in USAGE_KEYS:
                setattr(out, k, getattr(out, k) + getattr(part, k))
            out.cost_usd += part.cost_usd
        return out

    def row(self) -> dict[str, Any]:
        """One row for the runs frame (no per-item data)."""
        total = self.total
        return {"strategy": self.strategy, "sample_id": self.sample_id, "model": self.model, "turns": self.turns,
                "qa_items": len(self.items), **total.as_dict(), "side_requests": self.side.requests,
                "side_cost_usd": self.side.cost_usd, "qa_requests": self.qa.requests, "qa_cost_usd": self.qa.cost_usd,
                "build_ms_p50": statistics.median(self.build_ms) if self.build_ms else None}


def new_strategy(name: str, budget_tokens: int | None) -> Strategy:
    """The strategy ``name`` from the registry; ``budget_tokens`` for the budgeted ones."""
    return make_strategy(name, budget_tokens=budget_tokens)


def _text(reply: Any) -> str:
    return " ".join(getattr(b, "text", "") for b in reply.content if getattr(b, "type", "") == "text").strip()


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


def replay_sample(sample: Sample, strategy: str | Strategy, *, budget_tokens: int | None = 4000,
                  model: str = DEFAULT_MODEL, simulator: Any = None, client: Any = None,
                  qa: list[QAItem] | None = None, priced_at: date | None = None, keep_requests: bool = False,
                  sdk: bool = False) -> Run:
    """Replay ``sample`` through ``strategy`` (a name or an instance) and ask its questions.

    ``simulator``/``client``: by default a new ``Simulator`` on a ``ManualClock`` at the first
    message's time; pass a client (e.g. a real ``anthropic.Anthropic``) to replay against it
    (the clock is then the real one). With a simulator, requests go straight to its handler
    (``DirectClient``: the same body, reply and bill, a third faster) unless ``sdk=True`` (through the
    real ``anthropic.Anthropic``). ``qa`` asks only these items (default: all).
    ``priced_at`` fixes the price date (default: today, UTC). ``keep_requests`` keeps each
    question's request in its item (``"request"``) for inspection.
    """
    from convolab.sim import ManualClock, Simulator

    src = sample.conversation
    if client is None:
        if simulator is None:
            first = src.messages[0].created_at if src.messages else None
            simulator = Simulator(clock=ManualClock(first), keep_history=0)
        client = simulator.client() if sdk else DirectClient(simulator)
    clock = getattr(simulator, "clock", None) if simulator is not None else None
    manual = clock is not None and hasattr(clock, "set")
    priced_at = priced_at or datetime.now(UTC).date()
    strat = new_strategy(strategy, budget_tokens) if isinstance(strategy, str) else strategy
    conv = Conversation(session_id=f"eval:{sample.sample_id}", system_prompt=src.system_prompt, model=model,
                        tools=src.tools)
    run = Run(strategy=strat.name, sample_id=sample.sample_id, model=model, turns=0)
    seen: list[int] = []

    def tick(when: datetime) -> None:
        if manual and when > clock.now():
            clock.set(when)

    def account_side(into_qa: bool) -> None:
        for m, u in _side_delta(strat, seen):
            run.side.add(m, u, priced_at)
            if into_qa:
                run.qa.add(m, u, priced_at)

    for turn in group_turns(src.messages):
        users = [k for k, m in enumerate(turn.messages) if m.role == "user"]
        if not users:  # assistant messages before any user message: context only
            conv.extend(turn.messages)
            continue
        head = users[0] + 1
        start = len(conv.messages)
        conv.extend(turn.messages[:head])
        tick(conv.messages[-1].created_at)
        t0 = time.perf_counter()
        payload = strat.build(conv, client=client)
        run.build_ms.append(1000 * (time.perf_counter() - t0))
        reply = payload.create(client)
        run.main.add(model, reply.usage, priced_at)
        run.turn_input_tokens.append(payload.input_tokens)
        run.turns += 1
        rest = turn.messages[head:]
        if rest:
            conv.extend(rest)
        else:  # the dataset has no reply to this message: keep the model's own
            conv.add("assistant", reply.content, created_at=conv.messages[-1].created_at)
        done = Turn(index=run.turns - 1, start=start, end=len(conv.messages), messages=tuple(conv.messages[start:]))
        strat.observe(done, client=client, conversation=conv)
        account_side(False)

    run.state_before_questions = copy.deepcopy(strat.state())
    asked = sample.qa if qa is None else qa
    cache: dict = {}
    when = conv.messages[-1].created_at if conv.messages else datetime(2026, 1, 1, tzinfo=UTC)
    for item in asked:
        k = sample.qa.index(item) if qa is not None else len(run.items)
        when = when + QUESTION_SPACING
        tick(when)
        question = conv.add("user", item.question, id=f"{sample.sample_id}:qa:{k}", created_at=when)
        try:
            t0 = time.perf_counter()
            payload = strat.build(conv, client=client)
            ms = 1000 * (time.perf_counter() - t0)
            reply = payload.create(client)
        finally:
            take_back(strat, conv, question)
        run.build_ms.append(ms)
        billed = run.main.add(model, reply.usage, priced_at)
        run.qa.add(model, reply.usage, priced_at)
        account_side(True)
        if strat.state() != run.state_before_questions:
            strat.load_state(copy.deepcopy(run.state_before_questions))
        answer = _text(reply)
        row = {"strategy": strat.name, "sample_id": sample.sample_id, "qa_index": k, "category": item.category,
               "category_name": item.category_name, "question": item.question, "answer": item.answer,
               "adversarial_answer": item.adversarial_answer, "evidence": len(item.evidence),
               **score_item(sample, item, payload.request, payload.sent, answer, cache),
               "payload_tokens": payload.input_tokens, **billed, "build_ms": ms, "reply": answer}
        if keep_requests:
            row["request"] = payload.request
        run.items.append(row)
    run.state_after_questions = copy.deepcopy(strat.state())
    return run
