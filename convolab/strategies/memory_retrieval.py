"""``MemoryRetrieval``: ``Retrieval``'s cached window and quoted excerpts, plus a compact memory
kept per person and per topic, for questions that gather facts over many sessions ("What
activities does Melanie do?", "Which cities has she visited?").

The memory is a ``StructuredMemory`` of typed facts (its default schema: who a fact is about,
what it says, when, a topic a later fact replaces), so it is kept per person and per topic;
``schema=PEOPLE_TOPICS`` asks instead for list sections (activities, places, people, dated
events, likes), each item naming its person. It is written by ``StructuredMemory``'s own
extraction path (a forced ``record_memory`` tool call to ``extract_model`` after each exchange,
merged with its replace-and-evict rules), so it improves with the extractor.

Layout: the memory lines most relevant to the new message (sharing the most of its words;
newest first) are quoted first, within ``memory_share`` of the excerpt budget, then the
excerpts, all at the top of the newest user message: after the cached window, so a memory
that changes every turn never invalidates the cache (``StructuredMemory`` puts its block in the
system prompt, where every change rewrites what follows). Like the excerpts, the memory is
quoted for messages that ask something (``retrieve_on``).

Side calls: one extraction per observed exchange, made in ``observe`` (the only call site,
``_extract``), listed in ``side_usage`` for the ledger; its budget is the extraction's own
``extract_max_tokens``. Budget, tool pairs and cache follow ``Retrieval``'s rules.
"""

from __future__ import annotations

from typing import Any, ClassVar

from convolab.errors import ConfigurationError
from convolab.lexical import tokenize
from convolab.model import Conversation, Turn
from convolab.strategies.memory import StructuredMemory
from convolab.strategies.retrieval import Retrieval

__all__ = ["PEOPLE_TOPICS", "MemoryRetrieval"]

_ITEMS = {"type": "array", "items": {"type": "string"}}

#: The memory's shape: lists per topic, each item starting with the person it is about.
PEOPLE_TOPICS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "activities": {**_ITEMS, "description": "Activities, hobbies, sports, classes and events each person "
                       "takes part in, one per item: 'Name: activity (when)'."},
        "places": {**_ITEMS, "description": "Places each person lives in, has visited or plans to visit: "
                   "'Name: place (when)'."},
        "people": {**_ITEMS, "description": "People each person mentions (family, friends, pets, colleagues) and "
                   "who they are: 'Name: person, relation'."},
        "events": {**_ITEMS, "description": "Dated events in each person's life: 'Name: what happened, date'."},
        "likes": {**_ITEMS, "description": "What each person likes, owns, reads, makes or values: "
                  "'Name: thing'."},
    },
    "additionalProperties": False,
}
MEMORY_INTRO = "[What I remember, by person and topic]"


class MemoryRetrieval(Retrieval):
    """``Retrieval`` plus a per-person, per-topic memory quoted with the excerpts (see the
    module docstring).

    Knobs: ``memory_share`` of the excerpt budget at most goes to memory lines;
    ``extract_model``, ``max_items`` (per section) and ``schema`` configure the memory
    (``StructuredMemory``); the rest as for ``Retrieval``. ``side_usage`` lists the extraction
    calls.
    """

    name: ClassVar[str] = "memory-retrieval"

    def __init__(self, budget_tokens: int = 8000, *, memory_share: float = 0.3, extract_model: str = "claude-haiku-4-5",
                 max_items: int = 60, schema: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(budget_tokens, **kwargs)
        if not 0 < memory_share < 1:
            raise ConfigurationError("memory_share must be above 0 and below 1 (a share of the excerpt budget)")
        self.memory_share = memory_share
        self.memory = StructuredMemory(budget_tokens, schema, extract_model=extract_model,
                                       max_items=max_items, counter=self.counter, model=self.model)
        self.side_usage = self.memory.side_usage  # the memory's extraction calls are this strategy's
        self._line_tokens: dict[str, int] = {}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "memory_share": self.memory_share, "extract_model": self.memory.extract_model,
                "max_items": self.memory.max_items}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "memory": self.memory.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get("memory"):
            self.memory.load_state(state["memory"])

    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """Index the exchange (``Retrieval``), then extract its facts into the memory."""
        super().observe(turn, client=client, conversation=conversation)
        self._extract(turn, client)

    def _extract(self, turn: Turn, client: Any) -> None:
        """The one side call: ``StructuredMemory``'s extraction of this exchange."""
        self.memory.observe(turn, client=client)

    def notes(self, conversation: Conversation, budget_tokens: int) -> str:
        """The memory lines sharing the most words with the new message (newest first on ties),
        while they fit ``memory_share`` of ``budget_tokens``."""
        lines = [line for line in self.memory.render().splitlines()[1:] if line.strip()]
        if not lines:
            return ""
        query = set(self.last_query)
        ranked = sorted(range(len(lines)), key=lambda k: (-len(query & set(tokenize(lines[k]))), -k))
        model = self.model_for(conversation)
        room = int(budget_tokens * self.memory_share)
        kept: list[int] = []
        used = self._tokens(MEMORY_INTRO, model)
        for k in ranked:
            cost = self._tokens(lines[k], model)
            if used + cost > room:
                break
            kept.append(k)
            used += cost
        return "\n".join([MEMORY_INTRO, *(lines[k] for k in sorted(kept))]) if kept else ""

    def _tokens(self, line: str, model: str) -> int:
        n = self._line_tokens.get(line)
        if n is None:
            n = self._line_tokens[line] = self.counter.count_message({"role": "user", "content": line}, model=model)
        return n
