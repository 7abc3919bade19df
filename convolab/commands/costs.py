"""``convolab costs``: a user's ledger per day and model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import polars as pl

from convolab.commands.common import db_option, open_store

COLUMNS = ["day", "model", "requests", "input_tokens", "cache_write_tokens", "cache_read_tokens",
           "output_tokens", "cost_usd"]


def ledger_frame(events) -> pl.DataFrame:
    """Usage events as one row per UTC day and model."""
    rows = [{"day": e.created_at.astimezone(UTC).date(), "model": e.model, "input_tokens": e.input_tokens,
             "cache_write_tokens": e.cache_creation_input_tokens, "cache_read_tokens": e.cache_read_input_tokens,
             "output_tokens": e.output_tokens, "cost_usd": e.cost_usd} for e in events]
    if not rows:
        return pl.DataFrame(schema={c: pl.Int64 for c in COLUMNS} | {"day": pl.Date, "model": pl.Utf8,
                                                                     "cost_usd": pl.Float64})
    frame = pl.DataFrame(rows)
    return (frame.group_by("day", "model")
            .agg(pl.len().alias("requests"), pl.col("input_tokens", "cache_write_tokens", "cache_read_tokens",
                                                    "output_tokens", "cost_usd").sum())
            .select(COLUMNS).sort("day", "model"))


@click.command("costs")
@click.option("--user", "user_id", required=True)
@db_option
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True)
def costs(user_id: str, db: str, days: int) -> None:
    """The ledger per day and model for the last N days (UTC), with a total."""
    store = open_store(db)
    try:
        end = datetime.now(UTC)
        start = datetime.combine((end - timedelta(days=days - 1)).date(), datetime.min.time(), tzinfo=UTC)
        frame = ledger_frame(store.usage_events(user_id, start=start, end=end + timedelta(seconds=1)))
    finally:
        store.close()
    if frame.is_empty():
        click.echo(f"no usage for user {user_id!r} in the last {days} day(s)")
        return
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=160,
                   float_precision=5, thousands_separator=True):
        click.echo(frame)
    click.echo(f"total: ${frame['cost_usd'].sum():.5f} over {frame['requests'].sum():,} requests")
