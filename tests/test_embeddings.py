"""The Embedder protocol, WordLlama loaded offline, and the vector cache."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from convolab.embeddings import (
    Embedder,
    HashingEmbedder,
    MemoryVectorStore,
    MessageVectors,
    VectorCache,
    VectorStore,
    WordLlamaEmbedder,
)
from convolab.errors import ConfigurationError


class Ones:
    """A minimal embedder written against the protocol alone."""

    name, dim = "ones-4", 4

    def embed(self, texts):
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


@pytest.mark.parametrize("embedder", [HashingEmbedder(), WordLlamaEmbedder(), WordLlamaEmbedder(64), Ones()],
                         ids=lambda e: e.name)
def test_embedders_satisfy_the_protocol_unit_rows_of_their_dimension(embedder):
    assert isinstance(embedder, Embedder)
    out = embedder.embed(["My sister Lena is visiting.", "The budget is $12,000 for the first phase."])
    assert out.shape == (2, embedder.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(embedder.embed(["My sister Lena is visiting."])[0], out[0])  # deterministic
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_a_text_without_words_is_a_zero_row():
    out = HashingEmbedder().embed(["", "the and of"])
    assert not out.any()


def test_wordllama_puts_related_words_together_and_hashing_only_shared_words():
    wl = WordLlamaEmbedder()
    car, vehicle, banana = wl.embed(["car", "vehicle", "banana"])
    assert car @ vehicle > car @ banana + 0.3
    h = HashingEmbedder()
    a, b, c = h.embed(["my car broke down", "the car is fixed", "a vehicle"])
    assert a @ b > 0.3 and abs(a @ c) < 0.2


def test_wordllama_vectors_are_the_models_own_floats_whatever_the_batch():
    """Tokenizing on this thread (not the tokenizer's pool) changes no vector, bit for bit:
    texts of different lengths padded together, empty texts, more than one batch of 64."""
    from convolab.embeddings import _wordllama

    model = _wordllama("l2_supercat", 256)
    texts = ["", "Hi.", "My sister Lena is visiting on 8 May 2023, after the conference in Porto.",
             "émigré café 🎉", "x" * 500] * 15
    for batch in (texts, texts[:1], texts[1:3], texts[:1] * 3):
        ours = WordLlamaEmbedder().embed(batch)
        theirs = model.embed(list(batch), norm=False)
        norms = np.linalg.norm(theirs, axis=1, keepdims=True)
        expected = np.divide(theirs, norms, out=np.zeros_like(theirs), where=norms > 0)
        assert ours.tobytes() == expected.tobytes()


def test_wordllama_settings_are_checked():
    with pytest.raises(ConfigurationError, match="256"):
        WordLlamaEmbedder(dim=300)
    assert WordLlamaEmbedder(128).name == "wordllama-l2_supercat-128"


def test_wordllama_loads_with_the_network_blocked_and_attempts_no_connection(tmp_path):
    # a fresh interpreter (the model is loaded once per process) in which any attempt to open
    # a connection or resolve a host is recorded and fails
    code = textwrap.dedent("""
        import socket
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(args[:2])
            raise OSError("network blocked by the test")
        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        from convolab.embeddings import WordLlamaEmbedder
        v = WordLlamaEmbedder().embed(["offline, please"])
        print(v.shape, len(attempts))
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no proxy or hub variables, an empty home
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(1,", "256)", "0"]
    assert not (tmp_path / ".cache").exists()  # nothing downloaded or cached into the home folder


def test_vector_cache_keys_on_embedder_and_content_and_lists_what_is_unsaved():
    cache = VectorCache()
    row = MessageVectors("m1", "h1", np.ones((1, 4), dtype=np.float32))
    cache.put("e", row, conversation_id="c")
    cache.put("e", MessageVectors("m2", "h2", np.ones((1, 4), dtype=np.float32)))  # loaded: not unsaved
    assert cache.get("e", "h1") is row.vectors and cache.get("other", "h1") is None
    assert [(c, r.message_id) for c, r in cache.unsaved] == [("c", "m1")]
    cache.saved()
    assert cache.unsaved == [] and len(cache) == 2


def test_memory_vector_store_round_trip():
    vs = MemoryVectorStore()
    assert isinstance(vs, VectorStore)
    vs.save_vectors("c", "e", [MessageVectors("m1", "h1", np.eye(2, dtype=np.float32))])
    assert [r.message_id for r in vs.load_vectors("c", "e")] == ["m1"] and vs.load_vectors("c", "x") == []


def test_loading_wordllama_leaves_the_root_logger_alone():
    script = ("import logging\nfrom convolab.embeddings import WordLlamaEmbedder\n"
              "WordLlamaEmbedder().embed(['hello'])\n"
              "root = logging.getLogger()\nprint(root.level, len(root.handlers))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(logging.WARNING), "0"]  # wordllama's logging.basicConfig(level=INFO) undone
