from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from anthropic.types import CacheCreation, Usage

from convolab import ConvolabError, UnknownModel
from convolab.pricing import cost_breakdown, cost_usd, price_for

TODAY = date(2026, 11, 25)


def test_the_issue_example():
    usage = {"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 2000,
             "cache_read_input_tokens": 10000}
    assert cost_usd("claude-sonnet-4-6", usage) == 0.021


@pytest.mark.parametrize(("model", "row"), [
    ("claude-opus-4-5", (5, 6.25, 10, 0.50, 25)), ("claude-opus-4-6", (5, 6.25, 10, 0.50, 25)),
    ("claude-opus-4-7", (5, 6.25, 10, 0.50, 25)), ("claude-opus-4-8", (5, 6.25, 10, 0.50, 25)),
    ("claude-opus-5", (5, 6.25, 10, 0.50, 25)), ("claude-opus-5-5", (4, 5, 8, 0.40, 20)),
    ("claude-opus-4-0", (15, 18.75, 30, 1.50, 75)), ("claude-opus-4-1", (15, 18.75, 30, 1.50, 75)),
    ("claude-sonnet-4-5", (3, 3.75, 6, 0.30, 15)), ("claude-sonnet-4-6", (3, 3.75, 6, 0.30, 15)),
    ("claude-sonnet-5", (2, 2.50, 4, 0.20, 10)), ("claude-sonnet-5-5", (2, 2.50, 4, 0.10, 10)),
    ("claude-haiku-4-5", (1, 1.25, 2, 0.10, 5)), ("claude-haiku-5-5", (0.10, 0.125, 0.20, 0.01, 0.50)),
])
def test_todays_prices(model, row):
    p = price_for(model, at=TODAY)
    assert (p.input, p.cache_write_5m, p.cache_write_1h, p.cache_read, p.output) == row


def test_the_chapter_table_is_not_used():
    assert price_for("claude-opus-4-6", at=TODAY).output == 25  # the chapter says 75
    assert price_for("claude-haiku-4-5-20251001", at=TODAY).input == 1  # the chapter says 0.25


def test_sonnet_5_5_cache_read_changed_on_7_october():
    assert price_for("claude-sonnet-5-5", at=date(2026, 10, 6)).cache_read == 0.20
    assert price_for("claude-sonnet-5-5", at=datetime(2026, 10, 7, 0, 0, tzinfo=UTC)).cache_read == 0.10
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 1_000_000}
    assert cost_usd("claude-sonnet-5-5", usage, at=date(2026, 10, 1)) == 0.20
    assert cost_usd("claude-sonnet-5-5", usage, at=TODAY) == 0.10


def test_haiku_5_5_tier_switches_above_100k_prompt_tokens():
    small = {"input_tokens": 100_000, "output_tokens": 1_000_000}
    large = {"input_tokens": 90_000, "cache_read_input_tokens": 10_001, "output_tokens": 1_000_000}
    assert cost_usd("claude-haiku-5-5", small, at=TODAY) == pytest.approx(0.01 + 0.50)
    assert cost_usd("claude-haiku-5-5", large, at=TODAY) == pytest.approx(0.045 + 0.00050005 + 2.50)


def test_one_hour_writes_cost_more_when_the_usage_says_so():
    five = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1_000_000}
    split = {**five, "cache_creation": {"ephemeral_5m_input_tokens": 400_000, "ephemeral_1h_input_tokens": 600_000}}
    assert cost_usd("claude-sonnet-4-6", five, at=TODAY) == 3.75
    assert cost_usd("claude-sonnet-4-6", split, at=TODAY) == pytest.approx(0.4 * 3.75 + 0.6 * 6)


def test_sdk_usage_objects_are_priced_like_dicts():
    u = Usage(input_tokens=1200, output_tokens=300, cache_creation_input_tokens=5000, cache_read_input_tokens=None,
              cache_creation=CacheCreation(ephemeral_5m_input_tokens=0, ephemeral_1h_input_tokens=5000))
    parts = cost_breakdown("claude-haiku-4-5", u, at=TODAY)
    assert parts["cache_write_1h"] == pytest.approx(5000 * 2 / 1e6)
    assert parts["cache_read"] == 0
    assert parts["total"] == pytest.approx(1200 * 1 / 1e6 + 300 * 5 / 1e6 + 5000 * 2 / 1e6)


def test_unknown_model_never_gets_a_default_price():
    with pytest.raises(UnknownModel, match="claude-sonnet-4-6"):
        cost_usd("claude-sonnet-4-7", {"input_tokens": 1, "output_tokens": 1})


def test_before_the_first_price_row_is_an_error_naming_the_dates():
    with pytest.raises(ConvolabError, match="prices start on 2026-10-07"):
        price_for("claude-haiku-5-5", at=date(2025, 1, 1))
