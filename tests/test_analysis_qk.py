"""The Q·K walk-through reproduces the captured attention row."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoder import Encoder, EncoderConfig, Model
from encoder.analysis import qk_walkthrough
from encoder.analysis.qk import is_causal


@pytest.fixture(scope="module")
def run(model):
    return model.run("The keys and queries meet, unbelievably.")


@pytest.mark.parametrize(("layer", "head", "query"), [(0, 0, 0), (2, 5, 3), (5, 11, -1)])
def test_softmax_at_temperature_one_is_the_captured_row(run, layer, head, query):
    query %= run.n_tokens
    step = qk_walkthrough(run, layer, head, query)
    np.testing.assert_allclose(step.softmax, run.attentions[layer, head, query], atol=1e-5)
    np.testing.assert_allclose(step.products.sum(-1), step.scores)
    np.testing.assert_allclose(step.scaled_scores, step.scores / np.sqrt(run.queries.shape[-1]))
    assert step.query.shape == (32,) and step.keys.shape == (run.n_tokens, 32)
    assert step.visible.all()


def test_temperature_sharpens_and_flattens(run):
    base = qk_walkthrough(run, 3, 2, 4)
    cold = qk_walkthrough(run, 3, 2, 4, temperature=0.5)
    hot = qk_walkthrough(run, 3, 2, 4, temperature=4.0)
    np.testing.assert_allclose(cold.scaled_scores, 2 * base.scaled_scores)
    assert cold.softmax.max() > base.softmax.max() > hot.softmax.max()
    assert np.argmax(cold.softmax) == np.argmax(base.softmax)
    with pytest.raises(ValueError, match="temperature"):
        qk_walkthrough(run, 3, 2, 4, temperature=0)


def test_runs_without_queries_are_refused(model, run):
    with pytest.raises(ValueError, match="qkv=True"):
        qk_walkthrough(model.run("No projections.", qkv=False), 0, 0, 0)
    with pytest.raises(ValueError, match="layers"):
        qk_walkthrough(run, 6, 0, 0)


def test_a_causal_model_hides_later_keys(model):
    torch.manual_seed(1)
    config = EncoderConfig(d_model=8, n_heads=2, n_layers=1, d_ff=16, max_positions=32, dropout=0.0, causal=True)
    run = Model(Encoder(config).eval(), model.tokenizer, "causal toy").run("Left to right only.")
    assert is_causal(run.attentions) and not is_causal(np.full((2, 2), 0.5))
    step = qk_walkthrough(run, 0, 1, 2)
    assert step.visible.tolist() == [True] * 3 + [False] * (run.n_tokens - 3)
    np.testing.assert_allclose(step.softmax, run.attentions[0, 1, 2], atol=1e-6)
