"""``SimTokenCounter``: the simulator's billing as a local ``TokenCounter``.

The simulator bills additively (``convolab.sim.billing``), so the parts of a request counted
here add up to the total ``count_tokens`` returns for it: the request overhead is counted with
the system prompt (it is there even with no system prompt), the model's tool-use prompt with
the tools. ``count_tools`` counts the tool-use prompt of ``tool_choice`` auto, as the protocol's
callers send it (and as ``ExactCounter`` measures it); pass ``tool_choice`` for a forced choice,
which bills more (the catalog's ``tool_prompt_tokens``). Consecutive same-role messages make
the local sum larger than the bill (the API merges them, saving one message's framing), and on
models that strip earlier turns' thinking blocks the bill leaves those out.
"""

from __future__ import annotations

from typing import Any

from convolab import catalog
from convolab.model import Message, MessageLike, blocks_of, role_of
from convolab.sim.billing import (
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    block_tokens,
    tool_tokens,
)
from convolab.sim.tokenizer import Tokenizer


class SimTokenCounter:
    """Counts tokens exactly as the simulator bills them, memoized per message."""

    name = "sim"
    version = 0  # counts never change

    def __init__(self) -> None:
        self._tokenizers: dict[str, Tokenizer] = {}

    def _tok(self, model: str) -> Tokenizer:
        gen = catalog.get_model(model).tokenizer
        tok = self._tokenizers.get(gen)
        if tok is None:
            tok = self._tokenizers[gen] = Tokenizer(gen)
        return tok

    def _message(self, message: MessageLike, model: str) -> int:
        tok = self._tok(model)
        return MESSAGE_OVERHEAD + sum(block_tokens(tok, b) for b in blocks_of(message))

    def count_message(self, message: MessageLike, *, model: str) -> int:
        if isinstance(message, Message):
            gen = catalog.get_model(model).tokenizer
            return message.memo(("sim", gen), lambda: self._message(message, model))
        role_of(message)  # a malformed dict fails here, not deep inside
        return self._message(message, model)

    def count_system(self, system: str | list[dict[str, Any]] | None, *, model: str) -> int:
        tok = self._tok(model)
        if not system:
            return REQUEST_OVERHEAD
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        return REQUEST_OVERHEAD + sum(block_tokens(tok, b) for b in blocks)

    def count_tools(self, tools: list[dict[str, Any]] | None, *, model: str,
                    tool_choice: dict[str, Any] | None = None) -> int:
        if not tools:
            return 0
        tok = self._tok(model)
        return catalog.get_model(model).tool_prompt(tool_choice) + sum(tool_tokens(tok, t) for t in tools)
