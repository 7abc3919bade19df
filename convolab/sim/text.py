"""Text helpers for the simulated model: tokens, light stemming, sentences, dates.

Everything here is pure and deterministic. ``analyze`` (sentence splitting plus the
per-sentence token lists of one message text) is LRU-cached by the text itself, so a
history that is resent turn after turn is split and stemmed once.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from convolab.dates import (
    has_date,
    parse_date,
)
from convolab.lexical import STOPWORDS

# Words that shape a question but say nothing about its subject.
QUESTION_WORDS = frozenset(
    ["name", "kind", "type", "sort", "thing", "happen", "think", "say", "said", "mention", "told", "ever", "recall", "remember", "anything", "something", "conversation", "earlier"]
)

# Irregular verbs: base form, simple past, past participle (one table for both directions).
VERB_FORMS = [tuple(v.split()) for v in """go went gone|see saw seen|buy bought bought|make made made|take took taken
|give gave given|meet met met|feel felt felt|think thought thought|find found found|leave left left
|begin began begun|write wrote written|eat ate eaten|drive drove driven|fly flew flown|win won won|lose lost lost
|sell sold sold|build built built|teach taught taught|bring brought brought|run ran run|get got gotten
|do did done|have had had|say said said|tell told told|know knew known|come came come|become became become
|keep kept kept|hear heard heard|put put put|let let let|set set set|hurt hurt hurt|cut cut cut|send sent sent
|spend spent spent|stand stood stood|sit sat sat|fall fell fallen|grow grew grown|draw drew drawn
|choose chose chosen|wear wore worn|speak spoke spoken|swim swam swum|sing sang sung|pay paid paid
|hold held held|lead led led|read read read|sleep slept slept|catch caught caught|throw threw thrown
|hide hid hidden|ride rode ridden|be was been|break broke broken|forget forgot forgotten|wake woke woken
|lend lent lent|mean meant meant|fight fought fought""".replace("\n", "").split("|")]
IRREGULAR = {
    **{form: base for base, *forms in VERB_FORMS for form in forms if form != base},
    "goes": "go", "were": "be", "kids": "kid", "children": "child", "child": "kid", "people": "person",
    "moved": "move", "dancing": "dance", "painting": "paint", "paintings": "paint", "mice": "mouse", "men": "man",
    "women": "woman",
}

LEAD = re.compile(r"^(?:(?:hey|hi|hello|thanks|thank you|wow|yeah|yes|yep|yup|oh|ok|okay|sure|aww|woah|haha|so|"
                  r"well|btw|by the way|anyway|and|plus|but|unrelated|also|just|actually|in fact|correction|"
                  r"update|quick update|fyi)\b[\s,!.:-]*)+", re.I)  # what a sentence opens with before its point
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_HEADER = re.compile(r"^\s*\[([^\]]{3,60})\]\s*")
_SPEAKER = re.compile(r"^([A-Z][A-Za-z0-9_.'-]*(?: [A-Z][A-Za-z0-9_.'-]*){0,2}):\s+(?=[A-Z0-9\"'“‘\[(])")


def stem(word: str) -> str:
    """A light, deterministic stem: lowercase, no possessive, common suffixes off."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if w in IRREGULAR:
        return stem(IRREGULAR[w])  # the base form, stemmed as the regular forms are ("made" -> "mak")
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


@lru_cache(maxsize=65536)
def _stem_cached(word: str) -> str:
    return stem(word)


def words(text: str) -> list[str]:
    """The raw word tokens of ``text`` (letters/digits, apostrophes kept)."""
    return _WORD.findall(text)


def terms(text: str, extra_stop: frozenset[str] = frozenset()) -> list[str]:
    """Stemmed content terms of ``text``: stopwords (and ``extra_stop``) removed, order kept."""
    out = []
    for w in _WORD.findall(text):
        low = w.lower().replace("’", "'")
        if low in STOPWORDS or low in extra_stop or (len(low) == 1 and not low.isdigit()):
            continue
        s = _stem_cached(w)
        if s and s not in STOPWORDS and s not in extra_stop:
            out.append(s)
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: paragraphs split on newlines, then on end punctuation."""
    out = []
    for para in text.splitlines():
        para = para.strip()
        if para:
            out.extend(s.strip() for s in _SENT_SPLIT.split(para) if s.strip())
    return out


def numbers(text: str) -> list[str]:
    return _NUMBER.findall(text)


_FIRST = re.compile(r"\b(?:i|me|my|mine|myself)\b", re.I)
_PLURAL = re.compile(r"\b(?:we|we're|we've|we'd|our|ours|us|ourselves)\b", re.I)
_SECOND = re.compile(r"\b(?:you|your|yours|yourself|you're|you've|you'd|you'll|ya)\b", re.I)
_SELF_NAME = re.compile(r"\b(?:I'm|I am|[Mm]y name is|[Cc]all me)\s+([A-Z][a-z]+)\b(?!['’])")
_CAPS = re.compile(r"\b[A-Z][a-z]{2,}\b")
_USER_NAMED = re.compile(r"\b[Tt]he user(?:['’]s name)? is ([A-Z][a-z]+)\b(?!['’])")
_DATE_LINE = re.compile(r"^On (\d{1,2} [A-Z][a-z]+ \d{4}):\s*$")  # a day's heading ("On 8 May 2023:")
_BULLET = re.compile(r"^[-*•]\s+")
_NOTE = re.compile(r"\s*\[[^\]\[=]{2,40} = [^\]\[]{3,60}\]")  # a resolved-date note a strategy added


@dataclass(frozen=True)
class Sentence:
    """One sentence of a message: its text, stemmed terms, speaker, header date text, and which
    grammatical persons it speaks in (``first``: I/my/me; ``plural``: we/our; ``second``: you)."""

    text: str
    terms: tuple[str, ...]
    speaker: str | None
    header: str | None  # the bracketed date header of its paragraph, if any
    dated: bool
    first: bool = False
    plural: bool = False
    second: bool = False
    caps: tuple[str, ...] = ()  # capitalized words (names, places), lowercase


@dataclass(frozen=True)
class Analysis:
    """A message text split into sentences, with an inverted index for scoring."""

    sentences: tuple[Sentence, ...]
    index: dict[str, tuple[tuple[int, int], ...]]  # term -> ((sentence, tf), ...)
    lengths: int  # total terms over sentences
    speakers: frozenset[str]
    self_names: frozenset[str] = frozenset()  # names the writer gives themselves ("I'm Ada"), lowercase
    user_named: frozenset[str] = frozenset()  # names it gives the user ("the user's name is Ada"), lowercase
    last_header: str | None = None  # the last date header in the text


def _lead(para: str, header: str | None, speaker: str | None) -> tuple[str, str | None, str | None]:
    """Strip the date headers and speaker labels a paragraph starts with (a transcript's role
    label may come before the message's own: the innermost label is the speaker)."""
    while True:
        m = _HEADER.match(para) or _DATE_LINE.match(para)
        if m and parse_date(m.group(1)) is not None:
            header, para = m.group(1), para[m.end():]
            continue
        m = _BULLET.match(para)
        if m:
            para = para[m.end():]
            continue
        m = _SPEAKER.match(para)
        if m:
            speaker, para = m.group(1), para[m.end():]
            continue
        return para, header, speaker


@lru_cache(maxsize=65536)
def _sentence(text: str, speaker: str | None, header: str | None) -> Sentence:
    """One sentence, analysed (cached: excerpts and windows quote the same sentences in new
    texts request after request)."""
    return Sentence(text, tuple(terms(text)), speaker, header, has_date(text), bool(_FIRST.search(text)),
                    bool(_PLURAL.search(text)), bool(_SECOND.search(text)),
                    tuple(dict.fromkeys(w.lower() for w in _CAPS.findall(text))))


@lru_cache(maxsize=16384)
def analyze(text: str) -> Analysis:
    """Split and index one message text (cached by the text: history is processed once).

    A date header (``[8 May, 2023]`` or ``[1:56 pm on 8 May, 2023]``, alone on its line or
    before the text) is given to the next sentence; a ``Name:`` label names the speaker of its
    paragraph and of the paragraphs after it, until the next label."""
    sents: list[Sentence] = []
    speaker: str | None = None
    header: str | None = None
    for para in text.splitlines():
        para = para.strip()
        if not para:
            continue
        para, header, speaker = _lead(para, header, speaker)
        para = _NOTE.sub("", para) if " = " in para else para
        for s in _SENT_SPLIT.split(para):
            s = s.strip()
            if not s:
                continue
            sents.append(_sentence(s, speaker, header))
            header = None  # later sentences inherit it at request time
    index: dict[str, list[tuple[int, int]]] = {}
    for i, s in enumerate(sents):
        for t, tf in Counter(s.terms).items():
            index.setdefault(t, []).append((i, tf))
    return Analysis(tuple(sents), {t: tuple(v) for t, v in index.items()},
                    sum(len(s.terms) for s in sents),
                    frozenset(s.speaker for s in sents if s.speaker),
                    frozenset(m.group(1).lower() for m in _SELF_NAME.finditer(text)),
                    frozenset(m.group(1).lower() for m in _USER_NAMED.finditer(text)) if "user" in text else frozenset(),
                    next((s.header for s in reversed(sents) if s.header), None))


def snake(text: str) -> str:
    """``"favorite color"`` -> ``"favorite_color"``."""
    return "_".join(w.lower() for w in words(text)) or "value"
