"""The walk-through recomposes the hooked encoder's own numbers, stage by stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoder import Encoder, EncoderConfig, Model
from encoder.walkthrough import padding_demo, walkthrough


@pytest.mark.parametrize("layer,head", [(0, 0), (2, 7), (5, 11)])
def test_stages_recompose_the_captured_layer(model, layer, head):
    run = model.run("The animal didn't cross the street because it was too tired.")
    steps = walkthrough(model, run, layer, head)
    assert steps.recomposition_error < 1e-5
    np.testing.assert_allclose(steps.layer_output, run.hidden_states[layer + 1], atol=1e-5)
    np.testing.assert_allclose(steps.weights, run.attentions[layer, head], atol=1e-6)
    np.testing.assert_allclose(steps.weights.sum(-1), 1, atol=1e-6)
    np.testing.assert_allclose(steps.head_output, steps.weights @ steps.values, atol=1e-5)
    d_head = steps.queries.shape[-1]
    np.testing.assert_allclose(steps.scores, steps.queries @ steps.keys.T / np.sqrt(d_head), atol=1e-4)
    dh = model.config.d_head
    np.testing.assert_allclose(steps.concatenated[:, head * dh:(head + 1) * dh], steps.head_output, atol=1e-6)
    assert steps.token_scale == 1.0 and not steps.norm_first  # BERT does not scale its embeddings
    np.testing.assert_allclose(steps.summed, run.token_embeddings + run.position_embeddings + run.segment_embeddings,
                               atol=1e-6)


@pytest.mark.parametrize("norm_first,causal", [(True, False), (False, True), (True, True)])
def test_pre_ln_and_causal_encoders_recompose_too(norm_first, causal, model):
    torch.manual_seed(0)
    config = EncoderConfig.paper(vocab_size=model.config.vocab_size, d_model=32, n_heads=4, n_layers=2, d_ff=64,
                                 norm_first=norm_first, final_norm=norm_first, causal=causal, dropout=0.0)
    small = Model(Encoder(config).eval(), model.tokenizer, "paper")
    run = small.run("A small paper encoder.")
    for layer in range(2):
        steps = walkthrough(small, run, layer, 1)
        assert steps.recomposition_error < 1e-5, (layer, steps.recomposition_error)
        assert steps.token_scale == pytest.approx(np.sqrt(32))
        if causal:
            assert not steps.mask[0, 1:].any() and steps.mask[-1].all()
            assert np.all(np.triu(steps.weights, 1) == 0)


def test_padded_keys_get_zero_weight_and_real_tokens_are_unchanged(model):
    demo = padding_demo(model, "Short one.", "A rather longer sentence with more tokens in it.", layer=1, head=3)
    lengths = demo.attention_mask.sum(1)
    assert lengths[0] < lengths[1] == demo.ids.shape[1]
    assert demo.tokens[0][-1] == "[PAD]" and demo.ids[0, -1] == model.config.pad_token_id
    assert demo.padded_key_weight == 0.0
    short = int(lengths[0])
    assert np.all(demo.weights[0, :short, short:] == 0)
    assert demo.max_difference < 1e-5
    np.testing.assert_allclose(demo.weights[0, :short, :short], demo.single_weights[0], atol=1e-5)


def test_out_of_range_layer_is_refused(model):
    with pytest.raises(ValueError, match="outside"):
        walkthrough(model, model.run("x"), 6, 0)
