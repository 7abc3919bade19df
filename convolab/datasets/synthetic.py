"""A seeded generator of long conversations with planted facts, tool exchanges and QA items.

``synthetic(turns=300, seed=0)`` returns a ``Sample`` like ``load_locomo``'s: it builds a
LoCoMo-format record (``synthetic_record``) and loads it with the same parser, so
``write_locomo_json`` then ``load_locomo`` gives the same messages and questions back, and
one harness runs both datasets.

What it makes: a user (``speaker_a``) talks with an assistant (``speaker_b``) about a
project over sessions of ``session_turns`` dialogue turns, a few days apart. Into that filler
(20 to 120 words a turn) it plants ``facts`` facts (names, numbers, dates, places,
preferences, dated events), updates ``updates`` of them later ("Actually, my budget changed
to ..."), and asks about them in LoCoMo's categories: single-hop (4) about each current value,
temporal (2) about each event (answered by its session's date), inference (3), multi-hop (1)
over two facts, and adversarial (5) with a false premise. Evidence points at the turn that
states the current value. ``tool_exchanges`` exchanges call a tool; ``double_texts``
exchanges have the user send two turns in a row (merged into one message when loaded).
The same arguments always give the same record, byte for byte once written.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from convolab.datasets import synthetic_text as T
from convolab.datasets.locomo import MONTHS, format_locomo_date, parse_sample
from convolab.datasets.records import Sample
from convolab.errors import ConfigurationError

__all__ = ["DEFAULT_START", "TOOLS", "synthetic", "synthetic_record"]

TOOLS = T.TOOLS
DEFAULT_START = datetime(2024, 3, 4, tzinfo=UTC)
MIN_WORDS, MAX_WORDS = 20, 120
_SIZE = {"plain": 2, "tool": 3, "double": 3}


def synthetic(turns: int = 300, *, seed: int = 0, facts: int = 20, updates: int = 5,
              tool_exchanges: int = 4, double_texts: int = 3, session_turns: tuple[int, int] = (10, 30),
              start: datetime = DEFAULT_START) -> Sample:
    """A synthetic ``Sample`` of exactly ``turns`` dialogue turns (see the module docstring).

    Counts are capped to what fits: at most one tool exchange and one double text per 30
    turns, and as many facts as a quarter of the plain exchanges. ``turns`` must be >= 20.
    """
    record = synthetic_record(turns, seed=seed, facts=facts, updates=updates, tool_exchanges=tool_exchanges,
                              double_texts=double_texts, session_turns=session_turns, start=start)
    return parse_sample(record, where=f"synthetic(turns={turns}, seed={seed})")


def synthetic_record(turns: int = 300, *, seed: int = 0, facts: int = 20, updates: int = 5,
                     tool_exchanges: int = 4, double_texts: int = 3,
                     session_turns: tuple[int, int] = (10, 30), start: datetime = DEFAULT_START) -> dict[str, Any]:
    """The LoCoMo-format record ``synthetic`` loads (a JSON-ready dict)."""
    lo, hi = session_turns
    if turns < 20:
        raise ConfigurationError(f"turns={turns}: a synthetic conversation needs at least 20 turns")
    if not 4 <= lo <= hi:
        raise ConfigurationError(f"session_turns={session_turns}: need 4 <= low <= high")
    gen = _Generator(random.Random(seed), start)
    gen.layout(turns, min(tool_exchanges, turns // 30), min(double_texts, turns // 30), lo, hi)
    gen.plant(facts, updates)
    conversation = gen.render()
    knobs = {"turns": turns, "seed": seed, "facts": facts, "updates": updates, "tool_exchanges": tool_exchanges,
             "double_texts": double_texts, "session_turns": [lo, hi], "start": start.isoformat()}
    record: dict[str, Any] = {
        "sample_id": f"synthetic-{turns}-seed{seed}", "conversation": conversation, "qa": gen.questions(),
        "event_summary": {}, "observation": {}, "session_summary": {},
        "convolab_facts": [{"key": p.spec.key, "kind": p.spec.kind, "values": p.values, "dia_ids": p.dia_ids}
                           for p in gen.planted],
        "convolab_generator": {"name": "convolab.datasets.synthetic", "version": 1, **knobs},
    }
    if gen.tool_count:
        record["convolab_tools"] = copy.deepcopy(TOOLS)
    return record


@dataclass
class _Planted:
    spec: T.FactSpec
    values: list[str]
    at: list[int]  # exchange index stating each value
    dia_ids: list[str] = field(default_factory=list)


class _Generator:
    def __init__(self, rng: random.Random, start: datetime):
        self.rng, self.start = rng, start
        self.user, self.asst = rng.choice(T.USER_NAMES), rng.choice(T.ASSISTANT_NAMES)
        self.project, self.features = rng.choice(T.PROJECTS)
        self.tool_count = 0
        self.prefix = ""  # the next turn's first words (a session's greeting)
        self.planted: list[_Planted] = []

    # -- shape: exchanges, sessions, dates ----------------------------------------------------
    def layout(self, turns: int, n_tool: int, n_double: int, lo: int, hi: int) -> None:
        if (turns - 3 * (n_tool + n_double)) % 2:
            n_double += -1 if n_double else 1
        n_plain = (turns - 3 * (n_tool + n_double)) // 2
        kinds = ["plain"] * n_plain + ["tool"] * n_tool + ["double"] * n_double
        self.rng.shuffle(kinds)
        first = kinds.index("plain")
        kinds[0], kinds[first] = kinds[first], kinds[0]
        self.kinds = kinds
        self.session_of: list[int] = []
        i, n, day = 0, 0, self.start
        self.dates: list[datetime] = []
        while i < len(kinds):
            size, target = 0, self.rng.randint(lo, hi)
            while i < len(kinds) and size < target:
                size += _SIZE[kinds[i]]
                self.session_of.append(n)
                i += 1
            if sum(_SIZE[k] for k in kinds[i:]) < lo:  # too little left for a session: keep it here
                self.session_of.extend([n] * (len(kinds) - i))
                i = len(kinds)
            day += timedelta(days=self.rng.randint(1, 9) if n else 0)
            self.dates.append(day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=self.rng.randint(8 * 60, 22 * 60 - 1)))
            n += 1

    def plant(self, facts: int, updates: int) -> None:
        rng = self.rng
        plain = [i for i, k in enumerate(self.kinds) if k == "plain"]
        early = plain[: len(plain) * 3 // 4]
        chosen = rng.sample(T.FACTS, min(facts, len(T.FACTS), len(plain) // 4))
        positions = sorted(rng.sample(early, len(chosen)))
        used = set(positions)
        for spec, at in zip(chosen, positions, strict=True):
            pool = spec.pool or tuple(_day(self.start + timedelta(days=d)) for d in rng.sample(range(60, 240), 4))
            value = _day(self.dates[self.session_of[at]]) if spec.kind == "event" else \
                rng.choice(pool[:-2] if spec.grows else pool)
            self.planted.append(_Planted(spec, [value], [at]))
        can_update = [p for p in self.planted if p.spec.update]
        for p in rng.sample(can_update, min(updates, len(can_update))):
            later = [i for i in plain if i > p.at[0] + 8 and i not in used]
            if later:
                at = rng.choice(later)
                used.add(at)
                pool = p.spec.pool or self._launch_pool(p)
                pool = pool[pool.index(p.values[0]) + 1:] if p.spec.grows else pool
                p.values.append(rng.choice([v for v in pool if v != p.values[0]]))
                p.at.append(at)
        self.fact_at = {at: (p, k) for p in self.planted for k, at in enumerate(p.at)}

    def _launch_pool(self, p: _Planted) -> tuple[str, ...]:
        first = datetime.strptime(p.values[0], "%d %B %Y").replace(tzinfo=UTC)
        return tuple(_day(first + timedelta(days=d)) for d in (14, 21, 30, 45))

    # -- text ----------------------------------------------------------------------------------
    def render(self) -> dict[str, Any]:
        conv: dict[str, Any] = {"speaker_a": self.user, "speaker_b": self.asst}
        sessions: list[list[dict[str, Any]]] = [[] for _ in self.dates]
        for i, kind in enumerate(self.kinds):
            n = self.session_of[i]
            turns = sessions[n]
            before = len(turns)
            self.prefix = "" if turns else self._fill(T.OPENERS)  # a session opens with a greeting
            for speaker, text, extra in getattr(self, f"_{kind}")(i, n):
                turns.append({"speaker": speaker, "dia_id": f"D{n + 1}:{len(turns) + 1}", "text": text, **extra})
            if i in self.fact_at:
                self.fact_at[i][0].dia_ids.append(turns[before]["dia_id"])  # the user's turn states the fact
        for n, turns in enumerate(sessions):
            conv[f"session_{n + 1}_date_time"] = format_locomo_date(self.dates[n])
            conv[f"session_{n + 1}"] = turns
        return conv

    def _plain(self, i: int, n: int) -> list[tuple[str, str, dict[str, Any]]]:
        if i not in self.fact_at:
            return [(self.user, self._turn(T.USER_FILLER), {}), (self.asst, self._turn(T.ASSISTANT_FILLER), {})]
        p, k = self.fact_at[i]
        statement = (p.spec.state if k == 0 else p.spec.update or "").format(v=p.values[k])
        lead = self.rng.choice(T.UPDATE_LEADS if k else T.FACT_LEADS)
        core = f"{lead} {statement}"
        ack = self.rng.choice(T.ACKNOWLEDGEMENTS)
        return [(self.user, self._turn(T.USER_FILLER, core), {}),
                (self.asst, self._turn(T.ASSISTANT_FILLER, ack, first=True), {})]

    def _double(self, i: int, n: int) -> list[tuple[str, str, dict[str, Any]]]:
        again = f"{self.rng.choice(T.SECOND_THOUGHTS)} {self._fill(T.USER_FILLER)}"
        return [(self.user, self._turn(T.USER_FILLER), {}),
                (self.user, self._turn(T.USER_FILLER, again, first=True), {}),
                (self.asst, self._turn(T.ASSISTANT_FILLER), {})]

    def _tool(self, i: int, n: int) -> list[tuple[str, str, dict[str, Any]]]:
        rng = self.rng
        name = T.TOOLS[self.tool_count % len(T.TOOLS)]["name"]
        self.tool_count += 1
        when = _day(self.dates[n] + timedelta(days=rng.randint(1, 10)))
        if name == "get_weather":
            city, cond, t, p = (rng.choice(T.WEATHER_CITIES), rng.choice(T.CONDITIONS), rng.randint(12, 29),
                                rng.randint(1, 9) * 10)
            ask = f"Could you check the weather in {city} for {when}? We might hold the workshop outdoors."
            call, args = f"Sure, let me look up the forecast for {city}.", {"city": city, "date": when}
            result = f"{city}, {when}: {cond}, high of {t} °C, {p}% chance of rain."
            say = f"The forecast for {city} on {when} says {cond}, with a high of {t} degrees and a {p}% chance of rain."
        elif name == "convert_currency":
            amount, rate = rng.choice((250, 480, 1200, 3400)), rng.randint(10500, 11500) / 10000
            ask = f"How much is {amount} euros in US dollars right now? A supplier quoted us in euros."
            call, args = "Sure, let me convert that at today's rate.", {"amount": amount, "from_currency": "EUR",
                                                                 "to_currency": "USD"}
            result = f"{amount} EUR = {amount * rate:,.2f} USD (rate {rate})"
            say = f"{amount} euros comes to about {amount * rate:,.2f} US dollars at today's rate of {rate}."
        elif name == "search_notes":
            topic, day = rng.choice(T.NOTE_TOPICS), rng.choice(T.WEEKDAYS)
            ask = f"Can you find what I wrote down about {topic}? I know it's somewhere in my notes."
            call, args = "Good idea, I'll search your notes for that.", {"query": topic}
            result = f"2 notes match '{topic}': a list from {day} with {rng.choice(T.COUNTS)} action items, and a draft."
            say = f"I found two notes about {topic}: a list of action items from {day}, and an unfinished draft."
        else:
            first, second, mate = *rng.sample(T.EVENT_NAMES, 2), rng.choice(T.TEAMMATES)
            ask = f"What's on my calendar for {when}? I'm trying to find a free afternoon."
            call, args = "Let me check your calendar for that day.", {"date": when}
            result = f"{when}: 09:30 {first}; 14:00 {second} with {mate}."
            say = f"On {when} you have a {first} at 9:30 and a {second} with {mate} at 2 pm."
        tool_id = f"toolu_{rng.getrandbits(96):024x}"
        return [(self.user, self._turn(T.USER_FILLER, ask, first=True), {}),
                (self.asst, call, {"convolab_tool_use": {"id": tool_id, "name": name, "input": args}}),
                (self.asst, self._turn(T.ASSISTANT_FILLER, say, first=True),
                 {"convolab_tool_result": {"tool_use_id": tool_id, "content": result}})]

    def _fill(self, pool: tuple[str, ...], template: str | None = None) -> str:
        return (template or self.rng.choice(pool)).format(
            feature=self.rng.choice(self.features), project=self.project, teammate=self.rng.choice(T.TEAMMATES),
            day=self.rng.choice(T.WEEKDAYS), tool=self.rng.choice(T.TOOLS_USED), count=self.rng.choice(T.COUNTS),
            A=self.asst, U=self.user)

    def _turn(self, pool: tuple[str, ...], core: str = "", *, first: bool = False) -> str:
        """``core`` padded with filler (no template twice) to a seeded length of 20 to 120 words."""
        target = self.rng.randint(MIN_WORDS, MAX_WORDS)
        prefix, self.prefix = self.prefix, ""
        before: list[str] = [prefix] if prefix else []
        after: list[str] = []
        words = len(core.split()) + len(prefix.split())
        unused = list(pool)
        while words < target and unused:
            template = unused.pop(self.rng.randrange(len(unused)))
            s = self._fill(pool, template)
            n = len(s.split())
            if words + n > MAX_WORDS:
                if words >= MIN_WORDS:
                    break
                continue
            side = before if not first and not prefix and self.rng.random() < 0.4 else after
            side.append(s)
            words += n
        return " ".join([*before, *([core[0].upper() + core[1:]] if core else []), *after])

    # -- questions -------------------------------------------------------------------------------
    def questions(self) -> list[dict[str, Any]]:
        fill = {"U": self.user, "A": self.asst}
        qa: list[dict[str, Any]] = []
        for p in self.planted:
            spec, v, dia = p.spec, p.values[-1], p.dia_ids[-1]
            qa.append({"question": spec.ask.format(**fill), "answer": v, "evidence": [dia],
                       "category": 2 if spec.kind == "event" else 4})
            if spec.infer:
                qa.append({"question": spec.infer[0].format(v=v, **fill), "answer": spec.infer[1].format(v=v, **fill),
                           "evidence": [dia], "category": 3})
            if spec.adversarial:
                qa.append({"question": spec.adversarial.format(**fill), "adversarial_answer": v, "evidence": [dia],
                           "category": 5})
        facts = [p for p in self.planted if p.spec.kind != "event"]
        picked = self.rng.sample(facts, min(6, len(facts) // 2 * 2))
        for p, q in zip(picked[::2], picked[1::2], strict=True):
            a, b = p.spec.ask.format(**fill), q.spec.ask.format(**fill)
            qa.append({"question": f"{a.rstrip('?')}, and {b[0].lower()}{b[1:]}",
                       "answer": f"{p.values[-1]} and {q.values[-1]}", "evidence": [p.dia_ids[-1], q.dia_ids[-1]],
                       "category": 1})
        return qa


def _day(dt: datetime) -> str:
    """``"8 May 2024"``: how answers name a day."""
    return f"{dt.day} {MONTHS[dt.month - 1]} {dt.year}"
