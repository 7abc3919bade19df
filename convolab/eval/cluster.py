"""Replays on a Dask cluster: ``--scheduler tcp://HOST:PORT`` (a running cluster) or
``--scheduler local:N`` (a cluster of N worker processes started here, on 127.0.0.1 only).

Each task (sample, strategy, budget) is one call of ``convolab.eval.run.run_task`` on a
worker, against a simulator of its own, so the results are those of a run in this process
(only build timings differ). The samples are sent to the cluster once (``scatter``), the tasks
through the client's ``concurrent.futures`` executor; the results come back here and the frames
are made here. Workers need convolab installed, at the same version. How to start a cluster and
what each part does: ``docs/scale.md``.

A scheduler string that is neither form, a scheduler that does not answer within
``CONNECT_TIMEOUT`` seconds, or one with no worker after ``WORKER_TIMEOUT`` seconds raises
``ConfigurationError`` saying what to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from convolab.errors import ConfigurationError

__all__ = ["CONNECT_TIMEOUT", "MAX_LOCAL_WORKERS", "WORKER_TIMEOUT", "Scheduler", "dask_client", "parse_scheduler"]

CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler
WORKER_TIMEOUT = 10.0  # seconds for its first worker to show up
MAX_LOCAL_WORKERS = 256
_TCP = re.compile(r"^tcp://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
_LOCAL = re.compile(r"^local:(?P<n>\d{1,4})$")
_FORMS = "tcp://HOST:PORT (a running Dask scheduler) or local:N (N worker processes on this machine)"


@dataclass(frozen=True)
class Scheduler:
    """A parsed ``--scheduler``: ``address`` of a running scheduler, or ``workers`` to start here."""

    address: str | None = None
    workers: int = 0

    @property
    def local(self) -> bool:
        return self.address is None


def parse_scheduler(text: str) -> Scheduler:
    """``tcp://HOST:PORT`` or ``local:N`` as a ``Scheduler``; else ``ConfigurationError``."""
    value = text.strip()
    if m := _LOCAL.match(value):
        n = int(m["n"])
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise ConfigurationError(f"--scheduler {text}: local:N takes 1 to {MAX_LOCAL_WORKERS} workers")
        return Scheduler(workers=n)
    if m := _TCP.match(value):
        if not 1 <= int(m["port"]) <= 65535:
            raise ConfigurationError(f"--scheduler {text}: port {m['port']} is not in 1..65535")
        return Scheduler(address=value)
    raise ConfigurationError(f"--scheduler {text!r}: give {_FORMS}")


def _require() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigurationError("--scheduler needs Dask distributed: pip install 'convolab[cluster]'") from None
    return distributed


@contextmanager
def dask_client(scheduler: str | Scheduler, *, connect_timeout: float = CONNECT_TIMEOUT,
                worker_timeout: float = WORKER_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler`` (text or parsed), closed on leaving (a local
    cluster is shut down too). Fails with ``ConfigurationError`` when the scheduler cannot be
    reached or has no worker."""
    where = parse_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    distributed = _require()
    if where.local:
        cluster = distributed.LocalCluster(
            n_workers=where.workers, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR)
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(where.address, timeout=connect_timeout)
    except (OSError, TimeoutError) as e:
        raise ConfigurationError(
            f"--scheduler {where.address}: no Dask scheduler answered within {connect_timeout:g} s ({e}); start "
            f"one with 'dask scheduler' and workers with 'dask worker {where.address}', or use local:N") from None
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except (OSError, TimeoutError):
            raise ConfigurationError(
                f"--scheduler {where.address}: the scheduler has no worker after {worker_timeout:g} s; start some "
                f"with 'dask worker {where.address}' (convolab installed where they run)") from None
        yield client
    finally:
        client.close()
