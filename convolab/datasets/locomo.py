"""Load LoCoMo's published JSON into ``Sample`` records, and write that format back.

The format (see ``docs/datasets.md``): a JSON list of samples, each with ``sample_id``,
``conversation`` (``speaker_a``, ``speaker_b``, ``session_N`` lists of turns and their
``session_N_date_time``) and ``qa``. The mapping:

* ``speaker_a`` is the ``user``, ``speaker_b`` the ``assistant``;
* each message's text starts with its speaker's name (``"Caroline: ..."``), and each
  session's first turn with the session's date and time (``"[1:56 pm on 8 May, 2023]"`` on
  its own line), so the first message of a session starts with it;
* a shared photo becomes text from its caption: ``"[shares a photo: <blip_caption>]"``;
* consecutive turns of one speaker are merged into one message (turns joined by a blank
  line, each keeping its name), never dropped, also across a session boundary (where every
  run of the published dev conversations is): the message then holds the new session's date
  line in the middle and is timed by the later session. Roles alternate after merging;
  every dialogue id maps to the message holding its text (``Sample.dia_index``);
* when the very first turn is ``speaker_b``'s, a short user message opens the conversation
  (the API wants it to start with a user message); it holds the date line and no turn;
* ``created_at`` is the session's date and time (UTC) plus ``MESSAGE_SPACING`` per message;
* two convolab extension fields carry tool exchanges (``convolab_tool_use``,
  ``convolab_tool_result`` on turns, ``convolab_tools`` on the sample), as the synthetic
  generator writes them; LoCoMo's own files have none.

Anything malformed raises ``InvalidConversation`` naming the file, the sample, and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from convolab.datasets.records import PlantedFact, QAItem, Sample
from convolab.datasets.runs import MESSAGE_SPACING, MessageRuns
from convolab.errors import InvalidConversation, InvalidDataset
from convolab.model import DEFAULT_MODEL, Conversation

__all__ = ["MESSAGE_SPACING", "SYSTEM_PROMPT", "format_locomo_date", "load_locomo", "parse_locomo",
           "parse_locomo_date", "parse_sample", "write_locomo_json"]

#: The system prompt of a loaded conversation; ``{speaker_a}`` and ``{speaker_b}`` are filled in.
SYSTEM_PROMPT = ("You are {speaker_b}, in a long-running chat with {speaker_a} that spans several "
                 "sessions. Each message starts with its speaker's name; the first message of each "
                 "session starts with that session's date and time in brackets.")

#: How deep a LoCoMo-format file may nest (the published file nests 7 levels).
MAX_DEPTH = 64

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
_MONTH_NUMBER = {**{m.lower(): k for k, m in enumerate(MONTHS, 1)},
                 **{m[:3].lower(): k for k, m in enumerate(MONTHS, 1)}, "sept": 9}
_DATE = re.compile(r"(\d{1,2})[:.](\d{2})\s*([ap])\.?\s*m\.?\s+on\s+(\d{1,2})(?:st|nd|rd|th)?\s+"
                   r"([a-z]+)\.?,?\s+(\d{4})", re.IGNORECASE)
_SESSION = re.compile(r"session_(\d+)")


# -- dates -----------------------------------------------------------------------------------

def parse_locomo_date(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` as a UTC datetime; ISO 8601 is accepted too.

    Case, a missing comma, ``a.m.``/``p.m.``, ``"8th"`` and three-letter months are
    tolerated. Anything else raises ``ValueError`` saying what was expected.
    """
    m = _DATE.fullmatch(text.strip())
    if m:
        hour, minute, half, day, month, year = m.groups()
        month_no = _MONTH_NUMBER.get(month.lower())
        if month_no is None:
            raise InvalidDataset(f"unknown month {month!r} in {text!r}")
        h = int(hour)
        if not 1 <= h <= 12:
            raise InvalidDataset(f"hour {h} is not 1-12 in {text!r}")
        h = h % 12 + (12 if half.lower() == "p" else 0)
        return datetime(int(year), month_no, int(day), h, int(minute), tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidDataset(f"cannot read {text!r} as a date and time like '1:56 pm on 8 May, 2023'") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_locomo_date(dt: datetime) -> str:
    """``dt`` (minute precision) in LoCoMo's form, ``"1:56 pm on 8 May, 2023"``."""
    half = "am" if dt.hour < 12 else "pm"
    return f"{dt.hour % 12 or 12}:{dt.minute:02d} {half} on {dt.day} {MONTHS[dt.month - 1]}, {dt.year}"


# -- reading ---------------------------------------------------------------------------------

def load_locomo(path: str | Path, *, system_prompt: str = SYSTEM_PROMPT) -> list[Sample]:
    """Every sample of a LoCoMo-format JSON file, or of every ``*.json`` file in a directory
    (in name order). ``system_prompt`` may use ``{speaker_a}`` and ``{speaker_b}``."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise InvalidConversation(f"{path}: no *.json files in this directory")
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for f in files:
        text = f.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidConversation(f"{f}: not valid JSON ({e})") from None
        except RecursionError:
            raise InvalidConversation(f"{f}: {_deep_position(text)}: nested deeper than {MAX_DEPTH} levels "
                                      "(published LoCoMo files nest 7)") from None
        if (deep := _too_deep(data)) is not None:
            raise InvalidConversation(f"{f}: {deep}: nested deeper than {MAX_DEPTH} levels (published LoCoMo files nest 7)")
        for s in parse_locomo(data, source=str(f), system_prompt=system_prompt):
            if s.sample_id in seen:
                raise InvalidConversation(f"{f}: sample_id {s.sample_id!r} is also in {seen[s.sample_id]}")
            seen[s.sample_id] = str(f)
            samples.append(s)
    return samples


def _too_deep(data: Any) -> str | None:
    """The JSON path of the first value nested deeper than ``MAX_DEPTH``, or None (no recursion)."""
    stack: list[tuple[Any, str, int]] = [(data, "$", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path if len(path) <= 80 else path[:77] + "..."
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


def _deep_position(text: str) -> str:
    """``line L, column C`` where brackets first nest deeper than ``MAX_DEPTH`` (strings skipped)."""
    depth, in_string, escaped, line, col = 0, False, False, 1, 0
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return f"line {line}, column {col}"
        elif ch in "]}":
            depth -= 1
    return "somewhere"


def parse_locomo(data: Any, *, source: str = "<data>", system_prompt: str = SYSTEM_PROMPT) -> list[Sample]:
    """Samples from already-decoded LoCoMo JSON (a list of sample dicts)."""
    if not isinstance(data, list):
        raise InvalidConversation(f"{source}: expected a JSON list of samples, got {type(data).__name__}")
    samples = [parse_sample(r, where=f"{source}: sample {i}", system_prompt=system_prompt)
               for i, r in enumerate(data)]
    ids = [s.sample_id for s in samples]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup is not None:
        raise InvalidConversation(f"{source}: sample_id {dup!r} appears more than once")
    return samples


def parse_sample(record: Any, *, where: str = "sample", system_prompt: str = SYSTEM_PROMPT) -> Sample:
    """One sample dict as a ``Sample``; ``where`` prefixes every error message."""
    _expect(record, dict, where, "the sample")
    sample_id = _get(record, "sample_id", str, where)
    where = f"{where} ({sample_id})"
    conv = _get(record, "conversation", dict, where)
    a = _get(conv, "speaker_a", str, where, "conversation.")
    b = _get(conv, "speaker_b", str, where, "conversation.")
    if a == b:
        raise InvalidConversation(f"{where}: conversation.speaker_b: same name as speaker_a ({a!r})")
    numbers = sorted(int(m[1]) for k in conv if (m := _SESSION.fullmatch(k)))
    if not numbers:
        raise InvalidConversation(f"{where}: conversation: no session_N lists of turns")
    tools = record.get("convolab_tools")
    if tools is not None and not (isinstance(tools, list) and all(
            isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools)):
        raise InvalidConversation(f"{where}: convolab_tools: expected a list of tool definitions with a 'name'")
    builder = _Builder(sample_id, a, b, where, Conversation(
        session_id=sample_id, system_prompt=system_prompt.format(speaker_a=a, speaker_b=b),
        model=DEFAULT_MODEL, tools=tools or None,
        metadata={"sample_id": sample_id, "speakers": {"user": a, "assistant": b}}))
    for n in numbers:
        key = f"session_{n}"
        turns = _get(conv, key, list, where, "conversation.")
        date_text = _get(conv, f"{key}_date_time", str, where, "conversation.")
        try:
            dt = parse_locomo_date(date_text)
        except ValueError as e:
            raise InvalidConversation(f"{where}: conversation.{key}_date_time: {e}") from None
        builder.session(n, dt, date_text.strip(), turns)
    sessions = builder.finish()
    conversation = builder.conversation
    if sessions:
        conversation.created_at = sessions[0].date_time
    if conversation.messages:
        conversation.last_updated = conversation.messages[-1].created_at
    qa = _get(record, "qa", list, where)
    return Sample(sample_id=sample_id, speakers=(a, b), conversation=conversation,
                  qa=[_qa_item(q, f"{where}: qa[{k}]") for k, q in enumerate(qa)],
                  sessions=sessions, dia_index=builder.dia_index, dia_text=builder.dia_text,
                  facts=_facts(record.get("convolab_facts"), where), raw=record)


class _Builder(MessageRuns):
    """Turns sessions of dialogue turns into messages, merging each run of one speaker.

    A run may cross a session boundary; the date line then sits inside the message, right
    before the new session's first turn. A tool call ends a run: the assistant message gets
    the ``tool_use`` block and a user message with the ``tool_result`` follows it.
    """

    def __init__(self, sample_id: str, a: str, b: str, where: str, conversation: Conversation):
        super().__init__(sample_id, conversation)
        self.a, self.b, self.where = a, b, where

    def session(self, n: int, dt: datetime, date_text: str, turns: list[Any]) -> None:
        self.start_session(n, dt, date_text)
        header = f"[{date_text}]\n"  # goes before the session's first text
        pending: tuple[str, str] | None = None  # (tool_use id, dia_id) awaiting its result
        for k, turn in enumerate(turns):
            where = f"{self.where}: conversation.session_{n}[{k}]"
            _expect(turn, dict, where, "a dialogue turn")
            speaker = _get(turn, "speaker", str, where)
            if speaker not in (self.a, self.b):
                raise InvalidConversation(f"{where}.speaker: {speaker!r} is neither speaker_a ({self.a!r}) "
                                          f"nor speaker_b ({self.b!r})")
            dia_id = _get(turn, "dia_id", str, where)
            if not dia_id.strip() or dia_id in self.dia_text:
                raise InvalidConversation(f"{where}.dia_id: {dia_id!r} is empty or used by an earlier turn")
            rendered = f"{speaker}: {_turn_text(turn, where)}"
            if not self.conversation.messages and not self.run and speaker == self.b:
                self.add("user", f"{header}({self.b} speaks first.)", f"{self.sample_id}:session_{n}:opener",
                         [], None, [n])
                header = ""
            result = turn.get("convolab_tool_result")
            if pending is not None:
                self._tool_result(result, pending, speaker, n, where)
                pending = None
            elif result is not None:
                raise InvalidConversation(f"{where}.convolab_tool_result: no tool call in the turn before")
            self.turn(n, speaker, "user" if speaker == self.a else "assistant", dia_id, rendered, header + rendered)
            header = ""
            if (use := turn.get("convolab_tool_use")) is not None:
                block = self._tool_use(use, speaker, where)
                self.flush(block)
                pending = (block["id"], dia_id)
        if pending is not None:
            raise InvalidConversation(f"{self.where}: conversation.session_{n}: the tool call in turn "
                                      f"{pending[1]} has no turn with its convolab_tool_result after it")

    def _tool_use(self, use: Any, speaker: str, where: str) -> dict[str, Any]:
        field = f"{where}.convolab_tool_use"
        if speaker != self.b:
            raise InvalidConversation(f"{field}: only speaker_b ({self.b!r}, the assistant) can call a tool")
        if not (isinstance(use, dict) and isinstance(use.get("id"), str) and isinstance(use.get("name"), str)
                and isinstance(use.get("input"), dict)):
            raise InvalidConversation(f"{field}: expected {{'id': str, 'name': str, 'input': object}}")
        return {"type": "tool_use", "id": use["id"], "name": use["name"], "input": use["input"]}

    def _tool_result(self, result: Any, pending: tuple[str, str], speaker: str, n: int, where: str) -> None:
        field = f"{where}.convolab_tool_result"
        tool_id, call_dia = pending
        if result is None or speaker != self.b:
            raise InvalidConversation(f"{field}: the tool call in turn {call_dia} needs its result on the "
                                      f"next turn, a turn of speaker_b ({self.b!r})")
        if not isinstance(result, dict) or result.get("tool_use_id") != tool_id:
            raise InvalidConversation(f"{field}: expected {{'tool_use_id': {tool_id!r}, 'content': ...}}")
        content = result.get("content", "")
        if not isinstance(content, str | list):
            raise InvalidConversation(f"{field}.content: expected a string or a list of blocks")
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id, "content": content}
        if result.get("is_error"):
            block["is_error"] = True
        self.add("user", [block], f"{self.sample_id}:{call_dia}:tool_result", [], None, [n])


def _turn_text(turn: dict[str, Any], where: str) -> str:
    """A turn's text with its shared photo (if any) as ``[shares a photo: caption]``."""
    text = _get(turn, "text", str, where).strip()
    caption = turn.get("blip_caption")
    if caption is not None and not isinstance(caption, str):
        raise InvalidConversation(f"{where}.blip_caption: expected a string, got {type(caption).__name__}")
    if not text and not (caption and caption.strip()) and not turn.get("img_url"):
        raise InvalidConversation(f"{where}.text: empty; a dialogue turn needs text or a shared photo")
    if caption and caption.strip():
        return f"{text} [shares a photo: {caption.strip()}]".strip()
    if turn.get("img_url"):
        return f"{text} [shares a photo]".strip()
    return text


def _qa_item(q: Any, where: str) -> QAItem:
    _expect(q, dict, where, "a QA item")
    question = _get(q, "question", str, where)
    if not question.strip():
        raise InvalidConversation(f"{where}.question: empty; a QA item needs a question")
    category = _get(q, "category", int, where)
    if isinstance(category, bool) or not 1 <= category <= 5:
        raise InvalidConversation(f"{where}.category: expected an integer 1 to 5, got {category!r}")
    answer = _scalar(q.get("answer"), f"{where}.answer")
    if answer is None and category != 5:
        raise InvalidConversation(f"{where}.answer: missing (only category 5 items may have none)")
    evidence = _get(q, "evidence", list, where)
    ids: list[str] = []
    for k, e in enumerate(evidence):
        if not isinstance(e, str):
            raise InvalidConversation(f"{where}.evidence[{k}]: expected a dia_id string, got {type(e).__name__}")
        ids.extend(p.strip() for p in e.split(";") if p.strip())  # one published item has "D8:6; D9:17"
    return QAItem(question=question, answer=answer or "", evidence=ids, category=category,
                  adversarial_answer=_scalar(q.get("adversarial_answer"), f"{where}.adversarial_answer"))


def _facts(raw: Any, where: str) -> list[PlantedFact]:
    if raw is None:
        return []
    facts = []
    for k, f in enumerate(raw if isinstance(raw, list) else [None]):
        w = f"{where}: convolab_facts[{k}]"
        _expect(f, dict, w, "a planted fact")
        values, dia_ids = _get(f, "values", list, w), _get(f, "dia_ids", list, w)
        if len(values) != len(dia_ids) or not values:
            raise InvalidConversation(f"{w}.dia_ids: needs one dia_id per value")
        facts.append(PlantedFact(_get(f, "key", str, w), _get(f, "kind", str, w),
                                 [str(v) for v in values], [str(d) for d in dia_ids]))
    return facts


def _scalar(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidConversation(f"{field}: expected a string or a number, got {type(value).__name__}")
    return str(value)


def _expect(value: Any, kind: type, where: str, what: str) -> None:
    if not isinstance(value, kind):
        raise InvalidConversation(f"{where}: expected {what} as a JSON {_JSON[kind]}, got {type(value).__name__}")


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str, prefix: str = "") -> Any:
    if key not in obj:
        raise InvalidConversation(f"{where}: {prefix}{key}: missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidConversation(f"{where}: {prefix}{key}: expected a JSON {_JSON[kind]}, "
                                  f"got {type(value).__name__} {value!r:.40}")
    return value


_JSON = {dict: "object", list: "list", str: "string", int: "integer"}


# -- writing ---------------------------------------------------------------------------------

def write_locomo_json(samples: Iterable[Sample | Mapping[str, Any]], path: str | Path) -> Path:
    """Write samples (``Sample`` objects, written as their ``raw`` record, or record dicts) as a
    LoCoMo-format JSON file; the bytes depend only on the records. Returns the path."""
    records = [s.raw if isinstance(s, Sample) else dict(s) for s in samples]
    path = Path(path)
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
