"""``SlidingWindow``: the last N turns, or as many whole turns as fit a token budget."""

from __future__ import annotations

from typing import Any, ClassVar

from convolab.errors import ConfigurationError
from convolab.model import Conversation
from convolab.strategies.base import BaseStrategy, Payload, check_knob


class SlidingWindow(BaseStrategy):
    """Recent turns only, cut at turn boundaries (never inside a tool exchange).

    ``max_turns`` is the last N user turns with their replies;
    ``budget_tokens`` caps everything billed as input: system prompt, tools and the window.
    With both, the tighter one wins. Older turns are dropped entirely: a fact from turn 3 is
    gone once the window has moved past it.
    """

    name: ClassVar[str] = "sliding"

    def __init__(self, max_turns: int | None = None, budget_tokens: int | None = None, *,
                 headroom: float = 0.25, **kwargs: Any):
        super().__init__(**kwargs)
        if max_turns is None and budget_tokens is None:
            max_turns = 10
        if isinstance(headroom, bool) or not isinstance(headroom, int | float) or not 0 <= headroom < 1:
            raise ConfigurationError(f"headroom must be at least 0 and below 1 (a share of the budget), got {headroom!r}")
        self.max_turns = check_knob("max_turns", max_turns, optional=True)
        self.budget_tokens = check_knob("budget_tokens", budget_tokens, optional=True)
        self.headroom = headroom
        self._starts: dict[str, str] = {}  # conversation id -> id of the message the window starts at

    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        model = self.model_for(conversation)
        fixed = self.fixed_tokens(conversation, model, [])
        room = self.window_limit(model) if self.budget_tokens is None else min(self.budget_tokens, self.window_limit(model))
        available = room - fixed["system"] - fixed["tools"]
        idx = self.index(conversation)
        w = idx.window(max_turns=self.max_turns, budget_tokens=max(available, 0))
        if not w.empty and self.budget_tokens is not None and self.cache and self.headroom:
            w = self.stable_window(conversation, idx, w, available, self._starts, self.headroom,
                                       max_turns=self.max_turns)
        if w.empty:
            raise self.newest_turn_overflow(conversation, fixed["system"] + fixed["tools"], room,
                                            hint="The system prompt, tools and the newest turn alone exceed "
                                            "budget_tokens; raise it or shorten the newest message.")
        return self.finish(conversation, start=w.start, budget=self.budget_tokens)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "max_turns": self.max_turns, "budget_tokens": self.budget_tokens,
                "headroom": self.headroom, "starts": dict(self._starts)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._starts = dict(state.get("starts", {}))
