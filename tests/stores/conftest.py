"""Fixtures for the store tests: every contract test runs against DuckDB and PostgreSQL.

PostgreSQL: with ``CONVOLAB_TEST_POSTGRES_DSN`` set, the tests use that server (the user needs
CREATE on the database: each test gets a schema of its own, dropped afterwards). Otherwise a
throwaway server is started once per session when PostgreSQL's binaries are installed
(``pg_config --bindir``, ``/usr/lib/postgresql/*/bin`` or ``initdb`` on PATH): ``initdb`` into
a temp dir as an unprivileged user, a free port, a unix socket in the temp dir, no TCP. With
neither, the postgres tests are skipped, or fail when ``CI=true``. ``pytest -k postgres`` runs
just them (their ids end in ``[postgres]``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from convolab.stores import DuckDBStore, PostgresStore

BACKENDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_USER = "convolab-pg"  # the unprivileged OS user that runs the server when the tests run as root


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are, or None."""
    candidates = []
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                             check=True).stdout.strip())

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", path)[-1:])

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A throwaway PostgreSQL cluster in a temp dir, reached through a unix socket."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.runas: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.runas = PG_USER
            try:
                pwd.getpwnam(PG_USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                               check=True, capture_output=True)
        self.base = Path(tempfile.mkdtemp(prefix="convolab-pg-"))
        if self.runas:
            shutil.chown(self.base, user=self.runas)
        self.data = self.base / "data"
        self.port = _free_port()
        self.dsn = f"host={self.base} port={self.port} user=convolab dbname=postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.runas:
            cmd = ["runuser", "-u", self.runas, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=self.base)

    def start(self) -> PgServer:
        steps = [
            ("initdb", "-D", str(self.data), "-U", "convolab", "--auth=trust", "-E", "UTF8", "--locale=C"),
            ("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60", "-o",
             f"-k {self.base} -p {self.port} -c listen_addresses='' -c max_connections=200 -c fsync=off "
             "-c synchronous_commit=off -c full_page_writes=off", "start"),
        ]
        for step in steps:
            done = self._run(*step)
            if done.returncode != 0:
                log = self.base / "server.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"{step[0]} failed ({done.returncode}): {done.stderr or done.stdout}\n{tail}")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The DSN of a PostgreSQL server for the whole session (see the module docstring)."""
    dsn = os.environ.get("CONVOLAB_TEST_POSTGRES_DSN")
    if dsn:
        yield dsn
        return
    bindir = pg_bindir()
    if bindir is None:
        msg = ("PostgreSQL is not installed (no initdb found) and CONVOLAB_TEST_POSTGRES_DSN is not set: "
               "run scripts/system-deps.sh, or point CONVOLAB_TEST_POSTGRES_DSN at a server")
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    server = PgServer(bindir).start()
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN whose tables live in a fresh schema of their own, dropped after the test."""
    try:
        import psycopg
    except ImportError:
        (pytest.fail if CI else pytest.skip)("psycopg is not installed: pip install -e '.[postgres]'")
    schema = f"convolab_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield psycopg.conninfo.make_conninfo(postgres_server, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """Where this test's database is: a DuckDB file path or a PostgreSQL DSN."""
    if backend == "duckdb":
        return str(tmp_path / "convolab.duckdb")
    return request.getfixturevalue("postgres_dsn")


@pytest.fixture
def make_store(backend: str, database: str) -> Iterator[Callable[..., DuckDBStore | PostgresStore]]:
    """Open a store of the test's backend on the test's database (closed at teardown)."""
    opened: list[DuckDBStore | PostgresStore] = []

    def make(**kwargs):
        store = DuckDBStore(database) if backend == "duckdb" else PostgresStore(database, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()
