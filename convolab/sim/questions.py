"""The question reader: what a question asks for, about whom, and when.

``read_question(text, people)`` returns a ``Question``: the ``AnswerType`` it wants (a person,
a place, a date or time, a number, a duration, yes or no, a reason, a list, or free text), the
terms that say what it is about (weighted), the people it names (``people`` are the names the
payload knows: speakers and the names the user gave; "I"/"my" in the question is the asker),
and a date it is restricted to ("in July 2023", "on October 13, 2023": those words describe the
message's date, not its text, so they are not search terms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from convolab.dates import MONTHS
from convolab.sim.lexicon import members
from convolab.sim.text import QUESTION_WORDS, stem, terms, words

ASKER = "you"  # the person asking, when the question says "I", "me" or "my"


class AnswerType(StrEnum):
    PERSON = "person"
    PLACE = "place"
    NAME = "name"
    DATE = "date"
    TIME = "time"
    NUMBER = "number"
    DURATION = "duration"
    YES_NO = "yes/no"
    REASON = "reason"
    LIST = "list"
    TEXT = "text"


@dataclass(frozen=True)
class Question:
    """A question as read: its answer type (``item`` is the type of a list's items), weighted
    search terms, the people it names, a date restriction (year, month, day; any may be
    ``None``), and whether it asks for an inference ("would ... likely")."""

    text: str
    kind: AnswerType
    focus: dict[str, float]
    persons: tuple[str, ...] = ()
    item: AnswerType | None = None
    when: tuple[int | None, int | None, int | None] | None = None
    likely: bool = False
    category: str | None = None  # a list's or a name's kind ("pet", "book"), stemmed, when it has known members


_WH_PHRASE = re.compile(r"^(?:(?:in|at|for|from|on)\s+)?(?:(?:what|which) (?:city|cities|country|countries|state|"
                        r"town|place|location)\b|how (?:long(?: ago)?|many|much|often|far)|"
                        r"what (?:year|month|date|day|time|kinds? of|types? of|sorts? of)|when|where|who|whom|whose|"
                        r"why|which|what)\b", re.I)
_TITLED = ("book|song|movie|film|show|series|band|album|novel|game|brand|team|company|title|podcast|play|musical|"
           "piece|artist|singer|author")
_AUX = r"(?:is|are|was|were|do|does|did|has|have|had|can|could|would|will|should|am)"
_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(r"^how long ago\b|^(?:in )?what (?:year|month|date|day)\b|^which (?:year|month|day|date)\b|^when\b", re.I),
     AnswerType.DATE),
    (re.compile(r"^(?:at )?what time\b", re.I), AnswerType.TIME),
    (re.compile(r"^(?:for )?how long\b", re.I), AnswerType.DURATION),
    (re.compile(r"^how (?:many|much|old)\b", re.I), AnswerType.NUMBER),  # "old" stays a term: "6 years old"
    (re.compile(r"^(?:who|whom|whose)\b|^which (?:person|people|friend|artist|band|musician)s?\b", re.I),
     AnswerType.PERSON),
    (re.compile(r"^where\b|^(?:what|which|in what|in which) (?:city|cities|country|countries|place|places|"
                r"state|town|towns|location|locations|park|restaurant)\b", re.I), AnswerType.PLACE),
    (re.compile(r"^why\b|^what (?:motivated|inspired|made|caused|prompted|led|got)\b|\breasons? (?:for|why)\b", re.I),
     AnswerType.REASON),
    (re.compile(rf"^{_AUX}\b", re.I), AnswerType.YES_NO),
    (re.compile(rf"^(?:what|which)\s+(?:\w+\s+)?(?:{_TITLED})s?\b|\bthe name of\b|"
                rf"^what (?:is|was|are|were) \w+(?:['’]s)? (?:favou?rite|fave) (?:{_TITLED})s?\b", re.I),
     AnswerType.NAME),
]
_LIST_HEAD = re.compile(r"^(?:what|which|in what)\s+(?:(?:kinds?|types?|sorts?) of\s+)?([a-z]+(?:[-/][a-z]+)?)\b", re.I)
_TITLE_HEAD = re.compile(rf"\b(?:favou?rite|fave) ({_TITLED})s?\b", re.I)
_EXPERIENCE = re.compile(r"^(?:where|what|which)\b.*\b(?:has|have)\s+\w+(?:\s+\w+)?\s+\w+ed\b", re.I)
_WHAT_ARE = re.compile(r"^what (?:are|were)\b(?! (?:you|we|they)\b)", re.I)
_LIST_WORDS = re.compile(r"\b(?:list|name (?:all|the)|all the|both|ways)\b", re.I)
_PLURAL_EXCEPTIONS = frozenset(["is", "was", "has", "does", "this", "its", "his", "as", "us", "bus", "gas", "yes", "series", "news", "always"])
_PLURAL_IRREGULAR = frozenset(["children", "people", "kids", "men", "women", "feet", "teeth", "mice"])
_MON = "|".join(m.lower() for m in MONTHS) + "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
_WHEN = re.compile(
    rf"\b(?:in|on|during|around|of|from)\s+(?:the\s+)?(?:(?P<m1>{_MON})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{_MON}),?\s+(?P<y2>\d{{4}})"
    rf"|(?P<m3>{_MON})(?:,?\s+(?P<y3>\d{{4}}))?|(?P<y4>(?:19|20)\d{{2}}))\b",
    re.I)
_MONTH_NO = {m.lower(): i + 1 for i, m in enumerate(MONTHS)} | {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}
_MONTH_NO["sept"] = 9
# Shape words of a question: they say what kind of answer is wanted, not what it is about.
SHAPE_WORDS = QUESTION_WORDS | frozenset(["likely", "kind", "type", "types", "sort", "way", "ways", "both",
                                          "someth", "thing", "things", "specific", "particular", "usually",
                                          "recently", "often", "will"])
HEAD_WEIGHT = 0.5


def _plural(word: str) -> bool:
    w = word.lower()
    if w in _PLURAL_IRREGULAR:
        return True
    return len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")) and w not in _PLURAL_EXCEPTIONS


def _kind(text: str) -> tuple[AnswerType, AnswerType | None]:
    for rx, kind in _RULES:
        if rx.search(text):
            if kind in (AnswerType.PLACE, AnswerType.NAME) and _EXPERIENCE.search(text):
                return AnswerType.LIST, kind  # "Where has she camped?": every place so far
            head = _LIST_HEAD.match(text)
            if kind in (AnswerType.PLACE, AnswerType.PERSON, AnswerType.NAME) and head and _plural(head.group(1)):
                return AnswerType.LIST, kind
            return kind, None
    if _EXPERIENCE.search(text) and text.lower().startswith("what"):
        return AnswerType.LIST, AnswerType.TEXT  # "What has she painted?": everything so far
    head = _LIST_HEAD.match(text)
    if head and head.group(1).lower() not in ("is", "was", "does", "did", "do", "has", "had") and _plural(head.group(1)):
        return AnswerType.LIST, AnswerType.TEXT
    if _WHAT_ARE.match(text) or _LIST_WORDS.search(text):
        return AnswerType.LIST, AnswerType.TEXT
    return AnswerType.TEXT, None


def _when(text: str) -> tuple[tuple[int | None, int | None, int | None] | None, str]:
    """The date restriction of ``text`` and the text without it."""
    for m in _WHEN.finditer(text):
        g = m.groupdict()
        month = g["m1"] or g["m2"] or g["m3"]
        if g["m3"] and not g["y3"] and g["m3"].lower() in ("may", "mar", "jun", "jan", "dec"):
            continue  # "may" is a verb, three-letter months without a year are too ambiguous
        year = g["y1"] or g["y2"] or g["y3"] or g["y4"]
        day = g["d1"] or g["d2"]
        when = (int(year) if year else None, _MONTH_NO[month.lower().rstrip(".")] if month else None,
                int(day) if day else None)
        return when, text[:m.start()] + text[m.end():]
    return None, text


@lru_cache(maxsize=4096)
def read_question(text: str, people: frozenset[str] = frozenset()) -> Question:
    """Read ``text`` as a question; ``people`` are the known names (lowercase). Pure, so cached:
    the same questions come back against each strategy's payload."""
    clean = " ".join(text.strip().split())
    kind, item = _kind(clean)
    when, rest = _when(clean)
    rest = _WH_PHRASE.sub("", rest)
    likely = bool(re.search(r"\b(likely|probably|might|would)\b", clean, re.I)) and kind == AnswerType.YES_NO
    persons: list[str] = []
    focus: dict[str, float] = {}
    head = _TITLE_HEAD.search(clean) or _LIST_HEAD.match(clean)
    head_term = stem(head.group(1)) if head and kind in (AnswerType.LIST, AnswerType.TEXT, AnswerType.NAME) \
        and head.group(1).lower() not in ("is", "was", "are", "were", "do", "does", "did", "has", "had", "have") else None
    category = head_term if head_term and members(head_term) else None
    tokens = words(rest)
    for i, w in enumerate(tokens):
        low = re.sub(r"['’]s$", "", w).lower()
        if low in people or any(len(low) >= 3 and p.startswith(low) and w[:1].isupper() for p in people):
            name = next((p for p in sorted(people) if p == low), None) or next(
                p for p in sorted(people) if p.startswith(low))
            if name not in persons:
                persons.append(name)
            continue
        if low in ("i", "me", "my", "mine", "myself") and ASKER not in persons:
            persons.append(ASKER)
        for t in terms(w, SHAPE_WORDS):
            weight = 1.5 if (w[:1].isupper() and i > 0) or w[:1].isdigit() else 1.0
            if t == head_term and kind == AnswerType.LIST and not category:
                weight = HEAD_WEIGHT
            focus[t] = max(focus.get(t, 0.0), weight)
    return Question(clean, kind, focus, tuple(persons), item, when, likely, category)
