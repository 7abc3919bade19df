"""Dialogue turns into messages: each run of one speaker becomes one message, never dropped.

Both dataset readers (LoCoMo, LongMemEval) feed their turns through ``MessageRuns``: a turn
joins the current run while its speaker talks, a new speaker flushes the run into a message
(its turns joined by a blank line), and every message is timed by the last session it holds
text of, ``MESSAGE_SPACING`` after the one before it in that session. A run may cross a
session boundary; the new session's date line then sits inside the message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from convolab.datasets.records import SessionInfo
from convolab.model import Conversation

#: How far apart the messages of one session are placed in time.
MESSAGE_SPACING = timedelta(seconds=10)


class MessageRuns:
    """The messages of one conversation, built turn by turn (see the module docstring).

    ``dia_index`` maps each dialogue id to its message's id, ``dia_text`` to its text there.
    """

    def __init__(self, sample_id: str, conversation: Conversation):
        self.sample_id = sample_id
        self.conversation = conversation
        self.dia_index: dict[str, str] = {}
        self.dia_text: dict[str, str] = {}
        self.run: list[tuple[str, str, int]] = []  # (dia_id, text in the message, session) of one speaker
        self.run_speaker: str | None = None
        self.run_role = "user"
        self.info: dict[int, tuple[datetime, str, list[str], list[str]]] = {}  # n -> dt, text, msg ids, dia ids

    def start_session(self, n: int, dt: datetime, date_text: str) -> None:
        self.info[n] = (dt, date_text, [], [])

    def turn(self, n: int, speaker: str, role: str, dia_id: str, text: str, shown: str) -> None:
        """Add turn ``dia_id`` of session ``n``: ``text`` is the turn, ``shown`` how the message
        holds it (a date line or the speaker's name may come first)."""
        if self.run and speaker != self.run_speaker:
            self.flush()
        self.run_speaker, self.run_role = speaker, role
        self.run.append((dia_id, shown, n))
        self.dia_text[dia_id] = text
        self.info[n][3].append(dia_id)

    def flush(self, tool_use: dict[str, Any] | None = None) -> None:
        """End the current run: one message with its turns (and ``tool_use``, when given, after them)."""
        if not self.run:
            return
        dia_ids = [d for d, _, _ in self.run]
        text = "\n\n".join(t for _, t, _ in self.run)
        content: Any = text if tool_use is None else [{"type": "text", "text": text}, tool_use]
        self.add(self.run_role, content, f"{self.sample_id}:{dia_ids[0]}", dia_ids, self.run_speaker,
                 list(dict.fromkeys(n for _, _, n in self.run)))
        self.run, self.run_speaker = [], None

    def add(self, role: str, content: Any, msg_id: str, dia_ids: list[str], speaker: str | None,
            sessions: list[int]) -> None:
        """Append a message (``metadata``: its sessions, dialogue ids and speaker), timed by the
        last session it holds text of."""
        dt, _, ids, _ = self.info[sessions[-1]]
        metadata: dict[str, Any] = {"sessions": sessions, "dia_ids": dia_ids}
        if speaker is not None:
            metadata["speaker"] = speaker
        msg = self.conversation.add(role, content, id=msg_id, metadata=metadata,
                                    created_at=dt + MESSAGE_SPACING * len(ids))
        for n in sessions:
            self.info[n][2].append(msg.id)
        for d in dia_ids:
            self.dia_index[d] = msg.id

    def finish(self) -> list[SessionInfo]:
        """Flush the last run; the sessions, in the order they were started."""
        self.flush()
        return [SessionInfo(n, dt, text, ids, dia) for n, (dt, text, ids, dia) in self.info.items()]
