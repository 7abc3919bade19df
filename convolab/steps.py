"""Logic written once as steps, run by a synchronous or an asynchronous driver (sans-IO).

A session's operations need two kinds of outside calls: blocking ones (the store, and the
strategy, which may make side calls) and the API request of a turn. The logic is a generator
that yields each call as a step and gets its result back (or has its exception thrown in, so
its ``try``/``except`` see failures as if it had made the call itself). ``run`` makes the calls
directly; ``arun`` awaits them, blocking calls in a worker thread so the event loop never
waits on the database, the request on an ``AsyncAnthropic`` client. ``ChatSession`` and
``AsyncChatSession`` are these two drivers over the same steps (``convolab.turn``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from convolab.strategies.base import Payload

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """A blocking call: ``fn(*args, **kwargs)``."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    """The step that calls ``fn(*args, **kwargs)``."""
    return Call(fn, args, kwargs)


@dataclass(frozen=True)
class Send:
    """The API request of a turn: ``payload`` with ``headers`` (its idempotency key)."""

    payload: Payload
    headers: dict[str, str]


Step = Call | Send
Steps = Generator[Step, Any, T]


class _Done(Exception):
    def __init__(self, value: Any):
        self.value = value


def _next(steps: Steps[Any], value: Any, error: BaseException | None) -> Step:
    """The next step, given the last one's result (or exception); ``_Done`` with the result at the end."""
    try:
        return steps.send(value) if error is None else steps.throw(error)
    except StopIteration as stop:
        raise _Done(stop.value) from None


def run(steps: Steps[T], client: Any) -> T:
    """Run ``steps`` here and now; ``client`` is an ``anthropic.Anthropic``."""
    value, error = None, None
    try:
        while True:
            step = _next(steps, value, error)
            try:  # a failure is handed to the steps, which decide (and usually re-raise)
                value, error = (step.payload.create(client, extra_headers=step.headers) if isinstance(step, Send)
                                else step.fn(*step.args, **step.kwargs)), None
            except BaseException as e:
                value, error = None, e
    except _Done as done:
        return done.value


async def arun(steps: Steps[T], client: Any) -> T:
    """Run ``steps`` on the event loop; ``client`` is an ``anthropic.AsyncAnthropic``."""
    value, error = None, None
    try:
        while True:
            step = _next(steps, value, error)
            try:
                value, error = await (step.payload.acreate(client, extra_headers=step.headers) if isinstance(step, Send)
                                      else asyncio.to_thread(step.fn, *step.args, **step.kwargs)), None
            except BaseException as e:
                value, error = None, e
    except _Done as done:
        return done.value


__all__ = ["Call", "Send", "Step", "Steps", "arun", "call", "run"]
