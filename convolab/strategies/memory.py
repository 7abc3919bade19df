"""``StructuredMemory``: typed facts extracted after every turn, sent with every request.

After each exchange a (cheaper) ``extract_model`` is asked to call a ``record_memory`` tool
whose input schema is the memory's shape; the tool input *is* the update, so nothing is parsed
out of free text (a regex over prose silently loses every update the model wraps in anything
but bare JSON). The exchange is shown
with each message's date, so that "yesterday" can be resolved. The update is merged into the
memory, and the memory is sent as system blocks on **every** request after the base system
prompt (a memory sent only when there is no recent history is never seen after turn one),
followed by as many recent whole turns as fit the budget.

Memory shape. The default schema (``DEFAULT_SCHEMA``) has one section, ``facts``: one item per
stated fact, with ``who`` it is about, ``what`` (the fact in a short third-person sentence, dates
resolved), ``when`` it happened, the fact's own ``words``, the ``date`` it was said, a ``topic``
when it is a state a later statement can change ("home", "job", "favorite color"), and an
``importance`` from 1 to 5. ``PROFILE_SCHEMA`` is the earlier key/value shape (``user_profile``,
``preferences``, ``decisions``, ``task_context``, ``open_questions``). A user-supplied ``schema``
(a JSON Schema object with ``properties``) replaces the default; each property is an *object*
section (``"type": "object"``), a *list* section (``"type": "array"``) or a *scalar* section.

Merging. Internally every entry is ``{"value": ..., "message_id": ...}``, the id being the
message of the exchange whose text contains the value (for a fact: its ``words``; the user's
message when both do, the exchange's first message when neither does). A later statement
replaces a conflicting one: the same key in an object section, any new value in a scalar
section, and in list sections an item with the same ``who`` and ``topic`` (a fact) or the same
words (case- and whitespace-insensitively); a restated item moves to the end, newest last, with
the newer message id. ``extract_facts`` (``convolab.sim.facts``) is the simulated model's side;
``StructuredMemory.extract`` is the one request, reusable by other strategies.

Size. The memory is kept under ``memory_tokens`` (default: ``MEMORY_SHARE`` of the budget):
past it, the least important facts go first (then the oldest), down to ``EVICT_TO`` of it, in
one step, so the cached memory blocks change rarely; ``max_items`` caps each section's count
when set.

Caching. Facts are rendered in the order they were recorded, ``PAGE`` to a system block: earlier
pages do not change when facts are added, so the prompt cache keeps reading them; the breakpoint
sits on the last full page, before the page that grows.

Failure modes. A reply without a ``record_memory`` call (possible when the extract model does
not accept forced ``tool_choice`` and gets ``auto``), a section of the wrong type or an unknown
section changes nothing and is noted in ``notes``. An API error from the extraction call
propagates (as with ``Summarizing``): the SDK has already retried it. Extraction is only as
good as the extract model: a wrong fact stays until a later one replaces it or it is evicted.
"""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from convolab import catalog
from convolab.blocks import content_text
from convolab.errors import ConfigurationError
from convolab.model import DEFAULT_MODEL, Conversation, Message, Turn
from convolab.strategies.base import BaseStrategy, Payload, check_knob
from convolab.strategies.transcript import transcript

TOOL_NAME = "record_memory"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}

_FACT = {
    "type": "object",
    "properties": {
        "who": {"type": "string", "description": "Whom the fact is about: their name, or 'the user' / 'the assistant'."},
        "what": {"type": "string", "description": "The fact in one short third-person sentence, with its dates resolved."},
        "when": {"type": "string", "description": "When it happened or will happen, as a date when the text gives one; '' if not said."},
        "words": {"type": "string", "description": "The sentence that states it, word for word."},
        "date": {"type": "string", "description": "The day the message that states it was sent."},
        "topic": {"type": "string", "description": "For a state a later statement can change (home, job, favorite color, "
                                                  "...): a short name, reused for the same state; '' for an event. A later "
                                                  "fact with the same who and topic replaces the earlier one."},
        "importance": {"type": "integer", "minimum": 1, "maximum": 5,
                       "description": "How likely it matters later: 5 for names, numbers, dates, plans and decisions; "
                                      "1 for passing remarks."},
    },
    "required": ["who", "what", "words"],
}

#: The default memory shape: one item per stated fact.
DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {"type": "array", "items": _FACT,
                  "description": "One item per fact the latest exchange states or changes; nothing else."},
    },
    "additionalProperties": False,
}

#: The earlier key/value shape (sections in the order they are rendered).
PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "user_profile": {**_STRING_MAP, "description": "Who the user is: name, location, job, ... (key: short value)."},
        "preferences": {**_STRING_MAP, "description": "What the user prefers, likes or dislikes (key: short value)."},
        "decisions": {**_STRING_LIST, "description": "Decisions made in the conversation, one short sentence each."},
        "task_context": {**_STRING_MAP, "description": "State of the task at hand: goals, numbers, deadlines (key: value)."},
        "open_questions": {**_STRING_LIST, "description": "Questions still unanswered, one each."},
    },
    "additionalProperties": False,
}

EXTRACT_SYSTEM = (
    "You maintain a structured memory of a conversation between a user and an assistant. "
    "Given the latest exchange, record only the facts it states or changes; leave out sections with "
    "nothing new and never repeat facts already in memory unchanged. To change a fact, record its key "
    "(or its who and topic) again with the new value. Reuse the keys and topics already in memory.")
MEMORY_HEADING = ("[Conversation memory: facts from earlier turns, oldest first; a later fact has replaced "
                  "any it contradicted]")
MEMORY_SHARE = 0.6   # of the budget, for the memory blocks (default memory_tokens)
EVICT_TO = 0.85     # past memory_tokens, facts are dropped down to this share of it, in one step
PAGE = 25            # facts per cached memory block
MAX_KNOWN = 60       # keys and topics named to the extractor
_WHO = ("who", "subject", "person", "speaker")
_TOPIC = ("topic", "key", "attribute", "slot")
_WORDS = ("words", "quote", "text", "statement", "what", "fact")
_IMPORTANCE = ("importance", "priority")
MAX_NOTES = 50


def _kind(schema: Any) -> str:
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and isinstance(schema, dict) and "properties" in schema):
        return "object"
    return "list" if kind == "array" else "scalar"


def _norm(value: Any) -> str:
    """The dedupe key of a list value: case- and whitespace-insensitive text, canonical JSON otherwise."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _field(item: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The first of ``names`` the item holds a non-empty value for."""
    for n in names:
        v = item.get(n)
        if v is None or v == "":
            continue
        if not (isinstance(v, str) and v.isspace()) and v != [] and v != {}:
            return v
    return None


def _identity(value: Any) -> tuple[str, ...]:
    """What a list item is the same as: a fact's who and topic (a state a later fact replaces),
    else its who and words; anything else its ``_norm``."""
    if isinstance(value, dict):
        who, topic = _field(value, _WHO), _field(value, _TOPIC)
        if topic is not None:
            return ("topic", _norm(who or ""), _norm(topic))
        words = _field(value, _WORDS)
        if words is not None:
            return ("words", _norm(who or ""), _norm(words))
    return ("value", _norm(value))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not (value.strip() if isinstance(value, str) else value))


def _one_line(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False,
                                                           separators=(",", ":"))
    return " ".join(text.split())


def _item_line(section: str, value: Any) -> str:
    """An entry as a line: a fact as its "what" (with its who when "what" does not name them)."""
    if isinstance(value, dict) and isinstance(value.get("what"), str):
        key = (value["what"], value.get("who"))
        line = _LINES.get(key)
        if line is None:
            line = _LINES[key] = _line(section, value)
            if len(_LINES) > 100_000:
                _LINES.clear()
        return line
    return _line(section, value)


_LINES: dict[tuple[Any, ...], str] = {}


def _line(section: str, value: Any) -> str:
    if isinstance(value, dict) and not _empty(value.get("what")):
        what, who = _one_line(value["what"]), _field(value, _WHO)
        if who and str(who).casefold() not in what.casefold():
            what = f"{str(who)[:1].upper()}{str(who)[1:]}: {what}"
        return f"- {what}"
    return f"{section}: {_one_line(value)}"


def _page(entries: list[tuple[str, Any]]) -> str:
    """One block's entries, a line each; facts under a line naming their day when it changes."""
    lines, day = [], None
    for section, value in entries:
        date = _field(value, ("date",)) if isinstance(value, dict) and not _empty(value.get("what")) else None
        if date and date != day:
            lines.append(f"On {date}:")
        day = date
        lines.append(_item_line(section, value))
    return "\n".join(lines)


class StructuredMemory(BaseStrategy):
    """Typed memory extracted by a tool call after each turn, sent on every turn, plus recent turns.

    Knobs: ``budget_tokens`` caps everything billed as input (system prompt, tools, memory
    blocks, recent turns); ``keep_recent_turns`` caps the recent turns sent verbatim (``None``:
    as many as fit the budget);
    ``schema`` replaces ``DEFAULT_SCHEMA``; ``extract_model`` writes the updates (it must be
    in the catalog: forced ``tool_choice`` is used when it supports ``forced_tool_choice``,
    ``auto`` plus an instruction otherwise); ``memory_tokens`` caps the memory blocks (least
    important facts dropped first; default ``MEMORY_SHARE`` of the budget); ``max_items`` caps
    the entries per section (oldest dropped; default: no cap); ``extract_max_tokens`` caps the
    extraction reply; ``max_chars_per_message`` truncates each message shown to the extractor.

    ``build()`` raises ``ContextOverflow`` when the system prompt, tools, memory blocks and the
    newest turn alone exceed ``budget_tokens``: raise the budget or lower ``memory_tokens``.
    ``side_usage`` holds ``(model, usage)`` of every extraction call, for the ledger.
    """

    name: ClassVar[str] = "memory"

    def __init__(self, budget_tokens: int = 8000, schema: dict[str, Any] | None = None, *,
                 keep_recent_turns: int | None = 5, extract_model: str = "claude-haiku-4-5",
                 memory_tokens: int | None = None, max_items: int | None = None, extract_max_tokens: int = 2048,
                 max_chars_per_message: int = 4000, **kwargs: Any):
        super().__init__(**kwargs)
        if keep_recent_turns is not None and keep_recent_turns < 1:
            raise ConfigurationError("keep_recent_turns must be at least 1 (or None: as many as fit)")
        if max_items is not None and max_items < 1:
            raise ConfigurationError("max_items must be at least 1 (or None: no cap)")
        if memory_tokens is not None and memory_tokens < 1:
            raise ConfigurationError("memory_tokens must be at least 1 (or None: a share of the budget)")
        schema = DEFAULT_SCHEMA if schema is None else schema
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
            raise ConfigurationError("schema must be a JSON Schema object with at least one entry in 'properties'")
        self.budget_tokens = check_knob("budget_tokens", budget_tokens)
        self.schema = copy.deepcopy(schema)
        self.sections: dict[str, str] = {name: _kind(sub) for name, sub in self.schema["properties"].items()}
        self.keep_recent_turns = keep_recent_turns
        self.extract_model = extract_model
        self.forced = catalog.get_model(extract_model).supports("forced_tool_choice")
        self.memory_tokens = memory_tokens if memory_tokens is not None else int(budget_tokens * MEMORY_SHARE)
        self.max_items = max_items
        self.extract_max_tokens = extract_max_tokens
        self.max_chars_per_message = max_chars_per_message
        self.memory: dict[str, Any] = self._blank()
        self._rendered: list[dict[str, Any]] | None = None  # blocks() of the memory as it is
        self._saved: str | None = None  # the memory as JSON, as it is
        self._idents: dict[int, tuple[Any, tuple[str, ...]]] = {}  # id(value) -> (value, identity)
        self.memory_version = 0  # bumped by every extraction that changed the memory
        self.last_observed: str | None = None  # id of the last message of the last observed turn
        self.notes: list[str] = []  # why an extraction changed nothing (newest last, at most MAX_NOTES)
        self.side_usage: list[tuple[str, Any]] = []  # (model, usage) of extraction calls, for the ledger

    def _blank(self) -> dict[str, Any]:
        return {name: {} if kind == "object" else [] if kind == "list" else None
                for name, kind in self.sections.items()}

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        # the memory is JSON by construction (tool inputs): a JSON round trip is its fast deep copy,
        # and its text is kept until the memory changes (the evaluation asks after every question)
        if self._saved is None:
            self._saved = json.dumps(self.memory)
        return {**super().state(), "memory": json.loads(self._saved), "memory_version": self.memory_version,
                "last_observed": self.last_observed, "notes": list(self.notes)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        memory = self._blank()
        for name, value in (state.get("memory") or {}).items():
            if name not in self.sections:
                raise ConfigurationError(f"state has memory section {name!r}, which the schema does not define")
            memory[name] = copy.deepcopy(value)
        self.memory = memory
        self._rendered = self._saved = None
        self.memory_version = int(state.get("memory_version", 0))
        self.last_observed = state.get("last_observed")
        self.notes = list(state.get("notes", []))

    # -- views -----------------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        """The memory without message ids: ``{section: {key: value} | [values] | value}``."""
        out: dict[str, Any] = {}
        for name, kind in self.sections.items():
            sec = self.memory[name]
            if kind == "object":
                out[name] = {k: item["value"] for k, item in sec.items()}
            elif kind == "list":
                out[name] = [item["value"] for item in sec]
            else:
                out[name] = sec["value"] if sec else None
        return out

    def lines(self) -> list[str]:
        """The memory as sent, a line each, without its heading (the lines of ``blocks()``)."""
        return self.render().splitlines()[1:]

    def blocks(self) -> list[dict[str, Any]]:
        """The memory as system text blocks: a heading, then ``PAGE`` entries a block (none when
        empty): sections in schema order, keys sorted, list items (facts) in the order they
        were recorded, each day's facts under its date. A block changes only when one of its
        entries is replaced or dropped."""
        if self._rendered is None:
            self._rendered = self._render_blocks()
        return [dict(b) for b in self._rendered]

    def _render_blocks(self) -> list[dict[str, Any]]:
        entries: list[tuple[str, Any]] = []  # (section, value) in the order they are shown
        for name, kind in self.sections.items():
            sec = self.memory[name]
            if kind == "object":
                entries += [(f"{name}.{k}", sec[k]["value"]) for k in sorted(sec)]
            elif kind == "list":
                entries += [(name, item["value"]) for item in sec]
            elif sec:
                entries.append((name, sec["value"]))
        pages = [entries[k:k + PAGE] for k in range(0, len(entries), PAGE)]
        return [{"type": "text", "text": (MEMORY_HEADING + "\n" if k == 0 else "") + _page(page)}
                for k, page in enumerate(pages)]

    def render(self) -> str:
        """The memory as sent, as one text ("" if empty)."""
        return "\n".join(b["text"] for b in self.blocks())

    def tool(self) -> dict[str, Any]:
        """The ``record_memory`` tool whose input schema is the memory's shape."""
        return {"name": TOOL_NAME, "input_schema": self.schema,
                "description": "Record the facts the latest exchange states or changes in the conversation memory."}

    # -- extraction ------------------------------------------------------------------------
    def extract(self, turn: Turn, client: Any) -> dict[str, Any] | None:
        """Ask ``extract_model`` for the update of one exchange: the tool input, or ``None``.

        The one request extraction makes (the memory's only side call). The exchange is shown
        as a transcript, each message under its date and role (``[8 May 2023, 13:56]`` then
        ``User: ...``), so relative dates can be resolved; the system prompt names the keys and
        topics already in memory so that a changed fact reuses them. Usable on its own: the
        update merges with ``merge``."""
        messages = [m for m in turn.messages if isinstance(m, Message) and m.text.strip()]
        said = transcript(messages, max_chars=self.max_chars_per_message)
        prompt = (f"Please call the {TOOL_NAME} tool once to record memory from this exchange.\n\n"
                  f"{said or '(no text)'}")
        known = self._known()
        system = EXTRACT_SYSTEM + (f"\n\nKeys and topics already in memory: {known}" if known else "")
        choice = {"type": "tool", "name": TOOL_NAME} if self.forced else {"type": "auto"}
        reply = client.messages.create(model=self.extract_model, max_tokens=self.extract_max_tokens, system=system,
                                       tools=[self.tool()], tool_choice=choice,
                                       messages=[{"role": "user", "content": prompt}])
        self.side_usage.append((self.extract_model, reply.usage))
        for block in reply.content:
            if getattr(block, "type", "") == "tool_use" and getattr(block, "name", "") == TOOL_NAME:
                if isinstance(block.input, dict):
                    return block.input
                self._note(f"turn {turn.index}: {TOOL_NAME} input was not an object; memory unchanged")
                return None
        self._note(f"turn {turn.index}: {self.extract_model} replied without calling {TOOL_NAME} "
                   f"(tool_choice {choice['type']}, stop_reason {getattr(reply, 'stop_reason', None)}); memory unchanged")
        return None

    def _known(self) -> str:
        """The keys (object sections) and who/topic pairs (facts) already in memory, newest last."""
        out: list[str] = []
        for name, kind in self.sections.items():
            sec = self.memory[name]
            if kind == "object":
                out += [f"{name}.{k}" for k in sec]
            elif kind == "list":
                for i in sec[-4 * MAX_KNOWN:]:  # the newest entries are enough to name recent topics
                    v = i["value"]
                    topic = _field(v, _TOPIC) if isinstance(v, dict) else None
                    if topic is not None:
                        who = _field(v, _WHO)
                        out.append(f"{who}: {topic}" if who else topic)
        return "; ".join(dict.fromkeys(out[-MAX_KNOWN:]))

    def _note(self, text: str) -> None:
        self.notes.append(text)
        del self.notes[:-MAX_NOTES]

    @staticmethod
    def _source(value: Any, messages: list[Message]) -> str | None:
        """The id of the message whose text contains ``value`` (user messages first)."""
        needle = _one_line(value).casefold()
        ordered = [m for m in messages if m.role == "user"] + [m for m in messages if m.role != "user"]
        for m in ordered:
            if needle and needle in " ".join(content_text(m.content).split()).casefold():
                return m.id
        return messages[0].id if messages else None

    def merge(self, update: dict[str, Any], messages: list[Message]) -> bool:
        """Merge a tool input into the memory (rules in the module docstring); whether it changed
        (what is sent, or where an entry came from)."""
        sources = self._sources()
        before = self._rendered if self._rendered is not None else self._render_blocks()
        self._rendered = self._saved = None
        for name, value in update.items():
            kind = self.sections.get(name)
            if kind is None:
                self._note(f"unknown memory section {name!r} ignored")
                continue
            if _empty(value):
                continue
            if kind == "object":
                if not isinstance(value, dict):
                    self._note(f"section {name!r} should be an object, got {type(value).__name__}; ignored")
                    continue
                sec = self.memory[name]
                for key in sorted(value):
                    if _empty(value[key]):
                        continue
                    sec.pop(key, None)  # re-inserted last: insertion order is recency order
                    sec[key] = {"value": value[key], "message_id": self._source(value[key], messages)}
                if self.max_items is not None:
                    for key in list(sec)[:-self.max_items]:
                        del sec[key]
            elif kind == "list":
                if not isinstance(value, list):
                    self._note(f"section {name!r} should be an array, got {type(value).__name__}; ignored")
                    continue
                self._merge_list(self.memory[name], value, messages)
            else:
                self.memory[name] = {"value": value, "message_id": self._source(value, messages)}
        self._shrink()
        changed = self.blocks() != before or self._sources() != sources
        if changed:
            self.memory_version += 1
        return changed

    def _sources(self) -> list[Any]:
        """The message id of every entry, in order."""
        out: list[Any] = []
        for name, kind in self.sections.items():
            sec = self.memory[name]
            if kind == "object":
                out += [(k, item["message_id"]) for k, item in sec.items()]
            elif kind == "list":
                out += [item["message_id"] for item in sec]
            elif sec:
                out.append(sec["message_id"])
        return out

    def _identity_of(self, value: Any) -> tuple[str, ...]:
        """``_identity`` of an entry's value, remembered while the value is in memory."""
        known = self._idents.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        ident = _identity(value)
        self._idents[id(value)] = (value, ident)
        if len(self._idents) > 4 * sum(len(v) for v in self.memory.values() if isinstance(v, list | dict)) + 100:
            self._idents = {}
        return ident

    def _merge_list(self, sec: list[dict[str, Any]], values: list[Any], messages: list[Message]) -> None:
        """New items last; an item the same as an earlier one (``_identity``) replaces it."""
        new = [v for v in values if not _empty(v)]
        if not new:
            return
        idents = {_identity(v) for v in new}
        sec[:] = [item for item in sec if self._identity_of(item["value"]) not in idents]
        latest: dict[str, Any] = {}
        for v in new:  # the last of the same item in one update wins
            latest.pop(_identity(v), None)
            latest[_identity(v)] = v
        for v in latest.values():
            source = _field(v, _WORDS) if isinstance(v, dict) else v
            sec.append({"value": v, "message_id": self._source(source if source is not None else v, messages)})
        if self.max_items is not None:
            del sec[:-self.max_items]

    def _shrink(self, limit: int | None = None) -> None:
        """Past ``limit`` (default ``memory_tokens``): drop the least important entries (then
        the oldest) down to ``EVICT_TO`` of it, in one step."""
        model = self.model or DEFAULT_MODEL
        limit = self.memory_tokens if limit is None else limit
        base = self.counter.count_system(None, model=model)
        # the blocks' own counts: unchanged pages are counted once (the counter remembers them)
        size = sum(self.counter.count_system([b], model=model) - base for b in self.blocks())
        if size <= limit:
            return
        entries = []  # (importance, age, section, key or item) for everything that can be dropped
        for name, kind in self.sections.items():
            sec = self.memory[name]
            items = list(sec.items()) if kind == "object" else list(enumerate(sec)) if kind == "list" else []
            for age, (key, item) in enumerate(items):
                value = item["value"]
                rank = _field(value, _IMPORTANCE) if isinstance(value, dict) else None
                entries.append((rank if isinstance(rank, int | float) else 3, age, name, key))
        gone: dict[str, set[Any]] = {}
        target = EVICT_TO * limit
        for _rank, _age, name, key in sorted(entries, key=lambda e: (e[0], e[1])):
            gone.setdefault(name, set()).add(key)
            line = self._line_of(name, key)
            size -= self.counter.count_system([{"type": "text", "text": line}], model=model) - base
            if size <= target:
                break
        for name, keys in gone.items():
            sec = self.memory[name]
            if isinstance(sec, dict):
                for key in keys:
                    del sec[key]
            else:
                sec[:] = [item for k, item in enumerate(sec) if k not in keys]
        self._rendered = self._saved = None

    def _line_of(self, name: str, key: Any) -> str:
        sec = self.memory[name]
        if isinstance(sec, dict):
            return _item_line(f"{name}.{key}", sec[key]["value"])
        return _item_line(name, sec[key]["value"])

    # -- protocol ----------------------------------------------------------------------------
    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """After a reply: extract the exchange's facts and merge them (no-op without a client,
        and for a turn already observed)."""
        ids = turn.ids
        if client is None or not ids or ids[-1] == self.last_observed:
            return
        update = self.extract(turn, client)
        self.last_observed = ids[-1]
        if update is not None:
            self.merge(update, [m for m in turn.messages if isinstance(m, Message)])

    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        model = self.model_for(conversation)
        idx = self.index(conversation)
        room = min(self.budget_tokens, self.window_limit(model))
        w, fixed, extra = self._window(conversation, model, room)
        if w.empty and extra and idx.turn_starts:
            # the newest turn and the memory do not fit together: the memory makes room (as the
            # model would be asked to keep less), once, then the turn is sent whole or not at all
            spare = room - fixed["system"] - fixed["tools"] - idx.tokens(idx.turn_starts[-1])
            if spare > 0:
                self._shrink(limit=spare)
                w, fixed, extra = self._window(conversation, model, room)
        if w.empty:
            raise self.newest_turn_overflow(conversation, fixed["system"] + fixed["tools"] + fixed["extra"], room,
                                            what="the memory payload",
                                            hint="System prompt, memory blocks and the newest turn exceed "
                                            "budget_tokens; raise it, lower memory_tokens, or shorten the message.")
        return self.finish(conversation, start=w.start, extra_system=extra, budget=self.budget_tokens,
                           volatile_system=min(1, len(extra)))

    def _window(self, conversation: Conversation, model: str, room: int) -> tuple[Any, dict[str, int], list[Any]]:
        """The recent turns that fit beside the memory blocks, the fixed parts' tokens, the blocks."""
        extra = [("memory", b) for b in self.blocks()]
        fixed = self.fixed_tokens(conversation, model, [b for _, b in extra])
        available = room - fixed["system"] - fixed["tools"] - fixed["extra"]
        w = self.index(conversation).window(max_turns=self.keep_recent_turns, budget_tokens=max(available, 0))
        return w, fixed, extra
