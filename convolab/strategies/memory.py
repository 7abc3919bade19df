"""``StructuredMemory``: typed facts extracted after every turn, sent with every request.

After each exchange a (cheaper) ``extract_model`` is asked to call a ``record_memory`` tool
whose input schema is the memory's shape; the tool input *is* the update, so nothing is parsed
out of free text (the chapter's ``StructuredMemoryConversation`` ran a regex over prose and
silently lost every update the model wrapped in anything but bare JSON). The update is merged
into the memory, and the memory is rendered as a system block on **every** request after the
base system prompt (the chapter injected it only when there was no recent history, so after
turn one it was never seen), followed by as many recent whole turns as fit the budget.

Memory shape. The default schema has five sections, rendered in this fixed order:
``user_profile``, ``preferences`` (objects of string values), ``decisions`` (array of strings),
``task_context`` (object of string values), ``open_questions`` (array of strings). A user-supplied ``schema`` (a JSON Schema object with ``properties``) replaces it; each
property is an *object* section (``"type": "object"``), a *list* section (``"type": "array"``)
or a *scalar* section (anything else: one value).

Merging. Internally every fact is ``{"value": ..., "message_id": ...}``, the id being the
message of the exchange whose text contains the value (the user's message when both do, the
exchange's first message when neither does). A later fact replaces a conflicting one: same key
in an object section, any new value in a scalar section. In list sections values are deduped
(case- and whitespace-insensitively) and a restated value moves to the end, newest last, with
the newer message id. Each section keeps at most ``max_items`` facts: past that the oldest
(least recently stated) are dropped, so the memory block has a bounded size.

Failure modes. A reply without a ``record_memory`` call (possible when the extract model does
not accept forced ``tool_choice`` and gets ``auto``), a section of the wrong type or an unknown
section changes nothing and is noted in ``notes``. An API error from the extraction call
propagates (as with ``Summarizing``): the SDK has already retried it. Extraction is only as
good as the extract model: a wrong fact stays until a later one replaces it or it ages out, and
nothing is ever removed by the model (an answered open question stays until ``max_items`` pushes it
out). The extractor sees the assistant's reply too, so a reply that quotes the memory back can be
recorded again (harmless for object sections, a near-duplicate line in list sections).
"""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from convolab import catalog
from convolab.model import Conversation, Message, Turn, content_text
from convolab.strategies.base import BaseStrategy, Payload, check_knob

TOOL_NAME = "record_memory"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}

#: The default memory shape (sections in the order they are rendered).
DEFAULT_SCHEMA: dict[str, Any] = {
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
    "again with the new value. Reuse the keys already in memory.")
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


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not (value.strip() if isinstance(value, str) else value))


def _one_line(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False,
                                                           separators=(",", ":"))
    return " ".join(text.split())


class StructuredMemory(BaseStrategy):
    """Typed memory extracted by a tool call after each turn, sent on every turn, plus recent turns.

    Knobs: ``budget_tokens`` caps everything billed as input (system prompt, tools, memory
    block, recent turns); ``keep_recent_turns`` caps the recent turns sent verbatim (``None``:
    as many as fit the budget; the chapter sent the last 10 messages, i.e. 5 turns);
    ``schema`` replaces ``DEFAULT_SCHEMA``; ``extract_model`` writes the updates (it must be
    in the catalog: forced ``tool_choice`` is used when it supports ``forced_tool_choice``,
    ``auto`` plus an instruction otherwise); ``max_items`` caps the facts per section (oldest
    dropped); ``extract_max_tokens`` caps the extraction reply; ``max_chars_per_message``
    truncates each message of the exchange shown to the extractor.

    ``build()`` raises ``ContextOverflow`` when the system prompt, tools, memory block and the
    newest turn alone exceed ``budget_tokens``: raise the budget or lower ``max_items``.
    ``side_usage`` holds ``(model, usage)`` of every extraction call, for the ledger.
    """

    name: ClassVar[str] = "memory"

    def __init__(self, budget_tokens: int = 8000, schema: dict[str, Any] | None = None, *,
                 keep_recent_turns: int | None = 5, extract_model: str = "claude-haiku-4-5",
                 max_items: int = 20, extract_max_tokens: int = 1024, max_chars_per_message: int = 4000,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if keep_recent_turns is not None and keep_recent_turns < 1:
            raise ValueError("keep_recent_turns must be at least 1 (or None: as many as fit)")
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        schema = DEFAULT_SCHEMA if schema is None else schema
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
            raise ValueError("schema must be a JSON Schema object with at least one entry in 'properties'")
        self.budget_tokens = check_knob("budget_tokens", budget_tokens)
        self.schema = copy.deepcopy(schema)
        self.sections: dict[str, str] = {name: _kind(sub) for name, sub in self.schema["properties"].items()}
        self.keep_recent_turns = keep_recent_turns
        self.extract_model = extract_model
        self.forced = catalog.get_model(extract_model).supports("forced_tool_choice")
        self.max_items = max_items
        self.extract_max_tokens = extract_max_tokens
        self.max_chars_per_message = max_chars_per_message
        self.memory: dict[str, Any] = self._blank()
        self.memory_version = 0  # bumped by every extraction that changed the memory
        self.last_observed: str | None = None  # id of the last message of the last observed turn
        self.notes: list[str] = []  # why an extraction changed nothing (newest last, at most MAX_NOTES)
        self.side_usage: list[tuple[str, Any]] = []  # (model, usage) of extraction calls, for the ledger

    def _blank(self) -> dict[str, Any]:
        return {name: {} if kind == "object" else [] if kind == "list" else None
                for name, kind in self.sections.items()}

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {**super().state(), "memory": copy.deepcopy(self.memory), "memory_version": self.memory_version,
                "last_observed": self.last_observed, "notes": list(self.notes)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        memory = self._blank()
        for name, value in (state.get("memory") or {}).items():
            if name not in self.sections:
                raise ValueError(f"state has memory section {name!r}, which the schema does not define")
            memory[name] = copy.deepcopy(value)
        self.memory = memory
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

    def render(self) -> str:
        """The memory as sent: one fact a line, sections in schema order, keys sorted ("" if empty)."""
        lines = []
        for name, kind in self.sections.items():
            sec = self.memory[name]
            if kind == "object":
                lines += [f"{name}.{k}: {_one_line(sec[k]['value'])}" for k in sorted(sec)]
            elif kind == "list":
                lines += [f"{name}: {_one_line(item['value'])}" for item in sec]
            elif sec:
                lines.append(f"{name}: {_one_line(sec['value'])}")
        if not lines:
            return ""
        return (f"[Conversation memory, version {self.memory_version}: facts from earlier turns; "
                "a later fact has replaced any it contradicted]\n" + "\n".join(lines))

    def tool(self) -> dict[str, Any]:
        """The ``record_memory`` tool whose input schema is the memory's shape."""
        return {"name": TOOL_NAME, "input_schema": self.schema,
                "description": "Record the facts the latest exchange states or changes in the conversation memory."}

    # -- extraction ------------------------------------------------------------------------
    def extract(self, turn: Turn, client: Any) -> dict[str, Any] | None:
        """Ask ``extract_model`` for the update of one exchange: the tool input, or ``None``."""
        messages = [m for m in turn.messages if isinstance(m, Message) and m.text.strip()]
        transcript = "\n\n".join(f"The {'user wrote' if m.role == 'user' else 'assistant replied'}:\n"
                                 f"{m.text[:self.max_chars_per_message]}" for m in messages)
        prompt = (f"Please call the {TOOL_NAME} tool once to record memory from this exchange.\n\n"
                  f"{transcript or '(no text)'}")
        current = self.render()
        system = EXTRACT_SYSTEM + (f"\n\nCurrent memory:\n{current}" if current else "")
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
        """Merge a tool input into the memory (rules in the module docstring); whether it changed."""
        before = json.dumps(self.memory, sort_keys=True)
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
                for key in list(sec)[:-self.max_items]:
                    del sec[key]
            elif kind == "list":
                if not isinstance(value, list):
                    self._note(f"section {name!r} should be an array, got {type(value).__name__}; ignored")
                    continue
                sec = self.memory[name]
                for v in value:
                    if _empty(v):
                        continue
                    sec[:] = [item for item in sec if _norm(item["value"]) != _norm(v)]
                    sec.append({"value": v, "message_id": self._source(v, messages)})
                del sec[:-self.max_items]
            else:
                self.memory[name] = {"value": value, "message_id": self._source(value, messages)}
        changed = json.dumps(self.memory, sort_keys=True) != before
        if changed:
            self.memory_version += 1
        return changed

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
        text = self.render()
        extra = [("memory", {"type": "text", "text": text})] if text else []
        fixed = self.fixed_tokens(conversation, model, [b for _, b in extra])
        room = min(self.budget_tokens, self.window_limit(model))
        available = room - fixed["system"] - fixed["tools"] - fixed["extra"]
        w = idx.window(max_turns=self.keep_recent_turns, budget_tokens=max(available, 0))
        if w.empty:
            raise self.newest_turn_overflow(conversation, fixed["system"] + fixed["tools"] + fixed["extra"], room,
                                            what="the memory payload",
                                            hint="System prompt, memory block and the newest turn exceed "
                                            "budget_tokens; raise it, lower max_items, or shorten the message.")
        return self.finish(conversation, start=w.start, extra_system=extra, budget=self.budget_tokens,
                           volatile_system=len(extra))
