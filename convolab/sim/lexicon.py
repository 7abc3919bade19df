"""Words that say the same thing in conversation, and common kinds of things: a reader knows
that "symbolize" is asked of what "stands for" something, that a "fave" is a favorite, and that
a dog or a guinea pig is a pet. A question's term finds sentences that use a related word (at
``RELATED_WEIGHT`` of its weight); a question about a kind ("What pet ...?") finds its members
first (the kind's own word counts ``KIND_WORD_WEIGHT``: "pets are fun" says no pet's name).

General English only: families of everyday paraphrases and a few everyday categories with
their common members. Nothing here names a person, a place or an event of any conversation.
"""

from __future__ import annotations

from functools import lru_cache

from convolab.sim.text import stem

RELATED_WEIGHT = 0.8
KIND_WORD_WEIGHT = 0.5

# Each family: words that one question may use for what a sentence says with another.
_FAMILIES = [
    "symbolize symbol represent mean meaning stand signify reminder remind",
    "favorite favourite fave top best prefer preferred loved",
    "childhood kid child young",
    "enjoy like love fan adore passionate into",
    "motivate motivation inspire inspiration drive push encourage",
    "talk discuss say speak chat tell mention speech presentation",
    "job work career profession occupation position role",
    "start begin launch open",
    "trip travel journey vacation holiday visit tour",
    "photo picture pic image snapshot",
    "happy glad excited thrilled stoked joy delighted",
    "sad upset unhappy heartbroken",
    "hurt injury injured accident",
    "buy bought purchase",
    "make create build craft design",
    "kid child son daughter children",
    "husband wife partner spouse married",
    "mom mother mum",
    "dad father",
    "friend buddy pal",
    "house home apartment place",
    "live move relocate",
    "study studying learn course class degree school",
    "destress de-stress relax unwind calm",
    "recommend recommendation suggest suggestion",
    "plan planning planned intend",
    "advice tip tips suggest",
    "attitude feel feeling",
    "store shop boutique",
    "festival fest",
    "music musician musical",
    "listen hear",
]
# Everyday categories and common members: "What pets ..." is answered by a dog or a cat.
_KINDS = {
    "pet": "dog cat puppy pup kitten kitty guinea hamster rabbit bunny parrot bird fish turtle horse",
    "instrument": "guitar piano violin clarinet drums drum flute cello saxophone trumpet ukulele",
    "sport": "soccer football basketball tennis baseball volleyball hockey golf swimming running yoga",
    "book": "novel read reading",
    "music": "song album band concert singer",
    "art": "painting paint drawing draw sculpture pottery",
    "activity": "hobby sport game camping hiking swimming running reading painting pottery cooking dancing "
                "yoga biking climbing gardening",
    "event": "parade festival conference concert workshop meeting party reading show fair competition "
             "wedding ceremony class group",
    "food": "dish meal recipe cook",
    "car": "vehicle",
    "game": "videogame",
}


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for family in _FAMILIES:
        stems = {stem(w) for w in family.split()}
        for s in stems:
            table.setdefault(s, set()).update(stems - {s})
    return {k: frozenset(v) for k, v in table.items()}


@lru_cache(maxsize=1)
def _kinds() -> dict[str, frozenset[str]]:
    return {stem(kind): frozenset(stem(w) for w in words.split()) for kind, words in _KINDS.items()}


def related(term: str) -> frozenset[str]:
    """Stemmed terms that say the same as the stemmed ``term`` (empty when none are known)."""
    return _table().get(term, frozenset())


def members(term: str) -> frozenset[str]:
    """Common members of the kind the stemmed ``term`` names ("pet": dog, cat, ...), stemmed."""
    return _kinds().get(term, frozenset())
