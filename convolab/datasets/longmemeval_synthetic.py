"""Seeded LongMemEval instances, in exactly the published format, for tests and dry runs.

``longmemeval_records(12, seed=0)`` gives instance dicts that ``write_longmemeval_json`` writes
as a file ``load_longmemeval`` reads, like ``longmemeval_s.json`` (``variant="s"``, the whole
haystack) or ``longmemeval_oracle.json`` (``variant="oracle"``, the evidence sessions only).
Each instance is one question over a history of its own: filler sessions (the synthetic
generator's project chat) with one or two evidence sessions among them, in which the user
states a fact (``has_answer: true`` on that turn; the other turns of an evidence session carry
``has_answer: false``). The question types cycle through LongMemEval's six and abstention
(an ``_abs`` id asking about something never said). ``sessions`` and ``session_turns`` set
the size: 50 sessions of 10 to 14 exchanges is about LongMemEval_S's 115K tokens.
The same arguments always give the same records.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from convolab.datasets import synthetic_text as T
from convolab.datasets.longmemeval import ABSTENTION_SUFFIX, QUESTION_TYPES, format_longmemeval_date
from convolab.datasets.synthetic import _day, _Generator
from convolab.errors import ConfigurationError

__all__ = ["DEFAULT_START", "KINDS", "longmemeval_record", "longmemeval_records"]

DEFAULT_START = datetime(2023, 5, 1, tzinfo=UTC)
KINDS = (*QUESTION_TYPES, "abstention")  # what longmemeval_records cycles through
_FACTS = {s.key: s for s in T.FACTS}
_PLAIN = [k for k, s in _FACTS.items() if "{U}'s" in s.ask and s.pool]  # asked as "my ..."
_UPDATES = [k for k in _PLAIN if _FACTS[k].update and len(_FACTS[k].pool) > 1]
_EVENTS = [k for k, s in _FACTS.items() if s.kind == "event"]
_PREFERENCES = [k for k, s in _FACTS.items() if s.infer and s.infer[1] == "{v}"]
_NAMES = _FACTS["codename"].pool


def _mine(template: str, **values: str) -> str:
    """A question about the user, asked by the user: "{U}'s" becomes "my", "{U}" "I"."""
    return template.replace("{U}'s", "my").replace("for {U}", "for me").replace("{U}", "I").format(**values)


def longmemeval_records(questions: int = 12, *, seed: int = 0, sessions: int = 8,
                        session_turns: tuple[int, int] = (3, 8), variant: str = "s",
                        start: datetime = DEFAULT_START) -> list[dict[str, Any]]:
    """``questions`` instances whose kinds cycle through ``KINDS`` (see the module docstring)."""
    return [longmemeval_record(KINDS[i % len(KINDS)] if i % len(KINDS) < len(QUESTION_TYPES) else
                               QUESTION_TYPES[(i // len(KINDS)) % len(QUESTION_TYPES)],
                               abstention=i % len(KINDS) == len(QUESTION_TYPES), seed=seed * 100_003 + i,
                               sessions=sessions, session_turns=session_turns, variant=variant, start=start)
            for i in range(questions)]


def longmemeval_record(question_type: str = "single-session-user", *, abstention: bool = False, seed: int = 0,
                       sessions: int = 8, session_turns: tuple[int, int] = (3, 8), variant: str = "s",
                       start: datetime = DEFAULT_START) -> dict[str, Any]:
    """One instance of ``question_type`` (an abstention question about it when ``abstention``)."""
    if question_type not in QUESTION_TYPES:
        raise ConfigurationError(f"question_type={question_type!r}: use one of {', '.join(QUESTION_TYPES)}")
    if variant not in ("s", "m", "oracle"):
        raise ConfigurationError(f"variant={variant!r}: use 's', 'm' or 'oracle'")
    lo, hi = session_turns
    if sessions < 2 or not 1 <= lo <= hi:
        raise ConfigurationError("need sessions >= 2 and 1 <= session_turns[0] <= session_turns[1]")
    rng = random.Random(seed)
    gen = _Generator(rng, start)
    qid = f"{rng.getrandbits(32):08x}"
    question, answer, statements = _plan(question_type, rng, abstention)
    dates, day = [], start.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(sessions):  # a few days apart, in the daytime
        day += timedelta(days=rng.randint(1, 6))
        dates.append(day + timedelta(minutes=rng.randint(8 * 60, 22 * 60 - 1)))
    evidence_at = sorted(rng.sample(range(sessions), len(statements)))
    history = []
    for n in range(sessions):
        said = [s for s, at in zip(statements, evidence_at, strict=True) if at == n]
        kind = "answer" if said else rng.choice(("sharegpt", "ultrachat"))
        history.append((f"{kind}_{rng.getrandbits(32):08x}_{n + 1}", format_longmemeval_date(dates[n]),
                        _session(gen, rng, rng.randint(lo, hi), said, dates[n])))
    evidence = [history[n] for n in evidence_at]
    if answer == "{date}":  # a temporal question: the day the event was told
        answer = _day(dates[evidence_at[0]])
    kept = evidence if variant == "oracle" else history
    question_date = dates[-1] + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 5))
    return {"question_id": qid + (ABSTENTION_SUFFIX if abstention else ""), "question_type": question_type,
            "question": question, "answer": answer, "question_date": format_longmemeval_date(question_date),
            "haystack_session_ids": [h[0] for h in kept], "haystack_dates": [h[1] for h in kept],
            "haystack_sessions": [h[2] for h in kept], "answer_session_ids": [h[0] for h in evidence]}


def _plan(question_type: str, rng: random.Random, abstention: bool) -> tuple[str, str, list[tuple[str, str]]]:
    """The question, its answer, and what is said in each evidence session ``(role, text)``."""
    lead, update = rng.choice(T.FACT_LEADS), rng.choice(T.UPDATE_LEADS)
    if abstention or question_type in ("single-session-user", "multi-session"):
        return _facts(question_type, rng, abstention, lead)
    if question_type == "single-session-assistant":
        name = rng.choice(_NAMES)
        return ("What code name did you suggest for my project?", name,
                [("assistant", f"How about the code name {name}? It is short, easy to say, and nobody else "
                               "on the team has used it.")])
    if question_type == "temporal-reasoning":
        spec = _FACTS[rng.choice(_EVENTS)]
        return _mine(spec.ask), "{date}", [("user", f"{lead} {spec.state}")]
    if question_type == "single-session-preference":
        spec = _FACTS[rng.choice(_PREFERENCES)]
        value = rng.choice(spec.pool)
        return _mine(spec.infer[0], v=value), value, [("user", f"{lead} {spec.state.format(v=value)}")]
    if question_type == "knowledge-update":
        spec = _FACTS[rng.choice(_UPDATES)]
        old, new = rng.sample(spec.pool, 2)
        return _mine(spec.ask), new, [("user", f"{lead} {spec.state.format(v=old)}"),
                                      ("user", f"{update} {spec.update.format(v=new)}")]
    raise AssertionError(question_type)


def _facts(question_type: str, rng: random.Random, abstention: bool, lead: str) -> tuple[str, str, list[tuple[str, str]]]:
    """One fact (two for multi-session) asked about; for abstention, asked about but never said."""
    keys = rng.sample(_PLAIN, 3 if question_type == "multi-session" else 2)
    asked, said = keys[:-1], (keys[-1:] if abstention else keys[:-1])
    values = {k: rng.choice(_FACTS[k].pool) for k in keys}
    statements = [("user", f"{lead} {_FACTS[k].state.format(v=values[k])}") for k in said]
    questions = [_mine(_FACTS[k].ask) for k in asked]
    question = questions[0] if len(questions) == 1 else \
        f"{questions[0].rstrip('?')}, and {questions[1][0].lower()}{questions[1][1:]}"
    if abstention:
        return question, "You did not mention this information.", statements
    return question, " and ".join(values[k] for k in asked), statements


def _session(gen: _Generator, rng: random.Random, exchanges: int, said: list[tuple[str, str]],
             date: datetime) -> list[dict[str, Any]]:
    """``exchanges`` user/assistant pairs of filler; each statement in ``said`` in one of them."""
    slots = dict(zip(rng.sample(range(exchanges), min(len(said), exchanges)), said, strict=False))
    turns: list[dict[str, Any]] = []
    for k in range(exchanges):
        role, core = slots.get(k, (None, ""))
        core = core.replace("{date}", _day(date))
        user = gen._turn(T.USER_FILLER, core if role == "user" else "", first=role == "user")
        reply = rng.choice(T.ACKNOWLEDGEMENTS) if role == "user" else ""
        assistant = gen._turn(T.ASSISTANT_FILLER, core if role == "assistant" else reply, first=bool(role))
        for r, text in (("user", user), ("assistant", assistant)):
            turn: dict[str, Any] = {"role": r, "content": text}
            if said:
                turn["has_answer"] = r == role
            turns.append(turn)
    return turns
