"""What a payload and a reply say about one QA item, and intervals over many.

Text is compared as normalized words: lowercase, punctuation off, articles and other function
words dropped, a light stem (plural, ``-ing``, ``-ed``), numbers kept (``"4,200"`` is
``"4200"``, ``"8th"`` is ``"8"``, ``"two"`` is ``"2"``, ``"2023-05-08"`` is ``8 may 2023``,
"the Friday before 15 July 2023" is the day it names, ``14 july 2023``, so that a reply giving
the resolved date matches it).
Month names stay ("May" is a month here, not a modal verb).

- ``evidence_recall``: the share of the item's evidence turns whose text is in the payload
  (the message holding it was sent, or its text, less the speaker prefix, appears in the
  payload's text, as when a summary quotes it).
- ``answer_in_context`` (categories 1-4): at least ``THRESHOLD`` (80%) of the gold answer's
  normalized words appear in the payload (the question itself left out). Lenient on large
  payloads: 20,000 tokens hold "7", "May" and "2023" somewhere whether or not they say the
  answer, so ``answer_in_message`` asks the same of one text (a message, or a system block).
- ``correctness`` (categories 1-4): the same test on the reply.
- ``declines`` (category 5): the reply says it does not know (``is_decline``) and does not
  hold the adversarial answer.

Intervals: Wilson score intervals for yes/no metrics, a normal interval of the mean (clipped to
0..1) for ``evidence_recall``; both assume items are independent (they are not quite: items of
one conversation share its replay).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from convolab.blocks import CONTEXT, block_texts
from convolab.lexical import STOPWORDS
from convolab.stemming import stem

__all__ = ["THRESHOLD", "PayloadText", "answer_words", "declines", "is_decline", "mean_interval",
           "normalize_text", "payload_texts", "request_texts", "wilson", "words", "words_present"]

THRESHOLD = 0.8
Z95 = 1.959963984540054

NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
                "first": "1", "second": "2", "third": "3", "once": "1", "twice": "2"}
_WORD = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|[^\W\d_]+(?:'[^\W\d_]+)*")
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_WEEKDAY_BEFORE = re.compile(r"\bthe (monday|tuesday|wednesday|thursday|friday|saturday|sunday) before "
                             r"(\d{1,2}) ([a-z]+),? (\d{4})\b", re.I)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_SQUASH = re.compile(r"[\W_]+")
_SPEAKER = re.compile(r"^[^\s:\[\]]{1,40}(?: [^\s:\[\]]{1,40}){0,2}: ")
DECLINE = re.compile(
    r"\b(i don'?t know|i do not know|not (?:been )?mentioned|isn'?t mentioned|wasn'?t mentioned|"
    r"never mentioned|no mention|didn'?t mention|did not mention|doesn'?t say|does not say|"
    r"didn'?t say|no information|not (?:in|part of) (?:our|the|this) conversation|"
    r"(?:can'?t|cannot|couldn'?t) find|no record|not sure|don'?t have (?:any )?(?:information|details)|"
    r"there is no indication|nothing (?:in|about) (?:our|the|this)|false premise|"
    r"(?:it|that) was(?:n'?t| not)? \w+ who)\b", re.I)
_FIRST_SENTENCE = re.compile(r"^.{0,240}?(?:[.!?](?=\s|$)|$)", re.S)


def _spelled(m: re.Match[str]) -> str:
    year, month, day = (int(g) for g in m.groups())
    return f"{day} {MONTHS[month - 1]} {year}" if 1 <= month <= 12 and 1 <= day <= 31 else m.group(0)


def _day_before(m: re.Match[str]) -> str:
    """"the Friday before 15 July 2023" is the day it names: "14 July 2023"."""
    weekday, day, month, year = m.groups()
    if month.lower() not in MONTHS:
        return m.group(0)
    try:
        anchor = date(int(year), MONTHS.index(month.lower()) + 1, int(day))
    except ValueError:
        return m.group(0)
    wd = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday").index(weekday.lower())
    d = anchor - timedelta(days=(anchor.weekday() - wd) % 7 or 7)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def words(text: str) -> list[str]:
    """Normalized words of ``text``, in order (duplicates kept); ISO dates read as day, month,
    year ("2023-05-08" gives "8", "may", "2023"), and "the Friday before 15 July 2023" as the
    day it names ("14", "july", "2023")."""
    text = _ISO_DATE.sub(_spelled, text) if "-" in text else text
    text = _WEEKDAY_BEFORE.sub(_day_before, text) if "before" in text else text
    normal = [_normal_word(w) for w in _WORD.findall(text.casefold().replace("\u2019", "'"))]
    return [w for w in normal if w is not None]


@lru_cache(maxsize=1 << 16)
def _normal_word(w: str) -> str | None:
    """One lower-cased word as ``words`` keeps it (``None``: a stopword), memoized."""
    if w[0].isdigit():
        m = _ORDINAL.match(w)
        return m.group(1) if m else w.replace(",", "")
    w = w[:-2] if w.endswith("'s") else w
    if w in NUMBER_WORDS:
        return NUMBER_WORDS[w]
    if w not in STOPWORDS and w.split("'", 1)[0] not in STOPWORDS:
        return stem(w)
    return None


def answer_words(answer: str) -> frozenset[str]:
    """The distinct normalized words of a gold answer (empty: nothing to check)."""
    return frozenset(words(answer))


def normalize_text(text: str) -> str:
    """Lowercase, every run of punctuation or spaces as one space: for substring checks."""
    return " " + _SQUASH.sub(" ", text.casefold().replace("\u2019", "'")).strip() + " "


@lru_cache(maxsize=1 << 16)
def _line_text(line: str) -> tuple[str, frozenset[str]]:
    squashed = _SQUASH.sub(" ", line.casefold().replace("\u2019", "'")).strip()
    return squashed, frozenset(words(line))


def _normalized(text: str) -> tuple[str, frozenset[str]]:
    """``normalize_text(text)`` and the set of ``words(text)``, line by line (no word, date or
    punctuation run that matters spans a newline), so the lines that come back in new texts
    (excerpts quoting the history) are normalized once."""
    lines = [_line_text(line) for line in text.split("\n")]
    squashed = " ".join(sq for sq, _ in lines if sq)
    return " " + squashed + " ", frozenset().union(*(ws for _, ws in lines))


def words_present(needed: Iterable[str], have: Any) -> float | None:
    """Share of ``needed`` words found in ``have`` (a set, or anything with ``__contains__``);
    ``None`` when nothing is needed."""
    needed = set(needed)
    if not needed:
        return None
    return sum(1 for w in needed if w in have) / len(needed)


def is_decline(text: str) -> bool:
    """Does ``text`` open by saying it does not know, that it was not mentioned, or that the
    premise is wrong? Only the first sentence counts, so a quoted "not sure" later does not."""
    m = _FIRST_SENTENCE.match(text.strip())
    return bool(DECLINE.search(m.group(0) if m else text[:240]))


def declines(reply: str, adversarial_answer: str | None) -> bool:
    """A category 5 reply declines the false premise: it says it does not know, and it does not
    give the adversarial answer (at least ``THRESHOLD`` of its words). An adversarial answer
    that is itself a refusal ("Not mentioned") is only checked for the refusal."""
    if not is_decline(reply):
        return False
    adv = adversarial_answer or ""
    if not adv.strip() or is_decline(adv):
        return True
    share = words_present(answer_words(adv), set(words(reply)))
    return share is None or share < THRESHOLD


# -- payload text --------------------------------------------------------------------------------

def request_texts(request: Mapping[str, Any], *, drop_last_user: str | None = None) -> list[str]:
    """Every text a request carries (system blocks, message texts, tool calls' input values,
    tool results), in order. ``drop_last_user``: text removed from the last user message (the
    question, so that it does not count as context)."""
    out = list(block_texts(request.get("system") or [], CONTEXT))
    msgs = list(request.get("messages") or [])
    last = len(msgs) - 1
    for i, m in enumerate(msgs):
        content = m.get("content")
        if i == last and drop_last_user and m.get("role") == "user":
            texts = [t.replace(drop_last_user, "") for t in block_texts(content, CONTEXT)]
            out.extend(t for t in texts if t.strip())
        elif type(content) is str:  # the common case, kept fast: payloads hold hundreds of messages
            out.append(content)
        else:
            out.extend(block_texts(content, CONTEXT))
    return out


@dataclass
class _Entry:
    squashed: str
    words: frozenset[str]


_ENTRIES: dict[str, _Entry] = {}  # the process's normalized texts (a pure function of the text)
_MAX_ENTRIES = 50_000


def _shared_entries() -> dict[str, _Entry]:
    if len(_ENTRIES) > _MAX_ENTRIES:
        _ENTRIES.clear()
    return _ENTRIES


class PayloadText:
    """The texts of a payload, normalized once per distinct text (shared across payloads through
    ``cache``; by default one per process, so replays of the same history share it), for word
    and substring checks."""

    def __init__(self, texts: Sequence[str], cache: dict[str, _Entry] | None = None):
        cache = _shared_entries() if cache is None else cache
        self.entries: list[_Entry] = []
        for t in texts:
            e = cache.get(t)
            if e is None:
                e = cache[t] = _Entry(*_normalized(t))
            self.entries.append(e)

    def __contains__(self, word: str) -> bool:
        return any(word in e.words for e in self.entries)

    def best_share(self, needed: Iterable[str]) -> float | None:
        """The largest share of ``needed`` words that one text holds (``None``: nothing needed)."""
        needed = set(needed)
        if not needed:
            return None
        return max((len(needed & e.words) / len(needed) for e in self.entries), default=0.0)

    def has_text(self, text: str) -> bool:
        """Is ``text`` (normalized, less a leading ``"Speaker: "``) inside one of the texts?"""
        needle = normalize_text(_SPEAKER.sub("", text.strip(), count=1))
        if needle.strip() == "":
            return True
        return any(needle in e.squashed for e in self.entries)


def payload_texts(request: Mapping[str, Any], question: str | None = None,
                  cache: dict[str, _Entry] | None = None) -> PayloadText:
    """``PayloadText`` of a request, the question left out."""
    return PayloadText(request_texts(request, drop_last_user=question), cache)


# -- intervals -----------------------------------------------------------------------------------

def wilson(successes: float, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (95% by default); ``(None, None)`` for n = 0."""
    if n <= 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], z: float = Z95) -> tuple[float | None, float | None]:
    """Normal interval of the mean of values in 0..1, clipped to 0..1; ``(None, None)`` if empty."""
    n = len(values)
    if n == 0:
        return None, None
    mean = sum(values) / n
    if n == 1:
        return mean, mean
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return max(0.0, mean - half), min(1.0, mean + half)
