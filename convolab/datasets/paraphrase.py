"""A synthetic set whose questions use other words than their facts: what word matching cannot
find and meaning might.

``paraphrase(turns=300, seed=0)`` is ``synthetic(turns, seed=seed)``'s conversation (the same
record, byte for byte) with other questions: each planted fact is asked about in words its
statement does not use ("our new puppy is called Biscuit" is asked as "What name did Maya give
her young dog?"), as single-hop (category 4) and temporal (category 2) items, plus multi-hop
items (category 1) joining two of them. Only the person's name is shared, and every speaker
message carries it, so it tells the facts apart from nothing. Inference and adversarial items
are left out: their wording is the synthetic set's. ``tests/datasets/test_paraphrase.py``
checks that no question shares a content word (``convolab.lexical.tokenize``) with its fact's
statement beyond the name.

Write it as LoCoMo JSON (``write_locomo_json([paraphrase(...)], path)``) and replay it with
``convolab eval locomo path``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from convolab.datasets.locomo import parse_sample
from convolab.datasets.records import Sample
from convolab.datasets.synthetic import DEFAULT_START, synthetic_record

__all__ = ["PARAPHRASES", "paraphrase", "paraphrase_record"]

#: fact key -> a question in other words than the fact's statement ({U}: the user's name).
PARAPHRASES: dict[str, str] = {
    "puppy": "What name did {U} give the young dog that joined the household?",
    "manager": "Who is {U}'s boss at work?",
    "sister": "Which female sibling of {U} was planning a visit?",
    "designer": "Who created the emblem for {U}'s product?",
    "codename": "What internal nickname does {U}'s product go by?",
    "budget": "How much money was allotted to the initial stage of {U}'s work?",
    "team_size": "What is the headcount of {U}'s group?",
    "testers": "How many early users enrolled to try {U}'s app?",
    "commute": "How long does {U}'s trip to work take?",
    "launch": "On what day should {U}'s product go live?",
    "birthday": "On which day was {U} born?",
    "office": "In which town is {U}'s company's workplace?",
    "hometown": "Where did {U} spend their childhood?",
    "offsite": "Where is {U}'s group retreat taking place?",
    "language": "Which coding tool does {U} like best?",
    "drink": "What beverage does {U} have at breakfast?",
    "allergy": "Which food gives {U} a bad reaction?",
    "hobby": "What pastime fills {U}'s Saturdays and Sundays?",
    "music": "What genre plays in {U}'s headphones during programming?",
    "lease": "When did {U} rent a workspace?",
    "beta": "When did the trial version reach {U}'s earliest clients?",
    "meetup": "When did {U} present at a nearby gathering?",
    "bike": "When did {U} purchase a used bicycle?",
}


def paraphrase(turns: int = 300, *, seed: int = 0, start: datetime = DEFAULT_START, **knobs: Any) -> Sample:
    """A ``Sample`` of ``synthetic(turns, seed=seed, **knobs)``'s conversation with paraphrased
    questions (see the module docstring)."""
    record = paraphrase_record(turns, seed=seed, start=start, **knobs)
    return parse_sample(record, where=f"paraphrase(turns={turns}, seed={seed})")


def paraphrase_record(turns: int = 300, *, seed: int = 0, start: datetime = DEFAULT_START,
                      **knobs: Any) -> dict[str, Any]:
    """The LoCoMo-format record ``paraphrase`` loads (a JSON-ready dict)."""
    record = synthetic_record(turns, seed=seed, start=start.astimezone(UTC), **knobs)
    user = record["conversation"]["speaker_a"]
    facts = [f for f in record["convolab_facts"] if f["key"] in PARAPHRASES]
    qa = [{"question": PARAPHRASES[f["key"]].format(U=user), "answer": f["values"][-1],
           "evidence": [f["dia_ids"][-1]], "category": 2 if f["kind"] == "event" else 4} for f in facts]
    plain = [f for f in facts if f["kind"] != "event"]
    rng = random.Random(f"paraphrase-{seed}")
    picked = rng.sample(plain, min(6, len(plain) // 2 * 2))
    for a, b in zip(picked[::2], picked[1::2], strict=True):
        qa_a, qa_b = (PARAPHRASES[f["key"]].format(U=user) for f in (a, b))
        qa.append({"question": f"{qa_a.rstrip('?')}, and {qa_b[0].lower()}{qa_b[1:]}",
                   "answer": f"{a['values'][-1]} and {b['values'][-1]}",
                   "evidence": [a["dia_ids"][-1], b["dia_ids"][-1]], "category": 1})
    record["sample_id"] = f"paraphrase-{turns}-seed{seed}"
    record["qa"] = qa
    record["convolab_generator"] = {**record["convolab_generator"], "name": "convolab.datasets.paraphrase"}
    return record
