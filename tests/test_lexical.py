"""convolab.lexical: the tokenizer and the incremental BM25 index."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.lexical import TermIndex, tokenize


def test_tokenizer_is_lexical_with_stopwords_stemming_and_numbers():
    assert tokenize("What is my sister's name?") == ["sister", "nam"]
    assert tokenize("Our budget is 4,200 euros, due 2023-05-08 at 13:56.") == [
        "budget", "4200", "euro", "due", "2023", "05", "08", "13:56"]
    assert tokenize("Running, moved, moving; cities and boxes") == ["run", "mov", "mov", "city", "box"]
    assert tokenize("Müller's café won't open") == ["müller", "café", "open"]


def test_bm25_scores_match_the_formula_and_respect_the_limit():
    ti = TermIndex()
    docs = [["tea", "garden"], ["tea", "tea", "football"], ["garden"], ["sister", "ilse", "tea"]]
    for d in docs:
        ti.add(d)
    k1, b = 1.2, 0.75
    n, avgdl = 3, (2 + 3 + 1) / 3
    df = 2  # "tea" in documents 0 and 1 among the first three
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    got = ti.score(["tea"], limit=3, k1=k1, b=b)
    assert len(got) == 3 and got[2] == 0  # document 3 is past the limit: not scored, not counted
    assert got[1] == pytest.approx(idf * 2 * (k1 + 1) / (2 + k1 * (1 - b + b * 3 / avgdl)))
    assert ti.matched(1, ["tea", "garden"]) == ("tea",) and ti.df("tea", 3) == 2
    assert not ti.score(["nothing"]).any() and len(ti.score(["tea"], limit=0)) == 0


_VOCAB = ["a1", "a2", "b1", "b2", "b3", "c1", "c2", "c3", "c4", "c5"]  # skewed below: a* common, c* rare
_doc = st.lists(st.sampled_from(_VOCAB[:2] * 6 + _VOCAB[2:5] * 2 + _VOCAB[5:]), min_size=0, max_size=12)


@settings(deadline=None)
@given(docs=st.lists(_doc, min_size=1, max_size=60), query=st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=5),
       limit=st.integers(0, 60), skip_first=st.booleans(), cut=st.integers(0, 60))
def test_scores_equal_the_textbook_formula_and_survive_truncation(docs, query, limit, skip_first, cut):
    ti = TermIndex()
    for i, d in enumerate(docs):
        ti.add(d, retrievable=not (skip_first and i == 0))
    n = min(limit, len(docs))
    got = ti.score(query, limit=limit)
    avgdl = sum(len(d) for d in docs[:n]) / n if n else 1.0
    for i, d in enumerate(docs[:n]):
        want = 0.0
        for t in sorted(set(query)):
            df = sum(1 for x in docs[:n] if t in x)
            if t in d:
                tf = d.count(t)
                want += math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(d) / (avgdl or 1.0)))
        assert got[i] == pytest.approx(0.0 if (skip_first and i == 0) else want)
    fresh = TermIndex()
    for i, d in enumerate(docs[:cut]):
        fresh.add(d, retrievable=not (skip_first and i == 0))
    ti.truncate(cut)
    assert ti.postings == fresh.postings and ti.lengths == fresh.lengths and ti.cum == fresh.cum
    np.testing.assert_array_equal(ti.score(query), fresh.score(query))
