"""Shared inputs: small synthetic conversations, and one LoCoMo conversation cut to 3 sessions."""

from __future__ import annotations

import json

import pytest

from convolab.datasets import parse_sample, synthetic


@pytest.fixture(scope="session")
def small():
    return synthetic(80, seed=2)


@pytest.fixture(scope="session")
def locomo_record(locomo_dev) -> dict:
    """conv-26 cut to its first 3 sessions, ending on a speaker_a turn (a user message the
    dataset has no reply to), with the QA items whose evidence lies in those sessions."""
    record = json.loads(locomo_dev.read_text(encoding="utf-8"))[0]
    conv = dict(record["conversation"])
    keep = {1, 2, 3}
    for key in list(conv):
        if key.startswith("session_") and int(key.split("_")[1]) not in keep:
            del conv[key]
    last = conv["session_3"]
    while last[-1]["speaker"] != conv["speaker_a"]:
        last = last[:-1]
    conv["session_3"] = last
    kept = {t["dia_id"] for n in keep for t in conv[f"session_{n}"]}
    qa = [q for q in record["qa"] if q["evidence"] and all(e in kept for e in q["evidence"])]
    return {**record, "conversation": conv, "qa": qa}


@pytest.fixture(scope="session")
def locomo_small(locomo_record):
    return parse_sample(locomo_record, where="conv-26 (3 sessions)")
