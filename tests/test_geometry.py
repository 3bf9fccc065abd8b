"""Known-answer tests for encoder.geometry: PCA, the shared PCA space, norms, cosines, depths."""

from __future__ import annotations

import numpy as np
import pytest

from encoder import geometry


def reference_pca(data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Textbook PCA by SVD, with the largest loading of each axis made positive."""
    centred = data - data.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    axes = vt * signs[:, None]
    return centred @ axes[:k].T, (s**2 / (s**2).sum())[:k]


def test_points_on_a_line_give_one_axis_explaining_everything():
    direction = np.array([0.6, 0.8, 0.0])  # largest loading (0.8) positive: no sign flip
    t = np.array([-2.0, 0.0, 1.0, 5.0])
    points = t[:, None] * direction + np.array([1.0, -3.0, 7.0])  # (4, 3)
    projection = geometry.pca(points, 2)
    np.testing.assert_allclose(projection.explained_ratio, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(projection.components[0], direction, atol=1e-12)
    np.testing.assert_allclose(projection.coordinates[:, 0], t - t.mean(), atol=1e-6)
    np.testing.assert_allclose(projection.coordinates[:, 1], 0.0, atol=1e-6)


def test_known_axes_and_variance_shares():
    # Spread 3 along x, 1 along y, none along z: variances 9 : 1 : 0, axes e_x and e_y.
    points = np.array([[3, 0, 0], [-3, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=float) + 10.0
    projection = geometry.pca(points, 3)
    np.testing.assert_allclose(projection.explained_ratio, [0.9, 0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.abs(projection.components[:2]), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(projection.coordinates[:, :2], [[3, 0], [-3, 0], [0, 1], [0, -1]], atol=1e-6)
    np.testing.assert_allclose(projection.mean, [10, 10, 10])


@pytest.mark.parametrize("shape", [(12, 40), (300, 16)], ids=["fewer points than dims (SVD)",
                                                                 "more points than dims (eigh)"])
def test_both_solvers_match_textbook_pca(shape):
    rng = np.random.default_rng(0)
    data = rng.normal(size=shape) * np.linspace(3, 0.1, shape[1])  # distinct variances per dim
    projection = geometry.pca(data, 3)
    coordinates, ratios = reference_pca(data, 3)
    np.testing.assert_allclose(projection.coordinates, coordinates, atol=1e-4)
    np.testing.assert_allclose(projection.explained_ratio, ratios, atol=1e-9)
    assert projection.coordinates.dtype == np.float32
    np.testing.assert_allclose(projection.components @ projection.components.T, np.eye(3), atol=1e-9)


def test_sign_is_deterministic():
    """Mirrored data get the same axes (largest loading positive), so the picture mirrors too."""
    data = np.random.default_rng(1).normal(size=(30, 5)) * [5, 3, 1, 1, 1]
    plain, mirrored = geometry.pca(data, 2), geometry.pca(-data, 2)
    np.testing.assert_allclose(plain.components, mirrored.components, atol=1e-9)
    np.testing.assert_allclose(plain.coordinates, -mirrored.coordinates, atol=1e-5)
    largest = np.abs(plain.components).argmax(axis=1)
    assert np.all(plain.components[np.arange(2), largest] > 0)


def test_more_components_than_points_are_zero_padded():
    projection = geometry.pca(np.array([[0.0, 0.0, 1.0], [2.0, 0.0, 1.0]]), 3)
    assert projection.coordinates.shape == (2, 3)
    np.testing.assert_allclose(projection.explained_ratio, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(projection.coordinates, [[-1, 0, 0], [1, 0, 0]], atol=1e-6)


def test_identical_points_give_zero_not_nan():
    projection = geometry.pca(np.ones((4, 3)), 2)
    assert np.all(np.isfinite(projection.coordinates)) and np.all(projection.coordinates == 0)
    np.testing.assert_array_equal(projection.explained_ratio, [0.0, 0.0])


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        geometry.pca(np.zeros((0, 3)), 2)
    with pytest.raises(ValueError):
        geometry.pca(np.zeros((3, 3)), 0)


def test_project_reproduces_the_fitted_coordinates():
    data = np.random.default_rng(2).normal(size=(20, 6))
    basis = geometry.pca(data, 2)
    np.testing.assert_allclose(geometry.project(data, basis), basis.coordinates, atol=1e-6)


def test_shared_pca_uses_one_space_for_all_depths():
    """Depth 1 = depth 0 moved by 4 along x: in the shared space every token moves by the same
    vector; fitted per depth, both depths would sit at the same centred coordinates."""
    rng = np.random.default_rng(3)
    depth0 = np.c_[rng.normal(size=(10, 1)), rng.normal(size=(10, 2)) * 0.1]  # (T, D) = (10, 3)
    stacked = np.stack([depth0, depth0 + np.array([4.0, 0.0, 0.0])])  # (S, T, D) = (2, 10, 3)
    shared = geometry.shared_pca(stacked, 3)  # all 3 axes: the projection keeps lengths
    assert shared.coordinates.shape == (2, 10, 3)
    movement = shared.coordinates[1] - shared.coordinates[0]  # (T, 3)
    np.testing.assert_allclose(movement, np.broadcast_to(movement[0], movement.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(movement[0]), 4.0, atol=1e-5)
    flat = geometry.pca(stacked.reshape(20, 3), 3)
    np.testing.assert_allclose(shared.coordinates.reshape(20, 3), flat.coordinates)


def test_vector_norms():
    hidden = np.zeros((2, 3, 2), dtype=np.float32)  # (L + 1, T, D)
    hidden[0, 0] = [3, 4]
    hidden[1, 2] = [-6, 8]
    norms = geometry.vector_norms(hidden)
    assert norms.shape == (2, 3) and norms.dtype == np.float32
    np.testing.assert_allclose(norms, [[5, 0, 0], [0, 0, 10]])


def test_token_cosines_plain_and_centred():
    vectors = np.array([[2.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(geometry.token_cosines(vectors), [[1, 1 / 5**0.5], [1 / 5**0.5, 1]], atol=1e-6)
    # Centred: [[1, 0], [-1, 0]] point in opposite directions.
    np.testing.assert_allclose(geometry.token_cosines(vectors, centred=True), [[1, -1], [-1, 1]], atol=1e-6)


def test_spread_positions():
    assert geometry.spread_positions([True, False, False, True]) == [0, 1, 2, 3]
    special = [True] + [False] * 98 + [True]
    chosen = geometry.spread_positions(special, limit=8)
    assert len(chosen) == 8 and chosen == sorted(set(chosen))
    assert chosen[0] == 0 and chosen[1] == 1 and chosen[-1] == 98  # [CLS], first and last word


def test_depths_pick_the_right_vectors(model):
    run = model.run("The cat sat.", "It purred.")
    names = geometry.depth_names(run)
    assert names[:3] == ["token embedding", "token + position + segment", "embedding output"]
    assert names[-1] == f"layer {run.n_layers}" and len(names) == run.n_layers + 3
    np.testing.assert_array_equal(geometry.vectors_at_depth(run, "token embedding"), run.token_embeddings)
    summed = run.token_embeddings + run.position_embeddings + run.segment_embeddings
    np.testing.assert_allclose(geometry.vectors_at_depth(run, names[1]), summed, atol=1e-6)
    np.testing.assert_array_equal(geometry.vectors_at_depth(run, "embedding output"), run.hidden_states[0])
    np.testing.assert_array_equal(geometry.vectors_at_depth(run, "layer 2"), run.hidden_states[2])
    with pytest.raises(ValueError):
        geometry.vectors_at_depth(run, "layer 99")
