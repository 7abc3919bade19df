"""Memory extraction as a careful model does it: one typed item per stated fact.

``extract_facts(texts)`` reads an exchange (a transcript: date headers, speaker or role labels,
as ``StructuredMemory`` sends it) and returns a ``Fact`` for each sentence that states
something: who it is about, the fact told in the third person with its dates resolved, when it
happened, the sentence word for word, the day it was said, a topic when it is a state a later
statement replaces ("I moved to Berlin" after "I live in Paris": both are about ``home``), and an
importance from 1 to 5 (5 when the speaker asks for it to be remembered; otherwise names, numbers,
dates and first-hand statements matter most).
Greetings, thanks, questions, instructions to the model and passing remarks (importance 1: no
name, number, date or first-hand statement) are not recorded.

``fact_lines(facts, key, hint)`` picks the facts a list of strings named ``key`` (described by
``hint``) asks for, one line each: places for "places", people for "people", dated events for
"events", likes for "likes", else the facts that share a word with the name and description.

``fill_facts(item_schema, facts)`` fits them to a tool's item schema by the names of its fields
(who/subject/person, what/fact/statement, when/time, words/quote/text, date/said_on,
topic/key/attribute, importance/priority), so any schema shaped like a list of facts is filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from convolab.dates import MONTHS, fmt_date, has_date
from convolab.sim.evidence import ECHO_SHARE, Evidence, is_fluff
from convolab.sim.lexicon import members, related
from convolab.sim.perspective import to_third_person
from convolab.sim.spans import clauses, date_spans, names, numbers, places
from convolab.sim.text import Sentence, stem, terms

_FILLER = re.compile(r"\b(?:really|so|super|just|totally|actually|kinda|pretty|very|literally|honestly)\s+", re.I)
_LEAD = re.compile(r"^(?:(?:hey|hi|hello|thanks|thank you|wow|yeah|yes|yep|yup|oh|ok|okay|so|well|btw|"
                   r"by the way|anyway|and|plus|aww|woah|haha|also)\b[\s,!.:-]*)+", re.I)
# "Please remember: ...", "Don't forget that ...": the speaker asks for it to be kept (importance 5)
_KEEP = re.compile(r"^(?:please\s+)?(?:remember|note|keep in mind|don'?t forget|do not forget|make a note)"
                   r"(?:\s+that)?\s*[:,-]?\s*", re.I)
_PHOTO = re.compile(r"\s*\[shares a photo: (?:a photo of |a photography of )?([^\]]*)\]")
_INSTRUCTION = re.compile(r"\b(?:call the|record_memory|record memory|tool once|latest exchange|memory from)\b", re.I)
MIN_IMPORTANCE = 2  # facts below it are left out
_NON_ANSWER = re.compile(r"^(?:I don't know|I do not know|I'm not sure|Noted)\b", re.I)
_ROLES = {"user": "the user", "assistant": "the assistant"}
# States: what a later statement replaces. (pattern on the sentence, topic)
_TOPICS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bmy name is\b|\bcall me\b", re.I), "name"),
    (re.compile(r"\bI (?:live|lived|am living|moved|have moved|relocated)\b|\bmy (?:home|address)\b", re.I), "home"),
    (re.compile(r"\bI (?:work|worked|started working|am working) (?:at|for|as)\b|\bmy (?:job|boss|manager|employer)\b|"
                r"\bI got a job\b", re.I), "job"),
    (re.compile(r"\bI(?:'m| am) \d+(?: years old)?\b|\bmy age\b", re.I), "age"),
]
_MY_X_IS = re.compile(r"\b(?:my|our) ((?:favou?rite |fave )?[a-z]+(?: [a-z]+)?) (?:is|are|was) now\b|"
                      r"\b(?:my|our) ((?:favou?rite |fave )?[a-z]+(?: [a-z]+)?) (?:is|are)\b", re.I)


@dataclass(frozen=True)
class Fact:
    """One stated fact (see the module docstring)."""

    who: str
    what: str
    when: str
    words: str
    date: str
    topic: str
    importance: int


def _topic(sentence: str) -> str:
    for rx, topic in _TOPICS:
        if rx.search(sentence):
            return topic
    m = _MY_X_IS.search(sentence)
    if m:
        return " ".join((m.group(1) or m.group(2)).lower().split())
    return ""


def _importance(s: Sentence) -> int:
    text = _LEAD.sub("", s.text)
    if _KEEP.match(text):
        return 5
    score = 1 + bool(numbers(text)) + bool(has_date(text)) + bool(names(text)) + (s.first or s.plural)
    return min(5, score)


def _told(text: str, who: str, anchor: Any) -> tuple[str, str]:
    """The fact in the third person with its dates resolved, and when it happened."""
    text = _PHOTO.sub(lambda m: f" (photo: {m.group(1).strip()})", text)
    text = _LEAD.sub("", text).strip() or text
    text = _KEEP.sub("", text).strip() or text
    when = ""
    if anchor is not None:
        spans = date_spans(text, anchor)
        for d in sorted((d for d in spans if d.relative), key=lambda d: -text.find(d.phrase)):
            at = text.find(d.phrase)
            if at >= 0:
                text = f"{text[:at + len(d.phrase)]} ({d.value}){text[at + len(d.phrase):]}"
        when = spans[0].value if spans else ""
    text = to_third_person(text, who[:1].upper() + who[1:] if who in _ROLES.values() else who)
    text = _FILLER.sub("", text)
    return text[:1].upper() + text[1:], when


def _facts_of(sentence: str) -> list[str]:
    """The sentence cut where a new subject starts a clause with a state of its own ("My name is
    Ada and I live in Lisbon"), else whole."""
    parts = clauses(sentence, subjects=True)
    if len(parts) > 1 and sum(bool(_topic(p)) for p in parts) >= 2:
        return [p if p[-1:] in ".!?" else p + "." for p in parts]
    return [sentence]


def extract_facts(texts: list[str]) -> list[Fact]:
    """The facts the transcript ``texts`` states, in the order said (see the module docstring)."""
    ev = Evidence([(t, "material") for t in texts])
    out: list[Fact] = []
    seen: set[str] = set()
    said: set[str] = set()  # the terms of everything but the assistant's own words
    for ai, a in enumerate(ev.analyses):
        for si, s in enumerate(a.sentences):
            text = s.text
            if text.rstrip().endswith("?") or is_fluff(s) or _INSTRUCTION.search(text) or text in seen:
                continue
            seen.add(text)
            if (s.speaker or "").lower() == "assistant":
                if len(set(s.terms) & said) >= ECHO_SHARE * len(set(s.terms)) or _NON_ANSWER.match(text):
                    continue  # the assistant restating what was said, or saying it does not know: no new fact
            else:
                said.update(s.terms)
            importance = _importance(s)
            if importance < MIN_IMPORTANCE:
                continue  # a passing remark ("That sounds fun!") is not worth remembering
            who = _ROLES.get((s.speaker or "user").lower(), s.speaker or "the user")
            anchor = ev.anchor(ai, si)
            for part in _facts_of(text):  # "My name is Ada and I live in Lisbon": two facts
                what, when = _told(part, who, anchor)
                out.append(Fact(who, what, when, part, fmt_date(anchor) if anchor else "", _topic(part), importance))
    return out


_FIELDS = [  # item property names, by the fact field they take
    ("who", ("who", "subject", "person", "speaker", "owner", "about")),
    ("what", ("what", "fact", "statement", "summary", "content", "value", "description")),
    ("when", ("when", "time", "event_date", "happened", "happened_on")),
    ("words", ("words", "quote", "text", "source", "evidence", "own_words", "verbatim")),
    ("date", ("date", "said_on", "stated_on", "message_date", "recorded")),
    ("topic", ("topic", "key", "attribute", "slot", "category")),
    ("importance", ("importance", "priority", "salience", "weight")),
]


def fact_field(name: str) -> str | None:
    """The fact field an item property named ``name`` takes (``None``: not a fact field)."""
    low = name.lower()
    for field, names_ in _FIELDS:
        if low in names_:
            return field
    return None


def looks_like_facts(item_schema: Any) -> bool:
    """Is ``item_schema`` an object whose properties are fact fields (who and what at least)?"""
    if not isinstance(item_schema, dict) or not isinstance(item_schema.get("properties"), dict):
        return False
    fields = {fact_field(n) for n in item_schema["properties"]}
    return {"who", "what"} <= fields or {"what", "words"} <= fields


_LIKES = re.compile(r"\b(?:love|loves|like|likes|enjoy|enjoys|prefer|prefers|favou?rite|fan of|into|passionate)\b", re.I)
_KIN = re.compile(r"\b(?:mom|mother|dad|father|sister|brother|son|daughter|kids?|children|wife|husband|partner|"
                  r"friend|friends|grandma|grandpa|aunt|uncle|cousin|boss|manager|colleague|puppy|dog|cat)\b", re.I)
# What a list of that name holds: a test on the fact (stems of the list's name -> test)
_KINDS: list[tuple[frozenset[str], Any]] = [
    (frozenset(["plac", "location", "city", "country", "travel", "trip"]),
     lambda f: bool(places(f.words)) or bool(re.search(r"\b(?:in|to|from|at) [A-Z]", f.words))),
    (frozenset(["peopl", "person", "friend", "family", "relation", "contact"]),
     lambda f: bool(_KIN.search(f.words)) or bool(set(names(f.words, frozenset([f.who.lower()])))
                                                  - set(places(f.words)) - set(MONTHS))),
    (frozenset(["event", "timelin", "history", "dat"]), lambda f: bool(f.when)),
    (frozenset(["lik", "preferenc", "favorit", "favourit", "interest", "valu"]), lambda f: bool(_LIKES.search(f.words))),
]


def fact_lines(facts: list[Fact], key: str, hint: str = "") -> list[str]:
    """The facts a list of strings named ``key`` asks for (see the module docstring), each told
    in the third person, newest last; none when nothing fits (an empty list is a valid answer)."""
    name = {stem(w) for w in re.split(r"[\s_-]+", key) if w}
    for stems, test in _KINDS:
        if name & stems:
            return [f.what for f in facts if test(f)]
    wanted = set(terms(f"{key.replace('_', ' ')} {hint}"))
    wanted |= {r for t in list(wanted) for r in related(t) | members(t)}
    return [f.what for f in facts if set(terms(f.words)) & wanted]
