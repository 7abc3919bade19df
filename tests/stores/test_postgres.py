"""What only PostgresStore does: its optional dependency, connection errors, the json columns."""

from __future__ import annotations

import sys

import pytest

from convolab import ConfigurationError
from convolab.stores import PostgresStore
from convolab.stores.migrations import MIGRATIONS


def test_missing_psycopg_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'convolab\[postgres\]'"):
        PostgresStore("postgresql://localhost/convolab")


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    pytest.importorskip("psycopg")
    dsn = f"host={tmp_path} port=1 user=someone password=hunter2 dbname=nowhere connect_timeout=2"
    with pytest.raises(ConfigurationError, match="cannot connect to PostgreSQL") as err:
        PostgresStore(dsn)
    assert "dbname=nowhere" in str(err.value) and "hunter2" not in str(err.value)


@pytest.mark.postgres
def test_content_columns_are_json_text_kept_as_written(postgres_dsn):
    import psycopg

    with PostgresStore(postgres_dsn) as store:
        cid = store.create_conversation("ada", "s")
        blocks = [{"type": "tool_use", "input": {"z": 1, "a": "\u0000"}, "id": "t", "name": "f"}]
        store.append_message(cid, "assistant", blocks, user_id="ada")
        store.append_message(cid, "user", [{"type": "text", "text": "plain"}], user_id="ada")
    with psycopg.connect(postgres_dsn) as conn:
        kind, text = conn.execute("SELECT pg_typeof(content)::text, content::text FROM messages "
                                  "WHERE seq = 0").fetchone()
        assert kind == "json"  # not jsonb: that would sort the keys and refuse \u0000
        assert text == '[{"type":"tool_use","input":{"z":1,"a":"\\u0000"},"id":"t","name":"f"}]'
        # rows without \u0000 are queryable with the JSON operators
        assert conn.execute("SELECT content -> 0 ->> 'text' FROM messages WHERE seq = 1").fetchone() == ("plain",)


@pytest.mark.postgres
def test_stores_in_several_schemas_do_not_mix(postgres_dsn, postgres_server):
    import uuid

    import psycopg

    other = f"convolab_other_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{other}"')
    try:
        with PostgresStore(postgres_dsn) as a, \
                PostgresStore(psycopg.conninfo.make_conninfo(postgres_server, options=f"-c search_path={other}")) as b:
            a.create_conversation("ada", "s")
            assert b.list_conversations("ada") == [] and b.schema_version() == len(MIGRATIONS)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{other}" CASCADE')
