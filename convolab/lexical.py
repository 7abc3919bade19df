"""Words for lexical matching: one stopword list, one tokenizer, one BM25 scorer.

``STOPWORDS`` is the one list of words that say nothing about a subject (function words,
contractions, greetings and fillers such as "yeah", "thanks", "remind"): retrieval's index and
query rewriting, the evaluation's answer words (``convolab.eval.metrics``) and the simulated
Claude's terms (``convolab.sim.text``) all leave out the same words. ``bm25_idf`` and
``bm25_term`` are the one BM25 formula, used by ``TermIndex`` and by the simulator's sentence
ranking (``convolab.sim.evidence``), each over its own statistics.

Tokenizing is lexical: lowercase words (any script), ``STOPWORDS`` removed, light suffix
stripping (``convolab.stemming``: plural -s/-es/-ies, -ing, -ed, a final -e), numbers kept
("4,200" is "4200").

``TermIndex`` is an append-only BM25 index over a sequence of documents (a strategy's
retrieval units: messages, turns). It is incremental: adding a document never rewrites
anything, and statistics (number of documents, document frequency, average length) are taken
at query time over the first ``limit`` documents only, by a binary search in each posting list
and a lookup in a running sum of lengths. Scoring reads only the query terms' postings, with
numpy over the posting arrays in place (no copy), so a query costs the same whether the index
was built a turn at a time or at once.

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
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from convolab.stemming import stem

if TYPE_CHECKING:
    import numpy as np

__all__ = ["STOPWORDS", "TermIndex", "bm25_idf", "bm25_term", "stem", "tokenize"]

STOPWORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
    "another", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "cannot", "could", "d", "did", "do", "does", "doing",
    "done", "down", "during", "each", "either", "even", "few", "for", "from", "further", "get",
    "got", "had", "has", "have", "having", "he", "hello", "her", "here", "hers", "herself",
    "hey", "hi", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "know", "let", "like", "ll", "lot", "lots", "m", "many", "me", "might",
    "mine", "more", "most", "much", "must", "my", "myself", "neither", "no", "nor", "not",
    "now", "of", "off", "oh", "ok", "okay", "on", "once", "one", "only", "onto", "or", "other",
    "ought", "our", "ours", "ourselves", "out", "over", "own", "please", "quite", "rather",
    "re", "really", "remind", "s", "same", "shall", "she", "should", "so", "some", "still",
    "such", "t", "tell", "than", "thank", "thanks", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "us", "ve", "very", "was", "we", "well", "were", "what", "when",
    "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would", "yeah",
    "yes", "yet", "you", "your", "yours", "yourself", "yourselves",
    "aren't", "can't", "couldn't", "didn't", "doesn't", "don't", "hadn't", "hasn't", "haven't",
    "he'd", "he'll", "he's", "here's", "how's", "i'd", "i'll", "i'm", "i've", "isn't", "it's",
    "let's", "mustn't", "shan't", "she'd", "she'll", "she's", "shouldn't", "that's", "there's",
    "they'd", "they'll", "they're", "they've", "wasn't", "we'd", "we'll", "we're", "we've",
    "weren't", "what's", "when's", "where's", "who's", "why's", "won't", "wouldn't", "you'd",
    "you'll", "you're", "you've",
])

_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*(?![^\W\d_])|[^\W_]+(?:'[^\W_]+)?")


def bm25_idf(n: int | float, df: int | float) -> float:
    """BM25's inverse document frequency of a term found in ``df`` of ``n`` documents (the
    "+ 1" form: never negative, however common the term)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def bm25_term(weight: Any, tf: Any, length: Any, avgdl: float, k1: float, b: float) -> Any:
    """One term's BM25 score in a document: ``weight`` (its idf, times any query weight) for
    ``tf`` occurrences in a document of ``length`` terms, ``avgdl`` the average length.
    Works on numbers and on numpy arrays alike."""
    return weight * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * length / avgdl))


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

    ``postings[term]`` is a pair of parallel integer arrays (document ids ascending, term
    frequencies); ``lengths[d]`` is document ``d``'s number of terms and ``cum[d]`` the sum of
    lengths before it. ``retrievable[d]`` says whether ``d`` may score (it still counts in the
    statistics). The arrays are ``array.array``: appends are cheap, and numpy reads them in place.
    """

    def __init__(self) -> None:
        self.postings: dict[str, tuple[array, array]] = {}
        self.lengths = array("i")
        self.cum: list[int] = [0]
        self.retrievable = array("b")
        self._terms: list[tuple[str, ...]] = []  # each document's distinct terms

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
                ids_tfs = self.postings[term] = (array("i"), array("i"))
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

    def score(self, terms: Iterable[str], *, limit: int | None = None, k1: float = 1.2,
              b: float = 0.75) -> np.ndarray:
        """BM25 scores of the first ``limit`` documents (all by default) for the query
        ``terms`` (each distinct term counted once): a float64 array, 0 for a document that
        matches nothing or is not retrievable. Statistics cover the first ``limit`` documents.
        Only the query terms' postings are read."""
        import numpy as np

        n = len(self.lengths) if limit is None else max(0, min(limit, len(self.lengths)))
        scores = np.zeros(n)
        if n == 0:
            return scores
        avgdl = self.cum[n] / n or 1.0
        lengths = np.frombuffer(self.lengths, dtype=np.int32, count=n)
        for term in sorted(set(terms)):  # one summation order: the same floats for the same query
            ids_tfs = self.postings.get(term)
            df = bisect_left(ids_tfs[0], n) if ids_tfs is not None else 0
            if df:
                ids = np.frombuffer(ids_tfs[0], dtype=np.int32, count=df)
                tf = np.frombuffer(ids_tfs[1], dtype=np.int32, count=df).astype(np.float64)
                scores[ids] += bm25_term(bm25_idf(n, df), tf, lengths[ids], avgdl, k1, b)
        scores[np.frombuffer(self.retrievable, dtype=np.int8, count=n) == 0] = 0.0
        return scores

    def matched(self, doc: int, terms: Iterable[str]) -> tuple[str, ...]:
        """The query ``terms`` that document ``doc`` contains, sorted."""
        have = set(self._terms[doc])
        return tuple(sorted(t for t in set(terms) if t in have))
