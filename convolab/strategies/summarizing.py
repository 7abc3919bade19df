"""``Summarizing``: a running summary of older turns, plus recent turns verbatim.

The summary grows by appending blocks, one per compression, each recording the message ids it
covers and its version; earlier blocks are never rewritten, so the prefix (system prompt,
summary blocks) stays in the prompt cache from one compression to the next. The summary model
reads the older turns as a transcript (each message under its role, with the date it was sent,
so that "yesterday" becomes a date) and is asked for prose that keeps names, numbers, dates and
requirements. Requirements the user stated in what a block covers ("must", "never", "please",
"don't", ...; not "I'll never forget", which is a feeling, not an instruction) are pinned
verbatim in a block of their own after the summaries, so that a requirement from turn 3
survives to turn 15. Compression runs only past a clear threshold (``compress_at`` tokens of
older, unsummarized history), with a cheaper ``summary_model``, in ``observe()`` after a reply,
or in ``build()`` when the history would not fit otherwise. When the summaries outgrow
``max_summary_tokens`` they are folded into one, written to ``CONSOLIDATE_SHARE`` of that size
(not to one block's size: folding must not throw away most of what was kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from convolab.blocks import SUMMARY_MARKER, content_text, reply_text
from convolab.errors import ConfigurationError
from convolab.model import Conversation, Message, Turn
from convolab.strategies.base import BaseStrategy, Payload, check_knob
from convolab.strategies.transcript import transcript

REQUIREMENT = re.compile(r"\b(must|never|always|don't|do not|need to|needs to|have to|has to|require[sd]?|prefer|"
                         r"please)\b", re.I)
# "I'll never forget", "I always loved", "that must have been fun": feelings and guesses, not instructions
NOT_REQUIREMENT = re.compile(r"\b(?:I|I'll|I've|I'd|we|we'll|we've|you'll|it|it's|that|this|they)\s+(?:\w+\s+)?"
                             r"(?:never|always)\b|\bmust(?:'ve| have)\b|\b(?:always|never) (?:been|had)\b", re.I)
CONSOLIDATE_SHARE = 0.6  # of max_summary_tokens: the size one folded summary is written to
WORDS_PER_TOKEN = 0.7
SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class SummaryBlock:
    version: int
    text: str
    covers: list[str]  # message ids, in order
    model: str


@dataclass
class Pin:
    text: str
    message_id: str


class Summarizing(BaseStrategy):
    """Older turns compressed into an append-only summary; recent turns sent verbatim.

    ``budget_tokens`` caps everything billed as input; ``keep_recent_turns`` turns are never
    summarized; ``compress_at`` (default: half the budget) is the size of the older,
    unsummarized history that triggers a compression;
    ``summary_model`` writes the summaries (a cheaper model does this well);
    ``summary_words`` is the length asked of one compression; ``max_summary_tokens`` (default:
    half the budget) is the size past which the summaries are folded into one.
    """

    name: ClassVar[str] = "summarizing"

    def __init__(self, budget_tokens: int = 8000, keep_recent_turns: int = 4, *,
                 summary_model: str = "claude-haiku-4-5", compress_at: int | None = None,
                 summary_words: int = 150, max_pins: int = 20, max_summary_tokens: int | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if keep_recent_turns < 1:
            raise ConfigurationError("keep_recent_turns must be at least 1")
        self.budget_tokens = check_knob("budget_tokens", budget_tokens)
        self.keep_recent_turns = keep_recent_turns
        self.summary_model = summary_model
        self.compress_at = compress_at if compress_at is not None else budget_tokens // 2
        self.summary_words = summary_words
        self.max_pins = max_pins
        self.max_summary_tokens = max_summary_tokens if max_summary_tokens is not None else budget_tokens // 2
        self.summaries: list[SummaryBlock] = []
        self.pins: list[Pin] = []
        self.side_usage: list[tuple[str, Any]] = []  # (model, usage) of summary calls, for the ledger

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        # what asdict gives, without its per-element deep copy (the replay compares states per question)
        return {**super().state(), "summaries": [{**vars(b), "covers": list(b.covers)} for b in self.summaries],
                "pins": [dict(vars(p)) for p in self.pins]}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.summaries = [SummaryBlock(**b) for b in state.get("summaries", [])]
        self.pins = [Pin(**p) for p in state.get("pins", [])]

    # -- helpers -----------------------------------------------------------------------------
    def covered_until(self, conversation: Conversation) -> int:
        """Index of the first message no summary covers."""
        if not self.summaries:
            return 0
        return conversation.index_of(self.summaries[-1].covers[-1]) + 1

    def _blocks(self) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        blocks = [("summary", {"type": "text", "text": f"[Summary of earlier conversation, part {b.version}]\n{b.text}"})
                  for b in self.summaries]
        volatile = 0
        if self.pins:
            pinned = "\n".join(f"- {p.text}" for p in self.pins)
            blocks.append(("summary", {"type": "text", "text": f"[Requirements the user stated earlier, verbatim]\n{pinned}"}))
            volatile = 1
        return blocks, volatile

    def _recent_start(self, conversation: Conversation) -> int:
        starts = self.index(conversation).turn_starts
        return starts[-self.keep_recent_turns] if len(starts) >= self.keep_recent_turns else 0

    def compress(self, conversation: Conversation, client: Any, *, upto: int | None = None) -> SummaryBlock | None:
        """Summarize the unsummarized turns before the recent ones (or before ``upto``)."""
        start = self.covered_until(conversation)
        end = self._recent_start(conversation) if upto is None else upto
        if end <= start:
            return None
        old = conversation.messages[start:end]
        said = transcript(old)
        prompt = (f"{SUMMARY_MARKER} Summarize the key facts, decisions, names, numbers and dates of this part "
                  f"of our conversation in at most {self.summary_words} words, as prose that says who did what "
                  f"and when. Keep what the user requires word for word.\n\n{said or '(no text)'}")
        text = self._ask(client, prompt) or "(nothing to keep)"
        block = SummaryBlock(self._next_version(), text, [m.id for m in old], self.summary_model)
        self.summaries.append(block)
        self._pin(old)
        if len(self.summaries) > 1 and self._summary_tokens(conversation) > self.max_summary_tokens:
            block = self.consolidate(conversation, client)
        return block

    def _ask(self, client: Any, prompt: str, *, max_words: int | None = None) -> str:
        """The one request summarizing makes (its only side call): ``prompt`` to the summary
        model, room for ``max_words`` (default ``summary_words``); its usage is kept for the
        ledger."""
        reply = client.messages.create(model=self.summary_model, max_tokens=(max_words or self.summary_words) * 3,
                                       messages=[{"role": "user", "content": prompt}])
        self.side_usage.append((self.summary_model, reply.usage))
        return reply_text(reply).strip()

    def _next_version(self) -> int:
        return self.summaries[-1].version + 1 if self.summaries else 1

    def _summary_tokens(self, conversation: Conversation) -> int:
        model = self.model_for(conversation)
        blocks = [b for _, b in self._blocks()[0][:len(self.summaries)]]  # summaries, not the pins
        return self.counter.count_system(blocks, model=model) - self.counter.count_system(None, model=model)

    def consolidate(self, conversation: Conversation, client: Any) -> SummaryBlock:
        """Fold every summary block into one (when they outgrow ``max_summary_tokens``).

        The only time earlier summary text is rewritten: the cached prefix is written once more,
        and the appended blocks start again from this one. The new block covers every message
        the old ones covered and takes the next version number.
        """
        texts = "\n\n".join(b.text for b in self.summaries)
        words = max(self.summary_words, int(CONSOLIDATE_SHARE * self.max_summary_tokens * WORDS_PER_TOKEN))
        prompt = (f"{SUMMARY_MARKER} Merge these summaries of one conversation into a single summary of at most "
                  f"{words} words, keeping names, numbers, dates, decisions and what the user "
                  f"requires.\n\n{texts}")
        text = self._ask(client, prompt, max_words=words) or texts
        covers = [i for b in self.summaries for i in b.covers]
        block = SummaryBlock(self._next_version(), text, covers, self.summary_model)
        self.summaries = [block]
        return block

    def _pin(self, messages: list[Message]) -> None:
        seen = {p.text for p in self.pins}
        for m in messages:
            if m.role != "user":
                continue
            for sentence in SENTENCE.split(content_text(m.content)):
                sentence = sentence.strip()
                if sentence and REQUIREMENT.search(sentence) and not NOT_REQUIREMENT.search(sentence) \
                        and not sentence.endswith("?") and sentence not in seen:
                    self.pins.append(Pin(sentence, m.id))
                    seen.add(sentence)
        del self.pins[:-self.max_pins]  # the newest requirements win when there are too many

    def _older_tokens(self, conversation: Conversation) -> int:
        return self.index(conversation).tokens(self.covered_until(conversation), self._recent_start(conversation))

    # -- protocol ----------------------------------------------------------------------------
    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """After a reply: compress if the older, unsummarized history passed ``compress_at``."""
        if client is not None and conversation is not None and self._older_tokens(conversation) > self.compress_at:
            self.compress(conversation, client)

    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        model = self.model_for(conversation)
        idx = self.index(conversation)
        if client is not None and self._older_tokens(conversation) > self.compress_at:
            self.compress(conversation, client)
        extra, volatile = self._blocks()
        fixed = self.fixed_tokens(conversation, model, [b for _, b in extra])
        room = min(self.budget_tokens, self.window_limit(model))
        available = room - fixed["system"] - fixed["tools"] - fixed["extra"]
        start = self.covered_until(conversation)
        w = idx.window(budget_tokens=max(available, 0), min_start=start)
        if w.empty:
            raise self.newest_turn_overflow(conversation, fixed["system"] + fixed["tools"] + fixed["extra"], room,
                                            hint="System prompt, summary and the newest turn exceed budget_tokens; "
                                            "raise it, lower summary_words, or shorten the message.")
        return self.finish(conversation, start=w.start, extra_system=extra, budget=self.budget_tokens,
                           volatile_system=volatile)
