"""Summaries, as a careful model writes them: prose that keeps every name, number, date and
stated requirement.

``summarize(texts)`` reads the texts as a reader would (speaker labels and transcript role
labels such as ``User:`` name who speaks, date headers say when), keeps the statements that
carry names, numbers, dates or requirements ("must", "never", "please", ...) before the rest,
tells each about its speaker in the third person ("Caroline went to a support group yesterday
(7 May 2023)"; the transcript's "User" is "the user"), and writes them in the order said,
grouped under the day they were said. Greetings, thanks, questions and the assistant's
restatements of what the user said are left out. No role label is left inside a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from convolab.dates import fmt_date, has_date, parse_date, relative_dates
from convolab.sim.acknowledge import acknowledge, says_something
from convolab.sim.evidence import is_fluff
from convolab.sim.perspective import to_third_person
from convolab.sim.reading import SUMMARY_ASK, SUMMARY_MARKER, Parts
from convolab.sim.text import Sentence, analyze, numbers, split_sentences, terms, words

_REQUIREMENT = re.compile(r"\b(must|need|needs|prefer|prefers|always|never|don't|do not|please|"
                          r"should|require|required)\b", re.I)
_LEAD = re.compile(r"^(?:(?:hey|hi|hello|thanks|thank you|wow|yeah|yes|yep|yup|oh|ok|okay|so|well|btw|"
                   r"by the way|anyway|and|plus|aww|woah|haha)\b[\s,!.:-]*)+", re.I)
_PHOTO = re.compile(r"\s*\[shares a photo: (?:a photo of |a photography of )?([^\]]*)\]")
_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9, "ten": 10}
_ROLE_NAMES = {"user": "the user", "assistant": "the assistant"}


@dataclass
class _Statement:
    order: int
    text: str          # as said
    speaker: str | None
    day: date | None
    terms: frozenset[str]
    addressee: str | None = None  # whom "you" means: the other of two speakers


def priority(sentence: str) -> float:
    """How much a sentence must be kept: names, numbers, dates and requirements first."""
    score = 0.0
    if numbers(sentence):
        score += 2
    if has_date(sentence):
        score += 2
    if _REQUIREMENT.search(sentence):
        score += 2
    ws = words(sentence)
    score += min(2.0, 1.5 * sum(1 for w in ws[1:] if w[:1].isupper()))
    return score + min(len(terms(sentence)), 10) / 10


def _statements(texts: list[str]) -> list[_Statement]:
    out: list[_Statement] = []
    day: date | None = None
    user_terms: list[frozenset[str]] = []
    for t in texts:
        for s in analyze(t).sentences:
            if s.header:
                day = parse_date(s.header) or day
            if SUMMARY_MARKER in s.text or is_fluff(s) or _PHOTO.sub("", s.text).rstrip().endswith("?"):
                continue
            ts = frozenset(s.terms)
            if _is_echo(s, ts, user_terms):
                continue
            if (s.speaker or "").lower() != "assistant":
                user_terms.append(ts)
            out.append(_Statement(len(out), s.text, s.speaker, day, ts))
    named = sorted({st.speaker for st in out if st.speaker and st.speaker.lower() not in _ROLE_NAMES})
    if len(named) == 2:
        for st in out:
            st.addressee = next((n for n in named if n != st.speaker), None) if st.speaker in named else None
    return out


def _is_echo(s: Sentence, ts: frozenset[str], user_terms: list[frozenset[str]]) -> bool:
    """An assistant sentence that only restates what the user said (an acknowledgement, an
    answer quoting them): 80% of its terms are in the user's recent sentences."""
    if (s.speaker or "").lower() != "assistant" or len(ts) < 2:
        return False
    said = frozenset().union(*user_terms[-50:])
    return len(ts & said) >= 0.8 * len(ts)


def _told(st: _Statement) -> str:
    """The statement in the third person, dates resolved, lead-in words and photo tags tidied."""
    text = _PHOTO.sub(lambda m: f" (with a photo of {m.group(1).strip()})", st.text)
    text = _LEAD.sub("", text).strip() or text
    if st.day is not None:
        for r in reversed(relative_dates(text, st.day)):
            text = f"{text[:r.end]} ({r.value}){text[r.end:]}"
    if st.speaker:
        name = _ROLE_NAMES.get(st.speaker.lower(), st.speaker)
        text = to_third_person(text, name[:1].upper() + name[1:], st.addressee)
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?)" else text + "."


def summarize(texts: list[str], max_words: int = 200, *, max_sentences: int | None = None) -> str:
    """A summary of ``texts`` in prose: the most informative statements, told in the third
    person, in the order said, each day's opened by its date; at most ``max_words`` words and
    ``max_sentences`` sentences. Near-duplicates are dropped."""
    statements = [s for s in _statements(texts) if s.terms]
    salient = [s for s in statements if priority(s.text) >= 1.5]
    ranked = sorted(salient or statements, key=lambda s: (-priority(s.text), s.order))
    budget, chosen = max(1, max_words), []
    for st in ranked:
        if max_sentences is not None and len(chosen) >= max_sentences:
            break
        if any(len(st.terms & k.terms) >= 0.8 * max(len(st.terms), len(k.terms)) for k, _ in chosen):
            continue
        told = _told(st)
        n = len(told.split()) + (3 if st.day and all(k.day != st.day for k, _ in chosen) else 0)
        if n <= budget:
            chosen.append((st, told))
            budget -= n
        elif not chosen:
            chosen.append((st, " ".join(told.split()[:budget])))
            break
        if budget <= 0:
            break
    return _write(sorted(chosen, key=lambda c: c[0].order), dated=max_sentences is None)


def _write(chosen: list[tuple[_Statement, str]], *, dated: bool) -> str:
    out, day = [], None
    for st, told in chosen:
        if dated and st.day is not None and st.day != day:
            day = st.day
            told = f"On {fmt_date(day)}: {told}"
        out.append(told)
    return " ".join(out)


def summary_limits(instruction: str) -> tuple[int, int | None]:
    """The word and sentence limits an instruction states ("in at most 150 words", "2 sentences")."""
    max_words, max_sents = 200, None
    m = re.search(r"(\d+)\s*words", instruction, re.I)
    if m:
        max_words = int(m.group(1))
    m = re.search(r"(\d+|\w+)\s*(?:-|–|to)\s*(\d+|\w+)\s+sentences", instruction, re.I) or \
        re.search(r"(\d+|\w+)\s+sentences?\b", instruction, re.I)
    if m:
        val = m.groups()[-1].lower()
        n = int(val) if val.isdigit() else _NUM_WORDS.get(val)
        if n:
            max_sents = n
    return max_words, max_sents


_INSTRUCTION = re.compile(r"\b(words|sentences)\b")


def summary_reply(parts: Parts) -> str:
    """The reply to a summary request: the material in the request, or else the history."""
    sentences = split_sentences(parts.query)
    instruction = [s for s in sentences if SUMMARY_MARKER in s or SUMMARY_ASK.search(s) or _INSTRUCTION.search(s)]
    lines = [" ".join(x for x in split_sentences(line) if x not in instruction) for line in parts.query.splitlines()]
    material = "\n".join(line for line in lines if line.strip())
    texts = [material] if len(material.split()) >= 20 else [*parts.history, material]
    asked_in_chat = SUMMARY_MARKER not in parts.query and not any(SUMMARY_MARKER in t for t in parts.system)
    if asked_in_chat and len(texts) > 1 and (told := _what_you_told(parts)):
        return told
    max_words, max_sents = summary_limits(" ".join(instruction + parts.system))
    out = summarize([t for t in texts if t.strip()], max_words=max_words, max_sentences=max_sents)
    return out or "There is nothing to summarize yet."


MAX_TOLD = 8


def _what_you_told(parts: Parts) -> str | None:
    """A person's "Summarize what I told you" in a chat: what they said, restated to them as the
    acknowledgements restate it, in the order said (the last ``MAX_TOLD`` when there are more)."""
    said = [acknowledge(t).removeprefix("Noted: ").rstrip(".") for t, role in zip(parts.history, parts.roles, strict=True)
            if role == "user" and says_something(t)]
    said = [s for s in said if s != "Noted"]
    if not said:
        return None
    lead = "Here's what you've told me" + (", most recently" if len(said) > MAX_TOLD else "") + ": "
    said = said[-MAX_TOLD:]
    joined = said[0] if len(said) == 1 else f"{said[0]}, and {said[1]}" if len(said) == 2 \
        else "; ".join(said[:-1]) + "; and " + said[-1]
    return lead + joined + "."
