"""``FullHistory``: send everything, cached so each turn reads the previous turn's prefix."""

from __future__ import annotations

from typing import Any, ClassVar

from convolab.model import Conversation
from convolab.strategies.base import BaseStrategy, Payload


class FullHistory(BaseStrategy):
    """Every stored message, every turn: the baseline the other strategies are measured against.

    With caching on (the default) the system prompt carries a breakpoint and the request a
    top-level ``cache_control``, so turn N reads turn N-1's whole prompt from the cache and
    writes only the new exchange. When the history outgrows the model's window it raises
    ``ContextOverflow`` instead of sending a request the API would refuse.
    """

    name: ClassVar[str] = "full"

    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        return self.finish(conversation, start=0)
