"""Message vectors in a store: what semantic retrieval computed, kept for the next session and
for SQL.

Each embedder is a row of ``embedders`` (its name and dimension); its vectors are rows of
``message_vectors_<dim>`` (one per passage of a message; the table for 256 dimensions comes
with migration m005, another is created when first used). In DuckDB the vector column is a
fixed-size ``FLOAT[<dim>]`` array, so SQL can rank messages by similarity::

    store.sql('''
        SELECT m.seq, m.content, max(array_cosine_similarity(v.vector, ?::FLOAT[256])) AS score
        FROM message_vectors_256 v JOIN messages m ON m.conversation_id = v.conversation_id AND m.id = v.message_id
        WHERE v.conversation_id = ? AND v.embedder = ?
        GROUP BY ALL ORDER BY score DESC LIMIT 5''', params=[query_vector.tolist(), cid, embedder.name]).pl()

Saving is idempotent (a message's vectors are kept once; conversations are append-only, so a
message id always has the same content). Reads and writes are scoped by ``user_id`` like every
other store call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from convolab.embeddings import MessageVectors
from convolab.errors import ConfigurationError, InvalidConversation
from convolab.model import utcnow
from convolab.stores.migrations import vector_table_sql

__all__ = ["StoredVectors", "VectorRows"]


class VectorRows:
    """Vector methods of a SQL store (mixed into ``DuckDBStore`` and ``PostgresStore``)."""

    dialect: ClassVar[str]

    def save_vectors(self, conversation_id: str, embedder: str, rows: Sequence[MessageVectors], *,
                     user_id: str) -> int:
        """Keep the vectors of ``rows`` (messages of the conversation) made by ``embedder``;
        rows of messages already kept are skipped. Returns how many passage rows were written."""
        rows = [r for r in rows if len(r.vectors)]
        if not rows:
            return 0
        dim = int(rows[0].vectors.shape[1])
        if any(r.vectors.ndim != 2 or r.vectors.shape[1] != dim for r in rows):
            raise InvalidConversation(f"vectors of embedder {embedder!r} must all be rows of {dim} numbers")
        now = utcnow()
        with self._tx() as tx:
            self._own(tx, conversation_id, user_id)
            table = self._vector_table(tx, embedder, dim)
            flat = [(r.message_id, k, r.content_hash, vec) for r in rows for k, vec in enumerate(r.vectors.tolist())]
            if self.dialect == "duckdb":
                tx.run(f"INSERT INTO {table} (conversation_id, embedder, message_id, passage, content_hash, vector, "
                       f"created_at) SELECT ?, ?, unnest(?::TEXT[]), unnest(?::INTEGER[]), unnest(?::TEXT[]), "
                       f"unnest(?::FLOAT[{dim}][]), ? ON CONFLICT DO NOTHING",
                       [conversation_id, embedder, *map(list, zip(*flat, strict=True)), now])
            else:
                for mid, k, h, vec in flat:
                    tx.run(f"INSERT INTO {table} (conversation_id, embedder, message_id, passage, content_hash, "
                           "vector, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [conversation_id, embedder, mid, k, h, vec, now])
        return len(flat)

    def load_vectors(self, conversation_id: str, embedder: str, *, user_id: str) -> list[MessageVectors]:
        """Every message's vectors kept for the conversation by ``embedder`` (none: ``[]``)."""
        import numpy as np

        with self._read() as tx:
            self._own(tx, conversation_id, user_id)
            row = tx.one("SELECT dim FROM embedders WHERE name = ?", [embedder])
            if row is None:
                return []
            found = tx.all(f"SELECT message_id, content_hash, vector FROM message_vectors_{int(row[0])} "
                           "WHERE conversation_id = ? AND embedder = ? ORDER BY message_id, passage",
                           [conversation_id, embedder])
        out: list[MessageVectors] = []
        for mid, h, vec in found:
            if out and out[-1].message_id == mid:
                out[-1].vectors.append(vec)
            else:
                out.append(MessageVectors(mid, h, [vec]))  # type: ignore[arg-type]
        for r in out:
            r.vectors = np.asarray(r.vectors, dtype=np.float32)
        return out

    def vector_store(self, *, user_id: str) -> StoredVectors:
        """This store as a ``convolab.embeddings.VectorStore`` for one user (pass it to a
        retrieval strategy as ``vectors=``)."""
        return StoredVectors(self, user_id)

    def _vector_table(self, tx: Any, embedder: str, dim: int) -> str:
        row = tx.one("SELECT dim FROM embedders WHERE name = ?", [embedder])
        if row is None:
            tx.run(vector_table_sql(self.dialect, dim))
            tx.run("INSERT INTO embedders (name, dim, created_at) VALUES (?, ?, ?)", [embedder, dim, utcnow()])
        elif int(row[0]) != dim:
            raise ConfigurationError(f"embedder {embedder!r} was stored with {row[0]} dimensions, not {dim}: "
                                     "give an embedder with other settings its own name")
        return f"message_vectors_{dim}"


class StoredVectors:
    """A store's vector rows for one user, as a ``convolab.embeddings.VectorStore``."""

    def __init__(self, store: VectorRows, user_id: str):
        self.store = store
        self.user_id = user_id

    def load_vectors(self, conversation_id: str, embedder: str) -> list[MessageVectors]:
        return self.store.load_vectors(conversation_id, embedder, user_id=self.user_id)

    def save_vectors(self, conversation_id: str, embedder: str, rows: Sequence[MessageVectors]) -> None:
        self.store.save_vectors(conversation_id, embedder, rows, user_id=self.user_id)
