"""Prices and costs, from the ``[[price]]`` rows of ``data/models.toml``.

Rows of one model that share an ``effective_from`` are its price schedule from that day on; the
schedule in force at ``at`` is the one with the latest ``effective_from`` not after it. A price
change is new rows with a later date, so costs of past requests stay right. Within a schedule,
a row with ``above_prompt_tokens = N`` applies when the prompt's input, cache-write and
cache-read tokens together exceed ``N``. Unknown models raise ``UnknownModel``: convolab never
guesses a price. A usage whose ``service_tier`` is ``"batch"`` (a Message Batches result) is
billed at the catalog's ``[batch] multiplier`` (half) of every rate.

>>> cost_usd("claude-sonnet-4-6", {"input_tokens": 1000, "output_tokens": 500,
...          "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 10000})
0.021
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from convolab.catalog import get_model, load_catalog
from convolab.errors import ConfigurationError, InvalidConversation, NoPriceYet, UnknownModel

PER = 1_000_000
RATES = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")


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


def _price(row: Mapping[str, Any]) -> Price:
    name = row.get("model", "<row without model>")
    where = f"data/models.toml: a price row for {name!r}"
    for key in ("model", "effective_from", "source", *RATES):
        if key not in row:
            raise ConfigurationError(f"{where} has no {key!r}")
    if not isinstance(row["effective_from"], date) or isinstance(row["effective_from"], datetime):
        raise ConfigurationError(f"{where} field 'effective_from' must be a date, got {row['effective_from']!r}")
    for key in (*RATES, "above_prompt_tokens"):
        value = row.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigurationError(f"{where} field {key!r} must be a non-negative number, got {value!r}")
    if not isinstance(row.get("above_prompt_tokens", 0), int):
        raise ConfigurationError(f"{where} field 'above_prompt_tokens' must be a whole number of tokens")
    try:
        model = get_model(row["model"]).id
    except UnknownModel as e:
        raise ConfigurationError(f"{where} names a model with no [[model]] row: {e}") from None
    return Price(model=model, effective_from=row["effective_from"], source=str(row["source"]),
                 **{k: float(row[k]) for k in RATES}, above_prompt_tokens=int(row.get("above_prompt_tokens", 0)))


@cache
def _schedules() -> dict[str, dict[date, tuple[Price, ...]]]:
    """model id -> effective_from -> that day's tiers, lowest threshold first (validated)."""
    out: dict[str, dict[date, list[Price]]] = {}
    for row in load_catalog().get("price", []):
        p = _price(row)
        out.setdefault(p.model, {}).setdefault(p.effective_from, []).append(p)
    for model, days in out.items():
        for day, tiers in days.items():
            thresholds = [p.above_prompt_tokens for p in tiers]
            if thresholds.count(0) != 1 or len(set(thresholds)) != len(thresholds):
                raise ConfigurationError(
                    f"data/models.toml: prices for {model} from {day} need exactly one base row and "
                    f"distinct above_prompt_tokens, got {sorted(thresholds)}")
    return {m: {d: tuple(sorted(t, key=lambda p: p.above_prompt_tokens)) for d, t in days.items()}
            for m, days in out.items()}


def _day(at: datetime | date | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    if isinstance(at, datetime):
        return (at.astimezone(UTC) if at.tzinfo else at).date()  # naive datetimes are taken as UTC
    return at


def price_rows(model: str) -> list[Price]:
    """Every price row of ``model`` (id or alias), oldest first: its price history."""
    days = _schedules().get(get_model(model).id, {})
    return [p for day in sorted(days) for p in days[day]]


def price_for(model: str, *, at: datetime | date | None = None, prompt_tokens: int = 0) -> Price:
    """The price in force for ``model`` at ``at`` (default: now, UTC) for a prompt of that size.

    ``prompt_tokens`` is input + cache-write + cache-read tokens; it picks the tier. Raises
    ``UnknownModel`` for a model not in the catalog and ``NoPriceYet`` for a day before its
    first price row.
    """
    spec = get_model(model)
    days = _schedules().get(spec.id)
    if not days:
        raise ConfigurationError(f"data/models.toml has no [[price]] row for {spec.id}; add one with its source")
    day = _day(at)
    live = [d for d in days if d <= day]
    if not live:
        raise NoPriceYet(f"no price for {spec.id} on {day}: its prices start on "
                         f"{', '.join(d.isoformat() for d in sorted(days))}")
    tiers = days[max(live)]
    return [p for p in tiers if p.above_prompt_tokens == 0 or prompt_tokens > p.above_prompt_tokens][-1]


def _get(usage: Any, key: str) -> int:
    """A token count of ``usage`` (None counts as 0); ``InvalidConversation`` for anything but a
    non-negative whole number, which no response reports and no price can apply to."""
    value = usage.get(key) if isinstance(usage, Mapping) else getattr(usage, key, None)
    if value is None:
        return 0
    try:
        count = -1 if isinstance(value, bool) else operator.index(value)  # ints, numpy and polars ints
    except TypeError:
        count = -1
    if count < 0:
        raise InvalidConversation(f"usage {key} must be a non-negative whole number of tokens, got {value!r}")
    return count


def _split_writes(usage: Any) -> tuple[int, int]:
    """(5-minute, 1-hour) cache-write tokens; writes are 5-minute unless ``cache_creation`` says."""
    total = _get(usage, "cache_creation_input_tokens")
    detail = usage.get("cache_creation") if isinstance(usage, Mapping) else getattr(usage, "cache_creation", None)
    if not detail:
        return total, 0
    one_hour = _get(detail, "ephemeral_1h_input_tokens")
    five_min = _get(detail, "ephemeral_5m_input_tokens")
    if not total:  # only the breakdown was given
        total = five_min + one_hour
    return max(total - one_hour, 0), one_hour


def usage_tokens(usage: Any) -> dict[str, int]:
    """Token counts per priced component of a ``Usage`` or a dict with its keys (None counts as 0)."""
    w5, w1 = _split_writes(usage)
    return {"input": _get(usage, "input_tokens"), "cache_write_5m": w5, "cache_write_1h": w1,
            "cache_read": _get(usage, "cache_read_input_tokens"), "output": _get(usage, "output_tokens")}


@cache
def batch_multiplier() -> float:
    """The share of the standard price a Message Batches request pays (``[batch]`` in the catalog)."""
    row = load_catalog().get("batch") or {}
    value = row.get("multiplier")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigurationError("data/models.toml: [batch] multiplier must be a number in (0, 1] with its source")
    return float(value)


def is_batch(usage: Any) -> bool:
    """Was this usage billed through the Message Batches API (``service_tier == "batch"``)?"""
    tier = usage.get("service_tier") if isinstance(usage, Mapping) else getattr(usage, "service_tier", None)
    return tier == "batch"


def cost_breakdown(model: str, usage: Any, at: datetime | date | None = None) -> dict[str, float]:
    """USD per component (``input``, ``cache_write_5m``, ``cache_write_1h``, ``cache_read``,
    ``output``) and their ``total``, each rounded to 10 decimals; at the batch price when the
    usage's ``service_tier`` is ``"batch"``."""
    tokens = usage_tokens(usage)
    prompt = tokens["input"] + tokens["cache_write_5m"] + tokens["cache_write_1h"] + tokens["cache_read"]
    p = price_for(model, at=at, prompt_tokens=prompt)
    share = batch_multiplier() if is_batch(usage) else 1.0
    parts = {k: n * getattr(p, k) * share / PER for k, n in tokens.items()}
    total = round(sum(parts.values()), 10)
    out = {k: round(v, 10) for k, v in parts.items()}
    out["total"] = total
    return out


def cost_usd(model: str, usage: Any, at: datetime | date | None = None) -> float:
    """Cost in USD of one response's ``usage`` (the SDK's ``Usage`` or a dict with its keys)."""
    return cost_breakdown(model, usage, at)["total"]
