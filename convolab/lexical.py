"""Words for lexical matching: one stopword list, one tokenizer, one BM25 index.

Retrieval's term index and its query rewriting use these (the evaluation's word tests keep
their own, shorter list of function words in ``convolab.eval.metrics``: they decide what an
answer must contain, a different job; the simulated Claude keeps its own words too, since it
stands for the model, not for convolab).

Tokenizing is lexical: lowercase words (any script), ``STOPWORDS`` removed, light suffix
stripping (``convolab.stemming``: plural -s/-es/-ies, -ing, -ed, a final -e), numbers kept
("4,200" is "4200").

``TermIndex`` is an append-only BM25 index over a sequence of documents (a strategy's
retrieval units: messages, turns). It is incremental: adding a document never rewrites
anything, and statistics (number of documents, document frequency, average length) are taken
at query time over the first ``limit`` documents only, by a binary search in each posting list
and a lookup in a running sum of lengths. Scoring reads only the query terms' postings, rarest
first, and stops walking a common term's postings once no document not yet seen could reach the
``top`` best scores so far (exact top-k: the same scores as an exhaustive pass).

Why not a library: ``rank_bm25`` computes every document's statistics in its constructor and
cannot add one, and ``bm25s`` precomputes scores into a sparse matrix and, by its author's
account, cannot add documents (xhluca/bm25s issues #5, #98, #129): both mean re-indexing the
whole history on every turn. ``tantivy`` adds documents incrementally but fixes k1=1.2 and
b=0.75, needs a writer commit and a reader reload per turn, and cannot restrict its statistics
to the documents before the recent window. About 100 lines of Python do what is needed.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence

from convolab.stemming import stem

__all__ = ["STOPWORDS", "TermIndex", "stem", "tokenize"]

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


class TermIndex:
    """An append-only BM25 index over documents numbered in the order they were added.

    ``postings[term]`` is a pair of parallel lists (document ids ascending, term frequencies);
    ``lengths[d]`` is document ``d``'s number of terms and ``cum[d]`` the sum of lengths before
    it. ``retrievable[d]`` says whether ``d`` may be returned by ``score`` (it still counts in
    the statistics).
    """

    def __init__(self) -> None:
        self.postings: dict[str, tuple[list[int], list[int]]] = {}
        self.lengths: list[int] = []
        self.cum: list[int] = [0]
        self.retrievable: list[bool] = []
        self._terms: list[tuple[str, ...]] = []  # each document's distinct terms, for truncate

    def __len__(self) -> int:
        return len(self.lengths)

    def add(self, terms: Sequence[str], *, retrievable: bool = True) -> int:
        """Index one document's terms; returns its id."""
        doc = len(self.lengths)
        counts = Counter(terms)
        self._terms.append(tuple(counts))
        for term, tf in counts.items():
            ids_tfs = self.postings.get(term)
            if ids_tfs is None:
                ids_tfs = self.postings[term] = ([], [])
            ids_tfs[0].append(doc)
            ids_tfs[1].append(tf)
        self.lengths.append(len(terms))
        self.cum.append(self.cum[-1] + len(terms))
        self.retrievable.append(retrievable)
        return doc

    def truncate(self, n: int) -> None:
        """Drop every document from ``n`` on (the ones added last), keeping the others."""
        for doc in range(len(self.lengths) - 1, max(n, 0) - 1, -1):
            for term in self._terms[doc]:
                ids, tfs = self.postings[term]
                ids.pop()
                tfs.pop()
                if not ids:
                    del self.postings[term]
        n = max(0, min(n, len(self.lengths)))
        del self.lengths[n:], self.cum[n + 1:], self.retrievable[n:], self._terms[n:]

    def df(self, term: str, limit: int | None = None) -> int:
        """How many of the first ``limit`` documents (all by default) contain ``term``."""
        ids_tfs = self.postings.get(term)
        if ids_tfs is None:
            return 0
        return len(ids_tfs[0]) if limit is None else bisect_left(ids_tfs[0], limit)

    def terms_of(self, doc: int) -> tuple[str, ...]:
        """The distinct terms of document ``doc``."""
        return self._terms[doc]

    def score(self, terms: Iterable[str], *, limit: int | None = None, k1: float = 1.2, b: float = 0.75,
              top: int | None = None) -> dict[int, tuple[float, tuple[str, ...]]]:
        """BM25 scores of the retrievable documents among the first ``limit`` (all by default)
        that share a term with ``terms``: ``{doc: (score, matched terms)}``. Statistics cover
        all of the first ``limit`` documents.

        With ``top=k`` the result holds (at least) every document whose score is among the
        ``k`` best, ties included, with the same exact scores: terms are taken rarest first,
        and once a document not seen yet could no longer reach the k-th best score so far, the
        remaining (common) terms' postings are not walked; the documents already found look
        their frequency up by binary search instead.
        """
        n = len(self.lengths) if limit is None else max(0, min(limit, len(self.lengths)))
        if n == 0 or top == 0:
            return {}
        avgdl = self.cum[n] / n or 1.0
        plan = []  # (upper bound of the term's contribution, term, idf, doc ids, tfs, df)
        for term in set(terms):
            ids_tfs = self.postings.get(term)
            df = bisect_left(ids_tfs[0], n) if ids_tfs is not None else 0
            if df:
                idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
                plan.append((idf * (k1 + 1.0), term, idf, *ids_tfs, df))
        plan.sort(key=lambda p: (-p[0], p[1]))  # one summation order for every document: same floats
        later = [sum(p[0] for p in plan[i + 1:]) for i in range(len(plan))]
        scores: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        lengths, retrievable = self.lengths, self.retrievable
        walking = True
        for i, (bound, term, idf, ids, tfs, df) in enumerate(plan):
            if walking and top is not None and len(scores) >= top:
                theta = sorted(scores.values(), reverse=True)[top - 1]
                walking = bound + later[i] >= theta - 1e-9  # could an unseen document still get there?
            if walking:
                for j in range(df):
                    d = ids[j]
                    if retrievable[d]:
                        tf = tfs[j]
                        scores[d] = scores.get(d, 0.0) + idf * tf * (k1 + 1.0) / (
                            tf + k1 * (1.0 - b + b * lengths[d] / avgdl))
                        matched.setdefault(d, []).append(term)
                continue
            for d in list(scores):
                if scores[d] + bound + later[i] < theta - 1e-9:  # cannot reach the top any more
                    del scores[d], matched[d]
                    continue
                j = bisect_left(ids, d, 0, df)
                if j < df and ids[j] == d:
                    tf = tfs[j]
                    scores[d] += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * lengths[d] / avgdl))
                    matched[d].append(term)
        return {d: (sc, tuple(sorted(matched[d]))) for d, sc in scores.items()}
