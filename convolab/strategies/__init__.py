"""Context strategies: given a conversation, decide what the next request sends.

| class | name | what it sends |
|---|---|---|
| ``FullHistory()`` | full | everything, cached so each turn reads the previous prefix |
| ``SlidingWindow(max_turns=, budget_tokens=)`` | sliding | the last turns that fit |
| ``Summarizing(budget_tokens=, keep_recent_turns=)`` | summarizing | append-only summary of older turns, pinned requirements, recent turns |
| ``StructuredMemory(budget_tokens=, schema=)`` | memory | typed facts extracted by a forced tool call, sent every turn, plus recent turns |
| ``Retrieval(budget_tokens=, ranker=)`` | retrieval | a cached recent window, plus dated excerpts of the older messages ranked highest for the new one, quoted into it |
| ``MessageRetrieval(budget_tokens=, keep_recent_turns=, ranker=)`` | retrieval-messages | recent turns plus older turns ranked for the new message, sent as dated messages |
| ``MemoryRetrieval(budget_tokens=, memory_share=)`` | memory-retrieval | Retrieval plus a per-person, per-topic memory (StructuredMemory's extraction) quoted with the excerpts |
| ``ServerCompaction(trigger_tokens=)`` | compaction | the API's server-side compaction, Summarizing as client-side fallback |

All share ``Payload`` and the rules in ``convolab.strategies.base``.
"""

from convolab.strategies.base import BaseStrategy, CachePlan, Payload, Strategy
from convolab.strategies.compaction import ServerCompaction
from convolab.strategies.full import FullHistory
from convolab.strategies.memory import StructuredMemory
from convolab.strategies.memory_retrieval import MemoryRetrieval
from convolab.strategies.registry import NAMES, make_strategy
from convolab.strategies.retrieval import Retrieval
from convolab.strategies.retrieval_messages import MessageRetrieval
from convolab.strategies.sliding import SlidingWindow
from convolab.strategies.summarizing import Summarizing

__all__ = ["NAMES", "BaseStrategy", "CachePlan", "FullHistory", "MemoryRetrieval", "MessageRetrieval", "Payload", "Retrieval", "ServerCompaction", "SlidingWindow", "Strategy", "StructuredMemory", "Summarizing", "make_strategy"]
