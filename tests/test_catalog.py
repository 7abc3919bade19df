from __future__ import annotations

import tomllib

import pytest

from convolab import UnknownModel
from convolab.catalog import catalog_path, get_model, list_models, resolve_model_id
from convolab.pricing import price_for


def test_aliases_resolve_to_the_canonical_id():
    assert resolve_model_id("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert get_model("claude-sonnet-4-5-20250929") is get_model("claude-sonnet-4-5")


def test_unknown_model_names_the_closest_ids_and_the_file():
    with pytest.raises(UnknownModel) as info:
        get_model("claude-sonet-4-6")
    assert "claude-sonnet-4-6" in info.value.suggestions
    assert "data/models.toml" in str(info.value)


@pytest.mark.parametrize(("model", "window", "out", "minimum", "tokenizer"), [
    ("claude-haiku-4-5", 200_000, 64_000, 4096, "claude-4"),
    ("claude-opus-4-6", 200_000, 128_000, 4096, "claude-4"),
    ("claude-sonnet-4-6", 200_000, 64_000, 1024, "claude-4"),
    ("claude-opus-4-7", 1_000_000, 128_000, 2048, "claude-4"),
    ("claude-sonnet-5", 1_000_000, 128_000, 1024, "claude-5"),
    ("claude-opus-5", 1_000_000, 128_000, 512, "claude-5"),
    ("claude-haiku-5-5", 1_000_000, 128_000, 1024, "claude-5"),
])
def test_specs_pinned(model, window, out, minimum, tokenizer):
    spec = get_model(model)
    assert (spec.context_window, spec.max_output, spec.min_cacheable_tokens, spec.tokenizer) == (window, out, minimum, tokenizer)


def test_sonnet_5_5_rejects_forced_tool_use_and_newer_models_reject_prefill():
    assert not get_model("claude-sonnet-5-5").supports("forced_tool_choice")
    assert get_model("claude-haiku-4-5").supports("forced_tool_choice")
    assert get_model("claude-sonnet-4-6").supports("prefill")
    assert not get_model("claude-opus-5-5").supports("prefill")


def test_every_row_has_a_source_and_a_check_date():
    raw = tomllib.loads(catalog_path().read_text())
    for row in raw["model"] + raw["price"]:
        assert row["source"].startswith("https://"), row
        assert str(row["checked"]) == "2026-11-25"


def test_every_model_is_priced_and_every_price_names_a_model():
    raw = tomllib.loads(catalog_path().read_text())
    ids = {m.id for m in list_models()}
    assert {get_model(p["model"]).id for p in raw["price"]} == ids
    for m in list_models():
        assert price_for(m.id, at=m.released).model == m.id


def test_list_is_sorted_by_release():
    released = [m.released for m in list_models()]
    assert released == sorted(released)
