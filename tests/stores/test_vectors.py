"""Message vectors in both stores: a round trip, idempotent saves, user scoping, and SQL ranking."""

from __future__ import annotations

import numpy as np
import pytest

from convolab import NotFound
from convolab.embeddings import HashingEmbedder, MessageVectors, VectorStore
from convolab.errors import ConfigurationError


def rows(store, cid: str, texts: list[list[str]], embedder=None) -> list[MessageVectors]:
    embedder = embedder or HashingEmbedder()
    out = []
    for passages in texts:
        msg = store.append_message(cid, "user", " ".join(passages), user_id="ada")
        out.append(MessageVectors(msg["id"], f"hash-{msg['id']}", embedder.embed(passages)))
    return out


def test_vectors_survive_a_round_trip_and_saving_twice_keeps_one_copy(store):
    cid = store.create_conversation("ada", "s")
    saved = rows(store, cid, [["My sister Lena visits.", "She likes kayaking."], ["The budget is $12,000."]])
    assert store.save_vectors(cid, "hashing-256", saved, user_id="ada") == 3
    assert store.save_vectors(cid, "hashing-256", saved, user_id="ada") == 3  # skipped on conflict
    back = {r.message_id: r for r in store.load_vectors(cid, "hashing-256", user_id="ada")}
    assert set(back) == {r.message_id for r in saved}
    for r in saved:
        assert back[r.message_id].content_hash == r.content_hash
        assert back[r.message_id].vectors.dtype == np.float32
        np.testing.assert_allclose(back[r.message_id].vectors, r.vectors, rtol=1e-6)
    assert store.load_vectors(cid, "another-embedder", user_id="ada") == []


def test_vectors_are_scoped_by_user_and_dimension(store):
    cid = store.create_conversation("ada", "s")
    saved = rows(store, cid, [["hello"]])
    with pytest.raises(NotFound):
        store.save_vectors(cid, "hashing-256", saved, user_id="mallory")
    store.save_vectors(cid, "hashing-256", saved, user_id="ada")
    with pytest.raises(NotFound):
        store.load_vectors(cid, "hashing-256", user_id="mallory")
    small = rows(store, cid, [["hello again"]], HashingEmbedder(16))
    with pytest.raises(ConfigurationError, match="256 dimensions, not 16"):
        store.save_vectors(cid, "hashing-256", small, user_id="ada")
    store.save_vectors(cid, "hashing-16", small, user_id="ada")  # a table of its own size
    assert store.load_vectors(cid, "hashing-16", user_id="ada")[0].vectors.shape == (1, 16)


def test_a_store_is_a_vector_store_for_one_user(store):
    cid = store.create_conversation("ada", "s")
    vs = store.vector_store(user_id="ada")
    assert isinstance(vs, VectorStore)
    vs.save_vectors(cid, "hashing-256", rows(store, cid, [["a fact"]]))
    assert len(vs.load_vectors(cid, "hashing-256")) == 1


def test_duckdb_ranks_messages_in_sql_on_a_fixed_size_array(make_store, backend):
    if backend != "duckdb":
        pytest.skip("array_cosine_similarity is DuckDB's; PostgreSQL keeps a REAL[] of checked length")
    store = make_store()
    cid = store.create_conversation("ada", "s")
    emb = HashingEmbedder()
    saved = rows(store, cid, [["We went kayaking on the lake."], ["The invoice is due Friday."]], emb)
    store.save_vectors(cid, emb.name, saved, user_id="ada")
    kind = store.sql("SELECT data_type FROM information_schema.columns WHERE table_name = 'message_vectors_256' "
                     "AND column_name = 'vector'").fetchall()
    assert kind == [("FLOAT[256]",)]
    best = store.sql("SELECT v.message_id FROM message_vectors_256 v WHERE v.conversation_id = ? AND v.embedder = ? "
                     "ORDER BY array_cosine_similarity(v.vector, ?::FLOAT[256]) DESC LIMIT 1",
                     params=[cid, emb.name, emb.embed(["When is the invoice due?"])[0].tolist()]).fetchall()
    assert best == [(saved[1].message_id,)]
