"""What the simulated Claude says: answers, summaries and tool calls, from the payload only.

``respond(request)`` takes the Messages API body (normalized by the server, or raw) and
returns a ``Reply``. It never invents facts: an answer quotes the 1-3 payload sentences that
best match the question (BM25 over the payload's sentences, light stemming, IDF smoothed by
a background of ``BACKGROUND`` sentences, extra weight on names and numbers, a bonus for
dated sentences on temporal questions, and a penalty when a question about a named speaker
would be answered from someone else's words). When the best sentence shares no rare word
with the question, or scores under ``MIN_FRACTION`` of what the question could score at
best, the reply is "I don't know". Replies are pure functions of the request.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from convolab.dates import fmt_date, parse_date, resolve_relative
from convolab.sim.text import (
    QUESTION_WORDS,
    Analysis,
    analyze,
    numbers,
    snake,
    split_sentences,
    terms,
    words,
)

SUMMARY_MARKER = "[convolab:summarize]"
DONT_KNOW = "I don't know: that isn't mentioned in our conversation."
K1, B = 1.2, 0.5
BACKGROUND = 50          # pseudo-sentences added to N so tiny payloads still have sane IDFs
MIN_FRACTION = 0.35       # best score / best achievable score needed to answer
RARE_SHARE = 0.03        # a term is rare when at most this share of sentences (or 3) hold it
ATTRIBUTION_PENALTY = 0.35
NAME_WEIGHT, NUMBER_WEIGHT = 1.5, 1.5
TEMPORAL_BONUS = 1.3
QUESTION_PENALTY = 0.6   # a sentence that asks is rarely the fact itself

_QUESTION_START = re.compile(
    r"^\s*(what|when|where|who|whom|whose|why|how|which|do|does|did|is|are|was|were|can|could|"
    r"would|will|should|has|have|had|tell me|remind me|list|name|describe|explain|recall)\b", re.I)
_TEMPORAL = re.compile(r"^\s*when\b|\bwhat (year|month|date|day|time)\b|\bhow long\b|\bago\b|"
                       r"\bhow many (years|months|weeks|days)\b", re.I)
_SUMMARY_ASK = re.compile(r"^\s*summari[sz]e|summari[sz]e (the|this|our) conversation|summary of", re.I)
_REQUIREMENT = re.compile(r"\b(must|need|needs|prefer|prefers|always|never|don't|do not|please|"
                          r"should|require|required)\b", re.I)
_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9, "ten": 10}


@dataclass
class Reply:
    """What the model says: content blocks and why it stopped."""

    blocks: list[dict[str, Any]]
    stop_reason: str = "end_turn"


# -- reading the request ---------------------------------------------------------------------

def _block_texts(content: Any) -> list[str]:
    """Texts in a content value: text blocks, tool results, compaction and document text."""
    if isinstance(content, str):
        return [content] if content.strip() else []
    out: list[str] = []
    for b in content or []:
        if isinstance(b, str):
            out.append(b)
        elif isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str):
            out.append(b["text"])
        elif not isinstance(b, dict):
            continue
        elif b.get("type") == "tool_result":
            out.extend(_block_texts(b.get("content")))
        elif b.get("type") == "compaction" and isinstance(b.get("content"), str):
            out.append(b["content"])
        elif b.get("type") == "document" and isinstance((b.get("source") or {}).get("data"), str) \
                and (b["source"].get("media_type") or "text/plain").startswith("text"):
            out.append(b["source"]["data"])
    return [t for t in out if t.strip()]


def _only_tool_results(content: Any) -> bool:
    if not isinstance(content, list) or not content:
        return False
    kinds = {b.get("type") for b in content if isinstance(b, dict)}
    return "tool_result" in kinds and "text" not in kinds


@dataclass
class _Parts:
    query: str
    tool_results: bool
    system: list[str]
    history: list[str]  # earlier messages' texts, in order (tool results included)
    last: list[str]     # the last user message's texts


def _parts(request: dict[str, Any]) -> _Parts:
    system = request.get("system") or []
    system_texts = _block_texts(system)
    msgs = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    last_idx = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=-1)
    history: list[str] = []
    for m in msgs[:last_idx] if last_idx >= 0 else msgs:
        content = m.get("content")
        if type(content) is str:  # the common case, kept fast: a history holds hundreds of messages
            if content and not content.isspace():
                history.append(content)
        else:
            history.extend(_block_texts(content))
    if last_idx < 0:
        return _Parts("", False, system_texts, history, [])
    content = msgs[last_idx].get("content")
    last = _block_texts(content)
    if _only_tool_results(content):
        return _Parts("", True, system_texts, history, last)
    plain = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"] \
        if isinstance(content, list) else [content if isinstance(content, str) else ""]
    plain = [t for t in plain if isinstance(t, str) and t.strip()]
    query = plain[-1].strip() if plain else ""
    extra = [t for t in last if t not in plain]  # tool results beside the question are material
    if len(plain) > 1 and not any(SUMMARY_MARKER in t for t in plain):
        # several text blocks (quoted excerpts, then the message): the last block is the
        # message, the others are material, as they would be for a reader
        extra = [*extra, *(x for t in plain[:-1] for x in re.split(r"\n\s*\n", t) if x.strip())]
    elif plain:
        query = "\n\n".join(plain).strip()
    paragraphs = [x.strip() for x in re.split(r"\n\s*\n", query) if x.strip()]
    if len(paragraphs) > 1 and SUMMARY_MARKER not in query and _is_question(paragraphs[-1]):
        # merged user messages (an unanswered one sent again with the next): what came before
        # the final question is material, as it would be for a reader
        query, extra = paragraphs[-1], [*extra, *paragraphs[:-1]]
    return _Parts(query, False, system_texts, history + extra, last)


# -- ranking -----------------------------------------------------------------------------------

@dataclass
class _Hit:
    score: float
    text: str
    speaker: str | None
    header: str | None
    order: tuple[int, int]


def _is_question(text: str) -> bool:
    return "?" in text or bool(_QUESTION_START.match(text))


def _rank(query: str, texts: list[str]) -> tuple[list[_Hit], bool]:
    """Sentences of ``texts`` ranked against ``query``; second value: is any hit good enough."""
    analyses: list[Analysis] = [analyze(t) for t in texts]
    n = sum(len(a.sentences) for a in analyses)
    if not n:
        return [], False
    avg = max(1.0, sum(a.lengths for a in analyses) / n)
    speakers = {s.lower(): s for a in analyses for s in a.speakers}
    qwords = words(query)
    asked = {w.lower() for w in (re.sub(r"['’]s$", "", x) for x in qwords) if w.lower() in speakers}
    asked_terms = set(terms(" ".join(asked)))
    weights: dict[str, float] = {}
    for i, w in enumerate(qwords):
        for t in terms(w, QUESTION_WORDS):
            if t in asked_terms:
                continue
            weight = 1.0
            if w[:1].isupper() and (i > 0 or w.lower() in speakers):
                weight = NAME_WEIGHT
            elif w[:1].isdigit():
                weight = NUMBER_WEIGHT
            weights[t] = max(weights.get(t, 0.0), weight)
    if not weights:
        return [], False
    postings: dict[str, list[tuple[int, Analysis, tuple[tuple[int, int], ...]]]] = {t: [] for t in weights}
    for ai, a in enumerate(analyses):  # one pass over the texts: the query terms' postings
        index = a.index
        for t in weights:
            found = index.get(t)
            if found:
                postings[t].append((ai, a, found))
    df = {t: sum(len(found) for _, _, found in postings[t]) for t in weights}
    idf = {t: math.log(1 + (n + BACKGROUND - df[t] + 0.5) / (df[t] + 0.5)) for t in weights}
    rare_df = max(8, RARE_SHARE * n)
    temporal = bool(_TEMPORAL.search(query))
    scores: dict[tuple[int, int], float] = {}
    rare_hit: set[tuple[int, int]] = set()
    for t, w in weights.items():
        rare = df[t] <= rare_df
        for ai, a, found in postings[t]:
            for si, tf in found:
                length = len(a.sentences[si].terms)
                key = (ai, si)
                scores[key] = scores.get(key, 0.0) + w * idf[t] * tf * (K1 + 1) / (
                    tf + K1 * (1 - B + B * length / avg))
                if rare:
                    rare_hit.add(key)
    best_possible = sum(w * idf[t] for t, w in weights.items())
    hits = []
    for (ai, si), sc in scores.items():
        s = analyses[ai].sentences[si]
        if asked and not ((s.speaker or "").lower() in asked or asked_terms & set(s.terms)):
            sc *= ATTRIBUTION_PENALTY
        if temporal and s.dated:
            sc *= TEMPORAL_BONUS
        if s.text.endswith("?"):
            sc *= QUESTION_PENALTY
        hits.append(_Hit(sc, s.text, s.speaker, None, (ai, si)))
    hits.sort(key=lambda h: (-h.score, h.order))
    ok = bool(hits) and hits[0].order in rare_hit and hits[0].score >= MIN_FRACTION * best_possible
    for h in hits[:3]:
        h.header = _header_for(analyses, *h.order)
        h.text = _with_followers(analyses, *h.order)
    return hits, ok


def _with_followers(analyses: list[Analysis], ai: int, si: int) -> str:
    """The sentence, plus what follows it when it asks or says little (the answer comes next)."""
    sents = analyses[ai].sentences
    out, cur, speaker = [sents[si].text], sents[si], sents[si].speaker
    for _ in range(2):
        if not (cur.text.endswith("?") or len(cur.terms) < 6):
            break
        if si + 1 < len(analyses[ai].sentences):
            si += 1
        elif ai + 1 < len(analyses) and analyses[ai + 1].sentences:
            ai, si = ai + 1, 0
        else:
            break
        cur = analyses[ai].sentences[si]
        out.append(f"{cur.speaker}: {cur.text}" if cur.speaker and cur.speaker != speaker else cur.text)
        speaker = cur.speaker
    return " ".join(out)


def _header_for(analyses: list[Analysis], ai: int, si: int) -> str | None:
    """The nearest date header at or before sentence ``si`` of message ``ai``."""
    for a_i in range(ai, -1, -1):
        sents = analyses[a_i].sentences
        for s_i in range(si if a_i == ai else len(sents) - 1, -1, -1):
            if sents[s_i].header:
                return sents[s_i].header
    return None


def _render(hit: _Hit, temporal: bool) -> str:
    text = hit.text if not hit.speaker else f"{hit.speaker}: {hit.text}"
    anchor = parse_date(hit.header) if hit.header else None
    notes = []
    if anchor and (temporal or resolve_relative(hit.text, anchor)):
        notes.append(f"on {fmt_date(anchor)}")
        notes.extend(resolve_relative(hit.text, anchor))
    return f"{text} ({'; '.join(notes)})" if notes else text


def _answer(parts: _Parts) -> str:
    texts = parts.system + parts.history
    hits, ok = _rank(parts.query, texts)
    if not ok:
        return DONT_KNOW
    temporal = bool(_TEMPORAL.search(parts.query))
    best = hits[0].score
    chosen, seen = [], set()
    for h in hits[:3]:
        if h.score >= 0.6 * best and h.text not in seen:
            seen.add(h.text)
            rendered = _render(h, temporal)
            if not any(rendered in c or c in rendered for c in chosen):  # no sentence twice
                chosen.append(rendered)
    return "From our conversation: " + " ".join(chosen)


def _acknowledge(text: str) -> str:
    key, seen = [], set()
    for w in words(text):
        if terms(w, QUESTION_WORDS) and w.lower() not in seen:
            seen.add(w.lower())
            key.append(w)
    return "Noted: " + ", ".join(key[:8]) + "." if key else "Noted."


def _from_tool_results(parts: _Parts) -> str:
    material = " ".join(parts.last).strip()
    if not material:
        return "The tool returned no content."
    return "Here is what the tool returned: " + summarize([material], max_words=80)


# -- summaries -------------------------------------------------------------------------------

def _priority(sentence: str) -> float:
    score = 0.0
    if numbers(sentence):
        score += 2
    if parse_date(sentence) or re.search(r"\b(19|20)\d{2}\b", sentence):
        score += 2
    if _REQUIREMENT.search(sentence):
        score += 2
    ws = words(sentence)
    score += min(2, sum(1 for w in ws[1:] if w[:1].isupper()))
    return score + min(len(terms(sentence)), 10) / 10


def summarize(texts: list[str], max_words: int = 200, *, max_sentences: int | None = None) -> str:
    """An extractive summary of ``texts``: the most informative sentences, in original order.

    Only sentences with names, numbers, dates or requirements ("must", "never", "please",
    ...) are kept (any sentence when none has one), the richest first; near-duplicates are dropped; at most ``max_words`` words and
    ``max_sentences`` sentences are kept.
    """
    sents: list[str] = []
    for t in texts:
        sents.extend(s for s in split_sentences(t) if SUMMARY_MARKER not in s)
    candidates = [(i, s, frozenset(terms(s))) for i, s in enumerate(sents)]
    candidates = [c for c in candidates if c[2]]
    salient = [c for c in candidates if _priority(c[1]) >= 1.5]  # has a name/number/date/requirement
    ranked = sorted(salient or candidates, key=lambda c: (-_priority(c[1]), c[0]))
    budget, chosen, chosen_terms = max(1, max_words), [], []
    for i, s, ts in ranked:  # near-duplicates are checked against what is kept only (a few dozen)
        if max_sentences is not None and len(chosen) >= max_sentences:
            break
        if any(len(ts & k) >= 0.8 * max(len(ts), len(k)) for k in chosen_terms):
            continue
        n = len(s.split())
        if n <= budget:
            chosen.append((i, s))
            chosen_terms.append(ts)
            budget -= n
        elif not chosen:
            chosen.append((i, " ".join(s.split()[:budget])))
            break
        if budget <= 0:
            break
    return " ".join(s for _, s in sorted(chosen))


def _is_summary_request(parts: _Parts) -> bool:
    return any(SUMMARY_MARKER in t for t in parts.system) or SUMMARY_MARKER in parts.query \
        or bool(_SUMMARY_ASK.search(parts.query))


def _summary_limits(instruction: str) -> tuple[int, int | None]:
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


def _summary(parts: _Parts) -> str:
    instruction = [s for s in split_sentences(parts.query)
                   if SUMMARY_MARKER in s or _SUMMARY_ASK.search(s) or re.search(r"\b(words|sentences)\b", s)]
    material = [s for s in split_sentences(parts.query) if s not in instruction]
    texts = ["\n".join(material)] if len(" ".join(material).split()) >= 20 else [*parts.history, "\n".join(material)]
    max_words, max_sents = _summary_limits(" ".join(instruction + parts.system))
    out = summarize([t for t in texts if t.strip()], max_words=max_words, max_sentences=max_sents)
    return out or "There is nothing to summarize yet."


# -- tools -----------------------------------------------------------------------------------

def _tool_terms(tool: dict[str, Any]) -> tuple[set[str], set[str]]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(tool.get("name", ""))).replace("_", " ").replace("-", " ")
    return set(terms(name)), set(terms(str(tool.get("description", ""))))


def _pick_tool(request: dict[str, Any], parts: _Parts) -> dict[str, Any] | None:
    tools = [t for t in request.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("input_schema"), dict)]
    choice = request.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type", "auto") if isinstance(choice, dict) else str(choice)
    if not tools or kind == "none":
        return None
    if kind == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    q = set(terms(parts.query))

    def match(tool: dict[str, Any]) -> tuple[float, int]:
        name, desc = _tool_terms(tool)
        return (len(q & name) / max(1, len(name)) + len(q & desc) / 10, -tools.index(tool))

    best = max(tools, key=match)
    if kind == "any":
        return best
    if parts.tool_results or _is_summary_request(parts):
        return None
    name, desc = _tool_terms(best)
    strong = (name and len(q & name) / len(name) >= 0.5) or len(q & desc) >= 3
    return best if strong else None


@dataclass
class _Ctx:
    query: str
    material: list[str]  # texts to fill from (messages; instruction sentences removed)
    sentences: list[str]


_DECISION = re.compile(r"\b(decided|decide|will|going to|chose|choose|settled on|let's go with)\b", re.I)
_PREFERENCE = re.compile(r"\b(prefer|prefers|like|likes|love|loves|favorite|favourite|hate|hates|enjoy)\b", re.I)
_PROFILE = re.compile(r"\b(I'm|I am|my name|I work|I live)\b", re.I)
_INSTRUCTION = re.compile(r"\b(extract|schema|json|fill in|record the|tool)\b", re.I)
_KV = [
    (re.compile(r"\b(?i:my name is) ([A-Z][\w'-]*(?: [A-Z][\w'-]*)?)"), "name"),
    (re.compile(r"\bI live in ([A-Z][\w'-]*(?: [A-Z][\w'-]*)*)"), "location"),
    (re.compile(r"\bI work (?:at|for) ([A-Z][\w&'-]*(?: [A-Z][\w&'-]*)*)"), "employer"),
    (re.compile(r"\bI work as (?:an? )?([\w -]+?)(?:[.,;!]|$| and )"), "occupation"),
    (re.compile(r"\bI(?:'m| am) (?:an? )([\w -]+?)(?:[.,;!]|$| and | at | in )"), "occupation"),
    (re.compile(r"\bI(?:'m| am) (\d+)(?: years old)?\b"), "age"),
]
_MY_X_IS = re.compile(r"\b(?:my|our|the) ((?:favou?rite )?[a-z]+(?: [a-z]+)?) (?:is|are) (.+?)(?= and |[.,;!?](?:\s|$)|$)", re.I)
_PREF_OBJ = re.compile(r"\bI (prefer|like|love|enjoy|hate)s? ([^.,;!?]+)", re.I)
_PROFILE_KEYS = {"name", "age", "job", "occupation", "location", "city", "email", "employer", "role",
                 "company", "country", "hometown", "title"}


def _pairs(ctx: _Ctx, section: str) -> dict[str, str]:
    """Key/value pairs for an object section (profile, preferences or task context)."""
    out: dict[str, str] = {}
    for s in ctx.sentences:
        if section == "profile":
            for rx, key in _KV:
                m = rx.search(s)
                if m:
                    out.setdefault(key, m.group(1).strip())
        for m in _MY_X_IS.finditer(s):
            key, val = snake(m.group(1)), m.group(2).strip()
            is_pref = key.startswith(("favorite", "favourite"))
            is_prof = key in _PROFILE_KEYS
            if (section == "profile" and is_prof) or (section == "preferences" and is_pref) or (
                    section == "context" and not is_pref and not is_prof):
                out.setdefault(key, val)
        if section == "preferences":
            for m in _PREF_OBJ.finditer(s):
                key = snake(m.group(1)) + "s"
                out[key] = f"{out[key]}; {m.group(2).strip()}" if key in out else m.group(2).strip()
    return out


def _unanswered(ctx: _Ctx) -> list[str]:
    out = []
    for i, s in enumerate(ctx.sentences):
        if not s.rstrip().endswith("?"):
            continue
        ts = set(terms(s))
        later = [set(terms(x)) for x in ctx.sentences[i + 1:] if not x.rstrip().endswith("?")]
        if not any(len(ts & x) >= max(1, len(ts) // 2) for x in later):
            out.append(s)
    return out


def _best_sentences(ctx: _Ctx, hint: str, k: int = 3) -> list[str]:
    hits, _ = _rank(f"{hint} {ctx.query}", ctx.material)
    return [h.text for h in hits[:k]]


def _section(key: str) -> str | None:
    k = key.lower()
    for word, sec in (("profile", "profile"), ("preference", "preferences"), ("decision", "decisions"),
                      ("question", "questions"), ("context", "context"), ("task", "context")):
        if word in k:
            return sec
    return None


def _fill(schema: Any, key: str, ctx: _Ctx, depth: int = 0) -> Any:
    """A value valid for ``schema`` (a JSON Schema subset), taken from the payload when possible."""
    if not isinstance(schema, dict):
        return ctx.query or "unknown"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        q = set(terms(f"{ctx.query} {key}"))
        return max(schema["enum"], key=lambda v: (len(q & set(terms(str(v)))), -schema["enum"].index(v)))
    for combo in ("anyOf", "oneOf"):
        if schema.get(combo):
            return _fill(schema[combo][0], key, ctx, depth)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    hint = f"{key.replace('_', ' ')} {schema.get('description', '')}"
    section = _section(key)
    if kind == "object":
        props = schema.get("properties") or {}
        if props or depth > 3:
            return {name: _fill(sub, name, ctx, depth + 1) for name, sub in props.items()}
        pairs = _pairs(ctx, section) if section in ("profile", "preferences", "context") else {}
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return {}
        if isinstance(extra, dict) and extra.get("type", "string") != "string":
            return {k: _fill(extra, k, ctx, depth + 1) for k in pairs}
        return pairs
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        item_kind = items.get("type") if isinstance(items, dict) else None
        if item_kind == "string" and not items.get("enum") and section in ("decisions", "questions", "preferences"):
            rx = {"decisions": _DECISION, "preferences": _PREFERENCE}.get(section)
            vals = _unanswered(ctx) if section == "questions" else [s for s in ctx.sentences if rx.search(s)]
        elif item_kind == "string" and not items.get("enum"):
            vals = _best_sentences(ctx, hint)
        else:
            vals = [_fill(items, key, ctx, depth + 1)] if depth <= 3 else []
        vals = [_fit_string(v, items) if item_kind == "string" else v for v in vals]
        while len(vals) < lo:
            vals.append(_fill(items, f"{key} {len(vals) + 1}", ctx, depth + 1))
        return vals[:hi] if hi is not None else vals
    if kind in ("number", "integer"):
        found = [x for s in [*_best_sentences(ctx, hint, 1), ctx.query] for x in numbers(s)]
        return _clamp(float(found[0].replace(",", "")) if found else 0.0, schema, kind == "integer")
    if kind == "boolean":
        best = _best_sentences(ctx, hint, 1)
        return not (best and re.search(r"\b(no|not|never|don't|doesn't|isn't|won't)\b", best[0], re.I))
    if kind == "null":
        return None
    k = key.lower()
    if k in ("query", "q", "search", "search_query", "question", "keywords", "prompt", "input", "text"):
        value = ctx.query
    else:
        best = _best_sentences(ctx, hint, 1)
        value = best[0] if best else ctx.query
    return _fit_string(value or "unknown", schema)


def _clamp(val: float, schema: dict[str, Any], integer: bool) -> float | int:
    """``val`` moved inside the schema's (inclusive or exclusive) bounds."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if integer:
        lows = [math.ceil(lo)] if lo is not None else []
        lows += [math.floor(xlo) + 1] if xlo is not None else []
        highs = [math.floor(hi)] if hi is not None else []
        highs += [math.ceil(xhi) - 1] if xhi is not None else []
        v = round(val)
        v = max([v, *lows])
        return min([v, *highs])
    if lo is not None:
        val = max(val, lo)
    if hi is not None:
        val = min(val, hi)
    bottom = xlo if xlo is not None else lo
    top = xhi if xhi is not None else hi
    if (xlo is not None and val <= xlo) or (xhi is not None and val >= xhi):
        if bottom is not None and top is not None:
            val = (bottom + top) / 2
        else:
            val = bottom + 1 if bottom is not None else top - 1
    return float(val)


def _fit_string(value: str, schema: Any) -> str:
    if not isinstance(schema, dict):
        return value
    lo, hi = schema.get("minLength", 0), schema.get("maxLength")
    if len(value) < lo:
        value = value + "." * (lo - len(value))
    return value[:hi] if hi is not None else value


def _tool_use(tool: dict[str, Any], request: dict[str, Any], parts: _Parts) -> dict[str, Any]:
    material = [t for t in [*parts.history, *parts.last] if t.strip()]
    sentences = [s for t in material for s in split_sentences(t) if not _INSTRUCTION.search(s)
                 and SUMMARY_MARKER not in s]
    ctx = _Ctx(parts.query or " ".join(parts.last)[:500], material, sentences)
    schema = tool["input_schema"]
    value = _fill(schema, "", ctx)
    if not isinstance(value, dict):
        value = {}
    digest = hashlib.blake2b(json.dumps(request, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()
    return {"type": "tool_use", "id": f"toolu_sim_{digest}", "name": tool["name"], "input": value}


# -- entry point -----------------------------------------------------------------------------

def respond(request: dict[str, Any]) -> Reply:
    """The simulated model's reply to a Messages API request body (normalized or raw)."""
    parts = _parts(request)
    tool = _pick_tool(request, parts)
    if tool is not None:
        return Reply([_tool_use(tool, request, parts)], "tool_use")
    if _is_summary_request(parts):
        text = _summary(parts)
    elif parts.tool_results:
        text = _from_tool_results(parts)
    elif not parts.query:
        text = "Hello! What would you like to talk about?"
    elif _is_question(parts.query):
        text = _answer(parts)
    else:
        text = _acknowledge(parts.query)
    return Reply([{"type": "text", "text": text}], "end_turn")


__all__ = ["DONT_KNOW", "SUMMARY_MARKER", "Reply", "respond", "summarize"]
