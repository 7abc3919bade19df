"""A client that hands requests straight to a ``Simulator``, without HTTP or the SDK's models.

A replay sends tens of thousands of requests; about a third of each one's time is the SDK
copying the request, encoding it and validating the response into pydantic models. The
simulator does every check and all billing on the JSON body, so calling its handler with the
same body gives the same reply and the same usage (``tests/eval/test_direct.py`` checks it
against the real ``anthropic.Anthropic`` client). Only what strategies and the replay use is
here: ``messages.create`` and ``beta.messages.create`` returning objects with ``content``
(blocks with attributes and ``model_dump``), ``usage``, ``stop_reason``, ``id``, ``model``.
Errors are the SDK's own exception classes, built from the simulator's error response.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

__all__ = ["DirectClient", "status_error"]

_PATH = "/v1/messages"


class _Block(SimpleNamespace):
    """A content block: attributes like the SDK's, ``model_dump`` like a pydantic model."""

    def model_dump(self, mode: str = "python", exclude_none: bool = False, **_: Any) -> dict[str, Any]:
        data = json.loads(json.dumps(vars(self)))
        return {k: v for k, v in data.items() if v is not None} if exclude_none else data


def _usage(data: dict[str, Any]) -> SimpleNamespace:
    detail = data.get("cache_creation")
    return SimpleNamespace(**{**data, "cache_creation": SimpleNamespace(**detail) if isinstance(detail, dict) else detail})


class _Messages:
    def __init__(self, simulator: Any, *, beta: bool):
        self._sim = simulator
        self._beta = beta

    def create(self, *, betas: list[str] | None = None, **request: Any) -> SimpleNamespace:
        if betas and not self._beta:
            raise TypeError("messages.create() got an unexpected keyword argument 'betas'")
        headers = {"anthropic-beta": ",".join(betas)} if betas else {}
        status, data = self._sim.handle_json(_PATH, request, headers)
        if status >= 400:
            raise status_error(status, data)
        return SimpleNamespace(**{**data, "content": [_Block(**b) for b in data["content"]],
                                  "usage": _usage(data["usage"])})


class DirectClient:
    """``client.messages.create(**request)`` answered by ``simulator.handle`` in-process."""

    def __init__(self, simulator: Any):
        self.simulator = simulator
        self.messages = _Messages(simulator, beta=False)
        self.beta = SimpleNamespace(messages=_Messages(simulator, beta=True))


def status_error(status: int, data: Any) -> Exception:
    """The SDK's exception for an error response of the simulator (``anthropic.BadRequestError``...)."""
    import anthropic
    import httpx2

    err = (data or {}).get("error") or {}
    message = f"Error code: {status} - {data}"
    response = httpx2.Response(status, json=data, request=httpx2.Request("POST", "https://api.anthropic.com" + _PATH))
    kinds = {400: anthropic.BadRequestError, 401: anthropic.AuthenticationError, 403: anthropic.PermissionDeniedError,
             404: anthropic.NotFoundError, 409: anthropic.ConflictError, 413: getattr(anthropic, "RequestTooLargeError",
                                                                                     anthropic.APIStatusError),
             422: anthropic.UnprocessableEntityError, 429: anthropic.RateLimitError}
    cls = kinds.get(status) or (anthropic.InternalServerError if status >= 500
                                              else anthropic.APIStatusError)
    e = cls(message, response=response, body=data)
    e.type = err.get("type")
    return e
