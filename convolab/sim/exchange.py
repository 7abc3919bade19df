"""What a route handler of the simulator takes (``Request``) and what each request leaves in
the simulator's history (``Exchange``): kept apart from ``server`` so that the routes it plugs
in (``batches``) can use them without importing the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exchange", "Handler", "Request"]


@dataclass
class Request:
    """One request as a route handler sees it (``payload``: the parsed JSON body of a POST)."""

    method: str
    path: str
    query: dict[str, str]
    payload: Any
    betas: frozenset[str]

    @property
    def beta(self) -> bool:
        """A beta request: ``client.beta.*`` sends an ``anthropic-beta`` header (or ``?beta=true``)."""
        return bool(self.betas) or self.query.get("beta") == "true"


Handler = Callable[[Request], "tuple[int, Any, bool]"]


@dataclass
class Exchange:
    """What one request did, kept for tests and notebooks (``Simulator.history``, the last
    ``keep_history`` requests; the request body only with ``keep_requests=True``)."""

    path: str
    status: int
    model: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    request: dict[str, Any] | None = field(default=None, repr=False)
    idempotency_key: str | None = None
    replayed: bool = False  # answered from the idempotency store: not processed, not billed
