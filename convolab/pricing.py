"""Prices and costs, from the ``[[price]]`` rows of ``data/models.toml``.

A price change is a new row with a later ``effective_from``; ``at`` picks the row in force.
Prompt-length tiers (``above_prompt_tokens``) apply when the prompt's input, cache-write and
cache-read tokens together exceed the threshold. Unknown models raise ``UnknownModel``:
convolab never guesses a price.

>>> cost_usd("claude-sonnet-4-6", {"input_tokens": 1000, "output_tokens": 500,
...          "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 10000})
0.021
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from convolab.catalog import get_model, load_catalog
from convolab.errors import ConfigurationError, ConvolabError

PER = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model, from ``effective_from`` on (one tier)."""

    model: str
    effective_from: date
    source: str
    input: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    output: float
    above_prompt_tokens: int = 0


@cache
def _prices() -> dict[str, list[Price]]:
    out: dict[str, list[Price]] = {}
    for row in load_catalog().get("price", []):
        try:
            p = Price(model=row["model"], effective_from=row["effective_from"], source=row["source"],
                      input=float(row["input"]), cache_write_5m=float(row["cache_write_5m"]),
                      cache_write_1h=float(row["cache_write_1h"]), cache_read=float(row["cache_read"]),
                      output=float(row["output"]), above_prompt_tokens=int(row.get("above_prompt_tokens", 0)))
        except KeyError as e:
            raise ConfigurationError(f"data/models.toml: a price row for {row.get('model')!r} has no {e.args[0]!r}") from None
        out.setdefault(get_model(p.model).id, []).append(p)
    return out


def _day(at: datetime | date | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    if isinstance(at, datetime):
        return (at.astimezone(UTC) if at.tzinfo else at).date()
    return at


def price_for(model: str, *, at: datetime | date | None = None, prompt_tokens: int = 0) -> Price:
    """The price row in force for ``model`` at ``at`` (default: today, UTC) for a prompt of this size."""
    spec = get_model(model)
    rows = _prices().get(spec.id)
    if not rows:
        raise ConfigurationError(f"data/models.toml has no price for {spec.id}; add a [[price]] row with its source")
    day = _day(at)
    live = [p for p in rows if p.effective_from <= day]
    if not live:
        dates = ", ".join(sorted({p.effective_from.isoformat() for p in rows}))
        raise ConvolabError(f"no price for {spec.id} on {day}: prices start on {dates}")
    tiers = [p for p in live if p.above_prompt_tokens < prompt_tokens or p.above_prompt_tokens == 0]
    return max(tiers, key=lambda p: (p.above_prompt_tokens, p.effective_from))


def _get(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else getattr(usage, key, None)
    return int(value or 0)


def _split_writes(usage: Any) -> tuple[int, int]:
    """(5-minute, 1-hour) cache write tokens; all writes are 5-minute unless the usage says."""
    total = _get(usage, "cache_creation_input_tokens")
    detail = usage.get("cache_creation") if isinstance(usage, dict) else getattr(usage, "cache_creation", None)
    if not detail:
        return total, 0
    one_hour = _get(detail, "ephemeral_1h_input_tokens")
    return total - one_hour, one_hour


def cost_breakdown(model: str, usage: Any, at: datetime | date | None = None) -> dict[str, float]:
    """USD per component: input, cache_write_5m, cache_write_1h, cache_read, output, total."""
    w5, w1 = _split_writes(usage)
    tokens = {"input": _get(usage, "input_tokens"), "cache_write_5m": w5, "cache_write_1h": w1,
              "cache_read": _get(usage, "cache_read_input_tokens"), "output": _get(usage, "output_tokens")}
    prompt = tokens["input"] + w5 + w1 + tokens["cache_read"]
    p = price_for(model, at=at, prompt_tokens=prompt)
    parts = {k: round(n * getattr(p, k) / PER, 10) for k, n in tokens.items()}
    parts["total"] = round(sum(parts.values()), 10)
    return parts


def cost_usd(model: str, usage: Any, at: datetime | date | None = None) -> float:
    """Cost in USD of one response's ``usage`` (the SDK's ``Usage`` or a dict with its keys)."""
    return cost_breakdown(model, usage, at)["total"]
