"""What the commands share: the default database, opening it, one-line errors.

Command modules import only click and this module at import time, so ``convolab --help``
(which reads every command's help) starts without the SDK or polars.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from convolab.errors import ConvolabError

#: How each command's --help describes what happens when the store cannot be used.
STORE_ERRORS = ("A --db file that is not a convolab store, is damaged, is a folder, is on a read-only disk or "
                "is held by another process: one line naming it and what to do, exit code 2.")


class InputError(click.ClickException):
    """A bad argument or an unusable file, reported as one line (``Error: ...``) with exit code 2."""

    exit_code = 2


def default_db() -> str:
    """``$CONVOLAB_DB``, else ``convolab.duckdb`` in the user's application directory."""
    return os.environ.get("CONVOLAB_DB") or str(Path(click.get_app_dir("convolab")) / "convolab.duckdb")


db_option = click.option("--db", "db", default=default_db, show_default="$CONVOLAB_DB or the app dir",
                         help="DuckDB file of the embedded store.")


def open_store(path: str, *, create: bool = True):
    """The ``DuckDBStore`` at ``path``; ``create=False`` refuses a missing file instead of making one.

    Every store error (``StoreUnreadable``, ``StoreLocked``, a newer schema) is ``InputError``."""
    from convolab.stores.duckdb import DuckDBStore

    if not create and not os.path.exists(path):
        raise InputError(f"no database at {path}: nothing has been recorded there (convolab chat --db {path} "
                         "creates it); check the path, --db or CONVOLAB_DB")
    try:
        return DuckDBStore(path)
    except ConvolabError as e:
        raise InputError(str(e)) from None
