"""The simulated Claude as a judge: a deterministic stand-in for an LLM grading a reply.

A request that forces the tool ``verdict`` (``tool_choice {"type": "tool", "name": "verdict"}``,
as ``convolab.eval.judge`` sends) and whose last user message holds ``<question>``,
``<gold_answer>`` and ``<response>`` is answered with a ``verdict`` call decided by a rule, not
by understanding:

- a response that declines (opens with "I don't know", "not mentioned", ...) is incorrect;
- every number of the gold answer (days and years of a date too) must appear in the response,
  and the response's first sentence, where it gives its answer, must not state other numbers
  instead (a value that was updated later: "35" where the gold answer is "75");
- the gold answer's content words (stemmed, stopwords left out) must appear: at least half of
  them, and at least half of each part when the gold answer has several ("baroque music and
  Noor Haddad": a response that gives only the music is incorrect).

So it is more lenient than the word test behind ``correctness`` (80% of the words) on wording
and stricter on numbers; it cannot tell a paraphrase, a contradiction stated with the same
words, or a relative date ("last Saturday") from a wrong one, which a model judge can. It
exists so that the judge's plumbing (requests, forced tool, verdicts, costs, batches,
agreement) runs offline; its accuracy is not a finding about any strategy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from convolab.sim.text import numbers, terms

__all__ = ["TOOL", "decide", "judge_reply", "with_judge"]

TOOL = "verdict"
_TAG = {t: re.compile(rf"<{t}>(.*?)</{t}>", re.S) for t in ("question", "gold_answer", "response")}
_PARTS = re.compile(r"\s*(?:,|;|\band\b)\s*")  # "X and Y", "X, Y and Z": each part is asked for
_FIRST_SENTENCE = re.compile(r".+?(?:[.!?](?=\s|$)|$)", re.S)
_DECLINE = re.compile(r"^\W*(i don'?t know|i do not know|i'?m not sure|not (?:been )?mentioned|"
                      r"(?:that|it) (?:is|was)n'?t mentioned|there is no (?:mention|information))", re.I)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").lstrip("0") or "0" for n in numbers(text)}


def decide(gold: str, response: str) -> tuple[bool, str]:
    """The stand-in's verdict (``True``: correct) and its one-sentence reason."""
    if _DECLINE.search(response):
        return False, "The response declines to answer."
    gold_numbers = _numbers(gold)
    missing = sorted(gold_numbers - _numbers(response))
    if missing:
        return False, f"The response lacks the gold answer's {', '.join(missing)}."
    first = _FIRST_SENTENCE.match(response.strip())
    stated = _numbers(first.group(0)) if first else set()
    if gold_numbers and stated and not stated & gold_numbers:
        return False, f"The response answers {', '.join(sorted(stated))} where the gold answer is {', '.join(sorted(gold_numbers))}."
    need = set(terms(gold))
    have = need & set(terms(response))
    if need and len(have) * 2 < len(need):
        return False, f"The response gives only {len(have)} of the {len(need)} key words of the gold answer."
    for part in _PARTS.split(gold):
        words = set(terms(part))
        if words and len(words & have) * 2 < len(words):
            return False, f"The response leaves out part of the gold answer ({part.strip()})."
    return True, f"The response gives the gold answer ({len(have)} of {len(need)} key words, all its numbers)."


def _last_user_text(request: dict[str, Any]) -> str:
    for m in reversed(request.get("messages") or []):
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text")
    return ""


def judge_reply(request: dict[str, Any]) -> Any:
    """A ``Reply`` calling ``verdict`` when ``request`` is a judge's request, else None."""
    from convolab.sim.responder import Reply

    choice = request.get("tool_choice") or {}
    if choice.get("type") != "tool" or choice.get("name") != TOOL:
        return None
    text = _last_user_text(request)
    found = {t: (m.group(1).strip() if (m := rx.search(text)) else "") for t, rx in _TAG.items()}
    correct, reason = decide(found["gold_answer"], found["response"])
    digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return Reply([{"type": "tool_use", "id": f"toolu_sim_{digest}", "name": TOOL,
                   "input": {"verdict": "correct" if correct else "incorrect", "reason": reason}}], "tool_use")


def with_judge(responder: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``responder``, except that a judge's request gets the stand-in's verdict."""
    def respond(request: dict[str, Any]) -> Any:
        return judge_reply(request) or responder(request)

    return respond
