from __future__ import annotations

import datetime
import tomllib

import pytest

from convolab.catalog import FEATURES, catalog_path, get_model, list_models, resolve_model_id
from convolab.errors import ConfigurationError, UnknownModel
from convolab.pricing import price_for, price_rows

CHECKED = datetime.date(2026, 12, 2)  # model rows: re-read for tool prompts, lifecycles, features
PRICES_CHECKED = datetime.date(2026, 11, 25)


def raw() -> dict:
    return tomllib.loads(catalog_path().read_text())


def test_catalog_is_found_in_the_source_tree():
    assert catalog_path().parts[-2:] == ("data", "models.toml")


@pytest.mark.parametrize(("alias", "canonical"), [
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-opus-4-5-20251101", "claude-opus-4-5"),
    ("claude-opus-4-20250514", "claude-opus-4-0"),
])
def test_aliases_resolve_to_the_canonical_model(alias, canonical):
    assert resolve_model_id(alias) == canonical
    assert get_model(alias) is get_model(canonical)


def test_unknown_model_names_the_closest_ids_and_the_file():
    with pytest.raises(UnknownModel) as info:
        get_model("claude-sonet-4-6")
    assert info.value.suggestions[0] == "claude-sonnet-4-6"
    assert "data/models.toml" in str(info.value)
    with pytest.raises(UnknownModel) as info:
        get_model("gpt-4o")
    assert info.value.model == "gpt-4o"


@pytest.mark.parametrize(("model", "window", "out", "minimum", "tokenizer", "released"), [
    ("claude-opus-4-0", 200_000, 32_000, 1024, "claude-4", "2025-05-22"),
    ("claude-sonnet-4-5", 200_000, 64_000, 1024, "claude-4", "2025-09-29"),
    ("claude-haiku-4-5", 200_000, 64_000, 4096, "claude-4", "2025-10-15"),
    ("claude-opus-4-5", 200_000, 64_000, 4096, "claude-4", "2025-11-24"),
    ("claude-opus-4-6", 1_000_000, 128_000, 4096, "claude-4", "2026-02-05"),
    ("claude-sonnet-4-6", 1_000_000, 128_000, 1024, "claude-4", "2026-02-17"),
    ("claude-opus-4-7", 1_000_000, 128_000, 2048, "claude-5", "2026-04-16"),
    ("claude-opus-4-8", 1_000_000, 128_000, 1024, "claude-5", "2026-05-28"),
    ("claude-fable-5", 1_000_000, 128_000, 512, "claude-5", "2026-06-09"),
    ("claude-sonnet-5", 1_000_000, 128_000, 1024, "claude-5", "2026-06-30"),
    ("claude-opus-5", 1_000_000, 128_000, 512, "claude-5", "2026-07-24"),
    ("claude-fable-5-1", 1_000_000, 128_000, 512, "claude-5", "2026-09-01"),
    ("claude-opus-5-5", 1_000_000, 128_000, 512, "claude-5", "2026-09-22"),
    ("claude-sonnet-5-5", 1_000_000, 128_000, 512, "claude-5", "2026-09-28"),
    ("claude-haiku-5-5", 1_000_000, 128_000, 512, "claude-5", "2026-10-07"),
])
def test_specs_pinned(model, window, out, minimum, tokenizer, released):
    spec = get_model(model)
    assert (spec.context_window, spec.max_output, spec.min_cacheable_tokens, spec.tokenizer,
            spec.released.isoformat()) == (window, out, minimum, tokenizer, released)


def test_the_newer_tokenizer_starts_with_opus_4_7_not_sonnet_5():
    # The docs: "the current tokenizer (introduced with Claude Opus 4.7)".
    newer = [m.id for m in list_models() if m.tokenizer == "claude-5"]
    assert newer[0] == "claude-opus-4-7"
    assert all(m.released >= get_model("claude-opus-4-7").released for m in list_models() if m.tokenizer == "claude-5")
    assert all(m.released < get_model("claude-opus-4-7").released for m in list_models() if m.tokenizer == "claude-4")


def test_prefill_is_rejected_from_claude_4_6_on():
    accepts = {m.id for m in list_models() if m.supports("prefill")}
    assert accepts == {"claude-opus-4-0", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"}


def test_forced_tool_choice_is_rejected_by_the_newest_big_models():
    rejects = {m.id for m in list_models() if not m.supports("forced_tool_choice")}
    assert rejects == {"claude-fable-5-1", "claude-mythos-5-1", "claude-opus-5-5", "claude-sonnet-5-5"}


def test_thinking_modes():
    manual = {m.id for m in list_models() if m.supports("extended_thinking_manual")}
    assert {"claude-haiku-4-5", "claude-opus-4-6", "claude-sonnet-4-6"} <= manual
    assert not manual & {"claude-opus-4-7", "claude-sonnet-5", "claude-opus-5-5", "claude-haiku-5-5"}
    assert get_model("claude-opus-5-5").supports("thinking_always_on")
    # Sonnet 5.5 takes "between_tools" instead of "disabled" (thinking troubleshooting page)
    assert {m.id for m in list_models() if m.supports("between_tools_thinking")} == {"claude-sonnet-5-5"}
    assert get_model("claude-sonnet-5-5").supports("thinking_always_on")
    assert all(m.supports("thinking") for m in list_models())


def test_compaction_follows_the_compact_20260112_supported_models_list():
    compacting = {m.id for m in list_models() if m.supports("compaction")}
    assert compacting == {"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-7", "claude-opus-4-8",
                          "claude-fable-5", "claude-mythos-5", "claude-sonnet-5", "claude-opus-5",
                          "claude-fable-5-1", "claude-mythos-5-1", "claude-opus-5-5"}


def test_lifecycle_and_retirement_dates():
    sonnet = get_model("claude-sonnet-4-5")
    assert (sonnet.lifecycle, sonnet.deprecated_at, sonnet.retires_at) == (
        "retired", datetime.date(2026, 9, 30), datetime.date(2026, 11, 30))
    assert [sonnet.lifecycle_on(datetime.date(2026, 11, d)) for d in (29, 30)] == ["deprecated", "retired"]
    assert sonnet.lifecycle_on(datetime.date(2026, 9, 29)) == "legacy"
    opus = get_model("claude-opus-4-5")
    assert (opus.lifecycle, opus.deprecated_at, opus.retires_at) == (
        "deprecated", datetime.date(2026, 11, 23), datetime.date(2027, 1, 22))
    assert get_model("claude-opus-4-0").lifecycle_on(datetime.date(2026, 6, 15)) == "retired"
    active = {m.id for m in list_models() if m.lifecycle == "active"}
    assert active == {"claude-fable-5-1", "claude-mythos-5-1", "claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"}
    for m in list_models():  # the stage a row states is the one its dates give on the day it was checked
        assert m.lifecycle_on(m.checked) == m.lifecycle, m.id


def test_tool_prompt_tokens_per_model_and_tool_choice():
    """The pricing page's "Tool use system prompt token overhead": forced choice costs more."""
    assert get_model("claude-sonnet-4-6").tool_prompt(None) == 497
    assert get_model("claude-sonnet-4-6").tool_prompt({"type": "tool", "name": "x"}) == 589
    assert get_model("claude-opus-4-7").tool_prompt({"type": "any"}) == 804
    assert get_model("claude-opus-4-0").tool_prompt({"type": "none"}) == 313
    for m in list_models():
        assert m.tool_prompt({"type": "any"}) > m.tool_prompt({"type": "auto"}), m.id


def test_every_row_has_a_source_and_the_check_date():
    data = raw()
    for row in data["model"]:
        assert row["source"].startswith("https://"), row
        assert row["checked"] == CHECKED, row
    for row in data["price"]:
        assert row["source"].startswith("https://"), row
        assert row["checked"] == PRICES_CHECKED, row


def test_every_model_is_priced_from_its_release_and_every_price_names_a_model():
    data = raw()
    ids = {m.id for m in list_models()}
    assert {get_model(p["model"]).id for p in data["price"]} == ids
    for m in list_models():
        assert price_rows(m.id)[0].effective_from == m.released, m.id
        assert price_for(m.id, at=m.released).model == m.id


def test_features_are_known_names():
    for m in list_models():
        assert m.features <= FEATURES, m.id


def test_list_is_sorted_by_release():
    released = [m.released for m in list_models()]
    assert released == sorted(released)


ROW = """[[model]]
id = "m"
display_name = "M"
family = "opus"
released = 2026-01-01
context_window = 1000
max_output = 100
min_cacheable_tokens = 10
tokenizer = "claude-4"
features = ["prefill"]
lifecycle = "active"
source = "https://example.invalid"
"""


@pytest.mark.parametrize(("change", "message"), [
    (("context_window = 1000\n", ""), "'context_window' is missing"),
    (("max_output = 100", "max_output = -1"), "'max_output' must not be negative"),
    (("min_cacheable_tokens = 10", 'min_cacheable_tokens = "10"'), "'min_cacheable_tokens' must be a int"),
    (('features = ["prefill"]', 'features = ["prefil"]'), "unknown names ['prefil']"),
    (('lifecycle = "active"', 'lifecycle = "current"'), "'lifecycle' must be one of"),
    (('lifecycle = "active"', 'lifecycle = "deprecated"'), "'retires_at' is missing"),
    (('lifecycle = "active"', 'lifecycle = "active"\nretires_at = 2026-03-01\nchecked = 2026-04-01'),
     "'lifecycle' is 'active' but its dates make it 'retired' on 2026-04-01"),
    (('source =', 'tool_prompt_tokens = {auto = 5}\nsource ='), "'tool_prompt_tokens' must be {auto"),
    (('source =', 'effort = ["extreme"]\nsource ='), "'effort' must be a list of"),
    (('source =', 'effort = ["low"]\nsource ='), "'default_effort' must be one of the model's effort levels"),
])
def test_bad_rows_raise_configuration_error_naming_model_and_field(fake_catalog, change, message):
    fake_catalog.write_text(ROW.replace(*change))
    with pytest.raises(ConfigurationError, match="model 'm'") as info:
        get_model("m")
    assert message in str(info.value)


def test_a_good_fake_row_loads(fake_catalog):
    fake_catalog.write_text(ROW)
    assert get_model("m").supports("prefill")
    assert not get_model("m").supports("compaction")
    with pytest.raises(ConfigurationError, match="'tool_prompt_tokens' is missing"):
        get_model("m").tool_prompt(None)  # only a request with tools needs it


def test_a_name_used_twice_is_rejected(fake_catalog):
    fake_catalog.write_text(ROW + "\n" + ROW.replace('id = "m"', 'id = "n"\naliases = ["m"]'))
    with pytest.raises(ConfigurationError, match="'m' names two models"):
        list_models()
