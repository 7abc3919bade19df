"""Spans of a sentence that can answer a question of a given type: dates (relative ones resolved
against the day the sentence was said), numbers, durations, names of people and places,
reasons, and the clause that carries a sentence's point.

Every finder is a pure function of the text (and the anchor date); ``has_span`` says whether a
sentence holds any span of a type, which the reader uses to prefer sentences that can answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from convolab.dates import MONTHS, WEEKDAYS, fmt_date, has_date, parse_date, relative_dates
from convolab.sim.questions import AnswerType

_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
                 "forty|fifty|hundred|thousand|a couple|a few|several|once|twice|both")
_NUMBER = re.compile(rf"\b(?:\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|{_NUMBER_WORDS})\b", re.I)
_UNIT = r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|yrs?)"
_DURATION = re.compile(rf"\b(?:for |about |almost |over |nearly )?(?:\d+(?:\.\d+)?|a|an|{_NUMBER_WORDS})"
                       rf"(?:\s+or\s+\w+)?\s+{_UNIT}\b(?! ago)|\bsince (?:\d{{4}}|I was \w+|(?:{'|'.join(MONTHS)}))",
                       re.I)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({'|'.join(MONTHS)})\b"
                        rf"|\b({'|'.join(MONTHS)})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_MONTH = re.compile(rf"\b(?:in|during|this|last|next|early|late|mid-?)\s+({'|'.join(MONTHS)})\b", re.I)
_CAPS = re.compile(r"\b[A-Z][a-zA-Z'’.-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][a-zA-Z'’.-]*){0,3}")
_NOT_NAMES = frozenset(["I", "I'm", "I've", "I'd", "I'll", "Hey", "Hi", "Hello", "Thanks", "Thank", "Wow", "Yeah",
                        "Yes", "No", "Oh", "Ok", "Okay", "OK", "Sure", "Great", "Awesome", "Cool", "Nice", "Well",
                        "So", "But", "And", "The", "A", "An", "It", "It's", "That", "That's", "This", "What",
                        "LGBTQ", "LGBTQ+", "BTW", "Aww", "Woah", "Haha", "Congrats", "Yep", "Yup", "Love", "Glad",
                        "Sounds", "Good", "Happy", "Sorry", "Also", "Plus", "Just", "Anyway", "Definitely",
                        "Mon", "Tue", "Tues", "Wed", "Thu", "Thur", "Thurs", "Fri", "Sat", "Sun", "Jan", "Feb",
                        "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Last", "Next",
                        "Yesterday", "Today", "Tomorrow", "Here", "There", "Check", "Look", "Let", "Let's",
                        *MONTHS, *WEEKDAYS])
_PLACE_PREP = re.compile(r"\b(?:in|to|from|at|near|around|visit(?:ed|ing)?|across|through)\s+(?:the\s+)?"
                         r"([A-Z][a-zA-Z'’-]+(?:\s+[A-Z][a-zA-Z'’-]+){0,2}(?<=['’]s)\s+[a-z]+|"
                         r"[A-Z][a-zA-Z'’-]+(?:\s+[A-Z][a-zA-Z'’-]+){0,2})")  # "in Melanie's slipper": the thing, not its owner
_PLACE_NOUNS = ("beach|mountains?|forest|woods|lake|river|park|museum|library|church|school|university|college|"
                "gym|studio|cafe|café|restaurant|bar|theater|theatre|cinema|zoo|garden|farm|island|city|village|"
                "town|countryside|coast|shore|camp|campsite|hospital|office|store|shop|mall|market|festival|"
                "concert|canyon|desert|valley|trail|sea|ocean|home|house|center|centre|hometown|country")
_PLACE_NOUN = re.compile(rf"\b(?:at|in|to|on|near|by|from)\s+(?:the|a|an|my|our|his|her|their|a local)\s+"
                         rf"(?:\w+\s+)?(?:{_PLACE_NOUNS})\b", re.I)
_REASON = re.compile(r"\b(?:because|'cause|cause|since|so that|as it|which is why|that's why|in order to)\b.*", re.I)
_PURPOSE = re.compile(r"\b(?:to|for)\s+\w+.*", re.I)
_CLAUSE_SPLIT = re.compile(r"\s+[-–—]+\s+|;\s+|:\s+(?=[A-Za-z])|,\s+(?=(?:but|so|and then|although|though|which|"
                           r"while|plus)\b)|\s+(?=but\s)", re.I)
# a comma or "and" before a new subject starts a new clause ("I'm Priya, our budget is ...")
_SUBJECT_SPLIT = re.compile(r"(?:,\s+(?:and\s+)?|\s+and\s+)(?=(?:I|I'm|I've|I'll|I'd|we|we're|you|you're|he|she|they|"
                            r"it|it's)\s|(?:my|our|your|his|her|their|the|this|that)\s+\w+(?:\s+\w+)?\s+"
                            r"(?:is|are|was|were|must|will|should|has|have|had|can|needs?)\b)")


@dataclass(frozen=True)
class DateSpan:
    """A date said in a sentence: its words, and what they mean (``value``; ``day`` if exact)."""

    phrase: str
    value: str
    day: date | None = None
    relative: bool = False


def date_spans(text: str, anchor: date | None) -> list[DateSpan]:
    """Dates in ``text``: relative phrases resolved against ``anchor``, then explicit dates,
    months and years."""
    out: list[DateSpan] = []
    if anchor is not None:
        out += [DateSpan(r.phrase, r.value, r.day, True) for r in relative_dates(text, anchor)]
    d = parse_date(text)
    if d is not None:
        out.append(DateSpan(fmt_date(d), fmt_date(d), d))
    else:
        for m in _DAY_MONTH.finditer(text):
            day, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            out.append(DateSpan(m.group(0), f"{int(day)} {month.capitalize()}"))
    for m in _MONTH.finditer(text):
        if not any(m.group(1) in s.phrase for s in out):
            year = anchor.year if anchor else None
            out.append(DateSpan(m.group(0), f"{m.group(1).capitalize()} {year}" if year else m.group(1)))
    for m in _YEAR.finditer(text):
        if not any(m.group(0) in s.value for s in out):
            out.append(DateSpan(m.group(0), m.group(0)))
    return out


def numbers(text: str) -> list[str]:
    """Numbers in ``text``, written in digits or words ("4,200", "two", "a couple")."""
    return [m.group(0) for m in _NUMBER.finditer(text)]


def durations(text: str) -> list[str]:
    """Lengths of time in ``text`` ("for 4 years", "since 2016", "three months")."""
    return [m.group(0) for m in _DURATION.finditer(text)]


def names(text: str, known: frozenset[str] = frozenset()) -> list[str]:
    """Capitalized names in ``text`` (not a sentence's first word unless it is a known name)."""
    out = []
    for m in _CAPS.finditer(text):
        name = re.split(r"[.!?]\s", m.group(0))[0].rstrip(".'’")  # "Oliver. Can": a name ends with its sentence
        first = name.split()[0]
        at_start = m.start() == 0 or text[:m.start()].rstrip()[-1:] in ".!?\"“:"
        if first in _NOT_NAMES or (at_start and first.lower() not in known and len(name.split()) == 1):
            if len(name.split()) > 1 and first in _NOT_NAMES:
                name = " ".join(name.split()[1:])
                if name.split()[0] in _NOT_NAMES:
                    continue
            else:
                continue
        out.append(name)
    return out


def places(text: str, known: frozenset[str] = frozenset()) -> list[str]:
    """Places in ``text``: a name after in/to/from/at ("to Rome"), or "at the beach"."""
    out = [m.group(1) for m in _PLACE_PREP.finditer(text) if m.group(1).split()[0] not in _NOT_NAMES
           and m.group(1).lower() not in known]
    out += [m.group(0) for m in _PLACE_NOUN.finditer(text)]
    return out


_QUOTED = re.compile(r"[\"“]([^\"”]{2,60})[\"”]")


def titles(text: str, known: frozenset[str] = frozenset()) -> list[str]:
    """Names of things in ``text``: quoted titles first, then capitalized names."""
    out = [m.group(1).strip(" ,.") for m in _QUOTED.finditer(text)]
    return out + [n for n in names(text, known) if n.lower() not in known and n not in out]


def reason(text: str) -> str | None:
    """The reason a sentence gives ("because ...", "'cause ..."), if any."""
    m = _REASON.search(text)
    return m.group(0).strip() if m else None


def has_span(kind: AnswerType, text: str, anchor: date | None, known: frozenset[str] = frozenset()) -> bool:
    """Does ``text`` hold a span that can answer a question of type ``kind``?"""
    if kind in (AnswerType.DATE, AnswerType.TIME):
        return has_date(text) or bool(_DAY_MONTH.search(text))
    if kind == AnswerType.NUMBER:
        return bool(numbers(text))
    if kind == AnswerType.DURATION:
        return bool(durations(text)) or bool(relative_dates(text, anchor or date(2000, 1, 1)))
    if kind == AnswerType.PERSON:
        return any(n.lower() not in known for n in names(text, known)) or bool(
            re.search(r"\b(?:my|our|her|his|their)\s+(?:mom|mother|dad|father|parents?|family|friends?|"
                      r"husband|wife|partner|sister|brother|kids|children|son|daughter|grandma|grandpa|"
                      r"mentors?|boss|team|colleagues?)\b", text, re.I))
    if kind == AnswerType.PLACE:
        return bool(places(text, known))
    if kind == AnswerType.NAME:
        return bool(titles(text, known))
    if kind == AnswerType.REASON:
        return reason(text) is not None
    return True


def clauses(text: str, *, subjects: bool = False) -> list[str]:
    """``text`` cut at clause boundaries (dashes, semicolons, ", but", ...), pieces kept whole;
    with ``subjects``, also where a comma or "and" comes before a new subject."""
    parts = [p.strip(" ,") for p in _CLAUSE_SPLIT.split(text)]
    for k in range(len(parts) - 2, -1, -1):  # "location: Porto": a key stays with its value
        if " " not in parts[k] and text.find(parts[k] + ":") >= 0:
            parts[k:k + 2] = [f"{parts[k]}: {parts[k + 1]}"]
    if subjects:
        parts = [x.strip(" ,") for p in parts for x in _SUBJECT_SPLIT.split(p)]
    return [p for p in parts if p]
