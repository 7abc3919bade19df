"""Summaries in prose: names, numbers, dates and requirements kept, no role labels inside
sentences, the assistant's restatements left out, each day opened by its date."""

from __future__ import annotations

import re
from typing import Any

from convolab.blocks import SUMMARY_MARKER
from convolab.sim.responder import respond
from convolab.sim.summaries import summarize

CHAT = ("Ada is moving to Lisbon on 3 March 2025. The weather was nice today. "
        "The budget must stay under 4000 euros. We chatted about films for a while. "
        "Please never book flights through Ryanair. Bob prefers a window seat. "
        "Lunch was pasta. It was a long day.")
TRANSCRIPT = """User: I'm Ada. I fly to Lisbon on 12 May and I'm vegetarian.
Assistant: Noted: you're Ada, and you fly to Lisbon on 12 May and you're vegetarian.
User: The agenda must never run past 5 pm. Our budget is 4,200 euros.
Assistant: Noted: the agenda must never run past 5 pm, and the budget is 4,200 euros.
User: Hi! Thanks!
User: How was your day?"""


def reply(text: str, system: str | None = None) -> str:
    request: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 500,
                               "messages": [{"role": "user", "content": text}]}
    if system:
        request["system"] = system
    return respond(request).blocks[0]["text"]


def test_summary_keeps_names_numbers_dates_requirements():
    out = reply(f"Summarize the conversation:\n{CHAT}")
    for fact in ("3 March 2025", "4000", "never book", "window seat"):
        assert fact in out
    assert "Lunch was pasta" not in out


def test_summary_marker_in_system_and_limits():
    out = reply(f"{CHAT}\nKeep it to 2 sentences.", system=SUMMARY_MARKER)
    assert len(re.findall(r"[.!?](\s|$)", out)) == 2
    assert len(reply(f"Summarize the conversation in 12 words.\n{CHAT}").split()) <= 12


def test_summarize_dedupes_and_keeps_order():
    out = summarize(["Ada lives in Lisbon since 2021.", "Ada lives in Lisbon since 2021!", "Bob is 30."])
    assert out == "Ada lives in Lisbon since 2021. Bob is 30."
    assert len(summarize([CHAT] * 20, max_words=30).split()) <= 30


def test_a_transcript_is_told_as_prose_without_role_labels_or_echoes():
    out = summarize([TRANSCRIPT], 150)
    assert out == ("The user is Ada. The user flies to Lisbon on 12 May and they are vegetarian. "
                   "The agenda must never run past 5 pm. The user's budget is 4,200 euros.")
    assert not re.search(r"\b(User|Assistant|Noted):", out)


def test_speakers_are_named_and_each_day_starts_with_its_date():
    texts = ["[1:56 pm on 8 May, 2023]\nCaroline: Hey Mel! I went to a pottery class yesterday.",
             "Melanie: That's great! I painted a lake sunrise last year.",
             "[2:00 pm on 25 May, 2023]\nCaroline: I'm researching adoption agencies this month."]
    out = summarize(texts, 100)
    assert out == ("On 8 May 2023: Caroline went to a pottery class yesterday (7 May 2023). "
                   "Melanie painted a lake sunrise last year (2022). "
                   "On 25 May 2023: Caroline is researching adoption agencies this month (May 2023).")


def test_a_summary_request_from_a_strategy_summarizes_its_transcript():
    prompt = (f"{SUMMARY_MARKER} Summarize the key facts, decisions, names, numbers and dates of this part of "
              f"our conversation in at most 60 words. Keep what the user requires word for word.\n\n{TRANSCRIPT}")
    out = reply(prompt)
    assert "Ada" in out and "4,200 euros" in out and "must never run past 5 pm" in out
    assert "Summarize" not in out and "User:" not in out and len(out.split()) <= 60
