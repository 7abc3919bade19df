"""Acknowledgements: a statement is answered by restating what the user said, in their own
words, turned round to face them ("I'm Priya, the report must use metric units, our budget is
4,200 euros" -> "Noted: you're Priya, the report must use metric units, and the budget is
4,200 euros."). Greetings, thanks and questions are left out; a long message is restated by its
most informative clauses (names, numbers, dates, requirements first), in the order said.
"""

from __future__ import annotations

import re
from functools import lru_cache

from convolab.sim.evidence import is_fluff
from convolab.sim.perspective import to_second_person
from convolab.sim.text import LEAD, STOPWORDS, analyze, numbers, terms

MAX_WORDS = 40
MAX_CLAUSES = 4
_REQUIREMENT = re.compile(r"\b(must|need|needs|have to|has to|prefer|prefers|always|never|don't|do not|"
                          r"should|require|required|please)\b", re.I)
_OWN_SUBJECT = re.compile(r"^(?:(?:and|but|so|because|then|since|while)\s+)?(?:I|I'm|I've|I'd|I'll|we|we're|we've|"
                          r"you|you're|my|our|your|the|a|an|it|it's|there|this|that|these|those|he|she|they|"
                          r"[A-Z][\w'’-]*)\b")
_OUR = re.compile(r"\bour\b", re.I)  # "our budget is 4,200 euros" -> "the budget is 4,200 euros"
_NUMBER_WORDS = frozenset(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                           "twelve", "twenty", "hundred", "half", "both", "all", "most", "some", "many", "few",
                           "several"])
_THANKS = re.compile(r"\b(?:thanks|thank you|thx|cheers)\b", re.I)
_GREETING = re.compile(r"^\W*(?:hey|hi|hello|good (?:morning|afternoon|evening))\b", re.I)
_PHOTO = re.compile(r"\s*\[shares a photo: (?:a photo of |a photography of )?([^\]]*)\]")


def _clauses(sentence: str) -> list[str]:
    """The sentence's clauses that can be said on their own: the first, and each later one that
    opens with its own subject ("mostly emails and a few meetings" is left with its sentence);
    a leading "and" is dropped, the restatement joins them itself."""
    pieces = [p.strip() for p in re.split(r",\s+|\s+[-–—]\s+|;\s+", sentence.rstrip(".!")) if p.strip()]
    if any(len(p.split()) < 2 for p in pieces):
        return [sentence.rstrip(".!")]
    return [re.sub(r"^and\s+", "", p, flags=re.I) for k, p in enumerate(pieces) if k == 0 or _OWN_SUBJECT.match(p)]


def _weight(clause: str) -> float:
    score = 2.0 * bool(numbers(clause)) + 2.0 * bool(_REQUIREMENT.search(clause))
    score += min(2, sum(1 for w in clause.split()[1:] if w[:1].isupper()))
    return score + min(len(terms(clause)), 8) / 8


def _request(clause: str) -> str:
    """A request restated as the promise it asks for: "Please send me X" -> "you'll send me X",
    which turned round reads "I'll send you X"."""
    m = re.match(r"^(?:please|kindly)\s+(.+)$", clause, re.I)
    return f"you'll {m.group(1)}" if m else clause


@lru_cache(maxsize=4096)
def says_something(text: str) -> bool:
    """Does ``text`` state anything besides its questions and greetings?"""
    return any(not is_fluff(s) and not s.text.rstrip().endswith("?") and terms(s.text)
               for s in analyze(text).sentences)


@lru_cache(maxsize=4096)
def acknowledge(text: str) -> str:
    """"Noted: ..." restating the statement ``text`` to the person who made it."""
    units: list[tuple[int, str]] = []
    for s in analyze(text).sentences:
        if is_fluff(s) or s.text.rstrip().endswith("?"):
            continue
        body = _PHOTO.sub(lambda m: f", with a photo of {m.group(1).strip()}", s.text)
        body = LEAD.sub("", body).strip()
        for c in _clauses(body):
            if terms(c):
                units.append((len(units), c))
    if not units:  # nothing stated: thanks or a greeting is answered in kind
        if _THANKS.search(text):
            return "You're welcome."
        return "Hello! What would you like to talk about?" if _GREETING.match(text) else "Noted."
    chosen, used = [], 0
    for k, c in sorted(units, key=lambda u: (-_weight(u[1]), u[0])):
        n = len(c.split())
        if len(chosen) >= MAX_CLAUSES or (chosen and used + n > MAX_WORDS):
            continue
        chosen.append((k, c))
        used += n
    said = [to_second_person(_OUR.sub(lambda m: _case("the", m.group(0)), _request(c)), swap=True)
            for _, c in sorted(chosen)]
    said = [s[:1].lower() + s[1:] if _lower_first(s) else s for s in said]
    joined = ", " if re.match(r"^(?:so|but|because|then|since|while)\b", said[-1]) else ", and "
    body = said[0] if len(said) == 1 else ", ".join(said[:-1]) + joined + said[-1]
    return f"Noted: {body}."


def _case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _lower_first(clause: str) -> bool:
    """Does the clause open with a common word, said in lower case after "Noted:"? ("Two of you
    ...", "the budget ..."; not "I ..." or a name)."""
    first = clause.split()[0].lower()
    return not clause.startswith(("I ", "I'")) and (first in STOPWORDS or first in _NUMBER_WORDS)
