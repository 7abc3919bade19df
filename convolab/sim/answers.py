"""Answers to questions, from the payload only.

The question is read (``convolab.sim.questions``), the payload's sentences ranked as evidence
(``convolab.sim.evidence``), and the answer written as a careful reader would:

- a span of the type asked for (a date, a name, a place, a number, a length of time) taken from
  the best-supporting sentence and said as a statement ("Caroline went to the support group on
  7 May 2023."), then the sentence it rests on, told from the asker's side ("You fly to Lisbon
  on 12 May.", "Caroline has known these friends for 4 years"), relative dates resolved against
  the day they were said ("yesterday (7 May 2023)");
- yes/no questions get "Yes"/"No" (or "Likely ..." when the question asks for an inference);
- list questions gather items from several sentences; a sentence that lacks the asked type
  can be joined with a second one that shares a term with it and holds the type (multi-hop);
- nothing good enough: ``DONT_KNOW``. Nothing is invented: every word comes from the payload,
  the question, or a date resolved from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from convolab.dates import MONTHS, WEEKDAYS, fmt_date
from convolab.sim.evidence import Evidence, Hit, is_fluff
from convolab.sim.lexicon import RELATED_WEIGHT, members, related
from convolab.sim.perspective import the_user_to_you, to_second_person, to_third_person
from convolab.sim.questions import ASKER, AnswerType, Question, read_question
from convolab.sim.reading import Parts
from convolab.sim.spans import clauses, date_spans, durations, names, numbers, places, titles
from convolab.sim.statements import statement
from convolab.sim.text import LEAD, STOPWORDS, Sentence, terms

DONT_KNOW = "I don't know: that isn't mentioned in our conversation."
LIST_SHARE = 0.45     # list items: hits scoring at least this share of the best
EXTRA_SHARE = 0.8     # free text: a second sentence this close to the best is given too
MAX_LIST = 5
LATEST_SHARE = 0.7    # a later statement this close to the best one replaces it
UPDATE_SHARE = 0.4    # ... or this close when it says it changes something ("is now", "we moved")
PASSAGE_WORDS = 45    # a free-text answer's passage grows sentence by sentence up to this
COMPLETE_TERMS = 4    # a sentence with this many terms, holding all the question's, is a whole answer
LONG_SENTENCE = 22    # words; longer sentences are cut to their best clauses
_PHOTO = re.compile(r"\[shares a photo: (?:a photo of |a photography of |an image of )?([^\]]*)\]")
_REFERENCE = re.compile(r"^(?:(?:in|at|to|from|near)\s+)?(?:my|our|your|his|her|their)\s", re.I)
_ANAPHOR = re.compile(r"^(?:it|it's|they|they're|that|that's|this|these|those|he|she|which)\b", re.I)
# "..., and who ...?" / "...? And where ...?": a second question joined to the first
_JOINED = re.compile(r"(?:[,;]|\?)?\s+(?:and|also|plus)\s+(?=(?:what|who|whom|whose|where|when|which|how|why)\b)"
                     r"|\?\s+(?=(?:what|who|whom|whose|where|when|which|how|why)\b)", re.I)
_WHERE_PHRASE = re.compile(r"\b(?:in|into|inside|under|behind|on top of|next to)\s+(?:my|his|her|their|our|your)\s+"
                           r"[a-z]+\b")
_CAPITALIZED = re.compile(r"\b[A-Z][a-z]+(?=['’]s\b|\b)(?<!\bI)")
_CALENDAR = frozenset([*MONTHS, *WEEKDAYS, *(m[:3] for m in MONTHS), "Sept"])
_INFERENCE = re.compile(r"\b(?:would|might|could)\b.*\b(?:likely|probably)\b", re.I)
_NEEDS_SPAN = frozenset([AnswerType.PLACE, AnswerType.PERSON, AnswerType.NUMBER, AnswerType.DURATION])
_NEW_TOPIC = re.compile(r"^\W*(?:unrelated|by the way|btw|anyway|on another note|in other news)\b", re.I)
_LINK = re.compile(r"^(?:and|but|so|because|also|plus|then|still|though|which|even)\b", re.I)
_UPDATE = re.compile(r"\b(?:now|no longer|anymore|moved|changed|renamed|switched|correction|instead|new one|"
                     r"slipped|replaced)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|never|no|don't|doesn't|didn't|isn't|wasn't|aren't|haven't|hasn't|won't|can't|"
                       r"couldn't|nope)\b|n't\b", re.I)


@dataclass
class Support:
    """One piece of evidence as it will be said: the clause, its speaker, its day."""

    hit: Hit
    text: str        # the clause, in the speaker's words
    speaker: str | None
    addressee: str | None
    anchor: date | None
    nearby: str = ""   # the speaker's sentences just before and after, for a date said beside it
    sentences: tuple[tuple[int, int], ...] = ()  # the sentences said, as (text, sentence)
    message: str = ""  # everything the speaker says in this message


def answer(parts: Parts) -> str:
    """The reply to the question ``parts.query`` from the payload ``parts``; a question made of
    several ("When is X's birthday, and what is the name of X's puppy?") gets each part
    answered in turn."""
    ev = Evidence.of(parts.texts())
    asked = split_question(parts.query)
    if len(asked) == 1:
        return _answer(ev, parts.query)
    said = [_answer(ev, a) for a in asked]
    if all(s == DONT_KNOW for s in said):
        return DONT_KNOW
    return " ".join(s if s != DONT_KNOW else f'As for "{a}", that isn\'t mentioned in our conversation.'
                    for a, s in zip(asked, said, strict=True))


def split_question(text: str) -> list[str]:
    """The questions ``text`` joins with "and" (", and who ...?", "; and where ...?"), each
    ending in a question mark; ``[text]`` when it asks one thing."""
    pieces = [p.strip(" ,;") for p in _JOINED.split(text.strip())]
    if len(pieces) < 2 or any(len(p.split()) < 3 for p in pieces):
        return [text]
    return [_capital(p.rstrip("?").rstrip(" ,;")) + "?" for p in pieces]


def _answer(ev: Evidence, query: str) -> str:
    q = read_question(query, ev.people)
    if _asks_own_name(q) and ev.user_names:
        name = sorted(ev.user_names)[0]
        return f"You're {name[:1].upper()}{name[1:]}."
    hits, ok = ev.rank(q)
    if not ok or (_INFERENCE.search(q.text) and q.category and not hits[0].terms & members(q.category)):
        return DONT_KNOW  # nothing on it; or a guess ("which activity would she suggest?") with no activity to go on
    if not _names_in_context(q, ev, hits[0]):
        return DONT_KNOW  # "Where did Oscar hide his bone?" answered from talk of Oliver: not about Oscar
    sups: list[Support] = []
    for h in _select(q, ev, hits):
        if not any((h.ai, h.si) in s.sentences for s in sups):  # already said in an earlier passage
            sups.append(_support(q, ev, h))
    if q.kind in _NEEDS_SPAN and all(_span(q, s, guess=False) is None for s in sups):
        return DONT_KNOW  # "Where did Sage grow up?" answered by "a backlog grows": no place, no answer
    return _compose(q, ev, sups)


def _names_in_context(q: Question, ev: Evidence, h: Hit) -> bool:
    """Is every name the question uses (a capitalized word after its first, not a speaker's)
    said in the hit's message or the one before it (what it answers)?"""
    asked = {w for w in _CAPITALIZED.findall(q.text.split(" ", 1)[-1]) if w not in _CALENDAR
             and not any(p.startswith(w.lower()) for p in ev.people)}  # "Mel" is Melanie
    if not asked:
        return True
    near = " ".join(ev.texts[max(0, h.ai - 1):h.ai + 1])
    return all(re.search(rf"\b{re.escape(w)}\b", near) for w in asked)


def _asks_own_name(q: Question) -> bool:
    """"Who am I?", "What is my name?"."""
    return q.persons == (ASKER,) and ((q.kind == AnswerType.PERSON and not q.focus) or set(q.focus) <= {"name"})


# -- choosing the evidence -----------------------------------------------------------------------

def _select(q: Question, ev: Evidence, hits: list[Hit]) -> list[Hit]:
    best = _latest(q, ev, hits)
    if q.kind == AnswerType.LIST:
        share, most = LIST_SHARE, MAX_LIST
    elif q.kind in (AnswerType.TEXT, AnswerType.REASON):
        share, most = EXTRA_SHARE, 2
    else:
        share, most = 1.0, 1
    chosen: list[Hit] = []
    seen: set[str] = set()
    for h in [best, *(h for h in hits if h is not best)]:
        if len(chosen) >= most or h.score < share * best.score:
            break
        text = ev.sentence(h.ai, h.si).text
        if text in seen or (chosen and q.kind == AnswerType.LIST and (h.own < share * best.own or h.about < best.about)):
            continue  # a further item must match on its own words and be as much about the person
        if h is not best and (best is not hits[0] or _updates(ev, best)) and _restates(best, h):
            continue  # what the newest statement replaced
        seen.add(text)
        chosen.append(h)
    if q.kind in (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME, AnswerType.NUMBER, AnswerType.DURATION) \
            and _unnamed(_span(q, _support(q, ev, best))):
        second = _second_hop(q, ev, best)
        if second is not None:
            chosen.append(second)
    return chosen


def _latest(q: Question, ev: Evidence, hits: list[Hit]) -> Hit:
    """The best hit, or a later statement of the same fact: a hit nearly as good
    (``LATEST_SHARE``), about the person as much, holding the same terms of the question and a
    span of the asked type, said later in the conversation (in other words: "we're up to 75
    testers now" holds half the terms of "we have 35 testers signed up"). A later statement replaces an
    earlier one ("my manager is now Rosa" after "my manager is Marcus")."""
    best = hits[0]
    typed = q.kind in (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME, AnswerType.NUMBER, AnswerType.DURATION)
    if not best.terms or not (typed or q.kind == AnswerType.TEXT):
        return best  # events recur (each "when" has its own answer); states change
    later = [h for h in hits[1:] if h.about >= best.about and _restates(h, best)
             and (h.score >= (UPDATE_SHARE if _updates(ev, h) else LATEST_SHARE) * best.score if typed
                  else h.score >= UPDATE_SHARE * best.score and _updates(ev, h))  # "what is X?": said to change
             and (not typed or _span(q, _support(q, ev, h), guess=False) is not None)]
    return max(later, key=lambda h: (h.ai, h.si)) if later else best


def _updates(ev: Evidence, h: Hit) -> bool:
    """Does the hit's sentence say it changes something ("is now", "moved", "changed to")?"""
    return bool(_UPDATE.search(ev.sentence(h.ai, h.si).text))


def _restates(later: Hit, earlier: Hit) -> bool:
    """Is ``later`` said after ``earlier`` and about the same thing (half its terms or more)?"""
    return (later.ai, later.si) > (earlier.ai, earlier.si) and 2 * len(later.terms & earlier.terms) >= len(earlier.terms)


def _unnamed(span: str | None) -> bool:
    """No span, or only a reference to one ("my home country"): another sentence may name it."""
    return span is None or bool(_REFERENCE.match(span))


def _second_hop(q: Question, ev: Evidence, first: Hit) -> Hit | None:
    """A sentence that shares a rare term with ``first`` (not one of the question's) and holds
    the span the question wants: two sentences joined by an entity they share."""
    s = ev.sentence(first.ai, first.si)
    bridge = {t: 1.0 for t in s.terms if t not in q.focus}
    if not bridge:
        return None
    hop = Question(q.text, q.kind, {**bridge, **{t: 0.5 * w for t, w in q.focus.items()}}, q.persons, q.item)
    hits, _ = ev.rank(hop, limit=10)
    for h in hits:
        if (h.ai, h.si) == (first.ai, first.si):
            continue
        sup = _support(q, ev, h)
        if not _unnamed(_span(q, sup)) and (q.kind != AnswerType.PLACE or _place_said(q, sup)):
            return h  # a place answers a place question, not a name beside it
    return None


# -- saying it -----------------------------------------------------------------------------------

def _best_clause(q: Question, text: str, anchor: date | None) -> str:
    """The clause of ``text`` that carries the question's terms (and, for a typed question, a
    span of its type): the whole sentence when no one clause holds all it matched, or when it is
    short and the question wants free text."""
    typed = q.kind not in (AnswerType.TEXT, AnswerType.REASON, AnswerType.LIST)
    parts = clauses(text, subjects=True)
    if len(parts) < 2:
        return text
    weights = _weights(q)
    wanted = set(terms(text)) & set(weights)
    if not wanted:
        return text

    def value(k: int) -> tuple[int, float, int]:
        ts = set(terms(parts[k]))
        typed_span = typed and _span(q, Support(Hit(0, 0, 0), parts[k], None, None, anchor), guess=False) is not None
        return (len(ts & wanted), typed_span + sum(weights.get(t, 0.0) for t in ts), -k)

    k = -max(value(k) for k in range(len(parts)))[2]
    if len(set(terms(parts[k])) & wanted) < len(wanted) and len(text.split()) <= LONG_SENTENCE:
        return text
    photo = re.search(r"\(a photo of [^)]*\)", text)
    if photo and photo.group(0) not in parts[k]:
        parts[k] = f"{parts[k]} {photo.group(0)}"  # what they showed stays with what they said
    if typed and _span(q, Support(Hit(0, 0, 0), parts[k], None, None, anchor), guess=False) is None \
            and _span(q, Support(Hit(0, 0, 0), text, None, None, anchor), guess=False) is not None:
        return text  # the clause lost the span it answers with ("Yesterday, | I went to a fair")
    return parts[k]


def _weights(q: Question) -> dict[str, float]:
    """The question's terms with the words related to them (at lower weight)."""
    out = {r: RELATED_WEIGHT * w for t, w in q.focus.items() for r in related(t)}
    if q.category:
        out.update({m: 1.0 for m in members(q.category)})
    return {**out, **q.focus}


def _support(q: Question, ev: Evidence, h: Hit) -> Support:
    """The hit as it will be said: its best clause, or for free-text answers its passage (the
    sentence a pronoun at its start refers back to, the sentence, and the one after it)."""
    sents = ev.analyses[h.ai].sentences
    s = sents[h.si]
    own = [k for k in range(len(sents)) if sents[k].speaker == s.speaker]
    before = [k for k in own if k < h.si and not is_fluff(sents[k]) and not sents[k].text.endswith("?")]
    after = [k for k in own if k > h.si and not is_fluff(sents[k]) and not sents[k].text.endswith("?")]
    picked = [h.si]
    if before and before[-1] == h.si - 1 and _ANAPHOR.match(s.text):
        picked.insert(0, before[-1])
    passage = q.kind in (AnswerType.TEXT, AnswerType.REASON, AnswerType.YES_NO)
    short = len(s.terms) < 4 and (passage or _span(q, Support(h, s.text, None, None, None), guess=False) is None)
    if after and after[0] == h.si + 1 and (passage or short) and _continues(q, [sents[k] for k in picked], sents[after[0]]):
        picked.append(after[0])
        words = sum(len(sents[k].text.split()) for k in picked)
        for k in after[1:]:  # free text: the rest of what they say on it, while it stays short
            if not passage or k != picked[-1] + 1 or words + len(sents[k].text.split()) > PASSAGE_WORDS \
                    or not _continues(q, [sents[j] for j in picked], sents[k]):
                break
            picked.append(k)
            words += len(sents[k].text.split())
    texts = [_tidy(sents[k].text) for k in picked]
    if len(picked) == 1:
        texts = [_best_clause(q, texts[0], ev.anchor(h.ai, h.si))]
    text = " ".join(_capital(LEAD.sub("", t).strip() or t) for t in texts)
    nearby = " ".join(sents[k].text for k in own if abs(k - h.si) == 1)
    return Support(h, text, ev.speaker(h.ai, h.si), ev.addressee(h.ai, h.si), ev.anchor(h.ai, h.si), nearby,
                   tuple((h.ai, k) for k in picked), " ".join(_tidy(sents[k].text) for k in own))


def _continues(q: Question, said: list[Sentence], nxt: Sentence) -> bool:
    """Does sentence ``nxt`` belong with what ``said`` says? It does when it refers back or links
    on ("It ...", "And ..."); not when it changes the subject ("Unrelated, but ...", "By the
    way"), or when the one sentence said already holds every term of the question and is a full
    statement; otherwise it does (what one says next usually goes on with the same thing)."""
    if _ANAPHOR.match(nxt.text) or _LINK.match(nxt.text):
        return True
    if _NEW_TOPIC.match(nxt.text):
        return False
    # the one sentence said says it all ("On weekends I mostly go sailing to clear my head.")
    return not (len(said) == 1 and set(q.focus) <= set(said[0].terms) and len(said[0].terms) >= COMPLETE_TERMS
                and not _ANAPHOR.match(said[0].text))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tidy(text: str) -> str:
    """A shared photo said in words: "[shares a photo: a photo of X]" -> "(a photo of X)"."""
    return _PHOTO.sub(lambda m: f"(a photo of {m.group(1).strip()})", text)


def _told(sup: Support, notes: bool = True) -> str:
    """The support's clause told to the asker: dates resolved, first person turned round."""
    text = sup.text
    if notes and sup.anchor is not None:
        for d in sorted(date_spans(text, sup.anchor), key=lambda d: -text.find(d.phrase)):
            at = text.find(d.phrase)
            if d.relative and at >= 0 and d.value not in text:
                text = f"{text[:at + len(d.phrase)]} ({d.value}){text[at + len(d.phrase):]}"
    text = _turned(sup, text).strip()
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?" else text + "."


def _turned(sup: Support, text: str) -> str:
    """``text`` (said by the support's speaker) from the asker's side: "I" is "you" when the
    asker said it, the speaker's name when someone else did."""
    if sup.speaker == ASKER:
        return to_second_person(text)
    if sup.speaker:
        return to_third_person(text, sup.speaker, sup.addressee)
    return the_user_to_you(text) if "user" in text else text


def _span(q: Question, sup: Support, *, guess: bool = True) -> str | None:
    """The span of the asked type in the support, as it will be said. A date question with no
    date in the support is answered by the day it was said (``guess``: "around 8 May 2023")."""
    kind = q.item if q.kind == AnswerType.LIST and q.item else q.kind
    text = sup.text
    if kind in (AnswerType.DATE, AnswerType.TIME):
        found = date_spans(text, sup.anchor) or date_spans(sup.nearby, sup.anchor)
        if found:
            d = found[0]
            if q.text.lower().startswith("how long ago") and d.relative:
                return f"{d.phrase} ({d.value})"
            return d.value
        return f"around {fmt_date(sup.anchor)}" if sup.anchor and guess else None
    if kind == AnswerType.DURATION:
        found = durations(text)
        return _lower_first(found[0].strip()) if found else None
    if kind == AnswerType.NUMBER:
        found = [n for n in numbers(text) if not re.fullmatch(r"(?:19|20)\d\d", n)]
        return _lower_first(found[0]) if found else None
    if kind == AnswerType.PERSON:
        found = [n for n in names(text, _known(q)) if n.lower() not in q.persons and not _asked(q, n)
                 and n.lower() != (sup.speaker or "").lower()]
        return found[0] if found else None
    if kind == AnswerType.NAME:
        known = _known(q) | {(sup.speaker or "").lower()}
        found = titles(text, known) or titles(sup.nearby, known) or titles(sup.message, known)
        text = f"{text} {sup.nearby} {sup.message}"
        return f'"{found[0]}"' if found and f'"{found[0]}"' in text.replace("“", '"').replace("”", '"') \
            else (found[0] if found else None)
    if kind == AnswerType.PLACE:
        found = places(text, _known(q))
        found = [p for p in found if not _asked(q, p)]
        named = [n for n in names(text, _known(q)) if n.lower() not in q.persons and not _asked(q, n)
                 and n.lower() != (sup.speaker or "").lower()]
        if not found and not named:
            near = _WHERE_PHRASE.search(text)  # "in my slipper": where, said by whose it is
            return near.group(0) if near else None
        if not found or (named and not found[0][:1].isupper() and found[0].split()[-1] not in named):
            return named[0]  # a name ("Sweden") before a common noun ("my home country")
        m = re.search(rf"\b(in|to|from|at|near|around)\s+(?:the\s+)?{re.escape(found[0])}", text)
        return m.group(0) if m and not found[0].lower().startswith(("in ", "at ", "to ", "on ")) else found[0]
    return None


def _place_said(q: Question, sup: Support) -> bool:
    return any(not _asked(q, p) for p in places(sup.text, _known(q)))


def _asked(q: Question, name: str) -> bool:
    """Does the question itself name ``name`` ("Where did Oliver hide his bone?": not "Oliver's")?"""
    return re.sub(r"['’]s$", "", name).lower() in q.text.lower()


def _lower_first(span: str) -> str:
    """"Seven years" taken from a sentence's start, said inside a sentence: "seven years"."""
    first = span.split()[0]
    return span[:1].lower() + span[1:] if first.isalpha() and first[1:].islower() else span


def _known(q: Question) -> frozenset[str]:
    return frozenset(q.persons)


def _compose(q: Question, ev: Evidence, sups: list[Support]) -> str:
    pairs = [(s, _told(s)) for s in sups]
    pairs = [(s, t) for k, (s, t) in enumerate(pairs) if t not in [u for _, u in pairs[:k]]]  # told once
    sups, told = [s for s, _ in pairs], [t for _, t in pairs]
    if q.kind == AnswerType.YES_NO:
        negative = bool(_NEGATION.search(sups[0].text)) != bool(_NEGATION.search(q.text))
        lead = ("Likely " if q.likely else "") + ("no" if negative else "yes")
        first = told[0] if told[0].split()[0] in ("I", "I'm") or told[0][:2].isupper() \
            else told[0][:1].lower() + told[0][1:] if told[0].split()[0].lower() in STOPWORDS else told[0]
        return f"{lead[:1].upper()}{lead[1:]}: {first}"
    if q.kind == AnswerType.LIST:
        return _list(q, sups, told)
    if q.kind == AnswerType.PLACE and not _place_said(q, sups[0]) and any(_place_said(q, s) for s in sups):
        k = next(k for k, s in enumerate(sups) if _place_said(q, s))  # a place said beats a bare name
        sups, told = [sups[k], *sups[:k], *sups[k + 1:]], [told[k], *told[:k], *told[k + 1:]]
    span = _span(q, sups[0])
    if _unnamed(span) and len(sups) > 1 and not _unnamed(_span(q, sups[1])):
        span = _span(q, sups[1])
        sups = [sups[1], sups[0], *sups[2:]]
        told = [told[1], told[0], *told[2:]]
    if span is None or q.kind in (AnswerType.TEXT, AnswerType.REASON):
        return " ".join(told)
    if span in sups[0].text and set(q.focus) <= set(terms(sups[0].text)) and len(sups) == 1:
        return told[0]  # the sentence itself says it, in the words asked about ("You fly to Lisbon on 12 May.")
    span = _turned(sups[0], span)
    lead = statement(q.text, q.kind, span) or f"{span[:1].upper()}{span[1:]}."
    said = set(terms(lead))
    rest = [t for t in told if not _repeats(t, said)]
    return " ".join([lead, *rest])


def _repeats(sentence: str, said: set[str]) -> bool:
    """Does ``sentence`` say nothing the words ``said`` do not (80% of its terms)?"""
    ts = set(terms(sentence))
    return not ts or len(ts & said) >= 0.8 * len(ts)


def _list(q: Question, sups: list[Support], told: list[str]) -> str:
    items = []
    for s in sups:
        span = _span(q, s)
        if span and span.lower() not in (i.lower() for i in items):
            items.append(span)
    body = "; ".join(t.rstrip(".!?") for t in told) + "."
    if q.item in (AnswerType.PLACE, AnswerType.PERSON) and items:
        head = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        return f"{head[:1].upper()}{head[1:]}. {body}"
    return body
