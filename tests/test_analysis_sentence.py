"""The model's own output: sentence embedding parity with sentence-transformers, exact contributions."""

from __future__ import annotations

import numpy as np
import pytest

from encoder import bundled_model_dir
from encoder.analysis import sentence_embedding, sentence_similarity, similarity_contributions

TEXTS = ["The trophy didn't fit in the suitcase because it was too big.",
         "A suitcase too small for the trophy.",
         "Émile a mangé 3 croissants à Paris, unbelievably!"]


def test_embedding_matches_sentence_transformers(model):
    sentence_transformers = pytest.importorskip(
        "sentence_transformers", reason="sentence-transformers (the reference) is not installed")
    # bundled_model_dir() is the folder holding modules.json: Transformer → Pooling → Normalize
    reference = sentence_transformers.SentenceTransformer(str(bundled_model_dir()), device="cpu")
    expected = reference.encode(TEXTS, convert_to_numpy=True)  # (3, 384), unit length
    for text, vector in zip(TEXTS, expected, strict=True):
        np.testing.assert_allclose(sentence_embedding(model.run(text, qkv=False)), vector, atol=1e-5)


def test_contributions_sum_to_the_cosine(model):
    run_a, run_b = model.run(TEXTS[0], qkv=False), model.run(TEXTS[1], qkv=False)
    cosine = sentence_similarity(run_a, run_b)
    assert np.isclose(cosine, sentence_embedding(run_a) @ sentence_embedding(run_b))
    share_a, share_b = similarity_contributions(run_a, run_b)
    assert share_a.shape == (run_a.n_tokens,) and share_b.shape == (run_b.n_tokens,)
    assert np.isclose(share_a.sum(), cosine, atol=1e-12) and np.isclose(share_b.sum(), cosine, atol=1e-12)
    assert np.isclose(sentence_similarity(run_a, run_a), 1.0)
