"""Sending one Messages request, whole or streamed, and checking ``max_tokens`` against the model.

The anthropic SDK refuses a non-streaming ``messages.create`` whose ``max_tokens`` could make it
run longer than ten minutes ("Streaming is required for operations that may take longer than 10
minutes"): it expects an hour for 128,000 output tokens, so past 21,333 tokens (and past a few
older models' own lower limits, ``anthropic._constants.MODEL_NONSTREAMING_TOKENS``) it wants
``messages.stream``. ``create_message`` streams exactly then and returns the same ``Message``
``create`` would have, so callers never notice; ``acreate_message`` is the same for an
``AsyncAnthropic`` client. Every valid ``max_tokens`` works; ``check_max_tokens`` refuses the
others with a ``ConfigurationError`` naming the model's limit before anything is sent.
"""

from __future__ import annotations

from typing import Any

from convolab import catalog
from convolab.errors import ConfigurationError

#: The largest max_tokens the SDK sends without streaming: 3600 s * max_tokens / 128,000 <= 600 s.
NONSTREAMING_MAX_TOKENS = 600 * 128_000 // 3600


def needs_streaming(model: str, max_tokens: int) -> bool:
    """Whether the SDK would refuse ``max_tokens`` without streaming (its own rule, for any client)."""
    if max_tokens > NONSTREAMING_MAX_TOKENS:
        return True
    from anthropic._constants import (
        MODEL_NONSTREAMING_TOKENS,  # imported late: the SDK is slow to import
    )

    limit = MODEL_NONSTREAMING_TOKENS.get(model)
    return limit is not None and max_tokens > limit


def check_max_tokens(max_tokens: Any, model: str | None = None) -> int:
    """``max_tokens`` if it is a whole number from 1 to ``model``'s output limit (from the catalog),
    else ``ConfigurationError`` saying what the model takes."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ConfigurationError(f"max_tokens must be a whole number of at least 1 (the reply's length cap), "
                                 f"got {max_tokens!r}")
    if model is not None:
        spec = catalog.get_model(model)
        if max_tokens > spec.max_output:
            raise ConfigurationError(f"max_tokens={max_tokens:,} is more than {spec.id} can write: its limit is "
                                     f"{spec.max_output:,} output tokens (data/models.toml); lower max_tokens")
    return max_tokens


def _endpoint(client: Any, betas: list[str]) -> tuple[Any, dict[str, Any]]:
    return (client.beta.messages, {"betas": betas}) if betas else (client.messages, {})


def create_message(client: Any, request: dict[str, Any], *, betas: list[str] = (), **extra: Any) -> Any:
    """``client.messages.create(**request)`` (``client.beta.messages`` with ``betas``), streamed
    when ``max_tokens`` needs it; returns the SDK's ``Message``."""
    endpoint, more = _endpoint(client, list(betas))
    if not needs_streaming(request["model"], request["max_tokens"]):
        return endpoint.create(**request, **more, **extra)
    with endpoint.stream(**request, **more, **extra) as stream:
        return stream.get_final_message()


async def acreate_message(client: Any, request: dict[str, Any], *, betas: list[str] = (), **extra: Any) -> Any:
    """``create_message`` with an ``AsyncAnthropic`` client."""
    endpoint, more = _endpoint(client, list(betas))
    if not needs_streaming(request["model"], request["max_tokens"]):
        return await endpoint.create(**request, **more, **extra)
    async with endpoint.stream(**request, **more, **extra) as stream:
        return await stream.get_final_message()


__all__ = ["NONSTREAMING_MAX_TOKENS", "acreate_message", "check_max_tokens", "create_message", "needs_streaming"]
