"""Attention rollout (Abnar & Zuidema 2020) against a two-layer example worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.analysis import fused_layers, normalize_rows, rollout

# Two layers, two heads, two tokens.
IDENTITY = [[1.0, 0.0], [0.0, 1.0]]
SWAP = [[0.0, 1.0], [1.0, 0.0]]
TO_SECOND = [[0.0, 1.0], [0.0, 1.0]]
ATTENTIONS = np.array([[IDENTITY, SWAP], [TO_SECOND, TO_SECOND]])  # (L=2, H=2, T=2, T=2)


def test_mean_rollout_by_hand():
    # Layer 0: mean of the heads is all 0.5; Â0 = 0.5·I + 0.5·mean = [[.75, .25], [.25, .75]].
    # Layer 1: Â1 = 0.5·I + 0.5·[[0, 1], [0, 1]] = [[.5, .5], [0, 1]].
    # R1 = Â1 · Â0 = [[.5·.75 + .5·.25, .5·.25 + .5·.75], [.25, .75]] = [[.5, .5], [.25, .75]].
    result = rollout(ATTENTIONS)
    assert result.shape == (2, 2, 2)
    np.testing.assert_allclose(result[0], [[0.75, 0.25], [0.25, 0.75]])
    np.testing.assert_allclose(result[1], [[0.5, 0.5], [0.25, 0.75]])


def test_max_and_min_fusion_renormalise_rows():
    # max over heads in layer 0 is all ones: 0.5·I + 0.5 = [[1, .5], [.5, 1]] -> rows / 1.5.
    np.testing.assert_allclose(rollout(ATTENTIONS, "max")[0], [[2 / 3, 1 / 3], [1 / 3, 2 / 3]])
    # min over heads in layer 0 is all zeros: only the identity is left.
    np.testing.assert_allclose(rollout(ATTENTIONS, "min")[0], IDENTITY)
    # layer 1's heads agree, so every fusion gives the same Â1; R1 = Â1 · I for min.
    np.testing.assert_allclose(rollout(ATTENTIONS, "min")[1], [[0.5, 0.5], [0.0, 1.0]])


def test_residual_zero_is_the_plain_product_and_one_is_the_identity():
    np.testing.assert_allclose(rollout(ATTENTIONS, residual=0.0)[1], np.array(TO_SECOND) @ np.full((2, 2), 0.5))
    np.testing.assert_allclose(rollout(ATTENTIONS, residual=1.0), np.broadcast_to(IDENTITY, (2, 2, 2)))


def test_rows_sum_to_one_on_random_attention():
    rng = np.random.default_rng(0)
    attentions = normalize_rows(rng.random((4, 3, 7, 7)))  # (L, H, T, T)
    for fusion in ("mean", "max", "min"):
        result = rollout(attentions, fusion, residual=0.3)
        np.testing.assert_allclose(result.sum(-1), 1.0, atol=1e-12)
        layers = fused_layers(attentions, fusion, 0.3)  # (L, T, T)
        np.testing.assert_allclose(result[-1], layers[3] @ layers[2] @ layers[1] @ layers[0], atol=1e-12)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="head_fusion"):
        rollout(ATTENTIONS, "median")
    with pytest.raises(ValueError, match="residual"):
        rollout(ATTENTIONS, residual=1.5)
    with pytest.raises(ValueError, match="shape"):
        rollout(np.ones((2, 2)))


def test_normalize_rows_keeps_zero_rows():
    np.testing.assert_allclose(normalize_rows(np.array([[1.0, 3.0], [0.0, 0.0]])), [[0.25, 0.75], [0.0, 0.0]])
