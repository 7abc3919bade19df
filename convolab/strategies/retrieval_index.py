"""The index every retrieval strategy shares: units of history, their words and their vectors,
and the rankers that choose among them.

``Retrieval`` (excerpts quoted into the newest message), ``MessageRetrieval`` (retrieved turns
sent as messages) and ``MemoryRetrieval`` (a memory beside the excerpts) all derive from
``RetrievalBase``: one ``RetrievalIndex`` per conversation, one ranking, their own layout.

Units. A *unit* is what is ranked and sent: a **message** (ranked on its text and the text
of the message before it, which is usually the question it answers; sent with it) or a
**turn** (``convolab.model.group_turns``: a plain user message and everything up to the next
one, so a ``tool_use`` never travels without its ``tool_result``). A message's text is its
text blocks, its tool calls' input values and its tool results' text (``turn_text``).

Index. Incremental: a message is indexed once, when it becomes final (a later turn has
started; the newest turn may still grow, but it is always in the recent window). Words go into
a BM25 ``TermIndex`` (``convolab.lexical``), one document per unit; with an embedder, each
message's passages (its sentences, speaker names and date brackets left out) become vectors,
computed once per message (``VectorCache``, keyed by content hash and embedder name) and kept
in a ``VectorStore`` when one is given. Statistics are taken over the candidate units only
(those before the recent window).

Rankers (``ranker=``):

- ``"bm25"``: BM25 over the unit's words (``k1``, ``b``); a unit must share a word with the query.
- ``"semantic"``: the cosine of the query's vector and the unit's best passage.
- ``"hybrid"``: ``z(bm25) + semantic_weight * z(semantic)``, each score standardized over the
  candidate units, so neither scale dominates by accident. Plain reciprocal-rank fusion lost
  to BM25 alone on LoCoMo, a weighted sum of standardized scores did not (``docs/results.md``).

Passes. The query is the newest user message (after any unanswered ones); a short follow-up
("and her sister?", "what about Porto?") is read together with the user's previous message
(``rewrite_followups``). With ``multi_hop``, a second pass adds the names, numbers and dates of
the first hits to the query and takes the new units it finds (at most half of ``max_hits``),
for questions whose answer is spread over turns that share a name, not the question's words.
Each hit brings ``neighbours`` units on each side when the layout has room.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from convolab.blocks import CONTEXT, block_texts
from convolab.embeddings import Embedder, MessageVectors, VectorCache, VectorStore, default_embedder
from convolab.errors import ConfigurationError
from convolab.lexical import STOPWORDS, TermIndex, tokenize
from convolab.model import (
    Conversation,
    Message,
    MessageLike,
    Turn,
    content_of,
    is_plain_user,
)
from convolab.strategies.base import BaseStrategy, check_knob

if TYPE_CHECKING:
    import numpy as np

__all__ = ["RANKERS", "UNITS", "Hit", "RetrievalBase", "RetrievalIndex", "asks", "passages", "turn_text"]

RANKERS = ("bm25", "semantic", "hybrid")
UNITS = ("message", "turn")
_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_DATE_BRACKET = re.compile(r"^\s*\[[^\]]{3,60}\]\s*")
_SPEAKER = re.compile(r"^[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}:\s+")
_ENTITY = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:[A-Z][a-z]+)?\b|\b\d{1,4}(?:[.,:/-]\d+)*\b", re.M)
_FOLLOW_UP = re.compile(r"^\s*(?:and|but|also|what about|how about|then|so|or)\b", re.I)
_REFERS_BACK = re.compile(r"\b(?:she|he|they|her|his|him|their|them|it|its|that|this|those|these|there|then)\b", re.I)
_ASKS = re.compile(r"\?|^\s*(?:what|when|where|who|whom|whose|which|why|how|do|does|did|is|are|was|were|can|could|"
                   r"would|will|should|have|has|had)\b|\b(?:remind me|tell me|remember|recall|look up|find)\b",
                   re.I | re.M)


def turn_text(messages: Iterable[MessageLike]) -> str:
    """The searchable text of messages, one line per block text (``convolab.blocks.CONTEXT``:
    text blocks, tool-call input values, tool-result text, compaction and text documents)."""
    return "\n".join(t for m in messages for t in block_texts(content_of(m), CONTEXT) if t)


def passages(text: str) -> list[str]:
    """The sentences of ``text`` that get a vector each: lines split at sentence ends, a leading
    date bracket or ``"Name: "`` left out (they say who and when, not what)."""
    out = []
    for line in text.splitlines():
        line = _SPEAKER.sub("", _DATE_BRACKET.sub("", line.strip()))
        if line:
            out.extend(s.strip() for s in _SENTENCE.split(line) if s.strip())
    return out


@dataclass
class Hit:
    """One ranked unit of the last build: its index (a message or a turn), score, the query
    terms it shares, the id of its first message, the pass that found it (1, or 2 for the
    multi-hop pass) and whether it fitted in the budget (``sent``)."""

    unit: int
    score: float
    terms: tuple[str, ...]
    message_id: str
    hop: int = 1
    sent: bool = False


class RetrievalIndex:
    """One conversation's index: its final messages' words and passage vectors, and the units
    over them (see the module docstring)."""

    def __init__(self, conversation: Conversation, *, unit: str, embedder: Embedder | None, cache: VectorCache):
        self.conversation = conversation
        self.unit = unit
        self.embedder = embedder
        self.cache = cache
        self.terms = TermIndex()  # one document per unit
        self.message_terms: list[list[str]] = []  # per indexed message
        self.has_text: list[bool] = []
        self.unit_starts: list[int] = []  # first message of each unit
        self.passage_starts = array("q", [0])  # first vector row of each indexed message
        self.most_passages = 1  # the most passages one message has (for the per-message maximum)
        self._vectors: np.ndarray | None = None  # rows of passage vectors (grown by doubling)

    @property
    def messages(self) -> int:
        """How many messages are indexed (the first ones of the conversation)."""
        return len(self.message_terms)

    def __len__(self) -> int:
        return len(self.unit_starts)

    def unit_span(self, u: int) -> tuple[int, int]:
        """Messages ``[start, end)`` sent for unit ``u`` (a message unit includes the one before it)."""
        if self.unit == "message":
            return max(u - 1, 0), u + 1
        end = self.unit_starts[u + 1] if u + 1 < len(self.unit_starts) else self.messages
        return self.unit_starts[u], end

    # -- indexing ------------------------------------------------------------------------------
    def extend(self, turn_starts: Sequence[int]) -> None:
        """Index every message before the newest turn (``turn_starts[-1]``) not indexed yet."""
        final = turn_starts[-1] if turn_starts else 0
        if final <= self.messages:
            return
        msgs = self.conversation.messages
        new = msgs[self.messages:final]
        texts = [turn_text([m]) for m in new]
        if self.embedder is not None:
            self._embed(new, texts)
        for text in texts:
            self.message_terms.append(tokenize(text))
            self.has_text.append(bool(text.strip()))
            if self.unit == "message":
                i = len(self.message_terms) - 1
                self.unit_starts.append(i)
                self.terms.add(self.message_terms[i - 1] + self.message_terms[i] if i else self.message_terms[i],
                               retrievable=self.has_text[i])
        if self.unit == "turn":
            for k in range(len(self.unit_starts), len(turn_starts) - 1):
                a, z = turn_starts[k], turn_starts[k + 1]
                self.unit_starts.append(a)
                self.terms.add([t for i in range(a, z) for t in self.message_terms[i]], retrievable=is_plain_user(msgs[a]))

    def _embed(self, new: Sequence[Message], texts: list[str]) -> None:
        import numpy as np

        embedder, cache = self.embedder, self.cache
        parts = [passages(t) or [""] for t in texts]
        missing = [k for k, m in enumerate(new) if cache.get(embedder.name, m.content_hash) is None]
        if missing:
            flat = [p for k in missing for p in parts[k]]
            vecs = embedder.embed(flat)
            at = 0
            for k in missing:
                rows = vecs[at:at + len(parts[k])]
                at += len(parts[k])
                cache.put(embedder.name, MessageVectors(new[k].id, new[k].content_hash, rows),
                          conversation_id=self.conversation.session_id)
        blocks = [cache.get(embedder.name, m.content_hash) for m in new]
        need = self.passage_starts[-1] + sum(len(b) for b in blocks)
        if self._vectors is None or need > len(self._vectors):
            grown = np.zeros((max(need, 2 * (0 if self._vectors is None else len(self._vectors)), 64),
                              embedder.dim), dtype=np.float32)
            if self._vectors is not None:
                grown[:self.passage_starts[-1]] = self._vectors[:self.passage_starts[-1]]
            self._vectors = grown
        for b in blocks:
            at = self.passage_starts[-1]
            self._vectors[at:at + len(b)] = b
            self.passage_starts.append(at + len(b))
            self.most_passages = max(self.most_passages, len(b))

    def truncate(self, messages: int) -> None:
        """Forget every message from ``messages`` on (a turn boundary), and the units that
        include one."""
        if messages >= self.messages:
            return
        del self.message_terms[messages:], self.has_text[messages:]
        if self.embedder is not None:
            del self.passage_starts[messages + 1:]
        keep = messages if self.unit == "message" else sum(1 for s in self.unit_starts[1:] if s <= messages)
        del self.unit_starts[keep:]
        self.terms.truncate(keep)

    # -- scoring -------------------------------------------------------------------------------
    def scores(self, query_terms: Sequence[str], query_text: str, limit: int, ranker: str, *,
               k1: float, b: float, semantic_weight: float) -> np.ndarray:
        """Scores of the first ``limit`` units for the query; ``-inf`` where a unit cannot be a
        hit (not retrievable, or, for BM25, sharing no word with the query)."""
        import numpy as np

        limit = max(0, min(limit, len(self)))
        bm = self.terms.score(query_terms, limit=limit, k1=k1, b=b)
        retrievable = np.frombuffer(self.terms.retrievable, dtype=np.int8, count=limit) != 0
        if ranker == "bm25" or self.embedder is None or limit == 0:
            return np.where(bm > 0, bm, -np.inf)
        sem = self.semantic(query_text, limit)
        if ranker == "semantic":
            out = sem
        else:
            out = _z(bm, retrievable) + semantic_weight * _z(sem, retrievable)
        return np.where(retrievable, out, -np.inf)

    def semantic(self, query_text: str, limit: int) -> np.ndarray:
        """Cosine of the query's vector and each of the first ``limit`` units' best passage."""
        import numpy as np

        q = self.embedder.embed([query_text])[0]
        last = self.unit_span(limit - 1)[1]  # messages the first `limit` units cover
        # a view of a copy: a view of passage_starts itself, kept alive by anything holding this
        # frame (a sampling profiler such as a Dask worker's), would forbid truncate's resize
        bounds = np.frombuffer(self.passage_starts[:last + 1], dtype=np.int64)
        # one BLAS dot per row: one thread (a matrix product, `@`, waits for OpenBLAS's thread pool,
        # 15 ms on a busy machine) and about twice as fast as np.einsum
        cosine = np.vecdot(self._vectors[:bounds[-1]], q)
        first, end = bounds[:-1], bounds[1:] - 1
        per_message = cosine[first]
        for k in range(1, self.most_passages):  # the best passage of each message (most have one)
            per_message = np.maximum(per_message, cosine[np.minimum(first + k, end)])
        if self.unit == "message":
            return np.maximum(per_message[:limit], np.concatenate(([-1.0], per_message[:limit - 1])))
        return np.maximum.reduceat(per_message, np.asarray(self.unit_starts[:limit], dtype=np.int64))[:limit]


def _z(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``x`` standardized over the entries ``mask`` keeps (a constant gives zeros)."""
    import numpy as np

    kept = x[mask]
    if not len(kept):
        return np.zeros_like(x)
    sd = float(kept.std())
    return (x - float(kept.mean())) / sd if sd > 0 else np.zeros_like(x)


class RetrievalBase(BaseStrategy):
    """What the retrieval strategies share: the per-conversation index, the ranking knobs,
    the query, the passes, and what the last build found (``last_hits``, ``last_retrieved``,
    ``last_query``). Subclasses set ``unit`` and lay the hits out."""

    name: ClassVar[str] = "retrieval-base"
    unit: ClassVar[str] = "message"

    def __init__(self, budget_tokens: int, *, ranker: str = "bm25", embedder: Embedder | None = None,
                 semantic_weight: float = 0.3, k1: float = 1.2, b: float = 0.75, max_hits: int = 8,
                 neighbours: int = 1, multi_hop: bool = False, rewrite_followups: bool = False,
                 vectors: VectorStore | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if ranker not in RANKERS:
            raise ConfigurationError(f"ranker must be one of {', '.join(RANKERS)}, not {ranker!r}")
        if neighbours < 0 or max_hits < 0:
            raise ConfigurationError("neighbours and max_hits cannot be negative")
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigurationError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        if semantic_weight < 0:
            raise ConfigurationError("semantic_weight cannot be negative")
        if embedder is not None and not isinstance(embedder, Embedder):
            raise ConfigurationError(f"embedder must implement convolab.embeddings.Embedder (name, dim, embed), "
                                     f"got {type(embedder).__name__}")
        self.budget_tokens = check_knob("budget_tokens", budget_tokens)
        self.ranker = ranker
        self.embedder = (embedder or default_embedder()) if ranker != "bm25" else embedder
        self.semantic_weight = semantic_weight
        self.k1, self.b = k1, b
        self.max_hits = max_hits
        self.neighbours = neighbours
        self.multi_hop = multi_hop
        self.rewrite_followups = rewrite_followups
        self.vectors = vectors
        self.vector_cache = VectorCache()
        self._retrieval: dict[str, RetrievalIndex] = {}
        self.last_hits: list[Hit] = []
        self.last_retrieved: list[int] = []
        self.last_query: list[str] = []

    # -- state -----------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"budget_tokens": self.budget_tokens, "ranker": self.ranker,
                "embedder": self.embedder.name if self.embedder is not None else None,
                "semantic_weight": self.semantic_weight, "k1": self.k1, "b": self.b, "max_hits": self.max_hits,
                "neighbours": self.neighbours, "multi_hop": self.multi_hop,
                "rewrite_followups": self.rewrite_followups}

    def state(self) -> dict[str, Any]:
        """Config (for inspection; the constructor's wins) and the last build's hits. The index
        is not stored: it is rebuilt from the conversation (vectors from ``vectors``)."""
        hits = [{**vars(h), "terms": list(h.terms)} for h in self.last_hits]  # asdict, without its deep copy
        return {**super().state(), **self.config(), "last_hits": hits, "last_retrieved": list(self.last_retrieved),
                "last_query": list(self.last_query)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.last_hits = [Hit(**{**h, "terms": tuple(h["terms"])}) for h in state.get("last_hits", [])]
        self.last_retrieved = list(state.get("last_retrieved", []))
        self.last_query = list(state.get("last_query", []))

    def forget(self, conversation: Conversation) -> None:
        super().forget(conversation)
        self._retrieval.pop(conversation.session_id, None)

    def retract(self, conversation: Conversation) -> None:
        super().retract(conversation)
        entry = self._retrieval.get(conversation.session_id)
        if entry is not None and entry.conversation is conversation:
            starts = self.index(conversation).turn_starts
            entry.truncate(starts[-1] if starts else 0)

    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """Index the messages that became final and keep their new vectors (off the build path)."""
        if conversation is not None and conversation.messages:
            self.retrieval_index(conversation)
            self.save_vectors()

    def save_vectors(self) -> None:
        """Hand the vectors computed since the last call to ``vectors`` (the ``VectorStore``)."""
        if self.vectors is None or self.embedder is None or not self.vector_cache.unsaved:
            return
        by_conversation: dict[str, list[MessageVectors]] = {}
        for cid, row in self.vector_cache.unsaved:
            by_conversation.setdefault(cid, []).append(row)
        for cid, rows in by_conversation.items():
            self.vectors.save_vectors(cid, self.embedder.name, rows)
        self.vector_cache.saved()

    # -- the index ---------------------------------------------------------------------------
    def retrieval_index(self, conversation: Conversation, starts: list[int] | None = None) -> RetrievalIndex:
        """The conversation's index, extended with every message that became final since the
        last call (all but the newest turn's)."""
        starts = self.index(conversation).turn_starts if starts is None else starts
        entry = self._retrieval.get(conversation.session_id)
        final = starts[-1] if starts else 0
        if entry is None or entry.conversation is not conversation or entry.messages > final:
            entry = self._retrieval[conversation.session_id] = RetrievalIndex(
                conversation, unit=self.unit, embedder=self.embedder, cache=self.vector_cache)
            self._load_vectors(conversation)
        entry.extend(starts)
        return entry

    def _load_vectors(self, conversation: Conversation) -> None:
        if self.vectors is None or self.embedder is None:
            return
        for row in self.vectors.load_vectors(conversation.session_id, self.embedder.name):
            self.vector_cache.put(self.embedder.name, row)

    # -- ranking -----------------------------------------------------------------------------
    def query_text(self, msgs: Sequence[Message], starts: Sequence[int]) -> str:
        """The newest user message's text (after any earlier unanswered ones, sent merged with
        it); a short follow-up is read with the user's previous message (``rewrite_followups``)."""
        k = starts[-1]
        texts = [msgs[k].text] if is_plain_user(msgs[k]) else []
        while k > 0 and msgs[k - 1].role == "user":
            k -= 1
            if is_plain_user(msgs[k]):
                texts.insert(0, msgs[k].text)
        text = "\n".join(texts)
        if self.rewrite_followups and len(starts) > 1 and _is_follow_up(text):
            previous = next((msgs[s].text for s in reversed(starts[:-1]) if is_plain_user(msgs[s])), "")
            if previous:
                text = f"{previous}\n{text}"
        return text

    def rank(self, conversation: Conversation, starts: list[int], limit: int) -> tuple[RetrievalIndex, list[Hit]]:
        """The index, and the best units before unit ``limit`` for the newest message: up to
        ``max_hits`` from the query, then (``multi_hop``) up to half as many new ones from the
        query with the first hits' names, numbers and dates."""
        ri = self.retrieval_index(conversation, starts)
        text = self.query_text(conversation.messages, starts)
        terms = tokenize(text)
        self.last_query = terms
        hits = self._top(ri, terms, text, limit, self.max_hits, exclude=set())
        if self.multi_hop and hits:
            extra = [t for t in _entities(ri, [h.unit for h in hits[:3]]) if t not in terms]
            if extra:
                more = terms + extra
                hits += [Hit(h.unit, h.score, h.terms, h.message_id, hop=2) for h in self._top(
                    ri, more, f"{text}\n{' '.join(extra)}", limit, self.max_hits // 2, exclude={h.unit for h in hits})]
        self.last_hits = hits
        return ri, hits

    def _top(self, ri: RetrievalIndex, terms: list[str], text: str, limit: int, k: int,
             exclude: set[int]) -> list[Hit]:
        import numpy as np

        if k == 0 or min(limit, len(ri)) == 0:
            return []
        scores = ri.scores(terms, text, limit, self.ranker, k1=self.k1, b=self.b,
                           semantic_weight=self.semantic_weight)
        n, m = len(scores), min(len(scores), k + len(exclude))  # the excluded ones are skipped below
        top = np.flatnonzero(scores >= np.partition(scores, n - m)[n - m]) if m < n else np.arange(n)
        order = top[np.lexsort((-top, -scores[top]))]  # best first; ties: the newer unit first
        msgs = ri.conversation.messages
        out = []
        for u in order:
            u = int(u)
            if not np.isfinite(scores[u]) or len(out) >= k:
                break
            if u not in exclude:
                out.append(Hit(u, float(scores[u]), ri.terms.matched(u, terms), msgs[ri.unit_span(u)[0]].id))
        return out

    def around(self, ri: RetrievalIndex, hit: int, limit: int) -> list[int]:
        """The units next to ``hit``, nearest first (before, then after), before unit ``limit``."""
        out = []
        for d in range(1, self.neighbours + 1):
            out += [u for u in (hit - d, hit + d) if 0 <= u < limit and ri.terms.retrievable[u]]
        return out


def _is_follow_up(text: str) -> bool:
    """A message that leans on the one before: it opens with "and", "what about", ... or it
    has at most two content words and a pronoun ("when was that?")."""
    return bool(_FOLLOW_UP.match(text)) or (len(set(tokenize(text))) <= 2 and bool(_REFERS_BACK.search(text)))


def asks(text: str) -> bool:
    """Does the message ask for something: a question mark, an opening such as "what",
    "when", "did", "can", or a request to remember ("remind me", "tell me", "recall")?"""
    return bool(_ASKS.search(text))


def _entities(ri: RetrievalIndex, units: Iterable[int]) -> list[str]:
    """Index terms of the names (capitalized words inside a sentence), numbers and dates in the
    messages of ``units``, each once, in order of appearance."""
    msgs = ri.conversation.messages
    seen: dict[str, None] = {}
    for u in units:
        a, z = ri.unit_span(u)
        for m in msgs[a:z]:
            for p in passages(turn_text([m])):
                for word in _ENTITY.findall(p):
                    for t in tokenize(word):
                        if t not in STOPWORDS:
                            seen.setdefault(t, None)
    return list(seen)


def when_text(dt: datetime) -> str:
    """``2023-05-08 13:56 UTC``: a message's time in a header."""
    tz = dt.tzname() if dt.tzinfo is not None else None
    return dt.strftime("%Y-%m-%d %H:%M") + (f" {tz}" if tz else "")
