"""Who is speaking: rewrite what someone said in the first person so it reads right from
another seat.

- ``to_second_person``: the user's own words, said back to them ("I'm Priya" -> "you're
  Priya", "my budget" -> "your budget").
- ``to_third_person``: someone's words told about them ("I went to a support group" ->
  "Caroline went to a support group"; the first "I" becomes the name, a later one "they";
  "my" -> "their", "We went" -> "Caroline said they went"; the verb after the new subject agrees:
  "I love" -> "Caroline loves", "I'm" -> "Caroline is", "I've been" -> "Caroline has been").
  ``addressee`` names the person "you" meant, when it is known.

Pure string work over a small grammar of English pronouns and auxiliaries; anything it does not
know (a verb it cannot inflect) is left as it was.
"""

from __future__ import annotations

import re

from convolab.sim.text import IRREGULAR, STOPWORDS

_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|[^A-Za-z]+")
_ADVERBS = frozenset([
    "just", "also", "really", "still", "always", "never", "often", "usually", "recently",
    "finally", "even", "totally", "definitely", "actually", "kinda", "sometimes", "already",
    "only", "truly", "honestly", "absolutely", "simply", "personally", "mostly", "probably",
    "certainly", "rarely", "seriously", "literally",
])
_PAST = frozenset([
    *IRREGULAR,
    "got", "did", "had", "was", "were", "said", "told", "knew", "came", "became", "kept",
    "heard", "put", "let", "set", "hurt", "cut", "sent", "spent", "understood", "stood",
    "sat", "fell", "grew", "drew", "chose", "wore", "woke", "spoke", "swam", "sang", "paid",
    "held", "led", "meant", "slept", "caught", "fought", "threw", "hid", "rode", "shared",
    "could", "would", "should", "might", "must", "can", "will", "may", "shall",
])
_COMMON_VERBS = frozenset([
    "want", "need", "like", "love", "know", "think", "feel", "see", "get", "make", "take", "say", "remember",
    "try", "keep", "enjoy", "hope", "mean", "prefer", "plan", "use", "work", "live", "look", "seem", "find",
    "give", "tell", "ask", "call", "come", "go", "play", "help", "believe", "understand", "agree", "deserve",
])
_LOWERABLE = frozenset([
    "last", "next", "this", "that", "yesterday", "today", "tomorrow", "so", "then", "now", "and", "but", "also",
    "after", "before", "since", "when", "once", "on", "in", "at", "for", "with", "by", "finally", "recently",
    "actually", "well", "anyway", "yes", "no", "oh", "plus", "because", "if", "honestly", "luckily", "sadly",
])
_MODALS = frozenset(["can", "could", "will", "would", "should", "might", "must", "may", "shall"])
_SECOND = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself", "i'm": "you're",
           "i've": "you've", "i'd": "you'd", "i'll": "you'll",
           # the group they speak for is theirs too: "our offsite" -> "your offsite", "we are 14" -> "you are 14"
           "we": "you", "us": "you", "our": "your", "ours": "yours", "ourselves": "yourselves", "we're": "you're",
           "we've": "you've", "we'd": "you'd", "we'll": "you'll"}


def _case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.replace("’", "'"))


_BACK = {"you": "me", "your": "my", "yours": "mine", "yourself": "myself", "you're": "I'm", "you've": "I've",
         "you'll": "I'll", "you'd": "I'd"}
_CLAUSE_START = frozenset(["and", "but", "so", "or", "because", "if", "when", "that", "since", "while"])


def to_second_person(text: str, *, swap: bool = False) -> str:
    """``text`` said back to the person who wrote it: I/me/my -> you/your, "I am" -> "you are".
    With ``swap``, their "you" (the one they spoke to) becomes "I"/"me" at the same time."""
    toks = _tokens(text)
    out = []
    for k, t in enumerate(toks):
        low = t.lower()
        if swap and low in _BACK:
            prev = next((x.lower() for x in reversed(toks[:k]) if x[:1].isalpha()), "")
            subject = low == "you" and (not prev or prev in _CLAUSE_START or k == 0)
            new = "I" if subject else _BACK[low]
            out.append(_case(new, t) if new != "I" else new)
            j = _next_word(toks, k) if subject else None
            if j is not None and toks[j].lower() in ("are", "were"):
                toks[j] = "am" if toks[j].lower() == "are" else "was"
        elif low in _SECOND:
            new = _SECOND[low]
            start = not "".join(out).strip() or "".join(out).rstrip()[-1:] in ".!?"
            out.append(_case(new, t) if low not in ("i", "i'm", "i've", "i'd", "i'll") or start else new)
            if low == "i":
                _agree_second(toks, k)
        else:
            out.append(t)
    return "".join(out)


def _agree_second(toks: list[str], k: int) -> None:
    """After "I" became "you": "am" -> "are", "was" -> "were" (in place, on the next word)."""
    j = _next_word(toks, k)
    if j is not None and toks[j].lower() in ("am", "was"):
        toks[j] = "are" if toks[j].lower() == "am" else "were"


def _next_word(toks: list[str], k: int) -> int | None:
    for j in range(k + 1, min(len(toks), k + 8)):
        if toks[j][:1].isalpha():
            if toks[j].lower() in _ADVERBS:
                continue
            return j
    return None


def _third_singular(verb: str) -> str:
    low = verb.lower()
    if not verb.isalpha() or (verb[:1].isupper() and len(verb) > 1 and verb[1:].isupper()):
        return verb
    if low in _PAST or low.endswith("ed") or low in _MODALS:
        return verb
    special = {"am": "is", "have": "has", "do": "does", "go": "goes", "don't": "doesn't", "haven't": "hasn't",
               "be": "is"}
    if low in special:
        return special[low]
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if low.endswith("y") and len(low) > 2 and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


_YOU_AUX = {"are": "is", "were": "was", "have": "has", "do": "does", "don't": "doesn't", "haven't": "hasn't",
            "aren't": "isn't", "weren't": "wasn't"}
_CONTRACTED = {"i'm": ("is", "are"), "i've": ("has", "have"), "i'll": ("will", "will")}


def to_third_person(text: str, name: str, addressee: str | None = None) -> str:
    """``text``, said by ``name`` in the first person, told about them (see the module docstring)."""
    toks = _tokens(text)
    out: list[str] = []
    named = False
    k = 0
    while k < len(toks):
        t = toks[k]
        low = t.lower()
        said = "".join(out).rstrip()
        at_start = not said or said[-1] in ".!?"
        if low in ("i", "i'm", "i've", "i'll", "i'd"):
            subject = name if not named else "they"
            out.append(_case(subject, "X") if subject == name or at_start else subject)
            j = _next_word(toks, k)
            if low in _CONTRACTED:
                out.append(" " + _CONTRACTED[low][0 if subject == name else 1])
            elif low == "i'd":
                nxt = toks[j].lower() if j is not None else ""
                out.append(" had" if nxt in ("been", "had") or nxt.endswith("ed") else " would")
            elif j is not None and subject == name:
                toks[j] = _third_singular(toks[j])
            elif j is not None and toks[j].lower() in ("am", "was"):
                toks[j] = "are" if toks[j].lower() == "am" else "were"
            named = True
        elif low in ("my", "mine", "me", "myself"):
            word = {"my": "their", "mine": "theirs", "me": "them", "myself": "themselves"}[low]
            out.append(_case(f"{name}'s" if low == "my" and not named else word, t))
            named = named or low == "my"
        elif low in ("we", "we're", "we've", "we'll", "we'd"):
            rest = {"we": "", "we're": " are", "we've": " have", "we'll": " will", "we'd": " would"}[low]
            if not named:  # "We shipped it" -> "Elena said they shipped it": who "we" are stays theirs
                out = _reported(out, name)
            out.append(("they" if not named else _case("they", t if not at_start else "X")) + rest)
            named = True
        elif low == "our" and not named and at_start:  # "Our new puppy" -> "Elena's new puppy"
            out.append(_case(f"{name}'s", t))
            named = True
        elif low in ("our", "ours", "us", "ourselves"):
            out.append(_case({"our": "their", "ours": "theirs", "us": "them", "ourselves": "themselves"}[low], t))
        elif addressee and low in ("you", "your", "yours", "yourself", "you're", "you've"):
            word = {"you": addressee, "your": f"{addressee}'s", "yours": f"{addressee}'s",
                    "yourself": addressee, "you're": f"{addressee} is", "you've": f"{addressee} has"}[low]
            out.append(word)
            j = _next_word(toks, k)
            if low == "you" and j is not None and toks[j].lower() in _YOU_AUX:
                toks[j] = _YOU_AUX[toks[j].lower()]
            elif low == "you" and j is not None and toks[j] in _COMMON_VERBS and _subject_at(toks, k):
                toks[j] = _third_singular(toks[j])  # "in case you want" -> "in case Sage wants"
        else:
            out.append(t)
        k += 1
    return "".join(out)


def _reported(out: list[str], name: str) -> list[str]:
    """``out`` with "{name} said" put at the start of its last sentence (its first word lowered
    when it is a common word: "Last week" -> "last week")."""
    said = "".join(out)
    start = max(said.rfind(c) for c in ".!?") + 1
    while start < len(said) and said[start] in " \n\t\"'“(":
        start += 1
    rest = said[start:]
    first = rest.split(" ", 1)[0]
    if first and (first.lower() in _LOWERABLE or first.lower().replace("’", "'") in STOPWORDS):
        rest = first.lower() + rest[len(first):]
    return [said[:start], f"{name} said ", rest]


def _subject_at(toks: list[str], k: int) -> bool:
    """Is the word at ``k`` a subject: first in its clause (after a conjunction or punctuation)?"""
    for x in reversed(toks[:k]):
        if x[:1].isalpha():
            return x.lower() in _CLAUSE_START or x.lower() in ("case", "unless", "until", "as", "whether")
        if x.strip():
            return True
    return True


_THE_USER = re.compile(r"\b([Tt])he user(['’]s)?\b")
_PLAIN = {"is": "are", "was": "were", "has": "have", "does": "do", "doesn't": "don't", "isn't": "aren't",
          "wasn't": "weren't", "hasn't": "haven't"}


def the_user_to_you(text: str) -> str:
    """Words about "the user" said to the user: "The user lives in Porto" -> "You live in Porto",
    "the user's budget" -> "your budget"."""
    toks = _tokens(text)
    out: list[str] = []
    k = 0
    while k < len(toks):
        if toks[k].lower() == "the" and k + 2 < len(toks) and toks[k + 2].lower() in ("user", "user's"):
            upper = toks[k][0] == "T"
            if toks[k + 2].lower() == "user's":
                out.append("Your" if upper else "your")
            else:
                out.append("You" if upper else "you")
                j = _next_word(toks, k + 2)
                if j is not None:
                    toks[j] = _plain(toks[j])
            k += 3
            continue
        out.append(toks[k])
        k += 1
    return "".join(out)


def _plain(verb: str) -> str:
    """The verb agreeing with "you" instead of "the user": "lives" -> "live", "is" -> "are"."""
    low = verb.lower()
    if low in _PLAIN:
        return _PLAIN[low]
    if low.endswith("ies") and len(low) > 4:
        return verb[:-3] + "y"
    if low.endswith(("shes", "ches", "xes", "sses", "zes", "oes")):
        return verb[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(low) > 3:
        return verb[:-1]
    return verb
