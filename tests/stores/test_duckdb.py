"""What only DuckDBStore does: the file lock, ``sql()`` for notebooks, and its in-memory caches."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convolab import Message, StoreLocked
from convolab.stores import DuckDBStore
from convolab.stores import duckdb as duck
from convolab.stores.migrations import MIGRATIONS


def test_a_file_held_by_another_process_raises_store_locked(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from convolab.stores import DuckDBStore
            store = DuckDBStore({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked) as err:
            DuckDBStore(path)
        message = str(err.value)
        assert str(path) in message and f"PID {holder.pid}" in message
        assert "close the other process" in message and "PostgresStore" in message
    finally:
        holder.communicate("", timeout=30)
    with DuckDBStore(path) as store:  # free again once the other process is gone
        assert store.schema_version() == len(MIGRATIONS)


def test_sql_gives_relations_for_notebooks(tmp_path):
    with DuckDBStore(tmp_path / "nested" / "dirs" / "lab.duckdb") as store:  # parent dirs are created
        cid = store.create_conversation("ada", "s")
        for i in range(3):
            store.append_message(cid, "user", f"m{i}", user_id="ada", input_tokens=i)
        rel = store.sql("SELECT seq, input_tokens FROM messages WHERE conversation_id = ? ORDER BY seq", params=[cid])
        assert isinstance(rel, duckdb.DuckDBPyRelation)
        df = rel.pl()
        assert isinstance(df, pl.DataFrame) and df["input_tokens"].to_list() == [0, 1, 2]
        # the conversation's last_updated is current in SQL too
        last = store.sql("SELECT last_updated FROM conversations WHERE id = ?", params=[cid]).fetchall()[0][0]
        assert last == store.get_messages(cid, user_id="ada")[-1]["created_at"]
        assert store.sql("SELECT content::JSON ->> '$' FROM messages ORDER BY seq LIMIT 1").fetchall() == [("m0",)]


def test_writes_through_sql_are_seen_by_the_store():
    with DuckDBStore() as store:
        cid = store.create_conversation("ada", "s")
        store.append_message(cid, "user", "one", user_id="ada")
        assert len(store.get_recent_messages(cid, user_id="ada")) == 1  # now cached
        store.sql("INSERT INTO messages (conversation_id, id, seq, role, content, created_at) "
                  "VALUES (?, 'by-sql', 1, 'assistant', '\"two\"', now())", params=[cid])
        assert [m["content"] for m in store.get_recent_messages(cid, user_id="ada")] == ["one", "two"]
        assert store.append_message(cid, "user", "three", user_id="ada")["seq"] == 2


def test_a_stale_cache_recovers_from_another_connections_writes(tmp_path):
    path = str(tmp_path / "x.duckdb")
    with DuckDBStore(path) as store:
        cid = store.create_conversation("ada", "s")
        store.append_message(cid, "user", "one", user_id="ada")
        other = duckdb.connect(path)  # same process: DuckDB shares the database
        other.execute("INSERT INTO messages (conversation_id, id, seq, role, content, created_at) "
                      "VALUES (?, 'behind-our-back', 1, 'assistant', '\"two\"', now())", [cid])
        other.close()
        assert store.append_message(cid, "user", "three", user_id="ada")["seq"] == 2
        assert [m["seq"] for m in store.get_messages(cid, user_id="ada")] == [0, 1, 2]


def test_stores_on_one_file_share_one_view(tmp_path):
    path = tmp_path / "shared.duckdb"
    a, b = DuckDBStore(path), DuckDBStore(path)
    try:
        cid = a.create_conversation("ada", "s")
        assert b.get_recent_messages(cid, user_id="ada") == []

        def work(store, name):
            for i in range(50):
                store.append_message(cid, "user", f"{name}{i}", user_id="ada")
                store.get_recent_messages(cid, 3, user_id="ada")

        threads = [threading.Thread(target=work, args=(s, n)) for s, n in ((a, "a"), (b, "b"), (a, "c"), (b, "d"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert a.get_recent_messages(cid, 200, user_id="ada") == b.get_messages(cid, user_id="ada")
        assert [m["seq"] for m in b.get_messages(cid, user_id="ada")] == list(range(200))
    finally:
        a.close()
        b.close()


def test_memory_databases_are_separate():
    with DuckDBStore() as a, DuckDBStore(":memory:") as b:
        cid = a.create_conversation("ada", "s")
        assert [c.id for c in a.list_conversations("ada")] == [cid]
        assert b.list_conversations("ada") == []


def test_close(tmp_path):
    store = DuckDBStore(tmp_path / "c.duckdb")
    cid = store.create_conversation("ada", "s")
    store.append_message(cid, "user", "x", user_id="ada", created_at=datetime(2030, 1, 1, tzinfo=UTC))
    store.close()
    store.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        store.get_recent_messages(cid, user_id="ada")
    with DuckDBStore(tmp_path / "c.duckdb") as again:  # the pending last_updated was written at close
        assert again.sql("SELECT last_updated FROM conversations").fetchall()[0][0] == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def small_cache(monkeypatch):
    monkeypatch.setattr(duck, "TAIL", 4)
    monkeypatch.setattr(duck, "MAX_CONVERSATIONS", 3)
    monkeypatch.setattr(duck, "TAIL_TOTAL_BYTES", 2_000)
    monkeypatch.setattr(duck, "TAIL_ENTRY_BYTES", 1_000)


OPS = st.lists(st.tuples(st.sampled_from(["append", "big", "recent", "turn", "load", "fail"]), st.integers(0, 5),
                         st.integers(0, 9)), max_size=60)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=50)
@given(ops=OPS)
def test_cached_reads_always_match_the_database(small_cache, ops):
    with DuckDBStore() as store:
        cids = [store.create_conversation("ada", "s") for _ in range(6)]
        t = datetime(2026, 1, 1, tzinfo=UTC)
        for n, (op, c, k) in enumerate(ops):
            cid = cids[c]
            if op == "append":
                store.append_message(cid, "user", f"m{n}", user_id="ada", created_at=t - timedelta(seconds=n))
            elif op == "big":
                store.append_message(cid, "assistant", "x" * 600, user_id="ada")
            elif op == "turn":
                store.finish_turn(cid, [Message("user", f"q{n}"), Message("assistant", f"a{n}")], user_id="ada")
            elif op == "load":
                store.load_conversation(cid, user_id="ada")
            elif op == "fail":
                with pytest.raises(Exception, match="already in conversation"):
                    store.finish_turn(cid, [Message("user", "new"), Message("user", "clash", id="dup"),
                                            Message("user", "clash2", id="dup")], user_id="ada")
            else:
                truth = store.sql("SELECT id FROM messages WHERE conversation_id = ? ORDER BY seq", params=[cid])
                want = [r[0] for r in truth.fetchall()]
                assert [m["id"] for m in store.get_recent_messages(cid, k, user_id="ada")] == want[len(want) - min(k, len(want)):]
        for cid in cids:
            seqs = [m["seq"] for m in store.get_messages(cid, user_id="ada")]
            assert seqs == list(range(len(seqs)))
            assert store.get_recent_messages(cid, 9, user_id="ada") == store.get_messages(cid, user_id="ada")[-9:]
