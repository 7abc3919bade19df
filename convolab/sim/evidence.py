"""The payload as evidence: its sentences, who said each and about whom, on which day, and a
ranking of them against a question.

``Evidence(parts.texts())`` analyses every text once (cached by the text, so a history resent
turn after turn is split and stemmed once). ``rank(question)`` scores sentences with BM25 over
the question's terms (IDF smoothed by ``BACKGROUND`` pseudo-sentences so tiny payloads keep
sane weights), then weighs what a careful reader weighs:

- **about whom**: a question about Melanie is answered from what Melanie says about herself
  ("I", "we") or what others say to or about her ("you", "Mel"); a sentence about someone else
  counts for ``ATTRIBUTION_PENALTY`` of its score;
- **who said it**: the user's words outrank the assistant's (``ASSISTANT_WEIGHT``), and an
  assistant sentence that only repeats what the user said (an acknowledgement, a quote) is no
  evidence at all;
- **answer type**: a sentence holding a span of the wanted type (a date for "when", a name for
  "who", ...) is preferred (``TYPE_BONUS``);
- **when**: a question restricted to a month or a day prefers sentences said then;
- **questions**: a sentence that asks is rarely the fact itself (``QUESTION_PENALTY``), but the
  reply to it usually is: the first sentences of the next message inherit part of its score.

A hit is good enough when it holds one of the question's rarer terms and scores at least
``MIN_COVERAGE`` of the question's weight; otherwise the reader says it does
not know.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache

from convolab.dates import parse_date
from convolab.lexical import bm25_idf, bm25_term
from convolab.sim.lexicon import KIND_WORD_WEIGHT, RELATED_WEIGHT, members, related
from convolab.sim.questions import ASKER, AnswerType, Question
from convolab.sim.spans import has_span
from convolab.sim.text import Analysis, Sentence, analyze

K1, B = 1.2, 0.5
BACKGROUND = 50           # pseudo-sentences added to N so tiny payloads still have sane IDFs
MIN_COVERAGE = 0.5        # coverage x attribution the best hit needs to be answered from
RARE_SHARE = 0.03         # a term is rare when at most this share of sentences (or 8) hold it
ATTRIBUTION_PENALTY = 0.25
SECOND_HAND = 0.8         # said to or about the person asked about, by someone else
UNATTRIBUTED = 0.5        # a sentence that names nobody, said by someone else than the one asked about
ASSISTANT_WEIGHT = 0.85
TYPE_BONUS = 1.4
QUESTION_PENALTY = 0.5
REPLY_SHARE = 0.8         # the reply to a matching question inherits this share of its score
WHEN_MATCH, WHEN_MISS = 1.6, 0.5
COMMON_SHARE = 0.25      # a term in more than this share of sentences says nothing (a corpus stopword;
                         # applied from BACKGROUND sentences on)
CANDIDATES = 25          # sentences scored with their context
SAME_TEXT, NEAR_TEXT = 0.5, 0.3  # weight of a question's term found elsewhere in the message / next to it
ECHO_LOOKBACK = 30       # user texts an assistant sentence is compared with
ECHO_SHARE = 0.8          # an assistant sentence whose terms are this much in one user text echoes it
_THE_USER = re.compile(r"\b[Tt]he user\b")
_TAG_QUESTION = re.compile(r",\s*(?:right|isn't it|aren't they|don't you think|you know)\?$", re.I)
_FLUFF = re.compile(r"^(?:(?:hey|hi|hello|thanks|thank you|wow|yeah|yes|yep|yup|no|nope|oh|ok|okay|sure|"
                    r"great|awesome|cool|nice|aww|woah|haha|congrats|totally|definitely|absolutely|exactly|"
                    r"right|so|well|love|glad|sorry)[\s,!.]*)+", re.I)


RECENT = 4  # payloads whose evidence is kept
SHARED_CACHE = 50_000  # sentences whose subjects and spans are remembered across payloads
_SUBJECTS: dict[tuple, frozenset[str]] = {}
_SPANS: dict[tuple, bool] = {}
_RECENT: dict[tuple[tuple[str, str], ...], Evidence] = {}


Scored = tuple[float, float, float, frozenset[str]]  # score, coverage, own score, terms held
_TYPED = frozenset([AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME, AnswerType.DATE, AnswerType.NUMBER,
                    AnswerType.DURATION])


@lru_cache(maxsize=4096)
def _day(header: str) -> date | None:
    return parse_date(header)


@dataclass
class Hit:
    """A scored sentence (text ``ai``, sentence ``si``); ``reply_to`` is the question sentence it
    answers when it was credited as the reply to one."""

    score: float
    ai: int
    si: int
    reply_to: tuple[int, int] | None = None
    cover: float = 0.0   # share of the question's weight the sentence and its context hold
    about: float = 1.0   # how well it is about the people asked about (``Evidence._about_factor``)
    own: float = 0.0     # its score from its own words, without its context
    terms: frozenset[str] = frozenset()  # the question's terms it holds itself


def is_fluff(sentence: Sentence) -> bool:
    """A sentence that carries no fact: greetings, thanks, exclamations ("Thanks, Mel!")."""
    rest = _FLUFF.sub("", sentence.text)
    if not sentence.terms or not rest.strip():
        return True
    named = bool(re.search(r"\d|\b(?:I'm|I am|my name is)\s+[A-Z]", rest))
    return not named and (len(sentence.terms) < 2 or len(rest.split()) < 3)


class Evidence:
    """The texts of a payload (``(text, role)`` pairs, roles ``system``, ``user``,
    ``assistant`` or ``material``) as sentences with speakers, subjects and dates."""

    def __init__(self, texts: list[tuple[str, str]], base: Evidence | None = None):
        self.key = tuple(texts)
        self.texts = [t for t, _ in texts]
        self.roles = [r for _, r in texts]
        k = len(base.analyses) if base is not None else 0
        self.analyses: list[Analysis] = [*(base.analyses if base is not None else ()),
                                         *(analyze(t) for t in self.texts[k:])]
        self.n = sum(len(a.sentences) for a in self.analyses)
        self._subjects: dict[tuple[int, int], frozenset[str]] = {}
        self._spans: dict[tuple[AnswerType, int, int], bool] = {}
        self._ranked = 0
        self._base = base if base is not None and base.__dict__.get("_merged") is not None else None

    @classmethod
    def of(cls, texts: list[tuple[str, str]]) -> Evidence:
        """The ``Evidence`` of ``texts``, reused when the same texts come again (the questions
        of an evaluation are asked one after another against one history), and grown from a
        recent one whose texts begin these (the next turn of a chat) rather than built anew."""
        key = tuple(texts)
        ev = _RECENT.get(key)
        if ev is None:
            recent = list(_RECENT.values())  # a snapshot: a simulator may serve several threads
            base = max((e for e in recent if len(e.key) < len(key) and key[:len(e.key)] == e.key),
                       key=lambda e: len(e.key), default=None)
            ev = _RECENT[key] = cls(texts, base)
            while len(_RECENT) > RECENT:
                _RECENT.pop(next(iter(_RECENT), None), None)
        return ev

    # -- who, when ------------------------------------------------------------------------------
    @cached_property
    def speakers(self) -> dict[str, str]:
        """Speaker labels seen in the payload, lowercase -> as written."""
        names = frozenset().union(*(a.speakers for a in self.analyses))
        return {s.lower(): s for s in sorted(names)}

    @cached_property
    def user_names(self) -> frozenset[str]:
        """Names the user gave for themselves ("I'm Ada", "my name is Ada"), lowercase."""
        said = (n for a, role in zip(self.analyses, self.roles, strict=True) if role == "user" for n in a.self_names)
        return frozenset(said) | frozenset(n for a in self.analyses for n in a.user_named)

    @cached_property
    def people(self) -> frozenset[str]:
        """Every known person name, lowercase: speakers and the user's own names."""
        return frozenset(self.speakers) | self.user_names | ({ASKER} if self.user_names else frozenset())

    def anchor(self, ai: int, si: int) -> date | None:
        """The day sentence ``si`` of text ``ai`` was said: its nearest date header."""
        sents = self.analyses[ai].sentences
        for k in range(si, -1, -1):
            if sents[k].header:
                return _day(sents[k].header)
        for a in range(ai - 1, -1, -1):
            head = self.analyses[a].last_header
            if head:
                return _day(head)
        return None

    def sentence(self, ai: int, si: int) -> Sentence:
        return self.analyses[ai].sentences[si]

    def speaker(self, ai: int, si: int) -> str | None:
        """Who said it: the speaker label, ``ASKER`` for the user's own unlabeled words."""
        s = self.sentence(ai, si)
        if s.speaker:
            return s.speaker
        return ASKER if self.roles[ai] == "user" else None

    def addressee(self, ai: int, si: int) -> str | None:
        """Whom "you" means in the sentence: the other of two speakers, or the user when the
        assistant speaks."""
        s = self.sentence(ai, si)
        if s.speaker and len(self.speakers) == 2:
            return next(v for k, v in self.speakers.items() if k != s.speaker.lower())
        if not s.speaker and self.roles[ai] == "assistant":
            return ASKER
        return None

    def subjects(self, ai: int, si: int) -> frozenset[str]:
        """Whom the sentence is about (lowercase names): the speaker when it says I or we, the
        addressee when it says you, and the people it names."""
        key = (ai, si)
        found = self._subjects.get(key)
        if found is None:
            # the same sentence in the same company comes back request after request (a window
            # that slides by one turn): remembered across evidences
            shared = (self.texts[ai], si, self.roles[ai], self.addressee(ai, si), self.people)
            found = _SUBJECTS.get(shared)
            if found is None:
                found = _SUBJECTS[shared] = frozenset(self._about(ai, si))
                if len(_SUBJECTS) > SHARED_CACHE:
                    _SUBJECTS.clear()
            self._subjects[key] = found
        return found

    def _about(self, ai: int, si: int) -> set[str]:
        s = self.sentence(ai, si)
        out: set[str] = set()
        speaker = self.speaker(ai, si)
        if speaker and (s.first or s.plural):
            out.add(speaker.lower())
            if speaker == ASKER:
                out.update(self.user_names)
        if s.second:
            you = self.addressee(ai, si)
            if you:
                out.add(you.lower())
                if you == ASKER:
                    out.update(self.user_names)
        if "user" in s.terms and _THE_USER.search(s.text):  # "the user lives in Porto": the asker
            out.add(ASKER)
            out.update(self.user_names)
        for low in s.caps:
            for p in self.people:
                if p == low or (len(low) >= 3 and p.startswith(low) and p in self.speakers):
                    out.add(p)
        return out

    # -- ranking ----------------------------------------------------------------------------------
    @cached_property
    def lengths(self) -> int:
        return sum(a.lengths for a in self.analyses)

    def _postings(self, focus: set[str]) -> dict[str, list[tuple[int, tuple[tuple[int, int], ...]]]]:
        """Where each term occurs: ``[(text, ((sentence, tf), ...)), ...]``. Read from one index
        over all texts when it exists or can be grown from the evidence this one grew from, or
        when this evidence is asked again; a first question scans the texts' own indexes."""
        self._ranked += 1
        if self._base is not None or self._ranked > 1 or "_merged" in self.__dict__:
            merged = self._merged
            return {t: merged.get(t, []) for t in focus}
        out: dict[str, list[tuple[int, tuple[tuple[int, int], ...]]]] = {t: [] for t in focus}
        for ai, a in enumerate(self.analyses):
            index = a.index
            for t in focus:
                found = index.get(t)
                if found:
                    out[t].append((ai, found))
        return out

    @cached_property
    def _merged(self) -> dict[str, list[tuple[int, tuple[tuple[int, int], ...]]]]:
        """One inverted index over every text: grown from the evidence this one was grown from
        (its lists are never changed in place: they may be shared)."""
        base = self._base
        self._base = None
        out = dict(base._merged) if base is not None else {}
        start = len(base.analyses) if base is not None else 0
        for ai in range(start, len(self.analyses)):
            for t, found in self.analyses[ai].index.items():
                old = out.get(t)
                out[t] = [*old, (ai, found)] if old else [(ai, found)]
        return out

    def rank(self, q: Question, *, limit: int = 8) -> tuple[list[Hit], bool]:
        """Sentences ranked against ``q`` (best first, at most ``limit``); second value: is the
        best one good enough to answer from (it holds a rare term of the question or all of its
        terms first-hand, and what it and its context cover of the question, weighed by whom it
        is about, reaches ``MIN_COVERAGE``)."""
        if not self.n or not q.focus:
            return [], False
        groups = {t: [(t, 1.0), *((r, RELATED_WEIGHT) for r in sorted(related(t)))] for t in q.focus}
        if q.category in groups:  # "What pet ...": a dog or a cat answers, the word "pet" hardly
            groups[q.category] = [(q.category, KIND_WORD_WEIGHT), *((m, 1.0) for m in sorted(members(q.category)))]
        postings = self._postings({m for g in groups.values() for m, _ in g})
        avg = max(1.0, self.lengths / self.n)
        df = {t: sum(len(found) for m, _ in g for _, found in postings[m]) for t, g in groups.items()}
        common = COMMON_SHARE * self.n if self.n >= BACKGROUND else self.n
        focus = {t: w for t, w in q.focus.items() if df[t] <= common} or q.focus
        idf = {t: bm25_idf(self.n + BACKGROUND, df[t]) for t in focus}
        rare = {t for t in focus if df[t] <= max(8, RARE_SHARE * self.n)}
        own: dict[tuple[int, int], dict[str, float]] = {}
        near: dict[int, dict[str, float]] = {}  # text -> term -> its best sentence's contribution
        for t, w in focus.items():
            for member, mw in groups[t]:
                for ai, found in postings[member]:
                    sents = self.analyses[ai].sentences
                    best = near.setdefault(ai, {})
                    for si, tf in found:
                        c = bm25_term(mw * w * idf[t], tf, len(sents[si].terms), avg, K1, B)
                        mine = own.setdefault((ai, si), {})
                        if c > mine.get(t, 0.0):
                            mine[t] = c
                        if c > best.get(t, 0.0):
                            best[t] = c
        mass = {t: w * idf[t] for t, w in focus.items()}
        kind = q.item if q.kind == AnswerType.LIST and q.item else q.kind
        named = q.category in mass and kind in _TYPED
        # "What book ...?": a title answers it whether or not the sentence says "book"
        head = mass[q.category] / sum(mass.values()) if named else 0.0
        scored = self._in_context(own, near, mass, skip=q.category if named else None)
        hits = self._weigh(q, scored, limit, head)
        if not hits:
            return [], False
        top = hits[0]
        terms = set(own.get((top.ai, top.si), ())) | set(own.get(top.reply_to, ()) if top.reply_to else ())
        whole = top.cover >= 0.99 and top.about >= 1.0  # every term, said first-hand
        ok = bool(terms & rare or whole) and top.cover * top.about >= MIN_COVERAGE
        return hits, ok

    @staticmethod
    def _in_context(own: dict[tuple[int, int], dict[str, float]], near: dict[int, dict[str, float]],
                    mass: dict[str, float], skip: str | None = None) -> dict[tuple[int, int], Scored]:
        """Score and coverage of the ``CANDIDATES`` sentences with the best scores of their own.
        A question's term found in the sentence counts whole, found elsewhere in its message
        ``SAME_TEXT``, in the message before or after ``NEAR_TEXT``; coverage is the share of the
        question's weight (term weight x IDF) so covered (``skip`` counts for the score only).
        Values: (score, coverage, own score, the terms it holds itself)."""
        alone = {key: sum(contrib.values()) for key, contrib in own.items()}
        top = sorted(alone, key=alone.__getitem__, reverse=True)[:CANDIDATES]
        total = sum(mass.values()) or 1.0
        context: dict[int, dict[str, tuple[float, float]]] = {}
        out = {}
        empty: dict[str, float] = {}
        for key in top:
            ai = key[0]
            ctx = context.get(ai)
            if ctx is None:
                same, before, after = near.get(ai, empty), near.get(ai - 1, empty), near.get(ai + 1, empty)
                ctx = context[ai] = {}
                for t in mass:
                    if t in same:
                        ctx[t] = (SAME_TEXT * same[t], SAME_TEXT)
                    elif t in before or t in after:
                        ctx[t] = (NEAR_TEXT * max(before.get(t, 0.0), after.get(t, 0.0)), NEAR_TEXT)
            contrib = own[key]
            score = cover = 0.0
            for t, m in mass.items():
                c = contrib.get(t)
                if c is not None:
                    score, cover = score + c, cover + (m if t != skip else 0.0)
                elif t in ctx:
                    score, cover = score + ctx[t][0], cover + (ctx[t][1] * m if t != skip else 0.0)
            out[key] = (score, cover / total, alone[key], frozenset(contrib))
        return out

    def _weigh(self, q: Question, scored: dict[tuple[int, int], Scored],
               limit: int, head: float = 0.0) -> list[Hit]:
        """The best ``limit`` hits after weighing each candidate, best first; candidates are
        taken by base score and the loop stops once no later one can enter. ``head``: the
        coverage a span of the asked type in the sentence or beside it adds."""
        hits: dict[tuple[int, int], Hit] = {}
        ordered = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[0]))
        kind = q.item if q.kind == AnswerType.LIST and q.item else q.kind
        most = (TYPE_BONUS if kind in _TYPED else 1.0) * (WHEN_MATCH if q.when else 1.0)  # the largest factor
        plain = 1.0 if kind not in _TYPED and q.when is None else None  # _fit's value for a user sentence, if known
        floor = 0.0
        for n, ((ai, si), (base, cover, alone, held)) in enumerate(ordered):
            if base * most < floor:
                break
            s = self.sentence(ai, si)
            if self.roles[ai] == "assistant" and not s.speaker and self._echoes(ai, si):
                continue
            about = self._about_factor(q, ai, si) if q.persons else 1.0
            score = base * about * (self._fit(q, ai, si) if plain is None or self.roles[ai] == "assistant" else plain)
            if head and self._span_beside(q, ai, si):
                cover = min(1.0, cover + head)
            if s.text.endswith("?") and not _TAG_QUESTION.search(s.text):
                score *= QUESTION_PENALTY
                reply = self.next_content(ai, si)
                if reply is not None:
                    r_about = self._about_factor(q, *reply, asked=(ai, si))
                    inherited = base * REPLY_SHARE * r_about * self._fit(q, *reply)
                    old = hits.get(reply)
                    if old is None or old.score < inherited:
                        hits[reply] = Hit(inherited, *reply, reply_to=(ai, si), cover=cover, about=r_about,
                                          own=alone * REPLY_SHARE, terms=held)
            old = hits.get((ai, si))
            if old is None or old.score < score:
                hits[(ai, si)] = Hit(score, ai, si, cover=cover, about=about, own=alone, terms=held)
            if len(hits) >= limit and n % 8 == 7:
                floor = sorted((h.score for h in hits.values()), reverse=True)[limit - 1]
        return sorted(hits.values(), key=lambda h: (-h.score, h.ai, h.si))[:limit]

    def _about_factor(self, q: Question, ai: int, si: int, asked: tuple[int, int] | None = None) -> float:
        """How well the sentence is about the people ``q`` asks about: first-hand (they say it
        of themselves) 1, second-hand (someone says it to or of them) ``SECOND_HAND``, about
        someone else ``ATTRIBUTION_PENALTY``, about nobody in particular ``UNATTRIBUTED`` unless
        they said it."""
        if not q.persons:
            return 1.0
        asked_people = set(q.persons)
        about = set(self.subjects(ai, si))
        speaker = (self.speaker(ai, si) or "").lower()
        if asked is not None and self.sentence(*asked).second and speaker:
            about.add(speaker)  # the reply to "did you ...?" is about the one who replies
        if about & asked_people:
            s = self.sentence(ai, si)
            first_hand = speaker in asked_people and (s.first or s.plural or about <= asked_people)
            return 1.0 if first_hand or asked is not None else SECOND_HAND
        if about:
            return ATTRIBUTION_PENALTY
        return 1.0 if speaker in asked_people else UNATTRIBUTED

    def _fit(self, q: Question, ai: int, si: int) -> float:
        """Who said it, whether it holds a span of the asked type, and whether it was said when
        the question asks about."""
        factor = ASSISTANT_WEIGHT if self.roles[ai] == "assistant" else 1.0
        kind = q.item if q.kind == AnswerType.LIST and q.item else q.kind
        if kind not in (AnswerType.TEXT, AnswerType.YES_NO, AnswerType.LIST) and self._has_span(kind, ai, si):
            factor *= TYPE_BONUS
        if q.when is not None:
            anchor = self.anchor(ai, si)
            if anchor is not None:
                year, month, day = q.when
                same = (year in (None, anchor.year) and month in (None, anchor.month)
                        and day in (None, anchor.day))
                factor *= WHEN_MATCH if same else WHEN_MISS
        return factor

    def _span_beside(self, q: Question, ai: int, si: int) -> bool:
        """Does the sentence, or another its speaker says in the same message, hold a span of
        the asked type?"""
        kind = q.item if q.kind == AnswerType.LIST and q.item else q.kind
        sents = self.analyses[ai].sentences
        return self._has_span(kind, ai, si) or any(
            self._has_span(kind, ai, k) for k in range(len(sents)) if sents[k].speaker == sents[si].speaker)

    def _has_span(self, kind: AnswerType, ai: int, si: int) -> bool:
        key = (kind, ai, si)
        found = self._spans.get(key)
        if found is None:
            anchor = self.anchor(ai, si) if kind == AnswerType.DURATION else None
            shared = (kind, self.sentence(ai, si).text, anchor, self.people)
            found = _SPANS.get(shared)
            if found is None:
                found = _SPANS[shared] = has_span(kind, self.sentence(ai, si).text, anchor, self.people)
                if len(_SPANS) > SHARED_CACHE:
                    _SPANS.clear()
            self._spans[key] = found
        return found

    def _echoes(self, ai: int, si: int) -> bool:
        """Does assistant sentence (ai, si) only repeat what an earlier user text said?"""
        terms = set(self.sentence(ai, si).terms)
        if len(terms) < 2:
            return False
        need = ECHO_SHARE * len(terms)
        users = (a for a in range(ai - 1, -1, -1) if self.roles[a] == "user")
        for a in itertools.islice(users, ECHO_LOOKBACK):
            index = self.analyses[a].index
            if sum(1 for t in terms if t in index) >= need:
                return True
        return False

    def next_content(self, ai: int, si: int) -> tuple[int, int] | None:
        """The first sentence that carries a fact after (ai, si), in the reply: the rest of the
        same text when someone else speaks next in it, else the next text."""
        speaker = self.sentence(ai, si).speaker
        for a in range(ai, min(ai + 2, len(self.analyses))):
            sents = self.analyses[a].sentences
            for k in range(si + 1 if a == ai else 0, len(sents)):
                s = sents[k]
                if a == ai and s.speaker == speaker:
                    continue
                if not is_fluff(s) and not s.text.endswith("?"):
                    return a, k
                if s.text.endswith("?"):
                    return None
        return None
