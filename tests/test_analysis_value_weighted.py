"""Value-weighted attention (Kobayashi et al. 2020): α_ij · ‖v_j W_O^h‖."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from encoder import Encoder, EncoderConfig, Model
from encoder.analysis import value_weighted


def test_value_weighted_by_hand():
    attentions = np.array([[[[0.5, 0.5], [0.25, 0.75]]]], dtype=np.float32)  # (1, 1, 2, 2)
    norms = np.array([[[2.0, 0.1]]], dtype=np.float32)  # (1, 1, 2): key 1's value is short
    run = SimpleNamespace(attentions=attentions, value_output_norms=norms)
    np.testing.assert_allclose(value_weighted(run)[0, 0], [[1.0, 0.05], [0.5, 0.075]], rtol=1e-6)


def test_value_weighted_on_a_toy_encoder(model):
    torch.manual_seed(0)
    config = EncoderConfig(d_model=8, n_heads=2, n_layers=2, d_ff=16, max_positions=32, dropout=0.0)
    toy = Model(Encoder(config).eval(), model.tokenizer, "toy")
    run = toy.run("A toy sentence.")
    weighted = value_weighted(run)
    assert weighted.shape == run.attentions.shape
    for layer_index, layer in enumerate(toy.encoder.layers):
        w_out = layer.attention.out.weight.detach().numpy()  # (D, H·Dh)
        for head in range(config.n_heads):
            slice_ = w_out[:, head * config.d_head:(head + 1) * config.d_head]  # (D, Dh): W_O^h
            lengths = np.linalg.norm(run.values[layer_index, head] @ slice_.T, axis=-1)  # (T,) ‖v_j W_O^h‖
            # Kobayashi's term itself: ‖α_ij v_j W_O^h‖ for every query i and key j
            terms = run.attentions[layer_index, head][:, :, None] * (run.values[layer_index, head] @ slice_.T)
            np.testing.assert_allclose(weighted[layer_index, head], np.linalg.norm(terms, axis=-1), rtol=1e-4,
                                       atol=1e-6)
            np.testing.assert_allclose(weighted[layer_index, head],
                                       run.attentions[layer_index, head] * lengths, rtol=1e-4, atol=1e-6)
