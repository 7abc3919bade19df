"""``convolab costs``: a user's ledger per day and model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from convolab.commands.common import STORE_ERRORS, db_option, open_store

if TYPE_CHECKING:
    from convolab.stores.base import UsageEvent

COLUMNS = ["day", "model", "requests", "input_tokens", "cache_write_tokens", "cache_read_tokens",
           "output_tokens", "cost_usd"]
UNCONFIRMED = "unconfirmed"  # requests booked at their reserved estimate: interrupted after they may have been billed


def is_unconfirmed(event: UsageEvent) -> bool:
    """Whether a ledger row is an estimate booked for an interrupted request."""
    return not event.confirmed


def ledger_frame(events):
    """Usage events as one row per UTC day and model (a polars DataFrame, ``COLUMNS``); when any
    event is unconfirmed, an ``unconfirmed`` column counts those requests in each row."""
    import polars as pl

    rows = [{"day": e.created_at.astimezone(UTC).date(), "model": e.model, "input_tokens": e.input_tokens,
             "cache_write_tokens": e.cache_creation_input_tokens, "cache_read_tokens": e.cache_read_input_tokens,
             "output_tokens": e.output_tokens, "cost_usd": e.cost_usd, UNCONFIRMED: int(is_unconfirmed(e))}
            for e in events]
    if not rows:
        return pl.DataFrame(schema={c: pl.Int64 for c in COLUMNS} | {"day": pl.Date, "model": pl.Utf8,
                                                                     "cost_usd": pl.Float64})
    frame = pl.DataFrame(rows)
    columns = COLUMNS + ([UNCONFIRMED] if frame[UNCONFIRMED].sum() else [])
    return (frame.group_by("day", "model")
            .agg(pl.len().alias("requests"), pl.col("input_tokens", "cache_write_tokens", "cache_read_tokens",
                                                    "output_tokens", "cost_usd", UNCONFIRMED).sum())
            .select(columns).sort("day", "model"))


@click.command("costs", epilog=f"Errors: a --db file that does not exist is not created (exit code 2). {STORE_ERRORS}")
@click.option("--user", "user_id", required=True)
@db_option
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True)
def costs(user_id: str, db: str, days: int) -> None:
    """The ledger per day and model for the last N days (UTC), with a total.

    Requests interrupted after they may have been billed are booked at their reserved estimate
    and marked unconfirmed: counted in an 'unconfirmed' column and in the total's last line.
    """
    import polars as pl

    store = open_store(db, create=False)
    try:
        end = datetime.now(UTC)
        start = datetime.combine((end - timedelta(days=days - 1)).date(), datetime.min.time(), tzinfo=UTC)
        events = store.usage_events(user_id, start=start, end=end + timedelta(seconds=1))
    finally:
        store.close()
    frame = ledger_frame(events)
    if frame.is_empty():
        click.echo(f"no usage for user {user_id!r} in the last {days} day(s)")
        return
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=160,
                   float_precision=5, thousands_separator=True):
        click.echo(frame)
    click.echo(f"total: ${frame['cost_usd'].sum():.5f} over {frame['requests'].sum():,} requests")
    unconfirmed = [e for e in events if is_unconfirmed(e)]
    if unconfirmed:
        click.echo(f"of which unconfirmed: ${sum(e.cost_usd for e in unconfirmed):.5f} over {len(unconfirmed):,} "
                   "interrupted request(s), booked at their reserved estimate (the API may have billed less)")
