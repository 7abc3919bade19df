from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from anthropic.types import CacheCreation, Usage
from test_catalog import ROW

from convolab.errors import ConfigurationError, ConvolabError, UnknownModel
from convolab.pricing import NoPriceYet, cost_breakdown, cost_usd, price_for

TODAY = date(2026, 11, 25)
MTOK = 1_000_000


def test_the_issue_example():
    usage = {"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 2000,
             "cache_read_input_tokens": 10000}
    assert cost_usd("claude-sonnet-4-6", usage) == 0.021  # exact: rounded to 10 decimals


@pytest.mark.parametrize(("model", "row"), [
    ("claude-opus-4-0", (15, 18.75, 30, 1.50, 75)), ("claude-opus-4-1", (15, 18.75, 30, 1.50, 75)),
    ("claude-opus-4-5", (5, 6.25, 10, 0.50, 25)), ("claude-opus-4-6", (5, 6.25, 10, 0.50, 25)),
    ("claude-opus-4-7", (5, 6.25, 10, 0.50, 25)), ("claude-opus-4-8", (5, 6.25, 10, 0.50, 25)),
    ("claude-opus-5", (5, 6.25, 10, 0.50, 25)),
    # The issue tracker says 0.40 for Opus 5.5 cache reads; the pricing page and the model page say
    # $0.20 (5% of input) from launch, and the catalog follows the published page.
    ("claude-opus-5-5", (4, 5, 8, 0.20, 20)),
    ("claude-sonnet-4-5", (3, 3.75, 6, 0.30, 15)), ("claude-sonnet-4-6", (3, 3.75, 6, 0.30, 15)),
    ("claude-sonnet-5", (2, 2.50, 4, 0.20, 10)), ("claude-sonnet-5-5", (2, 2.50, 4, 0.10, 10)),
    ("claude-haiku-4-5", (1, 1.25, 2, 0.10, 5)), ("claude-haiku-5-5", (0.10, 0.125, 0.20, 0.01, 0.50)),
    ("claude-fable-5", (10, 12.50, 20, 1.00, 50)), ("claude-mythos-5", (10, 12.50, 20, 1.00, 50)),
    ("claude-fable-5-1", (10, 12.50, 20, 0.25, 50)), ("claude-mythos-5-1", (10, 12.50, 20, 0.25, 50)),
])
def test_todays_prices(model, row):
    p = price_for(model, at=TODAY)
    assert (p.input, p.cache_write_5m, p.cache_write_1h, p.cache_read, p.output) == row
    # and cost_usd bills 100K input tokens (below every tier) at that input rate
    assert cost_usd(model, {"input_tokens": 100_000, "output_tokens": 0}, at=TODAY) == round(row[0] / 10, 10)


def test_current_prices_not_the_older_models_ones():
    assert price_for("claude-opus-4-6", at=TODAY).output == 25  # Claude 3 Opus's rate was 75
    assert price_for("claude-opus-4-6", at=TODAY).input == 5  # and 15
    assert price_for("claude-haiku-4-5-20251001", at=TODAY).input == 1  # Claude 3 Haiku's was 0.25
    assert price_for("claude-haiku-4-5", at=TODAY).output == 5  # and 1.25


def test_sonnet_5_5_cache_read_changed_on_7_october():
    assert price_for("claude-sonnet-5-5", at=date(2026, 10, 6)).cache_read == 0.20
    assert price_for("claude-sonnet-5-5", at=datetime(2026, 10, 7, 0, 0, tzinfo=UTC)).cache_read == 0.10
    # 23:30 on 6 October in New York is already 7 October in UTC
    ny = timezone(timedelta(hours=-4))
    assert price_for("claude-sonnet-5-5", at=datetime(2026, 10, 6, 23, 30, tzinfo=ny)).cache_read == 0.10
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": MTOK}
    assert cost_usd("claude-sonnet-5-5", usage, at=date(2026, 10, 1)) == 0.20
    assert cost_usd("claude-sonnet-5-5", usage, at=TODAY) == 0.10
    assert cost_usd("claude-sonnet-5-5", usage) == 0.10  # default: now


def test_haiku_5_5_tier_switches_above_100k_prompt_tokens():
    at_limit = {"input_tokens": 100_000, "output_tokens": MTOK}
    over = {"input_tokens": 90_000, "cache_read_input_tokens": 10_001, "output_tokens": MTOK}
    assert price_for("claude-haiku-5-5", at=TODAY, prompt_tokens=100_000).input == 0.10
    assert price_for("claude-haiku-5-5", at=TODAY, prompt_tokens=100_001).input == 0.50
    assert cost_usd("claude-haiku-5-5", at_limit, at=TODAY) == pytest.approx(0.01 + 0.50)
    # every token of the request moves to the higher tier, not only those past the line
    assert cost_usd("claude-haiku-5-5", over, at=TODAY) == pytest.approx(0.045 + 10_001 * 0.05 / MTOK + 2.50)
    high = price_for("claude-haiku-5-5", at=TODAY, prompt_tokens=500_000)
    assert (high.cache_write_5m, high.cache_write_1h, high.cache_read, high.output) == (0.625, 1.00, 0.05, 2.50)


def test_cache_writes_count_toward_the_tier():
    writes = {"input_tokens": 1, "cache_creation_input_tokens": 100_000, "output_tokens": 0}
    assert cost_usd("claude-haiku-5-5", writes, at=TODAY) == pytest.approx(0.50 / MTOK + 100_000 * 0.625 / MTOK)


def test_long_context_tier_of_the_4_6_beta_ended_on_13_march():
    big = {"input_tokens": 300_000, "output_tokens": 10_000}
    assert cost_usd("claude-sonnet-4-6", big, at=date(2026, 3, 1)) == pytest.approx(300_000 * 6 / MTOK + 10_000 * 22.5 / MTOK)
    assert cost_usd("claude-sonnet-4-6", big, at=date(2026, 3, 13)) == pytest.approx(300_000 * 3 / MTOK + 10_000 * 15 / MTOK)
    assert cost_usd("claude-opus-4-6", big, at=date(2026, 3, 1)) == pytest.approx(3.0 + 0.375)
    assert cost_usd("claude-opus-4-6", big, at=TODAY) == pytest.approx(1.5 + 0.25)
    # below 200K nothing changed
    small = {"input_tokens": 200_000, "output_tokens": 0}
    assert cost_usd("claude-sonnet-4-6", small, at=date(2026, 3, 1)) == cost_usd("claude-sonnet-4-6", small, at=TODAY)


def test_sonnet_4_5_long_context_rates_apply_above_200k():
    p = price_for("claude-sonnet-4-5", at=TODAY, prompt_tokens=200_001)
    assert (p.input, p.cache_write_5m, p.cache_write_1h, p.cache_read, p.output) == (6, 7.50, 12, 0.60, 22.50)


def test_one_hour_writes_cost_more_when_the_usage_says_so():
    five = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": MTOK}
    split = {**five, "cache_creation": {"ephemeral_5m_input_tokens": 400_000, "ephemeral_1h_input_tokens": 600_000}}
    assert cost_usd("claude-sonnet-4-6", five, at=TODAY) == 3.75
    assert cost_usd("claude-sonnet-4-6", split, at=TODAY) == pytest.approx(0.4 * 3.75 + 0.6 * 6)
    parts = cost_breakdown("claude-sonnet-4-6", split, at=TODAY)
    assert parts["cache_write_5m"] == 1.5
    assert parts["cache_write_1h"] == 3.6


def test_sdk_usage_objects_are_priced_like_dicts():
    u = Usage(input_tokens=1200, output_tokens=300, cache_creation_input_tokens=5000, cache_read_input_tokens=None,
              cache_creation=CacheCreation(ephemeral_5m_input_tokens=0, ephemeral_1h_input_tokens=5000))
    parts = cost_breakdown("claude-haiku-4-5", u, at=TODAY)
    assert parts["cache_write_1h"] == 5000 * 2 / MTOK
    assert parts["cache_write_5m"] == 0
    assert parts["cache_read"] == 0
    assert parts["total"] == pytest.approx(1200 * 1 / MTOK + 300 * 5 / MTOK + 5000 * 2 / MTOK)
    as_dict = u.model_dump()
    assert cost_usd("claude-haiku-4-5", as_dict, at=TODAY) == parts["total"]


def test_none_values_count_as_zero():
    u = {"input_tokens": 10, "output_tokens": None, "cache_creation_input_tokens": None,
         "cache_read_input_tokens": None, "cache_creation": None}
    assert cost_usd("claude-haiku-4-5", u, at=TODAY) == 10 / MTOK


def test_totals_are_rounded_not_float_noise():
    usage = {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 1}
    total = cost_usd("claude-sonnet-4-6", usage, at=TODAY)
    assert total == round(7 * 3e-6 + 3 * 15e-6 + 0.3e-6, 10)
    assert len(repr(total)) < 14


def test_unknown_model_never_gets_a_default_price():
    with pytest.raises(UnknownModel) as info:
        cost_usd("claude-sonnet-4-7", {"input_tokens": 1, "output_tokens": 1})
    assert "claude-sonnet-4-6" in info.value.suggestions
    with pytest.raises(UnknownModel):
        price_for("gpt-4o", at=TODAY)


def test_before_the_first_price_row_is_an_error_naming_the_dates():
    with pytest.raises(NoPriceYet, match="prices start on 2026-09-28, 2026-10-07"):
        price_for("claude-sonnet-5-5", at=date(2026, 9, 27))
    with pytest.raises(ConvolabError):  # NoPriceYet is a ConvolabError and a ValueError
        price_for("claude-haiku-5-5", at=date(2025, 1, 1))
    with pytest.raises(ValueError):
        price_for("claude-haiku-5-5", at=date(2025, 1, 1))


MODEL = ROW.replace('features = ["prefill"]', "features = []")  # the catalog tests' row
PRICE = """[[price]]
model = "m"
effective_from = 2026-01-01
input = 1
cache_write_5m = 1.25
cache_write_1h = 2
cache_read = 0.1
output = 5
source = "https://example.invalid"
"""


@pytest.mark.parametrize(("text", "message"), [
    (PRICE.replace("output = 5", "output = -5"), "'output' must be a non-negative number"),
    (PRICE.replace("cache_read = 0.1\n", ""), "has no 'cache_read'"),
    (PRICE.replace('model = "m"', 'model = "x"'), "names a model with no [[model]] row"),
    (PRICE + PRICE, "need exactly one base row"),
    (PRICE.replace("effective_from = 2026-01-01", "effective_from = 2026-01-01\nabove_prompt_tokens = 5"),
     "need exactly one base row"),
])
def test_bad_price_rows_raise_configuration_error(fake_catalog, text, message):
    fake_catalog.write_text(MODEL + text)
    with pytest.raises(ConfigurationError) as info:
        price_for("m", at=date(2026, 2, 1))
    assert message in str(info.value)


def test_a_price_change_restates_the_schedule_and_drops_old_tiers(fake_catalog):
    tier = PRICE.replace("effective_from = 2026-01-01", "effective_from = 2026-01-01\nabove_prompt_tokens = 50")
    later = PRICE.replace("2026-01-01", "2026-06-01").replace("input = 1", "input = 0.5")
    fake_catalog.write_text(MODEL + PRICE + tier.replace("input = 1", "input = 9") + later)
    assert price_for("m", at=date(2026, 5, 31), prompt_tokens=51).input == 9
    assert price_for("m", at=date(2026, 6, 1), prompt_tokens=51).input == 0.5
    assert price_for("m", at=date(2026, 6, 1)).input == 0.5


@pytest.mark.parametrize("bad", [-1, -1000, 2.5, "10", True])
def test_negative_or_fractional_counts_are_refused_not_priced(bad):
    from convolab.errors import InvalidConversation

    with pytest.raises(InvalidConversation, match="output_tokens"):
        cost_usd("claude-sonnet-4-6", {"input_tokens": 100, "output_tokens": bad}, at=TODAY)
    with pytest.raises(InvalidConversation, match="cache_read_input_tokens"):
        cost_breakdown("claude-sonnet-4-6", {"cache_read_input_tokens": bad}, at=TODAY)
