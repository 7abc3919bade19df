"""Text embeddings for semantic retrieval: the ``Embedder`` protocol and where vectors are kept.

An ``Embedder`` turns texts into unit vectors (float32 rows of length ``dim``; a text with no
words gives a zero row) and has a ``name`` that identifies the model and its settings, so
vectors made by different embedders are never mixed. Two ship with convolab:

- ``WordLlamaEmbedder`` (the default): WordLlama, a static embedding model (token vectors
  taken from a large language model, average-pooled) whose 256-dimension weights ship inside
  the ``wordllama`` wheel, so it works with no network: it is loaded with the package's own
  folder as its cache and downloads disabled (its loader otherwise looks for the tokenizer in
  the wrong folder and then tries a model hub). About 10,000 sentences a second on one core.
- ``HashingEmbedder``: words hashed into a vector (no model, no download): a lexical stand-in
  for tests and for machines without ``wordllama``.

Anything else (an API's embeddings, a larger local model) plugs in by implementing the
protocol: ``name``, ``dim`` and ``embed(texts)``.

Vectors are computed once per message, keyed by the message's content hash and the embedder's
name (``VectorCache``), and can be kept in a ``VectorStore``: ``MemoryVectorStore`` here, or a
convolab store (``DuckDBStore``/``PostgresStore``: ``store.vector_store(user_id=...)``), where
they are rows of a table with a fixed-size array column that SQL can rank
(``array_cosine_similarity`` in DuckDB; see ``docs/persistence.md``).

numpy and wordllama are imported when first needed, so ``import convolab`` stays fast.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from convolab.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Embedder", "HashingEmbedder", "MemoryVectorStore", "MessageVectors", "VectorCache", "VectorStore",
           "WordLlamaEmbedder", "default_embedder"]


@runtime_checkable
class Embedder(Protocol):
    """Texts in, unit vectors out. ``name`` identifies the model and settings (vectors of two
    names are never compared); ``dim`` is the vectors' length."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 array of shape ``(len(texts), dim)``, each row of length 1 (0 for a text
        with no words)."""
        ...


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


# -- WordLlama ----------------------------------------------------------------------------------

_MODELS: dict[tuple[str, int], Any] = {}
_LOAD_LOCK = threading.Lock()


def _import_quietly(name: str) -> Any:
    """Import ``name`` leaving the root logger as it was: wordllama calls ``logging.basicConfig(
    level=INFO)`` on import, which would print every HTTP request of the SDK to stderr (a red box
    under each notebook cell)."""
    import importlib
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return importlib.import_module(name)
    finally:
        root.handlers[:], root.level = handlers, level


def _wordllama(config: str, dim: int) -> Any:
    """The WordLlama model, loaded once per process from the files inside its wheel."""
    with _LOAD_LOCK:
        model = _MODELS.get((config, dim))
        if model is None:
            try:
                wordllama = _import_quietly("wordllama")
            except ImportError as e:
                raise ConfigurationError(
                    f"WordLlamaEmbedder needs the wordllama package ({e.name} is not installed): "
                    "pip install wordllama, or pass embedder=HashingEmbedder() (no model) or your own "
                    "Embedder") from None
            folder = Path(wordllama.__file__).parent
            try:
                model = wordllama.WordLlama.load(config=config, dim=dim, cache_dir=folder, disable_download=True)
            except FileNotFoundError as e:
                raise ConfigurationError(
                    f"WordLlama {config} at {dim} dimensions is not in the installed wheel ({folder}); convolab "
                    f"loads it offline only. Use dim=256 (the weights the wheel ships): {e}") from None
            _MODELS[(config, dim)] = model
        return model


def _pooled(model: Any, texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """WordLlama's average-pooled token vectors of ``texts``: the same floats as
    ``model.embed(texts, norm=False)``, with each text tokenized on this thread. The model's own
    ``encode_batch`` hands a batch to the tokenizer's thread pool, which on a busy machine waits
    for a free core: 0.05 ms for two short texts when idle, often over 1 ms under load."""
    import numpy as np

    out = np.empty((len(texts), model.embedding.shape[1]), dtype=np.float32)
    for i in range(0, len(texts), batch):  # the model's batches, padded to their longest text as it pads them
        encoded = [model.tokenizer.encode(t, add_special_tokens=False).ids for t in texts[i:i + batch]]
        ids = np.zeros((len(encoded), max(map(len, encoded))), dtype=np.int32)
        mask = np.zeros(ids.shape, dtype=np.float32)
        for row, tokens in enumerate(encoded):
            ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1.0
        np.clip(ids, 0, model.embedding.shape[0] - 1, out=ids)
        out[i:i + len(encoded)] = model.avg_pool(model.embedding[ids], mask)
    return out


class WordLlamaEmbedder:
    """WordLlama's static embeddings, offline (the weights ship in the ``wordllama`` wheel).

    ``dim`` may be 256 (the wheel's weights) or a smaller truncation (64, 128: the model is
    trained so that the first dimensions carry the most). The model loads on the first
    ``embed`` (about 0.4 s), once per process.
    """

    def __init__(self, dim: int = 256, *, config: str = "l2_supercat"):
        if dim not in (64, 128, 256):
            raise ConfigurationError(f"WordLlamaEmbedder(dim={dim}): the wheel ships 256 dimensions; "
                                     "use 256, or truncate to 128 or 64")
        self.dim = dim
        self.config = config
        self.name = f"wordllama-{config}-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _wordllama(self.config, 256)
        return _unit_rows(_pooled(model, texts)[:, :self.dim])

    def __repr__(self) -> str:
        return f"WordLlamaEmbedder(dim={self.dim}, config={self.config!r})"


# -- hashing ------------------------------------------------------------------------------------

class HashingEmbedder:
    """Each word (``convolab.lexical.tokenize``: stemmed, stopwords out) hashed to one of
    ``dim`` signed buckets; the counts, normalized. Texts sharing words point the same way.
    Deterministic, needs no model: for tests, and where ``wordllama`` is not installed."""

    def __init__(self, dim: int = 256):
        if dim < 8:
            raise ConfigurationError(f"HashingEmbedder(dim={dim}): use at least 8 dimensions")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        from convolab.lexical import tokenize

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in tokenize(text):
                h = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return _unit_rows(out)

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim})"


def default_embedder() -> Embedder:
    """``WordLlamaEmbedder()``: the embedder semantic and hybrid ranking use unless given one."""
    return WordLlamaEmbedder()


# -- where vectors are kept ---------------------------------------------------------------------

@dataclass
class MessageVectors:
    """The vectors of one message's passages (one row each), by one embedder."""

    message_id: str
    content_hash: str
    vectors: np.ndarray  # float32, (passages, dim)


class VectorCache:
    """Vectors computed once per message: ``(embedder name, content hash) -> vectors``.

    ``unsaved`` lists what was computed since the last ``saved()``, for a ``VectorStore``.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], np.ndarray] = {}
        self.unsaved: list[tuple[str, MessageVectors]] = []  # (conversation id, vectors)

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, embedder: str, content_hash: str) -> np.ndarray | None:
        return self._by_key.get((embedder, content_hash))

    def put(self, embedder: str, row: MessageVectors, *, conversation_id: str | None = None) -> None:
        """Keep ``row``; with ``conversation_id`` it is also listed as unsaved."""
        self._by_key[(embedder, row.content_hash)] = row.vectors
        if conversation_id is not None:
            self.unsaved.append((conversation_id, row))

    def saved(self) -> None:
        self.unsaved.clear()


@runtime_checkable
class VectorStore(Protocol):
    """Where a strategy keeps its message vectors between sessions."""

    def load_vectors(self, conversation_id: str, embedder: str) -> list[MessageVectors]:
        """Every vector row kept for the conversation by that embedder."""
        ...

    def save_vectors(self, conversation_id: str, embedder: str, rows: Sequence[MessageVectors]) -> None:
        """Keep ``rows`` (a message already kept is replaced)."""
        ...


class MemoryVectorStore:
    """A ``VectorStore`` in a dict: for tests and notebooks."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, MessageVectors]] = {}

    def load_vectors(self, conversation_id: str, embedder: str) -> list[MessageVectors]:
        return list(self.rows.get((conversation_id, embedder), {}).values())

    def save_vectors(self, conversation_id: str, embedder: str, rows: Sequence[MessageVectors]) -> None:
        kept = self.rows.setdefault((conversation_id, embedder), {})
        for r in rows:
            kept[r.message_id] = r
