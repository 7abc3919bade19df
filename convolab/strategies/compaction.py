"""``ServerCompaction``: let the API compact the context server-side (beta), with a client-side
fallback for models that do not support it.

The request carries ``context_management`` with a ``compact_20260112`` edit (and, optionally,
``clear_tool_uses_20250919``). When the prompt passes ``trigger_tokens`` the API summarizes the
conversation into a ``compaction`` block at the start of its reply; the application stores the
reply as usual. From then on everything before that block is ignored by the API, so this
strategy sends history from the turn that holds the last compaction block (the user message
opening it keeps the request valid; the API drops it with the rest). Models whose catalog row
lacks ``compaction`` get ``fallback`` (by default ``Summarizing`` with the trigger as budget).
"""

from __future__ import annotations

from typing import Any, ClassVar

from convolab import catalog
from convolab.model import Conversation, Turn, blocks_of
from convolab.strategies.base import BaseStrategy, Payload, Strategy, check_knob
from convolab.strategies.summarizing import Summarizing

COMPACT_BETA = "compact-2026-01-12"
CLEAR_BETA = "context-management-2025-06-27"
MIN_TRIGGER = 50_000  # the API's floor for compact_20260112


class ServerCompaction(BaseStrategy):
    """Full history, compacted by the API past ``trigger_tokens`` (at least 50,000).

    ``clear_tool_uses=True`` also asks the API to clear old tool results (keeping the last
    ``keep_tool_uses``). ``fallback`` is used as is for models without server compaction.
    """

    name: ClassVar[str] = "compaction"

    def __init__(self, trigger_tokens: int = 150_000, *, clear_tool_uses: bool = False, keep_tool_uses: int = 3,
                 pause_after_compaction: bool = False, fallback: Strategy | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.trigger_tokens = check_knob("trigger_tokens (the API's minimum for compaction)", trigger_tokens,
                                         minimum=MIN_TRIGGER)
        self.clear_tool_uses = clear_tool_uses
        self.keep_tool_uses = check_knob("keep_tool_uses", keep_tool_uses, minimum=0)
        self.pause_after_compaction = pause_after_compaction
        self.fallback = fallback or Summarizing(budget_tokens=trigger_tokens, **kwargs)
        self.side_usage = self.fallback.side_usage  # the fallback's side calls are this strategy's

    def supported(self, model: str) -> bool:
        return catalog.get_model(model).supports("compaction")

    def edits(self) -> list[dict[str, Any]]:
        compact: dict[str, Any] = {"type": "compact_20260112",
                                   "trigger": {"type": "input_tokens", "value": self.trigger_tokens}}
        if self.pause_after_compaction:
            compact["pause_after_compaction"] = True
        edits = [compact]
        if self.clear_tool_uses:
            edits.insert(0, {"type": "clear_tool_uses_20250919",
                             "keep": {"type": "tool_uses", "value": self.keep_tool_uses}})
        return edits

    def compaction_start(self, conversation: Conversation) -> int:
        """Index of the first message to send: the start of the turn holding the last compaction block."""
        msgs = conversation.messages
        for k in range(len(msgs) - 1, -1, -1):
            if msgs[k].role == "assistant" and any(
                    b.get("type") == "compaction" and b.get("content") for b in blocks_of(msgs[k])):
                starts = self.index(conversation).turn_starts
                return max((s for s in starts if s <= k), default=0)
        return 0

    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        model = self.model_for(conversation)
        if not self.supported(model):
            payload = self.fallback.build(conversation, client=client)
            payload.strategy = self.name
            payload.cache.breakpoints.append(f"client-side fallback: {self.fallback.name}")
            return payload
        betas = [COMPACT_BETA] + ([CLEAR_BETA] if self.clear_tool_uses else [])
        return self.finish(conversation, start=self.compaction_start(conversation),
                           extra_request={"context_management": {"edits": self.edits()}}, betas=betas)

    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        if conversation is not None and not self.supported(self.model_for(conversation)):
            self.fallback.observe(turn, client=client, conversation=conversation)

    def forget(self, conversation: Conversation) -> None:
        super().forget(conversation)
        self.fallback.forget(conversation)

    def retract(self, conversation: Conversation) -> None:
        super().retract(conversation)
        self.fallback.retract(conversation)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "trigger_tokens": self.trigger_tokens, "fallback": self.fallback.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get("fallback"):
            self.fallback.load_state(state["fallback"])
