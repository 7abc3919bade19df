"""Messages as a transcript a model reads: each under its role, with the date it was sent.

Used for the side calls strategies make (``Summarizing``'s summaries, ``StructuredMemory``'s
extraction), so that the model can tell who said what and resolve "yesterday" against the day
it was said. A date line (``[8 May 2023, 13:56]``) opens the transcript and comes again
whenever the day changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from convolab.dates import fmt_date
from convolab.model import Message

__all__ = ["transcript"]


def transcript(messages: Iterable[Message], *, max_chars: int | None = None) -> str:
    """``User: ...`` / ``Assistant: ...`` paragraphs, a date line before the first message and
    before each one sent on another day; each text cut to ``max_chars`` when given."""
    out: list[str] = []
    day = None
    for m in messages:
        text = m.text if max_chars is None else m.text[:max_chars]
        if not text.strip():
            continue
        when = m.created_at
        head = ""
        if when is not None and when.date() != day:
            day = when.date()
            head = f"[{fmt_date(day)}, {when.strftime('%H:%M')}]\n"
        out.append(f"{head}{'User' if m.role == 'user' else 'Assistant'}: {text}")
    return "\n\n".join(out)
