"""encoder.compare: proportional layers and depths (known answers), masked causal cells, side-by-side arrays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from encoder.compare import (
    compared_attention,
    compared_embeddings,
    layer_mapping,
    masked_attention,
    massive_tokens,
    pca_without,
    proportional_depth,
    proportional_layer,
)
from encoder.geometry import pca


@pytest.mark.parametrize(("n_a", "n_b", "expected"), [
    (6, 3, [0, 0, 1, 1, 2, 2]),
    (3, 6, [1, 3, 5]),
    (6, 6, [0, 1, 2, 3, 4, 5]),
    (6, 30, [4, 9, 14, 19, 24, 29]),
    (30, 6, [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5 + [5] * 5),
    (4, 3, [0, 1, 2, 2]),  # (l + 1) · 3 / 4 = 0.75, 1.5, 2.25, 3 -> ceil - 1
    (1, 12, [11]),
    (12, 1, [0] * 12),
])
def test_proportional_layer_known_answers(n_a, n_b, expected):
    assert layer_mapping(n_a, n_b).tolist() == expected
    assert [proportional_layer(layer, n_a, n_b) for layer in range(n_a)] == expected


def test_mapping_is_monotone_and_ends_at_the_last_layer():
    for n_a in range(1, 13):
        for n_b in range(1, 13):
            mapping = layer_mapping(n_a, n_b)
            assert mapping[-1] == n_b - 1
            assert mapping[0] >= 0 and np.all(np.diff(mapping) >= 0)
            # layer l of A has done (l + 1) / n_a of the depth; B's layer has done at least as much, and
            # the layer before it less
            done_a = (np.arange(n_a) + 1) / n_a
            assert np.all((mapping + 1) / n_b >= done_a - 1e-12)
            assert np.all(mapping / n_b < done_a)


def test_proportional_layer_refuses_layers_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        proportional_layer(6, 6, 3)
    with pytest.raises(ValueError, match="at least one layer"):
        proportional_layer(0, 6, 0)


def test_proportional_depth_keeps_the_embedding_output_and_maps_layer_outputs():
    assert [proportional_depth(d, 6, 3) for d in range(7)] == [0, 1, 1, 2, 2, 3, 3]
    assert [proportional_depth(d, 3, 6) for d in range(4)] == [0, 2, 4, 6]
    with pytest.raises(ValueError):
        proportional_depth(7, 6, 3)


def test_masked_attention_sets_future_cells_to_nan_and_copies():
    matrix = np.tril(np.ones((4, 4), dtype=np.float32)) / np.arange(1, 5, dtype=np.float32)[:, None]
    matrix.setflags(write=False)
    shown = masked_attention(matrix, causal=True)
    assert np.isnan(shown[np.triu_indices(4, k=1)]).all()
    np.testing.assert_array_equal(shown[np.tril_indices(4)], matrix[np.tril_indices(4)])
    np.testing.assert_array_equal(masked_attention(matrix, causal=False), matrix)
    assert not np.shares_memory(masked_attention(matrix, causal=False), matrix)


@pytest.fixture(scope="module")
def runs(model):
    text = "The cat sat on the mat because it was warm."
    run_a = model.run(text, qkv=False)
    # A 3-layer "model B": the same run with every other layer dropped (enough for the arrays' bookkeeping).
    run_b = replace(run_a, attentions=run_a.attentions[[1, 3, 5]], hidden_states=run_a.hidden_states[[0, 2, 4, 6]],
                    value_output_norms=run_a.value_output_norms[[1, 3, 5]])
    return run_a, run_b


def test_compared_attention_takes_b_at_the_proportional_layer(runs):
    run_a, run_b = runs
    compared = compared_attention(run_a, run_b, layer_a=3, head_a=7, head_b=2)
    assert (compared.layer_a, compared.layer_b, compared.head_a, compared.head_b) == (3, 1, 7, 2)
    np.testing.assert_array_equal(compared.matrix_a, run_a.attentions[3, 7])
    np.testing.assert_array_equal(compared.matrix_b, run_b.attentions[1, 2])
    np.testing.assert_array_equal(compared.matrix_b, run_a.attentions[3, 2])  # B's layer 1 is A's layer 3
    mean = compared_attention(run_a, run_b, layer_a=0, head_a=-1, head_b=-1)
    np.testing.assert_allclose(mean.matrix_a, run_a.attentions[0].mean(axis=0), atol=1e-7)
    np.testing.assert_allclose(mean.matrix_b, run_b.attentions[0].mean(axis=0), atol=1e-7)
    with pytest.raises(ValueError, match="outside"):
        compared_attention(run_a, run_b, 0, 12, 0)


def test_compared_embeddings_project_each_model_at_matching_depths(runs):
    run_a, run_b = runs
    compared = compared_embeddings(run_a, run_b, depth_a=4)
    assert (compared.depth_a, compared.depth_b) == (4, 2)
    assert (compared.name_a, compared.name_b) == ("layer 4", "layer 2")
    np.testing.assert_allclose(compared.projection_a.coordinates, pca(run_a.hidden_states[4]).coordinates)
    np.testing.assert_allclose(compared.projection_b.coordinates, pca(run_b.hidden_states[2]).coordinates)
    assert compared.projection_a.coordinates.shape == (run_a.n_tokens, 2)


def test_a_massive_activation_is_left_out_of_the_fit_but_projected():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(9, 16))  # (T, D)
    vectors[0] *= 1000.0  # one token thousands of times larger, as in a decoder's first position
    assert massive_tokens(vectors) == (0,)
    assert massive_tokens(vectors[1:]) == ()
    projection = pca_without(vectors, (0,))
    np.testing.assert_allclose(projection.coordinates[1:], pca(vectors[1:]).coordinates, atol=1e-5)
    assert projection.coordinates.shape == (9, 2)
    assert np.abs(projection.coordinates[0]).max() > 10 * np.abs(projection.coordinates[1:]).max()
    np.testing.assert_array_equal(pca_without(vectors, ()).coordinates, pca(vectors).coordinates)
