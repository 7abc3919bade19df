"""One light English stemmer, shared by ``Retrieval``'s index and the evaluation's word tests,
so that "paintings", "painted" and "painting" meet in both. (The simulated Claude keeps its own,
with irregular verbs, in ``convolab.sim.text``: it stands for the model, not for convolab.)"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["stem"]


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light suffix stripper: plural -s/-es/-ies, -ing, -ed, a final -e (numbers untouched).
    Memoized: a conversation uses a few thousand distinct words, stemmed millions of times."""
    w = word[:-2] if word.endswith("'s") else word.split("'", 1)[0]
    if not w.isalpha():
        return w
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith(("ed", "ches", "shes", "sses", "xes", "zes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # running -> runn -> run
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # move, moved, moving -> mov
    return w
