"""Head distances (Clark et al. 2019, §6): mean Jensen–Shannon divergence between heads' rows."""

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
    expected = np.mean([jensenshannon(a[i], b[i]) ** 2 for i in range(5)])
    assert np.isclose(distances[1, 5], expected, rtol=1e-5, atol=1e-7)
    assert (distances[~np.eye(6, dtype=bool)] > 0).all() and distances.max() <= np.log(2)


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
