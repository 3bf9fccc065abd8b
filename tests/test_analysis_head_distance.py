"""Head distances (Clark et al. 2019, §6): Jensen–Shannon divergence between heads' rows, summed over
the tokens as the authors' head_distances.py does."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon

from encoder.analysis import head_distances, head_map, normalize_rows


def random_attention(seed: int, n_tokens: int) -> np.ndarray:
    return normalize_rows(np.random.default_rng(seed).random((2, 3, n_tokens, n_tokens)) ** 4)  # (L, H, T, T)


def test_zero_diagonal_symmetric_and_equal_to_scipy_row_by_row():
    attentions = random_attention(0, 5)
    distances = head_distances(attentions)
    assert distances.shape == (6, 6)
    np.testing.assert_array_equal(np.diag(distances), 0.0)
    np.testing.assert_allclose(distances, distances.T)
    smooth = 0.999 * attentions + 0.001 / 5
    a, b = smooth[0, 1], smooth[1, 2]  # heads 1 and 3 + 2 = 5 in layer·H + head order
    expected = np.sum([jensenshannon(a[i], b[i]) ** 2 for i in range(5)])  # Σ over the 5 query tokens
    assert np.isclose(distances[1, 5], expected, rtol=1e-5, atol=1e-7)
    assert (distances[~np.eye(6, dtype=bool)] > 0).all() and distances.max() <= 5 * np.log(2)


def clark_head_distances(attns: np.ndarray) -> np.ndarray:
    """The loop of clarkkev/attention-analysis head_distances.py for one document, written out again."""
    n = attns.shape[0] * attns.shape[1]
    flat = attns.reshape(n, attns.shape[2], attns.shape[3])
    out = np.zeros((n, n))
    for head in range(n):
        head_smoothed = 0.001 / flat.shape[1] + flat[head][None] * 0.999
        all_smoothed = 0.001 / flat.shape[1] + flat * 0.999
        m = (head_smoothed + all_smoothed) / 2
        js = (-head_smoothed * np.log(m / head_smoothed) - all_smoothed * np.log(m / all_smoothed)) / 2
        out[head] += js.sum(-1).sum(-1)
    return out


def test_equals_the_authors_loop_summed_over_tokens():
    attentions = random_attention(4, 6)
    np.testing.assert_allclose(head_distances(attentions), clark_head_distances(attentions), rtol=1e-5, atol=1e-7)


def test_two_hand_written_heads():
    # T = 2. Head A: both rows one-hot on key 0; head B: both rows one-hot on key 1. After smoothing
    # (0.999·p + 0.0005) a row is (0.9995, 0.0005) or its mirror, so every row pair has the same JS
    # divergence, and the distance is 2 × it (summed over the two query tokens, not averaged).
    head_a = np.array([[1.0, 0.0], [1.0, 0.0]])
    attentions = np.stack([head_a, head_a[:, ::-1]])[None]  # (1, 2, 2, 2)
    p, q = np.array([0.9995, 0.0005]), np.array([0.0005, 0.9995])
    m = (p + q) / 2
    js = 0.5 * (p @ np.log(p / m)) + 0.5 * (q @ np.log(q / m))  # 0.6894 nats
    assert np.isclose(head_distances(attentions)[0, 1], 2 * js, rtol=1e-6)


def test_a_longer_sentence_weighs_more():
    # The same two heads on a sentence twice as long: each row's divergence is alike, so the sum doubles.
    short = np.stack([np.eye(3), np.full((3, 3), 1 / 3)])[None]
    long = np.stack([np.eye(6), np.full((6, 6), 1 / 6)])[None]
    assert head_distances(long)[0, 1] > 1.5 * head_distances(short)[0, 1]


def test_sentences_of_different_lengths_are_averaged():
    first, second = random_attention(1, 4), random_attention(2, 7)
    np.testing.assert_allclose(head_distances([first, second]),
                               (head_distances(first) + head_distances(second)) / 2)


def test_identical_heads_meet_on_the_map():
    attentions = random_attention(3, 6)
    attentions[1, 2] = attentions[0, 0]  # head 5 copies head 0
    distances = head_distances(attentions)
    assert distances[0, 5] == 0.0
    points = head_map(distances, seed=0)
    assert points.shape == (6, 2)
    assert np.linalg.norm(points[0] - points[5]) < 0.1 * np.linalg.norm(points[0] - points[1])
    np.testing.assert_allclose(head_map(distances, seed=0), points)
