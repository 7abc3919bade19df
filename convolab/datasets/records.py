"""The records every dataset loads into: a ``Sample`` with its conversation, sessions and QA.

Both the LoCoMo loader and the synthetic generator produce these, so one replay harness
runs both. A ``Sample`` keeps the published record it came from (``raw``), which is what
``write_locomo_json`` writes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from convolab.errors import NotFound
from convolab.model import Conversation, Message

__all__ = ["CATEGORY_NAMES", "PlantedFact", "QAItem", "Sample", "SessionInfo"]

#: LoCoMo's QA categories as commonly labelled. The benchmark's README notes that papers
#: disagree on which of 1 and 4 is multi-hop and which single-hop; convolab uses these.
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}


@dataclass(frozen=True)
class QAItem:
    """One question about a conversation.

    ``answer`` is the gold answer as text (numbers become text; ``""`` for a category 5
    item that has none). Category 5 items are adversarial: their premise is false, the right
    reply is that it was not mentioned, and ``adversarial_answer`` is the tempting wrong
    answer. ``evidence`` lists the dialogue ids (``"D3:5"``) of the turns that answer it.

    LongMemEval items also carry ``question_type`` (the published type, e.g.
    ``"knowledge-update"``), ``question_id`` and ``asked_at`` (the question's date, UTC); their
    ``category`` is the nearest LoCoMo category (5 for abstention), see
    ``convolab.datasets.longmemeval``. The three are None for LoCoMo and synthetic items.
    """

    question: str
    answer: str
    evidence: list[str]
    category: int
    adversarial_answer: str | None = None
    question_type: str | None = None
    question_id: str | None = None
    asked_at: datetime | None = None

    @property
    def category_name(self) -> str:
        """LongMemEval's ``question_type`` when there is one, else LoCoMo's category name."""
        return self.question_type or CATEGORY_NAMES[self.category]

    @property
    def is_adversarial(self) -> bool:
        return self.category == 5


@dataclass(frozen=True)
class SessionInfo:
    """One session: its number, when it happened, and the messages it became.

    ``date_time`` is timezone-aware UTC (the published strings carry no zone);
    ``date_text`` is the string as published. ``message_ids`` are in order; the first
    one's text starts with ``[date_text]``.
    """

    index: int
    date_time: datetime
    date_text: str
    message_ids: list[str]
    dia_ids: list[str]

    @property
    def first_message_id(self) -> str | None:
        return self.message_ids[0] if self.message_ids else None


@dataclass(frozen=True)
class PlantedFact:
    """A fact the synthetic generator planted: each value in the order it was stated.

    ``dia_ids[k]`` is the turn that states ``values[k]``; the last value is the current one.
    """

    key: str
    kind: str
    values: list[str]
    dia_ids: list[str]

    @property
    def value(self) -> str:
        return self.values[-1]

    @property
    def dia_id(self) -> str:
        return self.dia_ids[-1]

    @property
    def updated(self) -> bool:
        return len(self.values) > 1


@dataclass(eq=False)
class Sample:
    """One conversation of a dataset, ready to replay, with its questions.

    ``speakers`` is ``(speaker_a, speaker_b)``: the ``user`` and the ``assistant``.
    ``dia_index`` maps every dialogue id to the id of the message holding its text, and
    ``dia_text`` to that text as it appears there (``"Name: text [shares a photo: ...]"``).
    ``facts`` is empty except for synthetic samples. ``raw`` is the published record.
    """

    sample_id: str
    speakers: tuple[str, str]
    conversation: Conversation
    qa: list[QAItem]
    sessions: list[SessionInfo]
    dia_index: dict[str, str]
    dia_text: dict[str, str]
    facts: list[PlantedFact] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tools(self) -> list[dict[str, Any]] | None:
        """Tool definitions the conversation's tool exchanges use (``None`` when it has none)."""
        return self.conversation.tools

    def message(self, dia_id: str) -> Message:
        """The message holding dialogue turn ``dia_id`` (``NotFound`` when no turn has that id)."""
        try:
            return self.conversation.get(self.dia_index[dia_id])
        except KeyError:
            raise NotFound("dialogue turn", dia_id,
                           hint=f"Sample {self.sample_id!r} has no turn with that dia_id.") from None

    def evidence_messages(self, item: QAItem) -> list[Message]:
        """The messages holding ``item``'s evidence turns, in conversation order, each once.

        Evidence ids that name no turn are left out here; ``missing_evidence`` lists them.
        """
        ids = {self.dia_index[d] for d in item.evidence if d in self.dia_index}
        return [m for m in self.conversation.messages if m.id in ids]

    def missing_evidence(self) -> list[tuple[int, str]]:
        """``(qa index, dia_id)`` for every evidence id that names no turn of this sample."""
        return [(k, d) for k, item in enumerate(self.qa) for d in item.evidence if d not in self.dia_index]
