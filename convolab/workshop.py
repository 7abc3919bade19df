"""Checks and hidden solutions for ``notebooks/07_workshop.ipynb``.

Each exercise has a checker: called with the learner's answer it says "correct", explains what
is wrong (``WorkshopMiss``, with a hint), or, given ``None``, says the exercise is not done yet
without failing, so the notebook runs top to bottom before anyone has answered. ``hint(n)``
gives a nudge and ``solution(n)`` prints a worked answer (kept here, out of the notebook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convolab.model import Conversation
from convolab.pricing import cost_usd
from convolab.strategies.base import Strategy

MODEL = "claude-sonnet-4-6"
FACT = "My locker code is 4417."


class WorkshopMiss(AssertionError):
    """An answer that is not right yet; the message says why and how to get closer."""


@dataclass(frozen=True)
class Exercise:
    number: int
    task: str
    hint: str
    solution: str


EXERCISES = {
    1: Exercise(1, "How many input tokens will the request for `long_conversation()` bill, system prompt included?",
                "Build the payload with any strategy that sends everything (FullHistory) and read payload.input_tokens.",
                "from convolab.strategies import FullHistory\n"
                "answer = FullHistory().build(workshop.long_conversation()).input_tokens"),
    2: Exercise(2, "Make a SlidingWindow whose requests never exceed 1,500 input tokens on `long_conversation()`.",
                "SlidingWindow takes budget_tokens, which covers the system prompt as well as the turns.",
                "from convolab.strategies import SlidingWindow\nanswer = SlidingWindow(budget_tokens=1500)"),
    3: Exercise(3, "Pick and configure a strategy that still answers 'What is my locker code?' at the end of "
                   "`long_conversation()` with at most 1,000 input tokens per request.",
                "The fact is in turn 1 and the window cannot reach it: keep a summary, a memory, or retrieve it.",
                "from convolab.strategies import Retrieval\nanswer = Retrieval(budget_tokens=1000)"),
    4: Exercise(4, "What does a Claude Haiku 4.5 response with 12,000 input, 3,000 cache-write, 40,000 cache-read and "
                   "800 output tokens cost, in USD?",
                "convolab.pricing.cost_usd(model, usage_dict) prices every part, cache writes and reads included.",
                "from convolab.pricing import cost_usd\n"
                "answer = cost_usd('claude-haiku-4-5', {'input_tokens': 12000, 'cache_creation_input_tokens': 3000,\n"
                "                                       'cache_read_input_tokens': 40000, 'output_tokens': 800})"),
}


def long_conversation(turns: int = 60) -> Conversation:
    """The exercises' conversation: a fact in turn 1, then ``turns`` turns of status updates, then a question."""
    conv = Conversation(system_prompt="You are a helpful gym assistant.", model=MODEL)
    conv.add("user", f"Hi, I'm Noor. {FACT}")
    conv.add("assistant", "Noted, Noor.")
    for t in range(turns):
        conv.add("user", f"Training log {t}: I ran {3 + t % 5} kilometres along the river, stretched for "
                         f"{10 + t % 7} minutes and lifted {40 + t} kilograms on day {t + 1}.")
        conv.add("assistant", f"Logged day {t + 1}.")
    conv.add("user", "What is my locker code?")
    return conv


def _pending(n: int, answer: Any) -> bool:
    if answer is None:
        print(f"Exercise {n}: not answered yet. {EXERCISES[n].task} (workshop.hint({n}) for a hint)")
        return True
    return False


def _miss(n: int, why: str) -> WorkshopMiss:
    return WorkshopMiss(f"Exercise {n}: not yet. {why} Hint: {EXERCISES[n].hint}")


def check(n: int, answer: Any, client: Any = None) -> bool:
    """Check the answer to exercise ``n``: True and "correct" when right, ``WorkshopMiss`` when not,
    False (and a reminder) for ``None``. Exercise 3 sends requests, with ``client`` (simulated by default)."""
    if n not in EXERCISES:
        raise ValueError(f"there is no exercise {n}; the exercises are {sorted(EXERCISES)}")
    if _pending(n, answer):
        return False
    {1: _check_tokens, 2: _check_window, 3: _check_recall, 4: _check_cost}[n](answer, client)
    print(f"Exercise {n}: correct.")
    return True


def _check_tokens(answer: Any, client: Any) -> None:
    from convolab.sim import Simulator

    conv = long_conversation()
    body = {"model": conv.model, "system": conv.system_prompt, "messages": conv.to_api_messages()}
    billed = Simulator().count(body)
    if answer != billed:
        raise _miss(1, f"{answer!r} is not what the request bills.")


def _check_window(answer: Any, client: Any) -> None:
    if not isinstance(answer, Strategy) or getattr(answer, "name", "") != "sliding":
        raise _miss(2, "The answer should be a SlidingWindow.")
    conv = long_conversation()
    payload = answer.build(conv)
    if payload.input_tokens > 1500:
        raise _miss(2, f"Its request has {payload.input_tokens:,} input tokens.")


def _check_recall(answer: Any, client: Any) -> None:
    if not isinstance(answer, Strategy):
        raise _miss(3, "The answer should be a strategy object, e.g. from convolab.strategies.")
    from convolab.sim import Simulator

    client = client or Simulator().client()
    conv = long_conversation()
    question = conv.messages.pop()  # replay the history turn by turn so strategies can observe it
    replay = Conversation(system_prompt=conv.system_prompt, model=conv.model)
    for turn in conv.turns():
        for m in turn.messages:
            replay.add(m.role, m.content)
        answer.observe(replay.turns()[-1], client=client, conversation=replay)
    replay.add("user", question.content)
    payload = answer.build(replay, client=client)
    if payload.input_tokens > 1000:
        raise _miss(3, f"Its request has {payload.input_tokens:,} input tokens.")
    reply = payload.create(client)
    if "4417" not in reply.content[0].text:
        raise _miss(3, f"Claude answered {reply.content[0].text!r}: the fact was not in the request.")


def _check_cost(answer: Any, client: Any) -> None:
    usage = {"input_tokens": 12000, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 40000,
             "output_tokens": 800}
    right = cost_usd("claude-haiku-4-5", usage)
    if not isinstance(answer, int | float) or abs(answer - right) > 1e-9:
        raise _miss(4, f"{answer!r} is not the cost.")


def hint(n: int) -> None:
    print(f"Exercise {n}: {EXERCISES[n].hint}")


def solution(n: int) -> None:
    print(EXERCISES[n].solution)
