"""What the commands share: the default database, opening it, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import click

from convolab.errors import ConvolabError


def default_db() -> str:
    """``$CONVOLAB_DB``, else ``convolab.duckdb`` in the user's application directory."""
    return os.environ.get("CONVOLAB_DB") or str(Path(click.get_app_dir("convolab")) / "convolab.duckdb")


db_option = click.option("--db", "db", default=default_db, show_default="$CONVOLAB_DB or the app dir",
                         help="DuckDB file of the embedded store.")


def open_store(path: str):
    from convolab.stores.duckdb import DuckDBStore

    try:
        return DuckDBStore(path)
    except ConvolabError as e:
        raise click.UsageError(str(e)) from None
