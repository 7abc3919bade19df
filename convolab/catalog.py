"""The model catalog: context windows, output limits, cache minimums and features, from
``data/models.toml`` (each row with its source and the date it was checked).

>>> get_model("claude-haiku-4-5-20251001").id
'claude-haiku-4-5'
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from convolab.errors import ConfigurationError, UnknownModel

REQUIRED = {"id": str, "display_name": str, "family": str, "released": date, "context_window": int,
            "max_output": int, "min_cacheable_tokens": int, "tokenizer": str, "lifecycle": str, "source": str}


@dataclass(frozen=True)
class ModelSpec:
    """What convolab needs to know about one model."""

    id: str
    display_name: str
    aliases: tuple[str, ...]
    family: str
    context_window: int
    max_output: int
    min_cacheable_tokens: int
    released: date
    tokenizer: str
    features: frozenset[str]
    lifecycle: str
    source: str
    assumed: tuple[str, ...] = ()

    def supports(self, feature: str) -> bool:
        """Whether the API accepts ``feature`` (see the header of data/models.toml) for this model."""
        return feature in self.features


def catalog_path() -> Path:
    """``data/models.toml`` in a source tree, or the copy packaged inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for path in (here.parent / "data" / "models.toml", here / "_data" / "models.toml"):
        if path.exists():
            return path
    raise ConfigurationError("data/models.toml not found next to the convolab package; reinstall convolab")


@cache
def load_catalog() -> dict[str, Any]:
    """The parsed TOML (``model`` and ``price`` rows), read once."""
    with catalog_path().open("rb") as f:
        return tomllib.load(f)


def _spec(row: dict[str, Any]) -> ModelSpec:
    name = row.get("id", "<row without id>")
    for key, kind in REQUIRED.items():
        if key not in row:
            raise ConfigurationError(f"data/models.toml: model {name!r} has no {key!r}")
        if not isinstance(row[key], kind) or (kind is int and row[key] < 0):
            raise ConfigurationError(f"data/models.toml: model {name!r} field {key!r} must be a "
                                     f"{'non-negative ' if kind is int else ''}{kind.__name__}, got {row[key]!r}")
    return ModelSpec(id=row["id"], display_name=row["display_name"], aliases=tuple(row.get("aliases", ())),
                     family=row["family"], context_window=row["context_window"], max_output=row["max_output"],
                     min_cacheable_tokens=row["min_cacheable_tokens"], released=row["released"],
                     tokenizer=row["tokenizer"], features=frozenset(row.get("features", ())),
                     lifecycle=row["lifecycle"], source=row["source"], assumed=tuple(row.get("assumed", ())))


@cache
def _models() -> tuple[dict[str, ModelSpec], tuple[ModelSpec, ...]]:
    by_name: dict[str, ModelSpec] = {}
    specs = tuple(_spec(r) for r in load_catalog().get("model", []))
    for spec in specs:
        for name in (spec.id, *spec.aliases):
            if name in by_name:
                raise ConfigurationError(f"data/models.toml: {name!r} names two models")
            by_name[name] = spec
    return by_name, tuple(sorted(specs, key=lambda s: (s.released, s.id)))


def get_model(model_id: str) -> ModelSpec:
    """The model with this id or alias; ``UnknownModel`` (naming the closest ids) otherwise."""
    by_name, _ = _models()
    try:
        return by_name[model_id]
    except (KeyError, TypeError):
        raise UnknownModel(str(model_id), difflib.get_close_matches(str(model_id), list(by_name), n=3, cutoff=0.5)) from None


def resolve_model_id(model_id: str) -> str:
    """The canonical id for an id or alias."""
    return get_model(model_id).id


def list_models() -> list[ModelSpec]:
    """Every model in the catalog, oldest release first."""
    return list(_models()[1])
