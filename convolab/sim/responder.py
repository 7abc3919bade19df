"""What the simulated Claude says: answers, acknowledgements, summaries and tool calls, from the
payload only.

``respond(request)`` takes the Messages API body (normalized by the server, or raw) and returns
a ``Reply``, a pure function of the request. It reads the request (``reading``), then:

- a tool call when a tool is forced or clearly asked for (``tool_input``);
- a summary when one is asked for (``summaries``);
- an answer to a question (``answers``: the answer type asked for, from the best-supporting
  sentences, or "I don't know" when nothing in the payload supports one);
- a restatement of a statement (``acknowledge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convolab.blocks import SUMMARY_MARKER
from convolab.sim.acknowledge import acknowledge, says_something
from convolab.sim.answers import DONT_KNOW, answer
from convolab.sim.reading import Parts, is_question, read_request
from convolab.sim.summaries import summarize, summary_reply
from convolab.sim.tool_input import pick_tool, tool_use


@dataclass
class Reply:
    """What the model says: content blocks and why it stopped."""

    blocks: list[dict[str, Any]]
    stop_reason: str = "end_turn"


def _from_tool_results(parts: Parts) -> str:
    material = " ".join(parts.last).strip()
    if not material:
        return "The tool returned no content."
    return "Here is what the tool returned: " + summarize([material], max_words=80)


def respond(request: dict[str, Any]) -> Reply:
    """The simulated model's reply to a Messages API request body (normalized or raw)."""
    parts = read_request(request)
    tool = pick_tool(request, parts)
    if tool is not None:
        return Reply([tool_use(tool, request, parts)], "tool_use")
    if parts.is_summary_request:
        text = summary_reply(parts)
    elif parts.tool_results:
        text = _from_tool_results(parts)
    elif not parts.query:
        text = "Hello! What would you like to talk about?"
    elif is_question(parts.query):
        text = answer(parts)
        if text == DONT_KNOW and says_something(parts.query):
            text = acknowledge(parts.query)  # "I went there yesterday. How are you?": what they said matters
    else:
        text = acknowledge(parts.query)
    return Reply([{"type": "text", "text": text}], "end_turn")


__all__ = ["DONT_KNOW", "SUMMARY_MARKER", "Reply", "respond", "summarize"]
