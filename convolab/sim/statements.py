"""A question and its answer span, said back as one statement: "When did Caroline go to the
support group?" + "7 May 2023" -> "Caroline went to the support group on 7 May 2023."

Covers the common shapes (when/where/who/how many/how long + did/does/is/has + subject +
verb phrase); ``statement`` returns ``None`` for anything else, and the reader then gives the
span on its own. Verbs are put in the past tense with a small table of irregular verbs.
"""

from __future__ import annotations

import re

from convolab.sim.questions import AnswerType
from convolab.sim.text import VERB_FORMS

_PAST = {base: past for base, past, _ in VERB_FORMS} | {
    "stop": "stopped", "plan": "planned", "shop": "shopped", "join": "joined", "visit": "visited", "quit": "quit",
    "fit": "fit", "bet": "bet", "shut": "shut", "spread": "spread", "cost": "cost"}
# One syllable ending consonant-vowel-consonant doubles its last letter ("ship", "plan", "jog");
# w, x and y never double. Longer verbs stressed on the last syllable double too (a short list).
_DOUBLES = re.compile(r"^(?:[^aeiou]*|qu)[aeiou][b-df-hj-np-tvz]$")
_STRESSED_LAST = frozenset(["admit", "commit", "submit", "permit", "omit", "prefer", "refer", "occur", "regret",
                            "control", "equip", "forget", "begin", "transfer", "patrol", "compel", "rebel"])
_PARTICLES = frozenset(["up", "out", "down", "off", "back", "over", "away", "in", "on"])
_MOTION = re.compile(r"\b(?:go|goes|went|gone|move|moved|travel\w*|fly|flew|drive|drove|come|came|walk\w*|"
                     r"run|ran|head\w*|return\w*|relocat\w*|trip|send|sent|take|took)\b", re.I)
_NP = r"(?:[A-Z][\w’-]*(?:\s+[A-Z][\w’-]*)*(?:['’]s\s+[a-z]+)?|(?:his|her|my|your|their|our)\s+[a-z]+)"
_SUBJECT = re.compile(rf"^(?P<subj>(?:I|you|we|he|she|they|it)\b|{_NP}(?:\s+and\s+{_NP})?)\s+(?P<rest>.+)$")
_PERSON_SUBJECT = {"i": "you", "you": "I", "we": "you"}


def past(verb: str) -> str:
    """The simple past of a base-form verb ("go" -> "went", "paint" -> "painted")."""
    low = verb.lower()
    if low in _PAST:
        return _PAST[low]
    if low.endswith("e"):
        return verb + "d"
    if low.endswith("y") and len(low) > 2 and low[-2] not in "aeiou":
        return verb[:-1] + "ied"
    if _DOUBLES.match(low) or low in _STRESSED_LAST:
        return verb + verb[-1] + "ed"  # "ship" -> "shipped", "prefer" -> "preferred"
    return verb + "ed"


def _third(verb: str) -> str:
    low = verb.lower()
    if low == "have":
        return "has"
    if low in ("do", "go"):
        return verb + "es"
    if low.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if low.endswith("y") and len(low) > 2 and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _subject(text: str) -> tuple[str, str] | None:
    m = _SUBJECT.match(text)
    if not m:
        return None
    subj = m.group("subj")
    low = subj.lower()
    return _PERSON_SUBJECT.get(low, subj), m.group("rest")


def _plural_subject(subj: str) -> bool:
    return subj.lower() in ("you", "we", "they", "i") or " and " in subj


def _clause(aux: str, body: str) -> str | None:
    """``"did" + "Caroline go to the group"`` -> ``"Caroline went to the group"``."""
    going = re.match(r"^(.+?) (\w+ing\b.*)$", body)
    if aux.lower() in ("is", "are", "was", "were") and going and _subject(going.group(1) + " x"):
        return f"{going.group(1)} {aux.lower()} {going.group(2)}"  # "X's youth center is putting on"
    passive = re.match(r"^(.+?) (be \w+.*)$", body)
    if aux.lower() in ("will", "would", "can", "could") and passive and _subject(passive.group(1) + " x"):
        return f"{passive.group(1)} {aux.lower()} {passive.group(2)}"  # "X's team offsite will be held"
    parsed = _subject(body)
    if parsed is None:
        return None
    subj, rest = parsed
    words = rest.split(" ", 1)
    verb, tail = words[0], (" " + words[1] if len(words) > 1 else "")
    aux = aux.lower()
    if aux == "did":
        return f"{subj} {past(verb)}{tail}"
    if aux in ("do", "does"):
        return f"{subj} {verb if _plural_subject(subj) else _third(verb)}{tail}"
    if aux in ("is", "are", "was", "were", "has", "have", "had", "will", "would", "can", "could"):
        if subj == "I" and aux in ("are", "were"):
            aux = "am" if aux == "are" else "was"
        elif subj == "you" and aux in ("am", "is", "was"):
            aux = "are" if aux != "was" else "were"
        return f"{subj} {aux} {rest}"
    return None


def _date_words(span: str) -> str:
    """How a date joins a statement: "on 7 May 2023", "in June 2023", "in 2022", "the week before ..."."""
    if re.match(r"^\d{1,2} [A-Z][a-z]+(?: \d{4})?$", span):
        return f"on {span}"
    if re.match(r"^(?:[A-Z][a-z]+ )?\d{4}$", span):
        return f"in {span}"
    return span


def statement(question: str, kind: AnswerType, span: str) -> str | None:
    """The question ``question`` answered by ``span``, as one sentence; ``None`` when its shape
    is not one this module knows."""
    said = _statement(question, kind, span)
    return said[:1].upper() + said[1:] if said else None


def _statement(question: str, kind: AnswerType, span: str) -> str | None:
    q = " ".join(question.strip().rstrip("?").split())
    m = re.match(r"^(?:who|when|where|what (?:year|month|date|day))\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m and kind in (AnswerType.PERSON, AnswerType.DATE, AnswerType.PLACE) \
            and not re.search(r"\b\w+ing\b", m.group(2)):  # "When is X's birthday?": X's birthday is ...
        subj = m.group(2)
        subj = subj[:1].upper() + subj[1:]
        if kind == AnswerType.DATE:
            return f"{subj} {m.group(1)} {_date_words(span)}."
        return f"{subj} {m.group(1)} {span}."
    m = re.match(r"^(?:when|what (?:year|month|date|day)|how long ago|where|how many \w+(?: \w+)?|how much(?: \w+)?|"
                 r"how long)\s+(did|does|do|is|are|was|were|has|have|had|will|would|can|could)\s+(.+)$", q, re.I)
    if m and kind in (AnswerType.DATE, AnswerType.PLACE, AnswerType.DURATION, AnswerType.NUMBER):
        body = _clause(m.group(1), m.group(2))
        if body is None:
            return None
        if kind == AnswerType.DATE:
            return f"{body} {_date_words(span)}."
        if kind == AnswerType.PLACE:
            if re.search(r"\b(?:in|at|to|from|on|near|by)$", body):
                return f"{body} {re.sub(r'^(?:in|at|to|from|on|near|by) ', '', span)}."
            if span.startswith("to ") and not _MOTION.search(body):
                return f"{body} at {span[3:]}."  # "will be held to X" -> "will be held at X"
            if re.match(r"^(?:in|at|to|from|on|near|by)\b", span):
                return f"{body} {span}."
            return f"{body}: {span}."
        if kind == AnswerType.NUMBER:
            counted = re.match(rf"^how many (.+?) {re.escape(m.group(1))} ", q, re.I)
            noun = counted.group(1) if counted else ""
            last = body.split()[-1].lower()
            if noun == "times" or last in ("has", "have", "had") or last in _PARTICLES:
                return f"{body} {span} {noun}.".replace("  ", " ").replace(" .", ".")
            return f"{body}: {span} {noun}.".replace(" .", ".")
        if span.lower().startswith(("for ", "since ")) or body.endswith(" for"):
            return f"{body} {span}."
        return f"{body} for {span}."
    m = re.match(r"^(?:what|which)(?: \w+){1,2} (did|does|do) (.+)$", q, re.I)
    if m and kind == AnswerType.NAME:  # "What book did Caroline recommend?" -> "Caroline recommended X"
        parsed = _subject(m.group(2))
        if parsed is not None:
            subj, rest = parsed
            verb, _, tail = rest.partition(" ")
            verb = past(verb) if m.group(1).lower() == "did" else (verb if _plural_subject(subj) else _third(verb))
            return f"{subj} {verb} {span}{' ' + tail if tail else ''}."
    m = re.match(r"^(?:who|which person)\s+(?!(?:is|was|are|were)\b)(\w+)\s+(.+)$", q, re.I)
    if m and kind == AnswerType.PERSON:
        return f"{span} {m.group(1)} {m.group(2)}."
    return None
