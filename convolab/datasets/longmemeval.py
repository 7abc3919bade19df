"""Read LongMemEval's published files into ``Sample`` records, and write that format back.

LongMemEval (Wu et al., ICLR 2025) asks 500 questions, each about a chat history of its own:
``longmemeval_s.json`` (about 115K tokens, some 50 sessions each), ``longmemeval_m.json``
(about 500 sessions each) and ``longmemeval_oracle.json`` (only the evidence sessions). Each
file is a JSON list of instances with ``question_id``, ``question_type``, ``question``,
``answer``, ``question_date``, ``haystack_session_ids``, ``haystack_dates``,
``haystack_sessions`` (lists of turns ``{"role", "content", "has_answer"?}``) and
``answer_session_ids``. Where to download them, and the mapping in full: ``docs/datasets.md``.

The mapping, in short: one instance is one ``Sample`` with one ``QAItem``; sessions are taken
in date order, each turn keeps its role, consecutive turns of one role are merged into one
message (never dropped), and each session's first message starts with its date line
(``"[2:21 am on 20 May, 2023]"``, the form LoCoMo samples use). A turn's dialogue id is
``"<session id>:<turn index>"``; the ``has_answer`` turns are the item's evidence. The item's
``category`` is the nearest LoCoMo category (``CATEGORIES``), 5 for abstention (``_abs``) ids;
``question_type`` keeps the published type, ``asked_at`` the question's date.

``iter_longmemeval`` reads a file one instance at a time (LongMemEval_M is gigabytes), so
memory holds one instance, not the file. Anything malformed raises ``InvalidConversation``
naming the file, the instance and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from convolab.datasets.locomo import _expect, _get, format_locomo_date
from convolab.datasets.records import QAItem, Sample
from convolab.datasets.runs import MessageRuns
from convolab.errors import ConfigurationError, InvalidConversation, InvalidDataset
from convolab.model import DEFAULT_MODEL, Conversation

__all__ = ["CATEGORIES", "DATE_FORMAT", "FILES", "QUESTION_TYPES", "SYSTEM_PROMPT", "format_longmemeval_date",
           "iter_longmemeval", "load_longmemeval", "parse_instance", "parse_longmemeval_date",
           "write_longmemeval_json"]

#: The published files: what each holds.
FILES = {"longmemeval_s.json": "about 115K tokens of history per question (some 50 sessions)",
         "longmemeval_m.json": "about 500 sessions of history per question",
         "longmemeval_oracle.json": "only the evidence sessions of each question"}
#: ``question_type`` -> the nearest LoCoMo category (1 multi-hop, 2 temporal, 3 open-domain,
#: 4 single-hop); an abstention question (id ending in ``_abs``) is category 5 whatever its type.
CATEGORIES = {"single-session-user": 4, "single-session-assistant": 4, "single-session-preference": 3,
              "knowledge-update": 1, "multi-session": 1, "temporal-reasoning": 2}
QUESTION_TYPES = tuple(CATEGORIES)
DATE_FORMAT = "%Y/%m/%d (%a) %H:%M"  # "2023/05/20 (Sat) 02:21"
SYSTEM_PROMPT = ("You are a helpful assistant in a long-running chat with the user that spans many sessions. "
                 "The first message of each session starts with that session's date and time in brackets.")
ABSTENTION_SUFFIX = "_abs"
_READ = 1 << 20  # characters read at a time when streaming a file


# -- dates -----------------------------------------------------------------------------------

def parse_longmemeval_date(text: str) -> datetime:
    """``"2023/05/20 (Sat) 02:21"`` as a UTC datetime (the weekday is optional); ISO 8601 too."""
    cleaned = text.strip()
    for fmt in (DATE_FORMAT, "%Y/%m/%d %H:%M", "%Y/%m/%d"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        dt = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidDataset(f"cannot read {text!r} as a date like '2023/05/20 (Sat) 02:21'") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_longmemeval_date(dt: datetime) -> str:
    """``dt`` in the published form, ``"2023/05/20 (Sat) 02:21"``."""
    return dt.strftime(DATE_FORMAT)


# -- reading ---------------------------------------------------------------------------------

def load_longmemeval(path: str | Path, *, question_ids: Iterable[str] | None = None,
                     question_types: Iterable[str] | None = None, limit: int | None = None,
                     empty_turns: str = "error") -> list[Sample]:
    """The instances of a LongMemEval file as ``Sample`` records (see ``iter_longmemeval``)."""
    return list(iter_longmemeval(path, question_ids=question_ids, question_types=question_types, limit=limit,
                                 empty_turns=empty_turns))


def iter_longmemeval(path: str | Path, *, question_ids: Iterable[str] | None = None,
                     question_types: Iterable[str] | None = None, limit: int | None = None,
                     empty_turns: str = "error") -> Iterator[Sample]:
    """Each instance of a LongMemEval file as a ``Sample``, read one at a time.

    ``question_ids`` / ``question_types`` keep only those (an unknown type raises); ``limit``
    stops after that many. A turn whose content is empty after stripping raises, unless
    ``empty_turns="skip"``: it is then left out and its dialogue id listed in the sample's
    ``conversation.metadata["empty_turns"]``.
    """
    path = Path(path)
    if empty_turns not in ("error", "skip"):
        raise ConfigurationError(f"empty_turns={empty_turns!r}: use 'error' or 'skip'")
    if path.is_dir():
        found = sorted(p.name for p in path.glob("longmemeval_*.json"))
        raise InvalidConversation(f"{path}: a folder; pass one of its files ({', '.join(found) or 'none here'}): "
                                  f"each of {', '.join(FILES)} asks the same questions over other histories")
    ids = None if question_ids is None else set(question_ids)
    types = None if question_types is None else set(question_types)
    if types is not None and (unknown := sorted(types - set(QUESTION_TYPES))):
        raise InvalidConversation(f"unknown question type {unknown[0]!r}; LongMemEval's are "
                                  f"{', '.join(QUESTION_TYPES)}")
    seen: set[str] = set()
    count = 0
    with path.open(encoding="utf-8") as f:
        for k, record in enumerate(_records(f, str(path))):
            where = f"{path}: instance {k}"
            qid = record.get("question_id") if isinstance(record, dict) else None
            if qid in seen:
                raise InvalidConversation(f"{where}: question_id {qid!r} appears more than once")
            seen.add(qid)
            if (ids is not None and qid not in ids) or (types is not None and record.get("question_type") not in types):
                continue
            yield parse_instance(record, where=where, empty_turns=empty_turns)
            count += 1
            if limit is not None and count >= limit:
                return


def _records(f: TextIO, source: str) -> Iterator[Any]:
    """The items of the JSON list in ``f``, decoded one at a time."""
    decoder = json.JSONDecoder()
    buf, pos, first = f.read(_READ), 0, True

    def skip() -> None:  # to the next non-blank character, reading more when needed
        nonlocal buf, pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf):
                return
            buf, pos = f.read(_READ), 0
            if not buf:
                raise InvalidConversation(f"{source}: not valid JSON: the file ends inside the list of instances")

    skip()
    if buf[pos] != "[":
        raise InvalidConversation(f"{source}: expected a JSON list of instances (LongMemEval's format), "
                                  f"found {buf[pos:pos + 20]!r}")
    pos += 1
    while True:
        skip()
        if buf[pos] == "]":
            return
        if not first:
            if buf[pos] != ",":
                raise InvalidConversation(f"{source}: not valid JSON: expected ',' between instances, "
                                          f"found {buf[pos:pos + 20]!r}")
            pos += 1
            skip()
        first = False
        item, buf, pos = _decode(decoder, f, buf, pos, source)
        yield item


def _decode(decoder: json.JSONDecoder, f: TextIO, buf: str, pos: int, source: str) -> tuple[Any, str, int]:
    """One JSON value starting at ``buf[pos]``, reading more of ``f`` until it is whole."""
    size = _READ
    while True:
        try:
            item, end = decoder.raw_decode(buf, pos)
            return item, buf[end:], 0
        except json.JSONDecodeError as e:
            more = f.read(size)
            if not more:
                raise InvalidConversation(f"{source}: not valid JSON ({e.msg} in the instance starting "
                                          f"{buf[pos:pos + 30]!r})") from None
            buf, pos, size = buf[pos:] + more, 0, size * 2  # whole instances are a few MB at most


def parse_instance(record: Any, *, where: str = "instance", empty_turns: str = "error") -> Sample:
    """One LongMemEval instance (a dict) as a ``Sample``; ``where`` prefixes every error."""
    _expect(record, dict, where, "an instance")
    qid = _get(record, "question_id", str, where)
    where = f"{where} ({qid})"
    qtype = _get(record, "question_type", str, where)
    if qtype not in CATEGORIES:
        raise InvalidConversation(f"{where}: question_type: {qtype!r} is not one of {', '.join(QUESTION_TYPES)}")
    question = _get(record, "question", str, where)
    if not question.strip():
        raise InvalidConversation(f"{where}: question: empty")
    answer = _answer(record.get("answer"), where)
    asked_at = _date(_get(record, "question_date", str, where), f"{where}: question_date")
    sessions = _sessions(record, where)
    builder = _Builder(qid, where, empty_turns)
    for n, (sid, dt, date_text, turns) in enumerate(sessions, 1):
        builder.session(n, sid, dt, date_text, turns)
    infos = builder.finish()
    evidence = [d for d, has in builder.answer_turns if has]
    item = QAItem(question=question, answer=answer, evidence=evidence,
                  category=5 if qid.endswith(ABSTENTION_SUFFIX) else CATEGORIES[qtype], question_type=qtype,
                  question_id=qid, asked_at=asked_at)
    conv = builder.conversation
    conv.metadata.update({"question_type": qtype, "question_date": record["question_date"],
                          "answer_session_ids": list(record.get("answer_session_ids") or [])})
    if builder.skipped:
        conv.metadata["empty_turns"] = builder.skipped
    if infos:
        conv.created_at = infos[0].date_time
    if conv.messages:
        conv.last_updated = conv.messages[-1].created_at
    return Sample(sample_id=qid, speakers=("user", "assistant"), conversation=conv, qa=[item], sessions=infos,
                  dia_index=builder.dia_index, dia_text=builder.dia_text, raw=record)


def _answer(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidConversation(f"{where}: answer: expected a string or a number, got {type(value).__name__}")
    return str(value)


def _date(text: str, where: str) -> datetime:
    try:
        return parse_longmemeval_date(text)
    except ValueError as e:
        raise InvalidConversation(f"{where}: {e}") from None


def _sessions(record: dict[str, Any], where: str) -> list[tuple[str, datetime, str, list[Any]]]:
    """``(session id, date, date text, turns)`` per session, in date order (ties: as listed)."""
    ids = _get(record, "haystack_session_ids", list, where)
    dates = _get(record, "haystack_dates", list, where)
    sessions = _get(record, "haystack_sessions", list, where)
    if not len(ids) == len(dates) == len(sessions):
        raise InvalidConversation(f"{where}: haystack_session_ids, haystack_dates and haystack_sessions have "
                                  f"{len(ids)}, {len(dates)} and {len(sessions)} entries: they must match")
    if not sessions:
        raise InvalidConversation(f"{where}: haystack_sessions: empty (no history to ask about)")
    out = []
    for k, (sid, date_text, turns) in enumerate(zip(ids, dates, sessions, strict=True)):
        if not isinstance(sid, str) or not sid.strip():
            raise InvalidConversation(f"{where}: haystack_session_ids[{k}]: expected a non-empty string")
        if not isinstance(date_text, str):
            raise InvalidConversation(f"{where}: haystack_dates[{k}]: expected a date string")
        _expect(turns, list, f"{where}: haystack_sessions[{k}]", "a session (a list of turns)")
        out.append((sid, _date(date_text, f"{where}: haystack_dates[{k}]"), date_text.strip(), turns))
    if len({s[0] for s in out}) != len(out):
        raise InvalidConversation(f"{where}: haystack_session_ids: a session id appears more than once")
    return sorted(out, key=lambda s: s[1])


class _Builder(MessageRuns):
    """Sessions of turns into messages (``MessageRuns``), date lines first, evidence noted."""

    def __init__(self, qid: str, where: str, empty_turns: str):
        super().__init__(qid, Conversation(session_id=qid, system_prompt=SYSTEM_PROMPT, model=DEFAULT_MODEL,
                                           metadata={"sample_id": qid, "dataset": "longmemeval"}))
        self.where, self.skip_empty = where, empty_turns == "skip"
        self.answer_turns: list[tuple[str, bool]] = []
        self.skipped: list[str] = []

    def session(self, n: int, sid: str, dt: datetime, date_text: str, turns: list[Any]) -> None:
        self.start_session(n, dt, date_text)
        header = f"[{format_locomo_date(dt)}]\n"
        for k, turn in enumerate(turns):
            where = f"{self.where}: haystack_sessions[{n - 1}] ({sid}) turn {k}"
            _expect(turn, dict, where, "a turn")
            role = _get(turn, "role", str, where)
            if role not in ("user", "assistant"):
                raise InvalidConversation(f"{where}: role: {role!r} is neither 'user' nor 'assistant'")
            text = _get(turn, "content", str, where).strip()
            dia_id = f"{sid}:{k}"
            if not text:
                if not self.skip_empty:
                    raise InvalidConversation(f"{where}: content: empty (load with empty_turns='skip' to leave "
                                              "such turns out, listed in the sample's metadata)")
                self.skipped.append(dia_id)
                continue
            if not self.conversation.messages and not self.run and role == "assistant":
                self.add("user", f"{header}(The assistant speaks first.)", f"{self.sample_id}:{sid}:opener", [],
                         None, [n])
                header = ""
            self.turn(n, role, role, dia_id, text, header + text)
            header = ""
            self.answer_turns.append((dia_id, turn.get("has_answer") is True))


# -- writing ---------------------------------------------------------------------------------

def write_longmemeval_json(records: Iterable[Sample | Mapping[str, Any]], path: str | Path) -> Path:
    """Write instances (``Sample`` objects, written as their ``raw`` record, or record dicts) as a
    LongMemEval file, one instance at a time; the bytes depend only on the records."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for k, r in enumerate(records):
            f.write(("," if k else "") + "\n" + json.dumps(r.raw if isinstance(r, Sample) else dict(r),
                                                           ensure_ascii=False))
        f.write("\n]\n")
    return path
