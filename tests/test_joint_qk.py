"""The joint query–key map: its points are the head's own queries and keys (the ones whose softmax is the
run's attention), the keys are translated as AttentionViz does without changing any weight, and the PCA map
is the PCA of those stacked vectors."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.analysis.joint_qk import aligned, head_queries_keys, joint_qk_map

TEXTS = ["The cat sat on the mat.", "Where did you park the car?", "Maria Garcia sent the report to Lisbon.",
         "It rained all week, so the picnic was moved indoors."]
LAYER, HEAD = 2, 5


@pytest.fixture(scope="module")
def sample(model):
    return head_queries_keys(model, TEXTS, LAYER, HEAD)


def softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def test_the_points_are_the_heads_own_queries_and_keys(model, sample):
    for i, text in enumerate(TEXTS):
        run = model.run(text, qkv=True)
        rows = sample.sentence == i
        np.testing.assert_allclose(sample.queries[rows], run.queries[LAYER, HEAD], atol=1e-5)
        np.testing.assert_allclose(sample.keys[rows], run.keys[LAYER, HEAD], atol=1e-5)
        assert list(np.asarray(sample.tokens)[rows]) == run.tokens
        # Translated and scaled, they still give the run's attention: softmax(q kᵀ / √d).
        q, k, _ = aligned(sample.queries, sample.keys)
        d = q.shape[1]
        np.testing.assert_allclose(softmax(q[rows] @ k[rows].T / np.sqrt(d)), run.attentions[LAYER, HEAD], atol=1e-4)


def test_the_keys_share_the_queries_centroid_and_mean_norm(sample):
    q, k, s = aligned(sample.queries, sample.keys, "centroid", scale=True)
    np.testing.assert_allclose(q.mean(axis=0), k.mean(axis=0), atol=1e-4 * np.abs(q).max())
    raw_norms = np.linalg.norm(sample.queries, axis=1).mean(), np.linalg.norm(sample.keys, axis=1).mean()
    assert s == pytest.approx(np.sqrt(raw_norms[1] / raw_norms[0]), rel=1e-6)  # equal mean norms before the shift
    _, raw_k, one = aligned(sample.queries, sample.keys, "none", scale=False)
    assert one == 1.0
    np.testing.assert_array_equal(raw_k, sample.keys.astype(np.float64))
    assert s != 1.0


def test_the_pca_map_is_the_pca_of_queries_and_shifted_keys(sample):
    joint = joint_qk_map(sample, "pca")
    n = len(sample.tokens)
    assert joint.xy.shape == (2 * n, 2) and joint.is_key.sum() == n
    s = joint.scale
    queries, keys = sample.queries.astype(np.float64) * s, sample.keys.astype(np.float64) / s
    stacked = np.concatenate([queries, keys + queries.mean(axis=0) - keys.mean(axis=0)])
    centred = stacked - stacked.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ axes[:2].T  # (2N, 2), each axis up to its sign
    for axis in range(2):
        sign = np.sign(expected[:, axis] @ joint.xy[:, axis])
        np.testing.assert_allclose(joint.xy[:, axis], sign * expected[:, axis], atol=1e-3 * np.abs(expected).max())
    ratios = singular[:2] ** 2 / (singular ** 2).sum()
    np.testing.assert_allclose(joint.explained, ratios, atol=1e-5)


def test_another_head_draws_another_map(model, sample):
    other = joint_qk_map(head_queries_keys(model, TEXTS, LAYER, HEAD + 1), "pca")
    assert not np.allclose(np.abs(other.xy), np.abs(joint_qk_map(sample, "pca").xy), atol=1e-2)


def test_tsne_is_seeded_and_refusals_are_sentences(model, sample):
    first, second = joint_qk_map(sample, "tsne", seed=3), joint_qk_map(sample, "tsne", seed=3)
    np.testing.assert_array_equal(first.xy, second.xy)
    assert first.explained is None and np.isfinite(first.xy).all()
    with pytest.raises(ValueError, match="method"):
        joint_qk_map(sample, "mds")
    with pytest.raises(ValueError, match="not in a model"):
        head_queries_keys(model, TEXTS, model.config.n_layers, 0)
    # An unreadable text is left out; the others stay.
    mixed = head_queries_keys(model, [TEXTS[0], "\x00\x01", TEXTS[1]], LAYER, HEAD)
    assert set(mixed.sentence.tolist()) == {0, 2}
