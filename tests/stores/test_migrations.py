"""Schema migrations: from an empty database and from every earlier version, with data present."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from convolab import ConfigurationError
from convolab.stores import (
    SCHEMA_VERSION_TABLE,
    DuckDBStore,
    PostgresStore,
    Reservation,
    UsageEvent,
)
from convolab.stores import duckdb as duck
from convolab.stores import postgres as pg
from convolab.stores.migrations import MIGRATIONS, Migrations

T0 = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
BLOCKS = [{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]
EXPECTED_COLUMNS = {  # the latest schema, the same in both backends
    "conversations": {"id", "user_id", "title", "system_prompt", "model", "tools", "metadata", "created_at",
                      "last_updated", "is_archived"},
    "messages": {"conversation_id", "id", "seq", "role", "content", "input_tokens", "output_tokens", "model_used",
                 "metadata", "created_at", "rejected"},
    "conversation_summaries": {"id", "conversation_id", "version", "summary", "message_count_at_creation", "covers",
                               "model", "created_at"},
    "strategy_state": {"conversation_id", "strategy", "state", "updated_at"},
    "usage_events": {"request_id", "user_id", "conversation_id", "model", "kind", "response_id", "input_tokens",
                     "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                     "cache_creation_5m_tokens", "cache_creation_1h_tokens", "cost_usd", "price_date", "created_at",
                     "confirmed"},
    "budget_reservations": {"request_id", "user_id", "conversation_id", "message_id", "model", "amount_usd",
                            "created_at", "metadata"},
    "embedders": {"name", "dim", "created_at"},
    "message_vectors_256": {"conversation_id", "embedder", "message_id", "passage", "content_hash", "vector",
                            "created_at"},
    SCHEMA_VERSION_TABLE: {"name", "applied_at"},
}


@contextmanager
def raw(backend: str, database: str) -> Iterator[duck.DuckDBMigrationDB | pg.PostgresMigrationDB]:
    """A bare connection to the test's database, as a MigrationDB."""
    if backend == "duckdb":
        import duckdb

        con = duckdb.connect(database)
        try:
            yield duck.DuckDBMigrationDB(con)
        finally:
            con.close()
    else:
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            yield pg.PostgresMigrationDB(conn)


def open_store(backend: str, database: str) -> DuckDBStore | PostgresStore:
    return DuckDBStore(database) if backend == "duckdb" else PostgresStore(database)


def schema(db) -> dict[str, set[tuple[str, str, str]]]:
    where = "table_schema = current_schema()" if db.dialect == "postgres" else \
        "table_schema = 'main' AND table_catalog = current_database()"
    out: dict[str, set[tuple[str, str, str]]] = {}
    for table, column, type_, nullable in db.query(
            f"SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE {where}"):
        out.setdefault(table, set()).add((column, type_.lower(), nullable))
    return out


# -- what each version's code wrote ----------------------------------------------------------------

def write_v1(db) -> None:
    """Rows as schema version 1 held them: plain text content, blocks in content_blocks."""
    db.execute("INSERT INTO conversations (id, user_id, title, system_prompt, model, created_at, last_updated, "
               "metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               ["c1", "ada", "Tea", "Be terse.\u00e9", "claude-sonnet-4-6", T0, T0 + timedelta(minutes=9),
                json.dumps({"k": 1})])
    db.execute("INSERT INTO conversations (id, user_id, system_prompt) VALUES (?, ?, ?)", ["c2", "bob", "Hi"])
    rows = [  # inserted out of created_at order: seq must follow created_at
        ("m-b", "c1", "assistant", "Let me check.", json.dumps(BLOCKS), 10, 5, "claude-sonnet-4-6", 2),
        ("m-a", "c1", "user", "Hi 🦜 'quoted'", None, None, None, None, 1),
        ("m-c", "c1", "user", "Bye", None, 1, 2, None, 3),
        ("m-x", "c2", "user", "bob's", None, None, None, None, 1),
    ]
    for mid, cid, role, content, blocks, i, o, model, minute in rows:
        db.execute("INSERT INTO messages (id, conversation_id, role, content, content_blocks, input_tokens, "
                   "output_tokens, model_used, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [mid, cid, role, content, blocks, i, o, model, T0 + timedelta(minutes=minute)])
    for sid, minute, text in (("s-2", 6, "newer"), ("s-1", 5, "older")):
        db.execute("INSERT INTO conversation_summaries (id, conversation_id, summary, message_count_at_creation, "
                   "created_at) VALUES (?, ?, ?, ?, ?)", [sid, "c1", text, 2, T0 + timedelta(minutes=minute)])


def write_v2(db) -> None:
    """Rows in the m002 layout: seq, JSON content, tools, versioned summaries, strategy state."""
    db.execute("INSERT INTO conversations (id, user_id, title, system_prompt, model, tools, metadata, created_at, "
               "last_updated, is_archived) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               ["c3", "ada", None, json.dumps([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]),
                "claude-haiku-4-5", json.dumps([{"name": "f", "input_schema": {"type": "object"}}]), "{}", T0, T0,
                True])
    for seq, (role, content) in enumerate([("user", "q\u0000"), ("assistant", BLOCKS)]):
        db.execute("INSERT INTO messages (conversation_id, id, seq, role, content, input_tokens, output_tokens, "
                   "metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   ["c3", f"n{seq}", seq, role, json.dumps(content), 0, 0, json.dumps({"i": seq}), T0])
    db.execute("INSERT INTO conversation_summaries (id, conversation_id, version, summary, message_count_at_creation, "
               "covers, model, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               ["s-3", "c3", 1, "sum", 2, json.dumps(["n0"]), "claude-haiku-4-5", T0])
    db.execute("INSERT INTO strategy_state (conversation_id, strategy, state, updated_at) VALUES (?, ?, ?, ?)",
               ["c3", "summary", json.dumps({"covers": ["n0"]}), T0])


def write_v3(db) -> None:
    """Rows in the m003 layout: a ledger row and an open reservation."""
    db.execute("INSERT INTO usage_events (request_id, user_id, conversation_id, model, kind, input_tokens, "
               "output_tokens, cost_usd, price_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               ["u1", "ada", "c3", "claude-haiku-4-5", "reply", 100, 20, 0.0002, T0.date(), T0])
    db.execute("INSERT INTO budget_reservations (request_id, user_id, conversation_id, message_id, model, amount_usd, "
               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", ["r1", "ada", "c3", "n0", "claude-haiku-4-5", 0.01, T0])


WRITERS = {1: write_v1, 2: write_v2, 3: write_v3}


def check_v1(store) -> None:
    msgs = store.get_messages("c1", user_id="ada")
    assert [(m["id"], m["seq"]) for m in msgs] == [("m-a", 0), ("m-b", 1), ("m-c", 2)]
    assert [m["content"] for m in msgs] == ["Hi 🦜 'quoted'", BLOCKS, "Bye"]
    assert [(m["input_tokens"], m["output_tokens"], m["model_used"]) for m in msgs] == [
        (0, 0, None), (10, 5, "claude-sonnet-4-6"), (1, 2, None)]
    assert msgs[1]["created_at"] == T0 + timedelta(minutes=2)
    rec = store.get_conversation("c1", user_id="ada")
    assert (rec.system_prompt, rec.title, rec.metadata, rec.tools, rec.message_count) == (
        "Be terse.\u00e9", "Tea", {"k": 1}, None, 3)
    assert rec.last_updated == T0 + timedelta(minutes=9)
    assert [(s["version"], s["summary"]) for s in store.get_summaries("c1", user_id="ada")] == [
        (1, "older"), (2, "newer")]
    assert store.get_latest_summary("c1", user_id="ada") == "newer"
    assert store.get_recent_messages("c2", user_id="bob")[0]["content"] == "bob's"
    # and the upgraded conversation goes on
    assert store.append_message("c1", "assistant", "next", user_id="ada")["seq"] == 3
    assert store.save_summary("c1", "third", 4, user_id="ada") == 3


def check_v2(store) -> None:
    conv = store.load_conversation("c3", user_id="ada")
    assert conv.system_prompt == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    assert conv.tools == [{"name": "f", "input_schema": {"type": "object"}}]
    assert [(m.id, m.seq, m.content, m.metadata) for m in conv.messages] == [
        ("n0", 0, "q\u0000", {"i": 0}), ("n1", 1, BLOCKS, {"i": 1})]
    assert store.get_conversation("c3", user_id="ada").is_archived
    assert store.get_summaries("c3", user_id="ada")[0]["covers"] == ["n0"]
    assert store.load_strategy_state("c3", user_id="ada") == {"covers": ["n0"]}


def check_v3(store) -> None:
    (event,) = store.usage_events("ada", conversation_id="c3")
    assert (event.request_id, event.input_tokens, event.cost_usd, event.confirmed) == ("u1", 100, 0.0002, True)
    assert all(m["rejected"] is None for m in store.get_messages("c3", user_id="ada"))
    # an interrupted request of the old version is booked, unconfirmed, on the day it was reserved
    booked = store.book_reservation("r1", user_id="ada")
    assert (booked.confirmed, booked.cost_usd, booked.created_at) == (False, 0.01, T0)
    assert not store.open_reservations("ada")


CHECKS = {1: check_v1, 2: check_v2, 3: check_v3}


def test_from_an_empty_database(backend, database):
    with open_store(backend, database) as store:
        assert store.schema_version() == len(MIGRATIONS) == 5
    with raw(backend, database) as db:
        got = schema(db)
        assert {t: {c for c, _, _ in cols} for t, cols in got.items()} == EXPECTED_COLUMNS
        assert [r[0] for r in db.query(f"SELECT name FROM {SCHEMA_VERSION_TABLE} ORDER BY name")] == \
            MIGRATIONS.names
        assert MIGRATIONS.apply(db) == []  # nothing left to do


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_from_every_earlier_version_with_data(backend, database, tmp_path, request, version):
    steps = MIGRATIONS
    with raw(backend, database) as db:
        for v in range(1, version + 1):  # each version's code writes while the schema is at that version
            assert steps.apply(db, upto=v) == [steps.names[v - 1]]
            WRITERS[v](db)
    with open_store(backend, database) as store:
        assert store.schema_version() == len(steps)
        for v in range(1, version + 1):
            CHECKS[v](store)
        # everything works on the upgraded database
        cid = store.create_conversation("eve", "s")
        store.begin_turn(cid, [], user_id="eve", reservation=Reservation("r", "eve", 0.1), daily_limit_usd=1.0)
        store.finish_turn(cid, [], user_id="eve", usage=[UsageEvent("r", "eve", "claude-sonnet-4-6", cost_usd=0.1)],
                          strategy="w", strategy_state={"a": 1}, release="r")
        assert store.spent_usd("eve", start=T0, end=datetime.now(UTC) + timedelta(days=1)) == 0.1
    with raw(backend, database) as db:
        upgraded = schema(db)
    fresh = str(tmp_path / "fresh.duckdb") if backend == "duckdb" else request.getfixturevalue("postgres_dsn_fresh")
    open_store(backend, fresh).close()
    with raw(backend, fresh) as db:
        assert upgraded == schema(db)  # the same schema as a database created at the latest version


@pytest.fixture
def postgres_dsn_fresh(postgres_server):
    """A second, empty schema on the test server (for comparing schemas)."""
    import uuid

    import psycopg

    name = f"convolab_fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield psycopg.conninfo.make_conninfo(postgres_server, options=f"-c search_path={name}")
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_a_newer_database_is_refused(backend, database):
    open_store(backend, database).close()
    with raw(backend, database) as db:
        db.execute(f"INSERT INTO {SCHEMA_VERSION_TABLE} (name, applied_at) VALUES (?, ?)",
                   ["m999_from_the_future", datetime.now(UTC)])
    with pytest.raises(ConfigurationError, match=r"newer convolab.*m999_from_the_future"):
        open_store(backend, database)


def test_a_failing_migration_changes_nothing(backend, database):
    steps = Migrations()

    @steps
    def m001_ok(db):
        db.execute("CREATE TABLE first_table (x INTEGER)")

    @steps
    def m002_fails(db):
        db.execute("CREATE TABLE second_table (x INTEGER)")
        raise RuntimeError("broken migration")

    with raw(backend, database) as db:
        with pytest.raises(RuntimeError, match="broken"):
            steps.apply(db)
        assert steps.applied(db) == ["m001_ok"]
        assert set(schema(db)) == {"first_table", SCHEMA_VERSION_TABLE}


def test_migrations_read_as_history():
    assert MIGRATIONS.names == [
        "m001_initial", "m002_seq_json_content_strategy_state", "m003_usage_ledger_and_reservations",
        "m004_rejected_messages_and_unconfirmed_usage", "m005_message_vectors"]
