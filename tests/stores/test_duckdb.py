"""What only DuckDBStore does: the file lock, files it cannot use, ``sql()`` for notebooks, and
its in-memory caches."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
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

from convolab import InvalidConversation, Message, NotFound, StoreLocked, StoreUnreadable
from convolab.stores import DuckDBStore
from convolab.stores import duckdb as duck
from convolab.stores._duckdb_file import unordered
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


# -- files that are not a usable store --------------------------------------------------------

def _duckdb_file(path) -> bytes:
    with DuckDBStore(path) as store:
        cid = store.create_conversation("ada", "s")
        for i in range(300):
            store.append_message(cid, "user", f"message {i} " * 20, user_id="ada")
    return path.read_bytes()


def _garbage(path):
    path.write_bytes(b"just some notes, not a database\n" * 50)


def _empty(path):
    path.write_bytes(b"")


def _sqlite(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.commit()
    con.close()


def _truncated(path):
    data = _duckdb_file(path)
    path.write_bytes(data[:len(data) // 3])


def _corrupt(path):
    data = bytearray(_duckdb_file(path))
    data[5000:9000] = b"\xff" * 4000
    path.write_bytes(bytes(data))


def _foreign(path):
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE messages (sender TEXT, body TEXT)")
    con.execute("INSERT INTO messages VALUES ('x', 'y')")
    con.close()


@pytest.mark.parametrize(("make", "says"), [
    (_garbage, "is not a DuckDB database"),
    (_empty, "is empty (0 bytes)"),
    (_sqlite, "is a SQLite database, not a DuckDB one"),
    (_truncated, "is damaged (truncated or corrupt"),
    (_corrupt, "is damaged (truncated or corrupt"),
    (_foreign, "is a DuckDB database of something else (tables messages; no convolab_schema table)"),
])
def test_a_file_that_is_not_a_store_raises_store_unreadable_and_is_left_alone(tmp_path, make, says):
    path = tmp_path / "x.duckdb"
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreUnreadable) as err:
        DuckDBStore(path)
    message = str(err.value)
    assert f"cannot open DuckDB database {path} as a convolab store: it {says}" in message
    assert "pass another path" in message or "restore it from a backup" in message
    assert "\n" not in message
    assert path.read_bytes() == before  # not overwritten, not migrated
    assert sorted(os.listdir(tmp_path)) == ["x.duckdb"]  # no WAL or other file left beside it


def test_a_folder_raises_store_unreadable(tmp_path):
    with pytest.raises(StoreUnreadable, match=r"it is a folder, not a database file: pass a file path such as "):
        DuckDBStore(tmp_path)


def test_extension_autoload_and_autoinstall_are_off(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        settings_ = store.sql("SELECT current_setting('autoload_known_extensions'), "
                              "current_setting('autoinstall_known_extensions')").fetchall()
    assert settings_ == [(False, False)]
    # a SQLite file would make DuckDB fetch its sqlite extension if it were allowed to
    lite = tmp_path / "lite.duckdb"
    _sqlite(lite)
    with pytest.raises(StoreUnreadable) as err:
        DuckDBStore(lite)
    assert "download" not in str(err.value).lower() and "http" not in str(err.value).lower()


READ_ONLY = textwrap.dedent("""
    import sys
    from convolab import StoreUnreadable
    from convolab.stores import DuckDBStore
    for name in ("store.duckdb", "new.duckdb"):
        try:
            DuckDBStore(sys.argv[1] + "/" + name)
        except StoreUnreadable as e:
            print(e)
""")


@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("mount") is None, reason="needs unshare")
def test_a_read_only_file_system_raises_store_unreadable(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    _duckdb_file(folder / "store.duckdb")
    script = tmp_path / "open.py"
    script.write_text(READ_ONLY)
    # a private mount namespace in which the folder is mounted read-only
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {folder} {folder} && "
                            f"mount -o remount,ro,bind {folder} {folder}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode().strip()}")
    out = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {folder} {folder} && mount -o remount,ro,bind "
                          f"{folder} {folder} && {sys.executable} {script} {folder}"],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert len(lines) == 2, out.stdout + out.stderr
    for name, line in zip(("store.duckdb", "new.duckdb"), lines, strict=True):
        assert f"cannot open DuckDB database {folder / name} as a convolab store: it is on a read-only file " \
               "system, and a store writes every message: copy it to a writable folder" in line


def test_a_lone_surrogate_is_refused_in_words_and_nothing_is_stored():
    with DuckDBStore() as store:
        cid = store.create_conversation("ada", "s")
        bad = "half an emoji \ud83d here"
        for write in (lambda: store.append_message(cid, "user", bad, user_id="ada"),
                      lambda: store.append_message(cid, "user", [{"type": "text", "text": bad}], user_id="ada"),
                      lambda: store.append_message(cid, "user", "ok", user_id="ada", metadata={"k": bad}),
                      lambda: store.finish_turn(cid, [Message("user", "fine"), Message("assistant", bad)],
                                                user_id="ada"),
                      lambda: store.create_conversation("ada", bad),
                      lambda: store.create_conversation("ada", "s", title=bad),
                      lambda: store.create_conversation(bad, "s"),
                      lambda: store.save_summary(cid, bad, 1, user_id="ada")):
            with pytest.raises(InvalidConversation, match=r"holds a lone surrogate '\\ud83d' \(after '"):
                write()
        assert store.get_messages(cid, user_id="ada") == []
        assert [c.id for c in store.list_conversations("ada")] == [cid]
        with pytest.raises(NotFound):
            store.get_recent_messages("\udc80", user_id="ada")
        assert store.list_conversations("\udc80") == []
        assert store.append_message(cid, "user", "a whole emoji \U0001f600", user_id="ada")["seq"] == 0


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
        other = duckdb.connect(path, config=duck.CONFIG)  # same process and settings: DuckDB shares the database
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


# -- rows in conversation order -------------------------------------------------------------------

def _interleaved(store: DuckDBStore, conversations: int, per: int) -> list[str]:
    cids = [store.create_conversation("ada", "s") for _ in range(conversations)]
    for k in range(per):
        for cid in cids:
            store.append_message(cid, "user" if k % 2 == 0 else "assistant", f"{cid[:4]} {k}", user_id="ada")
    return cids


def _order(store: DuckDBStore) -> list[tuple[str, int]]:
    return store.sql("SELECT conversation_id, seq FROM messages ORDER BY rowid").fetchall()


def test_compact_rewrites_messages_in_conversation_order_and_keeps_everything(tmp_path):
    with DuckDBStore(tmp_path / "c.duckdb") as store:
        cids = _interleaved(store, 4, 6)
        store.finish_turn(cids[0], [Message("user", "q", id="fixed")], user_id="ada")
        before = {cid: store.get_messages(cid, user_id="ada") for cid in cids}
        assert _order(store) != sorted(_order(store))
        assert store.compact() == 25
        assert _order(store) == sorted(_order(store))
        assert {cid: store.get_messages(cid, user_id="ada") for cid in cids} == before
        assert unordered(store._con) == (25, 0)
        # the constraints came along: a seq or a message id cannot be stored twice
        for values in ("(?, 'other', 0, 'user', '\"x\"', now())", "(?, 'fixed', 99, 'user', '\"x\"', now())"):
            with pytest.raises(duckdb.ConstraintException):
                store.sql(f"INSERT INTO messages (conversation_id, id, seq, role, content, created_at) VALUES {values}",
                          params=[cids[0]])
        assert store.append_message(cids[1], "user", "after", user_id="ada")["seq"] == 6
        assert unordered(store._con) == (26, 1)


def test_close_compacts_once_enough_messages_arrived(tmp_path, monkeypatch):
    monkeypatch.setattr(duck, "COMPACT_MIN_ROWS", 20)
    path = tmp_path / "auto.duckdb"
    with DuckDBStore(path) as store:
        _interleaved(store, 3, 5)  # 15 rows: below the minimum
    with DuckDBStore(path) as store:
        assert unordered(store._con) == (15, 15)
        _interleaved(store, 2, 4)  # 23 rows, 23 written since the last compaction
    with DuckDBStore(path) as store:
        assert unordered(store._con) == (23, 0) and _order(store) == sorted(_order(store))
        _interleaved(store, 1, 21)  # 21 new rows
    with DuckDBStore(path, compact_on_close=False) as store:
        assert unordered(store._con) == (44, 0)  # compacted at the last close
        _interleaved(store, 1, 30)
    with DuckDBStore(path) as store:
        assert unordered(store._con) == (74, 30)  # compact_on_close=False: left as written


@pytest.mark.slow
def test_after_compaction_a_conversation_is_read_from_one_row_group(tmp_path):
    """The point of compacting: DuckDB skips every block of rows but the conversation's."""
    with DuckDBStore(tmp_path / "big.duckdb") as store:
        store.sql("INSERT INTO conversations (id, user_id, system_prompt) SELECT 'c' || lpad(i::TEXT, 5, '0'), "
                  "'ada', '\"s\"' FROM range(1500) t(i)")
        store.sql("INSERT INTO messages (conversation_id, id, seq, role, content, created_at) SELECT "
                  "'c' || lpad(c::TEXT, 5, '0'), uuid()::TEXT, s, 'user', '\"hello\"', now() "
                  "FROM range(200) a(s), range(1500) b(c) ORDER BY s, c")

        def row_groups(cid: str) -> tuple[int, int]:
            plan = store.sql("EXPLAIN ANALYZE SELECT seq FROM messages WHERE conversation_id = ?", params=[cid])
            scanned = re.findall(r"Row Groups Scanned: (\d+) / (\d+)", plan.fetchall()[0][1])
            return int(scanned[0][0]), int(scanned[0][1])

        assert row_groups("c00777")[0] >= 2  # as written, the conversation is in every row group
        store.compact()
        assert row_groups("c00777") == (1, 3)
        assert [m["seq"] for m in store.get_recent_messages("c00777", 3, user_id="ada")] == [197, 198, 199]
