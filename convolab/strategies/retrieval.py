"""``Retrieval``: recent turns, plus the older turns most relevant to the new message.

Two placements of what is retrieved:

- ``placement="quoted"`` (the default): a cache-aware sliding window over
  ``1 - excerpt_share`` of the budget (kept in place while it fits, moved by ``headroom`` when it
  must, as ``SlidingWindow`` does), then excerpts of older turns, at most ``excerpt_share`` of the
  budget, quoted as a text block at the top of the newest turn's user message, each turn under
  its date in words (``[8 May 2023, 13:56]``) with relative dates resolved against the day they
  were said ("yesterday [yesterday = 7 May 2023]", ``convolab.dates``). Hits come first (best
  first), their neighbours after, while room is left. The cache breakpoint sits on the message
  before the quoted one, so the next turn reads the whole window from the cache and only the
  newest turn and the excerpts are billed at the full input price; no automatic breakpoint (it
  would write excerpts that the next request does not send). On the LoCoMo development
  conversations at a 4,000-token budget this keeps about 92% of full history's answers in
  context with under a fifth of its tokens per question, for less than full history costs with
  caching (``docs/results.md``). Tool calls are quoted as text (their input values and results).
- ``placement="messages"``: retrieved turns are sent as messages before the recent window, as
  described below. Tool exchanges stay real ``tool_use``/``tool_result`` blocks, but the
  messages' prefix changes with every question, so little beyond the system prompt is cached.

With ``placement="messages"``, every request sends the system prompt, the most recent whole turns (``keep_recent_turns``, as
many as fit; at least the newest) and, in what is left of ``budget_tokens``, older turns
ranked by BM25 against the newest user message. The retrieval unit is a whole turn
(``convolab.model.group_turns``: a plain user message and everything up to the next one), so a
``tool_use`` never travels without its ``tool_result``. Each hit brings its ``neighbours``
(the turns just before and after it), so the question a fact answers, or the follow-up that
corrects it, comes along. Chosen turns are packed best-scoring first but sent in conversation
order, and every run of them starts with a short header carrying the run's date (the first
message's ``created_at``), e.g. ``[Earlier in the conversation, 2023-05-08 13:56 UTC]``, so
"when did ..." questions can be answered and Claude can tell excerpts from the live thread.

Index. A small inverted index of our own (``TurnIndex``): term -> postings ``(turn, tf)`` in
turn order, plus each turn's length and a running sum of lengths. It is incremental: a turn
is tokenized once, when it becomes final (a later turn has started; the newest turn may still
grow with tool calls, but it is always in the recent window, so it never needs indexing).
BM25's statistics (number of turns, document frequency, average length) are taken over the
candidate turns only (those before the recent window), by a binary search in each posting
list and a lookup in the running sum, so nothing is recomputed when a turn is added. Scoring
reads only the postings of the query's terms, rarest first, and stops walking a (common)
term's postings once no turn not yet seen could reach the ``max_hits`` best scores so far; the
turns already found look that term up by binary search (exact top-k, the same scores as an
exhaustive pass). ``benchmarks/bench_retrieval.py``: a build after one new exchange takes about
0.7 ms at 100 messages and 1 ms at 10,000, where re-indexing with ``rank_bm25`` takes about
40 ms (on a busy 2-core machine). The first build of a long history indexes all of it once
(about 0.4 s for 10,000 messages), as does the first build after ``load_state``.

Why not a library: ``rank_bm25`` computes every document's statistics in its constructor and
has no way to add one, and ``bm25s`` precomputes scores into a sparse matrix and, by its
author's account, cannot add documents (xhluca/bm25s issues #5, #98, #129): both mean
re-indexing the whole history on every turn, O(history). ``tantivy`` does add documents
incrementally, but fixes k1=1.2 and b=0.75, needs a writer commit and a reader reload per
turn, brings a compiled dependency, and cannot restrict its statistics to the turns before
the recent window. About 100 lines of Python do what is needed here.

Tokenizing is lexical: lowercase words (any script), a small English stopword list, light
suffix stripping (plural -s/-es/-ies, -ing, -ed, a final -e), numbers kept ("4,200" is
"4200"). Turn text is the text blocks of its messages, the string values of its tool calls'
inputs and the text of its tool results.

Budget. ``budget_tokens`` caps everything billed as input: system prompt, tools and their
overhead, retrieved turns with their headers, recent turns. The recent window comes first;
if the newest turn alone does not fit, ``build`` raises ``ContextOverflow`` saying by how much.
The count of what is sent is exact (by the strategy's counter); packing estimates a header's
tokens, then checks the exact total and drops the lowest-priority turn if it is over.

Dates. A header's date is the ``created_at`` of the turn's first message (an importer of old
conversations should set it, e.g. to LoCoMo's session date time). A run also gets a header
where the day changes inside it, and the recent window gets one ("[Recent conversation, ...]")
when something was retrieved before it, so its turns are not read as the last run's date. A
message whose text already opens with a dated bracket ("[8 May, 2023 1:56 pm] Caroline: ...")
keeps its own and gets none. Headers go on copies of the messages (same id): the conversation
is never changed.

Cache. The system prompt (and tools) are the stable prefix and carry the breakpoint; retrieved
turns come after them, in the messages. Because the retrieved turns change with every new
message (and the recent window slides), the automatic breakpoint on the last message is rarely
read back once retrieval starts: expect a cache read of the system prefix only, and a cache
write of the messages on every turn (the write premium, 1.25x input price with the 5-minute
TTL, for tokens that are seldom read). ``cache_messages=False`` drops the automatic breakpoint
and keeps the system one. ``payload.cache.expected_read`` compares what is actually sent,
headers included, so it does not promise a read that will not happen.

Failure modes: lexical matching only (no synonyms: "car" does not find "vehicle"); a question
that shares no content word with the fact retrieves nothing; pronoun-only follow-ups ("and
when was that?") retrieve by the few words they have; the newest turn itself carries no date
header (it would become part of the question).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

from convolab import catalog
from convolab.dates import fmt_date, resolve_relative
from convolab.errors import ContextOverflow, InvalidConversation
from convolab.model import (
    Conversation,
    Message,
    MessageLike,
    Turn,
    blocks_of,
    content_text,
    input_values,
    is_plain_user,
)
from convolab.stemming import stem
from convolab.strategies.base import BaseStrategy, Payload, _limit_breakpoints, check_knob

__all__ = ["STOPWORDS", "Hit", "Retrieval", "TurnIndex", "stem", "tokenize", "turn_text"]

STOPWORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "done", "down", "during", "each", "few",
    "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers",
    "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "let", "me", "more", "most", "my", "myself", "no", "nor", "not", "now",
    "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over",
    "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through",
    "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
    "yourself", "yourselves", "also", "ok", "okay", "oh", "yes", "yeah", "hi", "hello", "hey",
    "thanks", "thank", "please", "tell", "know", "remind", "s", "t", "d", "ll", "m", "re", "ve",
    "cannot", "can't", "don't", "doesn't", "didn't", "isn't", "aren't", "wasn't", "weren't",
    "haven't", "hasn't", "hadn't", "won't", "wouldn't", "shouldn't", "couldn't",
])

_DATED = re.compile(r"\s*\[[^\]]*\b(?:19|20)\d\d\b[^\]]*\]")  # "[8 May, 2023 1:56 pm] ..." already dated
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*(?![^\W\d_])|[^\W_]+(?:'[^\W_]+)?")


def tokenize(text: str) -> list[str]:
    """Index terms of ``text``: lowercase words less stopwords, stemmed; numbers kept."""
    out = []
    for w in _TOKEN.findall(text.casefold().replace("\u2019", "'")):
        if w[0].isdigit():
            out.append(w.replace(",", ""))
            continue
        if w in STOPWORDS or w.split("'", 1)[0] in STOPWORDS:
            continue
        s = stem(w)
        if len(s) > 1 and s not in STOPWORDS:
            out.append(s)
    return out


def turn_text(messages: Iterable[MessageLike]) -> str:
    """The searchable text of a turn: text blocks, tool-call input values, tool-result text."""
    parts: list[str] = []
    for m in messages:
        for b in blocks_of(m):
            kind = b.get("type")
            if kind == "text" and isinstance(b.get("text"), str):
                parts.append(b["text"])
            elif kind == "tool_use":
                parts.extend(input_values(b.get("input")))
            elif kind == "tool_result":
                c = b.get("content")
                parts.append(c if isinstance(c, str) else content_text(c) if isinstance(c, list) else "")
    return "\n".join(p for p in parts if p)


class TurnIndex:
    """An append-only BM25 index over the turns of one conversation.

    ``postings[term]`` is a pair of parallel lists (turn ids ascending, term frequencies);
    ``lengths[t]`` is turn ``t``'s number of terms and ``cum[t]`` the sum of lengths before
    it. Statistics are computed over the first ``limit`` turns at query time, so adding a
    turn never rewrites anything already indexed.
    """

    def __init__(self) -> None:
        self.postings: dict[str, tuple[list[int], list[int]]] = {}
        self.lengths: list[int] = []
        self.cum: list[int] = [0]
        self.retrievable: list[bool] = []  # the turn starts on a plain user message
        self._terms: list[tuple[str, ...]] = []  # each turn's distinct terms, for truncate

    def __len__(self) -> int:
        return len(self.lengths)

    def add(self, terms: Sequence[str], *, retrievable: bool = True) -> int:
        """Index one turn's terms; returns its id (turns are numbered in the order added)."""
        turn = len(self.lengths)
        counts = Counter(terms)
        self._terms.append(tuple(counts))
        for term, tf in counts.items():
            ids_tfs = self.postings.get(term)
            if ids_tfs is None:
                ids_tfs = self.postings[term] = ([], [])
            ids_tfs[0].append(turn)
            ids_tfs[1].append(tf)
        self.lengths.append(len(terms))
        self.cum.append(self.cum[-1] + len(terms))
        self.retrievable.append(retrievable)
        return turn

    def truncate(self, n: int) -> None:
        """Drop every turn from ``n`` on (the turns indexed last), keeping the others."""
        for turn in range(len(self.lengths) - 1, max(n, 0) - 1, -1):
            for term in self._terms[turn]:
                ids, tfs = self.postings[term]
                ids.pop()
                tfs.pop()
                if not ids:
                    del self.postings[term]
        n = max(0, min(n, len(self.lengths)))
        del self.lengths[n:], self.cum[n + 1:], self.retrievable[n:], self._terms[n:]

    def score(self, terms: Iterable[str], *, limit: int | None = None, k1: float = 1.2, b: float = 0.75,
              top: int | None = None) -> dict[int, tuple[float, tuple[str, ...]]]:
        """BM25 scores of the retrievable turns among the first ``limit`` (all by default) that
        share a term with ``terms``: ``{turn: (score, matched terms)}``. Statistics cover all
        of the first ``limit`` turns.

        Only the query terms' postings are read. With ``top=k`` the result holds (at least)
        every turn whose score is among the ``k`` best, ties included, with the same exact
        scores: terms are taken rarest first, and once a turn not seen yet could no longer
        reach the k-th best score so far, the remaining (common) terms' postings are not
        walked; the turns already found look their frequency up by binary search instead.
        """
        n = len(self.lengths) if limit is None else max(0, min(limit, len(self.lengths)))
        if n == 0 or top == 0:
            return {}
        avgdl = self.cum[n] / n or 1.0
        plan = []  # (upper bound of the term's contribution, term, idf, turn ids, tfs, df)
        for term in set(terms):
            ids_tfs = self.postings.get(term)
            df = bisect_left(ids_tfs[0], n) if ids_tfs is not None else 0
            if df:
                idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
                plan.append((idf * (k1 + 1.0), term, idf, *ids_tfs, df))
        plan.sort(key=lambda p: (-p[0], p[1]))  # one summation order for every turn: same floats
        later = [sum(p[0] for p in plan[i + 1:]) for i in range(len(plan))]
        scores: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        lengths, retrievable = self.lengths, self.retrievable
        walking = True
        for i, (bound, term, idf, ids, tfs, df) in enumerate(plan):
            if walking and top is not None and len(scores) >= top:
                theta = sorted(scores.values(), reverse=True)[top - 1]
                walking = bound + later[i] >= theta - 1e-9  # could an unseen turn still get there?
            if walking:
                for j in range(df):
                    t = ids[j]
                    if retrievable[t]:
                        tf = tfs[j]
                        scores[t] = scores.get(t, 0.0) + idf * tf * (k1 + 1.0) / (
                            tf + k1 * (1.0 - b + b * lengths[t] / avgdl))
                        matched.setdefault(t, []).append(term)
                continue
            for t in list(scores):
                if scores[t] + bound + later[i] < theta - 1e-9:  # cannot reach the top any more
                    del scores[t], matched[t]
                    continue
                j = bisect_left(ids, t, 0, df)
                if j < df and ids[j] == t:
                    tf = tfs[j]
                    scores[t] += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * lengths[t] / avgdl))
                    matched[t].append(term)
        return {t: (sc, tuple(sorted(matched[t]))) for t, sc in scores.items()}


@dataclass
class Hit:
    """One ranked older turn of the last build: its index, BM25 score, the query terms it
    matched, the id of its first message, and whether it fitted in the budget (``sent``)."""

    turn: int
    score: float
    terms: tuple[str, ...]
    message_id: str
    sent: bool = False


@dataclass
class _Indexed:
    conversation: Conversation
    index: TurnIndex


def _when(dt: datetime) -> str:
    tz = dt.tzname() if dt.tzinfo is not None else None
    return dt.strftime("%Y-%m-%d %H:%M") + (f" {tz}" if tz else "")


def _with_header(message: Message, header: str) -> Message:
    """A copy of ``message`` (same id, seq, time) whose text starts with ``header``, on the
    same line, so that a reader (or the simulator) takes the date as the first sentence's."""
    content = message.content
    if isinstance(content, str):
        new: Any = f"{header} {content}" if content.strip() else header
    elif content and content[0].get("type") == "text" and isinstance(content[0].get("text"), str):
        first = content[0]
        text = f"{header} {first['text']}" if first["text"].strip() else header
        new = [{**first, "text": text}, *content[1:]]
    else:
        new = [{"type": "text", "text": header}, *content]
    return Message(message.role, new, id=message.id, seq=message.seq, created_at=message.created_at,
                   metadata=message.metadata)


PLACEMENTS = ("quoted", "messages")
EXCERPT_INTRO = "[Excerpts from earlier in our conversation, retrieved for my message below]"
EXCERPT_OUTRO = "[End of excerpts. My message:]"
EXCERPT_OVERHEAD = 16  # tokens of a quoted turn's date line and separators, an estimate checked after


def _quote_target(api: list[dict[str, Any]]) -> int:
    """Index of the message to quote into: the newest user message holding no tool result (the
    one that opened the newest turn; tool results must lead their message)."""
    for j in range(len(api) - 1, -1, -1):
        m = api[j]
        content = m["content"]
        if m["role"] == "user" and (isinstance(content, str) or not any(
                b.get("type") == "tool_result" for b in content)):
            return j
    return len(api) - 1


def _with_quote(message: dict[str, Any], text: str) -> dict[str, Any]:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return {**message, "content": [{"type": "text", "text": text}, *blocks]}


def _with_breakpoint(message: dict[str, Any], cc: dict[str, Any]) -> dict[str, Any]:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    for k in range(len(blocks) - 1, -1, -1):
        if blocks[k].get("type") in ("text", "tool_use", "tool_result", "image", "document"):
            blocks[k] = {**blocks[k], "cache_control": cc}
            break
    return {**message, "content": blocks}


class Retrieval(BaseStrategy):
    """Recent turns plus the older turns most relevant to the new message (BM25 over whole turns).

    Knobs: ``budget_tokens`` caps everything billed as input; ``keep_recent_turns`` turns are
    always sent verbatim when they fit (at least the newest one, and every unanswered user
    message); ``k1`` and ``b`` are BM25's term-saturation and length-normalization constants;
    ``neighbours`` turns before and after each hit come with it; ``max_hits`` caps the turns
    ranked; only turns scoring above ``min_score`` are hits; ``date_headers`` puts a dated
    header before each run of retrieved turns and before the recent window (when something
    was retrieved); ``cache_messages=False`` drops the automatic breakpoint on the last message
    (rarely read once retrieval starts), keeping the system prompt's.

    ``placement`` (``"quoted"`` or ``"messages"``, see the module docstring); for ``"quoted"``:
    ``excerpt_share`` of the budget at most goes to excerpts (the window gets the rest),
    ``headroom`` is how far the window moves when it must (a share of its budget),
    ``resolve_dates`` adds resolved dates after relative phrases; ``keep_recent_turns`` and
    ``cache_messages`` apply to ``"messages"`` only.

    After ``build``: ``last_hits`` (ranked ``Hit`` objects), ``last_retrieved`` (turn indices
    sent, in order) and ``last_query`` (the query's terms) say what was found and why.
    """

    name: ClassVar[str] = "retrieval"

    def __init__(self, budget_tokens: int = 8000, keep_recent_turns: int = 4, *, k1: float = 1.2,
                 b: float = 0.75, neighbours: int = 1, max_hits: int = 8, min_score: float = 0.0,
                 date_headers: bool = True, cache_messages: bool = False, placement: str = "quoted",
                 excerpt_share: float = 0.4, headroom: float = 0.25, resolve_dates: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, not {placement!r}")
        if not 0 < excerpt_share < 1:
            raise ValueError("excerpt_share must be above 0 and below 1 (a share of the budget)")
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be at least 0 and below 1 (a share of the budget)")
        if keep_recent_turns < 1:
            raise ValueError("keep_recent_turns must be at least 1 (the newest turn is always sent)")
        if neighbours < 0 or max_hits < 0:
            raise ValueError("neighbours and max_hits cannot be negative")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        self.budget_tokens = check_knob("budget_tokens", budget_tokens)
        self.keep_recent_turns = keep_recent_turns
        self.k1 = k1
        self.b = b
        self.neighbours = neighbours
        self.max_hits = max_hits
        self.min_score = min_score
        self.date_headers = date_headers
        self.cache_messages = cache_messages
        self.placement = placement
        self.excerpt_share = excerpt_share
        self.headroom = headroom
        self.resolve_dates = resolve_dates
        self._starts: dict[str, str] = {}  # quoted: conversation id -> id of the window's first message
        self._quoted: dict[tuple[str, str, str, int], str] = {}  # a final turn's excerpt text
        self._quoted_last: tuple[Any, str | None, int, int] | None = None  # (key, start id, end, tokens)
        self.last_hits: list[Hit] = []
        self.last_retrieved: list[int] = []
        self.last_query: list[str] = []
        self._turn_indexes: dict[str, _Indexed] = {}
        self._fp: tuple[tuple[str, str], ...] | None = None  # what the build being finished sends
        self._last_fp: tuple[tuple[str, str], ...] = ()

    # -- state -----------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"budget_tokens": self.budget_tokens, "keep_recent_turns": self.keep_recent_turns,
                "k1": self.k1, "b": self.b, "neighbours": self.neighbours, "max_hits": self.max_hits,
                "min_score": self.min_score, "date_headers": self.date_headers,
                "cache_messages": self.cache_messages, "placement": self.placement,
                "excerpt_share": self.excerpt_share, "headroom": self.headroom, "resolve_dates": self.resolve_dates}

    def state(self) -> dict[str, Any]:
        """Config (for inspection; the constructor's wins) and the last build's hits. The index
        is not stored: it is rebuilt from the conversation on the next build."""
        hits = [{**asdict(h), "terms": list(h.terms)} for h in self.last_hits]
        return {**super().state(), **self.config(), "last_hits": hits, "last_retrieved": list(self.last_retrieved),
                "last_query": list(self.last_query), "starts": dict(self._starts)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.last_hits = [Hit(**{**h, "terms": tuple(h["terms"])}) for h in state.get("last_hits", [])]
        self.last_retrieved = list(state.get("last_retrieved", []))
        self.last_query = list(state.get("last_query", []))
        self._starts = dict(state.get("starts", {}))

    def forget(self, conversation: Conversation) -> None:
        super().forget(conversation)
        self._turn_indexes.pop(conversation.session_id, None)
        self._last_fp = ()
        self._quoted_last = None
        self._quoted = {k: v for k, v in self._quoted.items() if k[0] != conversation.session_id}

    def retract(self, conversation: Conversation) -> None:
        super().retract(conversation)
        entry = self._turn_indexes.get(conversation.session_id)
        if entry is not None and entry.conversation is conversation:
            entry.index.truncate(max(len(self.index(conversation).turn_starts) - 1, 0))
        self._last_fp = ()
        self._quoted_last = None

    def observe(self, turn: Turn, *, client: Any = None, conversation: Conversation | None = None) -> None:
        """Index the turns that became final (off the next build's path); nothing else to learn."""
        if conversation is not None and conversation.messages:
            self.turn_index(conversation)

    # -- the index ---------------------------------------------------------------------------
    def turn_index(self, conversation: Conversation, starts: list[int] | None = None) -> TurnIndex:
        """The conversation's BM25 index, extended with every turn that became final since the
        last call (all turns but the newest, which may still grow)."""
        starts = self.index(conversation).turn_starts if starts is None else starts
        entry = self._turn_indexes.get(conversation.session_id)
        if entry is None or entry.conversation is not conversation or len(entry.index) > max(len(starts) - 1, 0):
            entry = self._turn_indexes[conversation.session_id] = _Indexed(conversation, TurnIndex())
        ti, msgs = entry.index, conversation.messages
        for k in range(len(ti), len(starts) - 1):
            a, z = starts[k], starts[k + 1]
            ti.add(tokenize(turn_text(msgs[a:z])), retrievable=is_plain_user(msgs[a]))
        return ti

    # -- build -------------------------------------------------------------------------------
    def build(self, conversation: Conversation, *, client: Any = None) -> Payload:
        if not conversation.messages:
            raise InvalidConversation("the conversation has no messages to send")
        if self.placement == "quoted":
            return self._build_quoted(conversation)
        return self._build_messages(conversation)

    def _rank(self, conversation: Conversation, starts: list[int], limit: int) -> tuple[TurnIndex, list[Hit]]:
        """The index, and the best ``max_hits`` turns before turn ``limit`` for the newest message."""
        msgs = conversation.messages
        ti = self.turn_index(conversation, starts)
        self.last_query = tokenize(self._query(msgs, starts))
        ranked = ti.score(self.last_query, limit=limit, k1=self.k1, b=self.b, top=self.max_hits)
        hits = sorted(((t, sc, m) for t, (sc, m) in ranked.items() if sc > self.min_score),
                      key=lambda h: (-h[1], -h[0]))[:self.max_hits]  # ties: the newer turn first
        self.last_hits = [Hit(t, sc, m, msgs[starts[t]].id) for t, sc, m in hits]
        return ti, self.last_hits

    def _room(self, conversation: Conversation) -> tuple[str, Any, list[int], dict[str, int], int, int]:
        """Model, history index, turn starts, fixed tokens, the budget (capped by the window)
        and what it leaves after the system prompt and tools."""
        model = self.model_for(conversation)
        idx = self.index(conversation)
        fixed = self.fixed_tokens(conversation, model, [])
        room = min(self.budget_tokens, self.window_limit(model))
        return model, idx, idx.turn_starts, fixed, room, room - fixed["system"] - fixed["tools"]

    def _build_messages(self, conversation: Conversation) -> Payload:
        msgs = conversation.messages
        model, idx, starts, fixed, room, available = self._room(conversation)

        # the recent window: keep_recent_turns, and every unanswered user message, if they fit
        first_pending = len(msgs)
        while first_pending and msgs[first_pending - 1].role == "user":
            first_pending -= 1
        pending_turns = len(starts) - max(bisect_right(starts, first_pending) - 1, 0)
        w = idx.window(max_turns=max(self.keep_recent_turns, pending_turns), budget_tokens=max(available, 0))
        if w.empty:
            needed = fixed["system"] + fixed["tools"] + idx.tokens(starts[-1])
            raise ContextOverflow(needed, room, what="the retrieval payload",
                                  hint="The system prompt, tools and the newest turn alone exceed budget_tokens; "
                                  "raise it or shorten the newest message.")
        recent = bisect_left(starts, w.start)  # turn index of the window's first turn
        newest = len(starts) - 1

        ti, _ = self._rank(conversation, starts, recent)

        def turn_tokens(t: int) -> int:
            return idx.tokens(starts[t], starts[t + 1])

        def day(t: int) -> Any:
            return msgs[starts[t]].created_at.date()

        dated: dict[int, bool] = {}

        def own_date(t: int) -> bool:  # LoCoMo-style text that opens with its own date header
            if t not in dated:
                content = msgs[starts[t]].content
                first = content if isinstance(content, str) else next(
                    (b.get("text") for b in content[:1] if b.get("type") == "text"), None)
                dated[t] = isinstance(first, str) and _DATED.match(first) is not None
            return dated[t]

        def headers(chosen: set[int]) -> dict[int, str]:
            """The label of each header: before a run of retrieved turns, at a change of day
            inside a run, and before the recent window (when something was retrieved)."""
            if not self.date_headers or not chosen:
                return {}
            out = {}
            for t in sorted(chosen) + ([recent] if recent != newest else []):
                if own_date(t):
                    continue
                if t - 1 not in chosen:
                    out[t] = "Recent conversation" if t == recent else "Earlier in the conversation"
                elif day(t) != day(t - 1):
                    out[t] = "Conversation continued"
            return out

        tz = msgs[-1].created_at.tzname() or ""  # a fixed text (an ExactCounter caches its count)
        header_cost = self.counter.count_message(
            {"role": "user", "content": f"[Earlier in the conversation, 2000-01-01 00:00 {tz}]"}, model=model)
        left = available - w.tokens
        chosen: set[int] = set()
        order: list[int] = []  # turns in the order they were chosen: best first

        def more_headers(t: int) -> int:
            """How many headers adding turn ``t`` to ``chosen`` adds (as ``headers`` counts them)."""
            if not self.date_headers:
                return 0
            delta = int(not own_date(t) and (t - 1 not in chosen or day(t) != day(t - 1)))
            if not chosen:  # the recent window gets its header with the first retrieved turn
                if recent != newest and not own_date(recent):
                    delta += 1 if t + 1 != recent or day(recent) != day(t) else 0
            elif (t + 1 in chosen or (t + 1 == recent != newest)) and not own_date(t + 1) and day(t + 1) == day(t):
                delta -= 1  # the next run now continues this one: its header goes
            return delta

        used = heads = 0
        for hit in self.last_hits:
            for t in self._unit(hit.turn, recent, ti):
                if t in chosen:
                    continue
                more = more_headers(t)
                if used + turn_tokens(t) + header_cost * (heads + more) <= left:
                    chosen.add(t)
                    order.append(t)
                    used += turn_tokens(t)
                    heads += more
                elif t == hit.turn:
                    break  # the hit does not fit: its neighbours would come without it

        while True:
            prefix, retrieved, start, extra = self._assemble(conversation, starts, chosen, recent, headers(chosen),
                                                             w.start)
            exact = fixed["system"] + fixed["tools"] + retrieved + w.tokens + extra
            if exact > room and order:
                chosen.discard(order.pop())
                continue
            self._fp = tuple((m.id, m.content_hash) for m in [*prefix, *msgs[start:]])
            try:
                payload = self.finish(conversation, start=start, prefix_messages=prefix, retrieved=retrieved,
                                      budget=self.budget_tokens)
            except ContextOverflow:
                if not order:
                    raise
                chosen.discard(order.pop())  # merging at a run's edge counted differently: one turn less
                continue
            finally:
                self._fp = None
            break

        self.last_retrieved = sorted(chosen)
        for h in self.last_hits:
            h.sent = h.turn in chosen
        if not self.cache_messages and self.cache:
            payload.request.pop("cache_control", None)
            payload.cache.breakpoints = [bp for bp in payload.cache.breakpoints if "automatic" not in bp]
        return payload

    # -- quoted placement ---------------------------------------------------------------------
    def _build_quoted(self, conversation: Conversation) -> Payload:
        """A cache-aware sliding window, then excerpts of older turns quoted at the top of the
        newest turn's user message; the cache breakpoint sits on the message before it."""
        model, idx, starts, fixed, room, available = self._room(conversation)
        for_window = int(available * (1 - self.excerpt_share))
        w = idx.window(budget_tokens=max(for_window, 0))
        if w.empty:  # the newest turn is long: it may use the excerpts' share too
            w = idx.window(budget_tokens=max(available, 0))
        if w.empty:
            raise self.newest_turn_overflow(conversation, fixed["system"] + fixed["tools"], room,
                                            hint="The system prompt, tools and the newest turn alone exceed "
                                            "budget_tokens; raise it or shorten the newest message.")
        if self.cache and self.headroom:
            w = self.stable_window(conversation, idx, w, min(available, max(for_window, w.tokens)), self._starts,
                                   self.headroom)
        recent = bisect_left(starts, w.start)
        ti, hits = self._rank(conversation, starts, recent)

        left = min(available - w.tokens, int(available * self.excerpt_share))
        chosen: list[int] = []  # hits best first, then their neighbours nearest first
        used = 0
        units = [[h.turn] for h in hits] + [self._unit(h.turn, recent, ti)[1:] for h in hits]
        for unit in units:
            for t in unit:
                if t in chosen:
                    continue
                cost = idx.tokens(starts[t], starts[t + 1]) + EXCERPT_OVERHEAD
                if used + cost <= left:
                    chosen.append(t)
                    used += cost

        payload = self.finish(conversation, start=w.start, budget=self.budget_tokens)
        request = payload.request
        api = request["messages"] = list(request["messages"])
        j = _quote_target(api)
        head = sum(self.counter.count_message(m, model=model) for m in api[j:])
        prefix_tokens = payload.input_tokens - head
        while True:
            text = self._excerpts(conversation, starts, sorted(chosen)) if chosen else ""
            quoted = _with_quote(api[j], text) if text else api[j]
            new_head = sum(self.counter.count_message(m, model=model) for m in [quoted, *api[j + 1:]])
            if prefix_tokens + new_head <= room or not chosen:
                break
            chosen.pop()  # the estimate was short: drop the last chosen (the least wanted) and retry
        api[j] = quoted
        extra = new_head - head
        payload.input_tokens += extra
        payload.breakdown["retrieved"] = extra
        self.last_retrieved = sorted(chosen)
        for h in self.last_hits:
            h.sent = h.turn in chosen
        if self.cache:
            self._quoted_cache(payload, conversation, starts[-1], j, prefix_tokens, model)
        return payload

    def _quoted_cache(self, payload: Payload, conversation: Conversation, newest: int, j: int, prefix_tokens: int,
                      model: str) -> None:
        """Breakpoint on the message before the quoted one (what the next turn starts with);
        no automatic one (it would write the excerpts, which the next turn does not send)."""
        request = payload.request
        request.pop("cache_control", None)
        plan = payload.cache
        plan.breakpoints = [bp for bp in plan.breakpoints if "automatic" not in bp]
        if j > 0:
            api = request["messages"]
            api[j - 1] = _with_breakpoint(api[j - 1], self._cc())
            plan.breakpoints.append(f"message {j} (before the newest turn)")
            dropped = _limit_breakpoints(request)
            if dropped:
                plan.breakpoints.append(f"{dropped} stored message breakpoint(s) dropped")
        stable = plan.stable_prefix_tokens
        cached = prefix_tokens if j > 0 else stable
        key = (request.get("system"), request.get("tools"))  # compared by value, as BaseStrategy does
        # the cached prefix is conversation messages [start, end): the next request starts with
        # it if it has the same start and reaches at least as far (history is append-only)
        msgs, end = conversation.messages, newest
        while end > 0 and msgs[end - 1].role == "user":  # merged into the quoted message
            end -= 1
        start_id = payload.sent[0] if payload.sent else None
        minimum = catalog.get_model(model).min_cacheable_tokens
        read = 0
        prev = self._quoted_last
        if prev is not None and prev[0] == key:
            if prev[3] >= minimum and prev[1] == start_id and prev[2] <= end and prev[3] <= cached:
                read = prev[3]
            elif stable >= minimum:
                read = stable
        plan.expected_read = read
        plan.expected_write = cached - read if cached >= minimum else (stable - read if stable >= minimum else 0)
        self._quoted_last = (key, start_id, end, cached)

    def _excerpts(self, conversation: Conversation, starts: list[int], turns: list[int]) -> str:
        """The quoted turns in conversation order, each under its date and time, relative dates
        ("yesterday") resolved against the day they were said."""
        msgs, parts = conversation.messages, [EXCERPT_INTRO]
        for t in turns:
            turn = msgs[starts[t]:starts[t + 1]]
            key = (conversation.session_id, turn[0].id, turn[-1].id, len(turn))  # a final turn never changes
            text = self._quoted.get(key)
            if text is None:
                text = self._quoted[key] = self._quote_turn(turn)
            parts.append(text)
        return "\n\n".join(parts) + "\n" + EXCERPT_OUTRO

    def _quote_turn(self, turn: Sequence[Message]) -> str:
        when = turn[0].created_at
        lines = []
        for m in turn:
            text = turn_text([m]).strip()
            if not text:
                continue
            if self.resolve_dates:
                notes = resolve_relative(text, when.date())
                if notes:
                    text += " [" + "; ".join(notes) + "]"
            lines.append(text)
        head = f"[{fmt_date(when.date())}, {when.strftime('%H:%M')}]" if self.date_headers else "[...]"
        return head + "\n" + "\n".join(lines)

    def _unit(self, hit: int, recent: int, ti: TurnIndex) -> list[int]:
        """The hit, then its neighbours nearest first (before, then after), older turns only."""
        out = [hit]
        for d in range(1, self.neighbours + 1):
            out += [t for t in (hit - d, hit + d) if 0 <= t < recent and ti.retrievable[t]]
        return out

    @staticmethod
    def _query(msgs: list[Message], starts: list[int]) -> str:
        """The newest user message's text, after any earlier unanswered ones (sent merged with it)."""
        k = starts[-1]
        texts = [msgs[k].text] if is_plain_user(msgs[k]) else []
        while k > 0 and msgs[k - 1].role == "user":
            k -= 1
            if is_plain_user(msgs[k]):
                texts.insert(0, msgs[k].text)
        return "\n".join(texts)

    def _assemble(self, conversation: Conversation, starts: list[int], chosen: set[int], recent: int,
                  labels: dict[int, str], recent_start: int) -> tuple[list[Message], int, int, int]:
        """Prefix messages (retrieved turns in conversation order, headers added to copies),
        their tokens, where the verbatim part of the recent window starts, and the tokens the
        recent window's header adds."""
        msgs, model = conversation.messages, self.model_for(conversation)
        heads = {t: f"[{label}, {_when(msgs[starts[t]].created_at)}]" for t, label in labels.items()}
        prefix: list[Message] = []
        for t in sorted(chosen):
            turn = msgs[starts[t]:starts[t + 1]]
            prefix += [_with_header(turn[0], heads[t]), *turn[1:]] if t in heads else turn
        retrieved = sum(self.counter.count_message(m, model=model) for m in prefix)
        if recent in heads:
            first = _with_header(msgs[recent_start], heads[recent])
            prefix.append(first)
            extra = self.counter.count_message(first, model=model) - self.counter.count_message(msgs[recent_start],
                                                                                               model=model)
            return prefix, retrieved, recent_start + 1, extra
        return prefix, retrieved, recent_start, 0

    # -- cache expectations ------------------------------------------------------------------
    def _expect(self, key: Any, sent_ids: list[str], stable: int, total: int, model: str) -> tuple[int, int]:
        """As ``BaseStrategy._expect``, but comparing what is sent (ids *and* content, since
        header copies keep their message's id) and honouring ``cache_messages``."""
        fp = self._fp if self._fp is not None else tuple((i, "") for i in sent_ids)
        minimum = catalog.get_model(model).min_cacheable_tokens
        read = 0
        if self._last is not None and self._last[0] == key:
            prev_stable, prev_total = self._last[2], self._last[3]
            prev = self._last_fp
            if self.cache_messages and prev and fp[:len(prev)] == prev and prev_total >= minimum:
                read = prev_total
            elif prev_stable >= minimum:
                read = prev_stable
        self._last_fp = fp
        if not self.cache_messages:
            return read, (stable - read if stable >= minimum else 0)
        return read, (total - read if total >= minimum else 0)

