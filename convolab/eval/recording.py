"""A recording of a live evaluation: every API response, keyed by a hash of its exact request.

One DuckDB file (``--cache FILE`` writes it, ``--replay-from FILE`` reads it):

    responses(key PK, model, betas, kind, response JSON text, input_tokens, cache_write_tokens,
              cache_read_tokens, output_tokens, service_tier, cost_usd, recorded_at, run_id)
    runs(run_id PK, started_at, finished_at, convolab_version, config JSON, status, spend_usd)
    batches(batch_id PK, keys JSON, created_at, collected_at)
    frames(run_id, name, parquet BLOB; PK (run_id, name))
    recording_schema(name PK, applied_at)

``request_key(body, betas)`` is the SHA-256 of the request's canonical JSON (its model is in the
body) and its beta headers: the same request always has the same key, any change makes a new
one. A response is inserted (and committed) before it is handed to the evaluation, so a run
killed at any point keeps everything it was answered; the next run finds those requests here
and does not send them again. A run's ``config`` holds what others need to replay it: the
dataset and strategies, the models, the judge and the hash of its prompt, the price date, the
convolab version; ``batches`` lets an interrupted ``--batch`` run collect a batch it created
instead of paying for a new one. ``frames`` holds the run's result tables (``load_recording``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from convolab.errors import ConfigurationError, StoreLocked

__all__ = ["MemoryResponses", "Recorded", "Recording", "Responses", "request_key"]

_SCHEMA = [
    ("m001_initial", [
        """CREATE TABLE IF NOT EXISTS responses (key VARCHAR PRIMARY KEY, model VARCHAR, betas VARCHAR,
           kind VARCHAR, response VARCHAR NOT NULL, input_tokens BIGINT, cache_write_tokens BIGINT,
           cache_read_tokens BIGINT, output_tokens BIGINT, service_tier VARCHAR, cost_usd DOUBLE,
           recorded_at TIMESTAMPTZ, run_id VARCHAR)""",
        """CREATE TABLE IF NOT EXISTS runs (run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ,
           finished_at TIMESTAMPTZ, convolab_version VARCHAR, config VARCHAR, status VARCHAR, spend_usd DOUBLE)""",
        """CREATE TABLE IF NOT EXISTS batches (batch_id VARCHAR PRIMARY KEY, keys VARCHAR, created_at TIMESTAMPTZ,
           collected_at TIMESTAMPTZ)""",
        """CREATE TABLE IF NOT EXISTS frames (run_id VARCHAR, name VARCHAR, parquet BLOB, PRIMARY KEY (run_id, name))""",
    ]),
]


def request_key(body: dict[str, Any], betas: Sequence[str] = ()) -> str:
    """The hash a request is recorded under: its body (model included) and beta headers."""
    canon = json.dumps({"body": body, "betas": sorted(betas)}, sort_keys=True, ensure_ascii=False,
                       separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    """One recorded response: the API's JSON, its cost as billed, its service tier."""

    response: str
    cost_usd: float
    service_tier: str | None


class Responses(Protocol):
    """Where a live evaluation keeps its responses: a ``Recording`` file, or ``MemoryResponses``."""

    def get(self, key: str) -> Recorded | None: ...

    def put(self, key: str, body: dict[str, Any], betas: Sequence[str], response: str, tokens: dict[str, int],
            cost_usd: float, service_tier: str | None, run_id: str | None, kind: str | None = None) -> None: ...


class MemoryResponses:
    """Responses kept in a dict, for a run that needs no file (the plan's dry run)."""

    def __init__(self) -> None:
        self._data: dict[str, Recorded] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Recorded | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, body: dict[str, Any], betas: Sequence[str], response: str, tokens: dict[str, int],
            cost_usd: float, service_tier: str | None, run_id: str | None, kind: str | None = None) -> None:
        with self._lock:
            self._data.setdefault(key, Recorded(response, cost_usd, service_tier))


class Recording:
    """A recording file, open for recording (``read_only=False``: made if missing) or for replay.

    Thread-safe: one DuckDB connection behind a lock. DuckDB lets one process hold a file.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False):
        import duckdb

        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.is_file():
            raise ConfigurationError(f"{self.path}: no such recording; record one with --live --cache {self.path}")
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if not read_only and str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise StoreLocked(f"{self.path} is open in another process (a DuckDB file can be open in one "
                                  "process at a time); finish or stop that run first") from None
            raise ConfigurationError(f"{self.path} is not a DuckDB recording ({str(e).splitlines()[0]})") from None
        except duckdb.Error as e:
            raise ConfigurationError(f"{self.path} is not a DuckDB recording ({str(e).splitlines()[0]})") from None
        self._lock = threading.Lock()
        self._con.execute("SET TimeZone = 'UTC'")
        if read_only:
            self._check_schema()
        else:
            self._migrate()

    def _tables(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    def _migrate(self) -> None:
        tables = self._tables()
        if tables and "recording_schema" not in tables:
            self._con.close()
            raise ConfigurationError(f"{self.path} is a DuckDB database of something else (tables: "
                                     f"{', '.join(sorted(tables)[:4])}); give --cache a new file or a recording")
        self._con.execute("CREATE TABLE IF NOT EXISTS recording_schema (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
        done = {r[0] for r in self._con.execute("SELECT name FROM recording_schema").fetchall()}
        for name, statements in _SCHEMA:
            if name in done:
                continue
            self._con.execute("BEGIN")
            for sql in statements:
                self._con.execute(sql)
            self._con.execute("INSERT INTO recording_schema VALUES (?, ?)", [name, datetime.now(UTC)])
            self._con.execute("COMMIT")

    def _check_schema(self) -> None:
        if not {"responses", "runs", "recording_schema"} <= self._tables():
            self._con.close()
            raise ConfigurationError(f"{self.path} is a DuckDB file but not a convolab recording "
                                     "(no responses table); record one with --live --cache FILE")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- responses ---------------------------------------------------------------------------
    def get(self, key: str) -> Recorded | None:
        with self._lock:
            row = self._con.execute("SELECT response, cost_usd, service_tier FROM responses WHERE key = ?",
                                    [key]).fetchone()
        return Recorded(row[0], row[1] or 0.0, row[2]) if row else None

    def put(self, key: str, body: dict[str, Any], betas: Sequence[str], response: str, tokens: dict[str, int],
            cost_usd: float, service_tier: str | None, run_id: str | None, kind: str | None = None) -> None:
        """Store one response (committed before this returns); a key already there is kept."""
        with self._lock:
            self._con.execute(
                "INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [key, body.get("model"), ",".join(betas), kind, response, tokens["input_tokens"],
                 tokens["cache_write_tokens"], tokens["cache_read_tokens"], tokens["output_tokens"], service_tier,
                 cost_usd, datetime.now(UTC), run_id])

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM responses").fetchone()[0]

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, config: dict[str, Any]) -> str:
        from convolab import __version__

        run_id = uuid.uuid4().hex[:16]
        with self._lock:
            self._con.execute("INSERT INTO runs VALUES (?, ?, NULL, ?, ?, 'running', 0)",
                              [run_id, datetime.now(UTC), __version__, json.dumps(config, sort_keys=True)])
        return run_id

    def finish_run(self, run_id: str, status: str, spend_usd: float) -> None:
        with self._lock:
            self._con.execute("UPDATE runs SET finished_at = ?, status = ?, spend_usd = ? WHERE run_id = ?",
                              [datetime.now(UTC), status, spend_usd, run_id])

    def runs(self) -> list[dict[str, Any]]:
        """Every run in the recording, oldest first, its config decoded."""
        with self._lock:
            rows = self._con.execute("SELECT run_id, started_at, finished_at, convolab_version, config, status, "
                                     "spend_usd FROM runs ORDER BY started_at").fetchall()
        keys = ("run_id", "started_at", "finished_at", "convolab_version", "config", "status", "spend_usd")
        return [{**dict(zip(keys, r, strict=True)), "config": json.loads(r[4])} for r in rows]

    def info(self) -> dict[str, Any]:
        """What the recording holds: responses, models, dates, spend, and its runs."""
        with self._lock:
            n, first, last, spend = self._con.execute(
                "SELECT count(*), min(recorded_at), max(recorded_at), coalesce(sum(cost_usd), 0) FROM responses").fetchone()
            models = [r[0] for r in self._con.execute(
                "SELECT model, count(*) FROM responses GROUP BY model ORDER BY 2 DESC").fetchall()]
        return {"responses": n, "first_recorded": first, "last_recorded": last, "billed_usd": spend,
                "models": models, "runs": self.runs()}

    # -- batches -----------------------------------------------------------------------------
    def add_batch(self, batch_id: str, keys: Sequence[str]) -> None:
        with self._lock:
            self._con.execute("INSERT INTO batches VALUES (?, ?, ?, NULL)", [batch_id, json.dumps(list(keys)),
                                                                               datetime.now(UTC)])

    def open_batches(self) -> dict[str, list[str]]:
        """Batches created and not yet collected: batch id -> the keys of its requests."""
        with self._lock:
            rows = self._con.execute("SELECT batch_id, keys FROM batches WHERE collected_at IS NULL "
                                     "ORDER BY created_at").fetchall()
        return {b: json.loads(k) for b, k in rows}

    def batch_collected(self, batch_id: str) -> None:
        with self._lock:
            self._con.execute("UPDATE batches SET collected_at = ? WHERE batch_id = ?", [datetime.now(UTC), batch_id])

    # -- result tables -----------------------------------------------------------------------
    def save_frames(self, run_id: str, frames: dict[str, Any]) -> None:
        """Store polars frames (name -> frame) of a finished run, as Parquet."""
        with self._lock:
            for name, frame in frames.items():
                buf = io.BytesIO()
                frame.write_parquet(buf)
                self._con.execute("INSERT OR REPLACE INTO frames VALUES (?, ?, ?)", [run_id, name, buf.getvalue()])

    def load_frames(self, run_id: str) -> dict[str, Any]:
        import polars as pl

        with self._lock:
            rows = self._con.execute("SELECT name, parquet FROM frames WHERE run_id = ?", [run_id]).fetchall()
        return {name: pl.read_parquet(io.BytesIO(data)) for name, data in rows}
