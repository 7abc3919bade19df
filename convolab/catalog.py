"""The model catalog: context windows, output limits, cache minimums, tokenizer generations,
accepted request features, the hidden tool-use prompt's size and lifecycle dates, read from
``data/models.toml`` (each row with its source and the day it was checked). Nothing about a
model is a constant in code.

>>> get_model("claude-haiku-4-5-20251001").id
'claude-haiku-4-5'
>>> get_model("claude-opus-5-5").supports("forced_tool_choice")
False
"""

from __future__ import annotations

import datetime
import difflib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from convolab.errors import ConfigurationError, UnknownModel

#: Field name -> required type, for every ``[[model]]`` row.
REQUIRED: dict[str, type] = {
    "id": str, "display_name": str, "family": str, "released": datetime.date, "context_window": int,
    "max_output": int, "min_cacheable_tokens": int, "tokenizer": str, "lifecycle": str, "source": str,
}
#: The feature names a row may list (see the header of data/models.toml for their meaning).
FEATURES = frozenset({
    "prefill", "forced_tool_choice", "thinking", "adaptive_thinking", "extended_thinking_manual",
    "thinking_always_on", "thinking_off_up_to_high", "between_tools_thinking", "keeps_thinking",
    "sampling_parameters", "context_window_stop", "system_messages",
    "context_management_clear_tool_uses", "compaction",
})
LIFECYCLES = frozenset({"active", "legacy", "deprecated", "retired"})
EFFORTS = ("low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class ModelSpec:
    """What convolab needs to know about one model (one ``[[model]]`` row)."""

    id: str
    display_name: str
    aliases: tuple[str, ...]
    family: str
    context_window: int
    max_output: int
    min_cacheable_tokens: int
    released: datetime.date
    tokenizer: str
    features: frozenset[str]
    lifecycle: str
    source: str
    assumed: tuple[str, ...] = ()
    retires_at: datetime.date | None = None
    checked: datetime.date | None = None
    deprecated_at: datetime.date | None = None
    tool_prompt_tokens: dict[str, int] | None = None  # {"auto": n, "forced": m}
    effort: tuple[str, ...] = ()  # accepted output_config.effort levels (empty: no effort parameter)
    default_effort: str = "high"

    def supports(self, feature: str) -> bool:
        """Whether the API accepts ``feature`` (a name from ``FEATURES``) for this model."""
        return feature in self.features

    def tool_prompt(self, tool_choice: dict[str, Any] | None) -> int:
        """Tokens of the hidden tool-use system prompt added when tools are given: the
        ``auto``/``none`` figure, or the ``forced`` one for ``tool_choice`` ``any``/``tool``."""
        if self.tool_prompt_tokens is None:
            raise _bad(self.id, "tool_prompt_tokens", "is missing (needed to bill a request with tools)")
        forced = (tool_choice or {}).get("type") in ("any", "tool")
        return self.tool_prompt_tokens["forced" if forced else "auto"]

    def lifecycle_on(self, day: datetime.date) -> str:
        """The model's lifecycle stage on ``day``: ``retired`` from ``retires_at`` on,
        ``deprecated`` from ``deprecated_at`` on, otherwise the row's stage (a row checked after
        the model's deprecation says ``legacy`` for the days before it)."""
        if self.retires_at is not None and day >= self.retires_at:
            return "retired"
        if self.deprecated_at is not None and day >= self.deprecated_at:
            return "deprecated"
        return "legacy" if self.lifecycle in ("deprecated", "retired") else self.lifecycle


def catalog_path() -> Path:
    """``data/models.toml`` in a source tree, or the copy packaged inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for path in (here.parent / "data" / "models.toml", here / "_data" / "models.toml"):
        if path.exists():
            return path
    raise ConfigurationError(
        "data/models.toml not found (looked next to the convolab package and in convolab/_data); "
        "reinstall convolab or restore the file from the repository")


@cache
def load_catalog() -> dict[str, Any]:
    """The parsed TOML (``model`` and ``price`` rows), read once per process."""
    path = catalog_path()
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{path} is not valid TOML: {e}") from None


def _bad(name: str, key: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"data/models.toml: model {name!r} field {key!r} {why}")


def _spec(row: dict[str, Any]) -> ModelSpec:
    name = row.get("id", "<row without id>")
    for key, kind in REQUIRED.items():
        if key not in row:
            raise _bad(name, key, "is missing")
        value = row[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _bad(name, key, f"must be a {kind.__name__}, got {value!r}")
        if kind is int and value < 0:
            raise _bad(name, key, f"must not be negative, got {value!r}")
        if kind is str and not value.strip():
            raise _bad(name, key, "must not be empty")
    for key in ("aliases", "features", "assumed"):
        value = row.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad(name, key, f"must be a list of strings, got {value!r}")
    unknown = sorted(set(row.get("features", [])) - FEATURES)
    if unknown:
        raise _bad(name, "features", f"has unknown names {unknown}; known: {sorted(FEATURES)}")
    if row["lifecycle"] not in LIFECYCLES:
        raise _bad(name, "lifecycle", f"must be one of {sorted(LIFECYCLES)}, got {row['lifecycle']!r}")
    for key in ("retires_at", "checked", "deprecated_at"):
        if key in row and not isinstance(row[key], datetime.date):
            raise _bad(name, key, f"must be a date, got {row[key]!r}")
    _check_lifecycle_dates(name, row)
    return ModelSpec(
        id=row["id"], display_name=row["display_name"], aliases=tuple(row.get("aliases", ())),
        family=row["family"], context_window=row["context_window"], max_output=row["max_output"],
        min_cacheable_tokens=row["min_cacheable_tokens"], released=row["released"],
        tokenizer=row["tokenizer"], features=frozenset(row.get("features", ())),
        lifecycle=row["lifecycle"], source=row["source"], assumed=tuple(row.get("assumed", ())),
        retires_at=row.get("retires_at"), checked=row.get("checked"), deprecated_at=row.get("deprecated_at"),
        tool_prompt_tokens=_tool_prompt(name, row.get("tool_prompt_tokens")), effort=_effort(name, row),
        default_effort=row.get("default_effort", "high"),
    )


def _check_lifecycle_dates(name: str, row: dict[str, Any]) -> None:
    """A deprecated or retired row names its retirement date, and a row's stage agrees with
    its dates on the day it was checked."""
    if row["lifecycle"] in ("deprecated", "retired") and "retires_at" not in row:
        raise _bad(name, "retires_at", f"is missing (a {row['lifecycle']} model has a retirement date)")
    day, retires, deprecated = row.get("checked"), row.get("retires_at"), row.get("deprecated_at")
    if day is None:
        return
    expected = ("retired" if retires and day >= retires else
                "deprecated" if deprecated and day >= deprecated else None)
    if expected and row["lifecycle"] != expected:
        raise _bad(name, "lifecycle", f"is {row['lifecycle']!r} but its dates make it {expected!r} on {day}")


def _tool_prompt(name: str, value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if (not isinstance(value, dict) or set(value) != {"auto", "forced"}
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values())):
        raise _bad(name, "tool_prompt_tokens", f"must be {{auto = <tokens>, forced = <tokens>}}, got {value!r}")
    return dict(value)


def _effort(name: str, row: dict[str, Any]) -> tuple[str, ...]:
    levels = row.get("effort", [])
    if not isinstance(levels, list) or any(v not in EFFORTS for v in levels):
        raise _bad(name, "effort", f"must be a list of {list(EFFORTS)}, got {levels!r}")
    default = row.get("default_effort", "high")
    if levels and default not in levels:
        raise _bad(name, "default_effort", f"must be one of the model's effort levels {levels}, got {default!r}")
    return tuple(levels)


@cache
def _models() -> tuple[dict[str, ModelSpec], tuple[ModelSpec, ...]]:
    rows = load_catalog().get("model", [])
    if not isinstance(rows, list) or not rows:
        raise ConfigurationError("data/models.toml has no [[model]] rows")
    by_name: dict[str, ModelSpec] = {}
    specs = tuple(_spec(r) for r in rows)
    for spec in specs:
        for name in (spec.id, *spec.aliases):
            if name in by_name:
                raise ConfigurationError(
                    f"data/models.toml: {name!r} names two models ({by_name[name].id} and {spec.id})")
            by_name[name] = spec
    return by_name, tuple(sorted(specs, key=lambda s: (s.released, s.id)))


def get_model(model_id: str) -> ModelSpec:
    """The model with this id or alias; ``UnknownModel`` naming the closest ids otherwise."""
    by_name, _ = _models()
    try:
        return by_name[model_id]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(model_id), list(by_name), n=3, cutoff=0.5)
        raise UnknownModel(str(model_id), close) from None


def resolve_model_id(model_id: str) -> str:
    """The canonical id for an id or alias (``UnknownModel`` if neither)."""
    return get_model(model_id).id


def list_models() -> list[ModelSpec]:
    """Every model in the catalog, oldest release first (ties by id)."""
    return list(_models()[1])
