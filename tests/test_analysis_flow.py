"""Attention flow (Abnar & Zuidema 2020) against a hand computation and networkx's max-flow."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from encoder.analysis import attention_flow, fused_layers, normalize_rows, rollout

IDENTITY = [[1.0, 0.0], [0.0, 1.0]]
SWAP = [[0.0, 1.0], [1.0, 0.0]]
TO_SECOND = [[0.0, 1.0], [0.0, 1.0]]
ATTENTIONS = np.array([[IDENTITY, SWAP], [TO_SECOND, TO_SECOND]])  # (L=2, H=2, T=2, T=2)


def test_flow_by_hand():
    # Â0 = [[.75, .25], [.25, .75]], Â1 = [[.5, .5], [0, 1]] (see test_analysis_rollout).
    # From (2, 0): via (1, 0) min(.5, .75) + via (1, 1) min(.5, .25) = .75 to input 0, and
    # min(.5, .25) + min(.5, .75) = .75 to input 1. From (2, 1): only (1, 1), carrying .25 and .75.
    flow = attention_flow(ATTENTIONS)
    np.testing.assert_allclose(flow, [[0.75, 0.75], [0.25, 0.75]], atol=1e-6)
    # rollout multiplies instead: [[.5, .5], [.25, .75]]
    assert not np.allclose(flow, rollout(ATTENTIONS)[-1])
    np.testing.assert_allclose(normalize_rows(flow), [[0.5, 0.5], [0.25, 0.75]], atol=1e-6)


def test_flow_matches_networkx_on_random_attention():
    rng = np.random.default_rng(3)
    attentions = normalize_rows(rng.random((3, 2, 5, 5)) ** 3)  # (L, H, T, T), peaked rows
    flow = attention_flow(attentions, head_fusion="max", residual=0.3)
    layers = fused_layers(attentions, "max", 0.3)  # (L, T, T)
    graph = nx.DiGraph()
    for layer, matrix in enumerate(layers):
        for i in range(5):
            for j in range(5):
                graph.add_edge((layer + 1, i), (layer, j), capacity=float(matrix[i, j]))
    expected = [[nx.maximum_flow_value(graph, (3, i), (0, j)) for j in range(5)] for i in range(5)]
    np.testing.assert_allclose(flow, expected, atol=1e-5)


def test_too_many_tokens_are_refused_with_the_limit_named():
    with pytest.raises(ValueError, match="limited to 4 tokens"):
        attention_flow(np.full((1, 1, 5, 5), 0.2), max_tokens=4)


def test_flow_of_chosen_rows_is_those_rows_of_the_whole_map():
    """An explanation of one position's output needs its row alone (T max-flows, not T²)."""
    rng = np.random.default_rng(4)
    attentions = rng.random((3, 2, 7, 7))
    attentions /= attentions.sum(-1, keepdims=True)
    whole = attention_flow(attentions)
    np.testing.assert_array_equal(attention_flow(attentions, rows=[5, 1]), whole[[5, 1]])
    assert attention_flow(attentions, rows=[]).shape == (0, 7)
