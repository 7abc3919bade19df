"""Tool calls: which tool the model calls, and an input for it that always validates against
the tool's JSON schema, filled from the payload (key/value facts for profile-like objects,
matching sentences for strings, numbers found near the matching words).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from convolab.sim.evidence import Evidence
from convolab.sim.facts import Fact, extract_facts, fact_field, fact_lines, looks_like_facts
from convolab.sim.questions import read_question
from convolab.sim.reading import SUMMARY_MARKER, Parts
from convolab.sim.text import numbers, snake, split_sentences, terms


def _tool_terms(tool: dict[str, Any]) -> tuple[set[str], set[str]]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(tool.get("name", ""))).replace("_", " ").replace("-", " ")
    return set(terms(name)), set(terms(str(tool.get("description", ""))))


def pick_tool(request: dict[str, Any], parts: Parts) -> dict[str, Any] | None:
    """The tool the model calls: the forced one, the best match for ``any``, or with ``auto``
    one whose name or description clearly matches the message (``None``: answer in text)."""
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
    if parts.tool_results or parts.is_summary_request:
        return None
    name, desc = _tool_terms(best)
    strong = (name and len(q & name) / len(name) >= 0.5) or len(q & desc) >= 3
    return best if strong else None


@dataclass
class _Ctx:
    query: str
    material: list[str]  # texts to fill from (messages; instruction sentences removed)
    sentences: list[str]

    @cached_property
    def facts(self) -> list[Fact]:
        """The facts a transcript states (``[]`` when the material is not one: no speaker labels)."""
        return extract_facts(self.material) if any(_LABEL.search(t) for t in self.material) else []


_LABEL = re.compile(r"^(?:User|Assistant|[A-Z][a-z]+): ", re.M)  # a transcript's speaker labels
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
    ev = Evidence([(t, "material") for t in ctx.material])
    hits, _ = ev.rank(read_question(f"{hint} {ctx.query}", ev.people), limit=k)
    return [ev.sentence(h.ai, h.si).text for h in hits]


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
        if looks_like_facts(items):
            vals = [_fact_item(items, f, ctx, depth + 1) for f in extract_facts(ctx.material)]
        elif item_kind == "string" and not items.get("enum") and section in ("decisions", "questions", "preferences"):
            rx = {"decisions": _DECISION, "preferences": _PREFERENCE}.get(section)
            vals = _unanswered(ctx) if section == "questions" else [s for s in ctx.sentences if rx.search(s)]
        elif item_kind == "string" and not items.get("enum") and ctx.facts:
            vals = fact_lines(ctx.facts, key, schema.get("description", ""))  # a memory's list: facts, told
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


def _fact_item(schema: dict[str, Any], fact: Fact, ctx: _Ctx, depth: int) -> dict[str, Any]:
    """One fact as an item of ``schema``: each property takes the fact field its name says."""
    out: dict[str, Any] = {}
    for name, sub in schema["properties"].items():
        field = fact_field(name)
        kind = sub.get("type") if isinstance(sub, dict) else None
        if field is None or (isinstance(sub, dict) and (sub.get("enum") or "const" in sub)):
            out[name] = _fill(sub, name, ctx, depth)
        elif kind in ("integer", "number"):
            out[name] = _clamp(float(fact.importance if field == "importance" else 0), sub, kind == "integer")
        else:
            out[name] = _fit_string(str(getattr(fact, field)), sub)
    return out


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
    if hi is None or len(value) <= hi:
        return value
    cut = value[:hi]
    space = cut.rfind(" ")
    return cut[:space].rstrip(" ,;:") if space > 0 and len(value[:space].rstrip(" ,;:")) >= lo else cut  # whole words


def tool_use(tool: dict[str, Any], request: dict[str, Any], parts: Parts) -> dict[str, Any]:
    """A ``tool_use`` block calling ``tool`` with an input filled from the payload."""
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


