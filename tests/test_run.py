"""The public API of a Run, as the README shows it."""

from __future__ import annotations

import numpy as np
import torch


def test_run_fields(model):
    run = model.run("The cat sat.")
    T = run.n_tokens
    assert run.tokens == ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    assert run.attentions.dtype == np.float32 and run.attentions.shape == (6, 12, T, T)
    assert run.hidden_states.dtype == np.float32 and run.hidden_states.shape == (7, T, 384)
    assert run.queries.shape == run.keys.shape == run.values.shape == (6, 12, T, 32)
    np.testing.assert_allclose(run.attentions.sum(-1), 1, atol=1e-5)
    assert run.word_ids == [None, 0, 1, 2, 3, None]
    assert run.offsets[1] == (0, 3) and not run.truncated and not run.is_pair
    assert (run.n_layers, run.n_heads) == (6, 12)


def test_embedding_parts_sum_to_the_input(model):
    run = model.run("Positions matter here.")
    norm = model.encoder.embeddings.norm
    summed = run.token_embeddings + run.position_embeddings + run.segment_embeddings
    with torch.no_grad():
        expected = norm(torch.from_numpy(summed)).numpy()
    np.testing.assert_allclose(run.hidden_states[0], expected, atol=1e-5)
    weights = model.encoder.embeddings
    np.testing.assert_array_equal(run.token_embeddings, weights.token.weight[run.ids].numpy())
    np.testing.assert_array_equal(run.position_embeddings,
                                  weights.position.weight[: run.n_tokens].numpy())


def test_queries_and_keys_give_the_weights(model):
    run = model.run("Queries meet keys.")
    q, k = run.queries[2, 5], run.keys[2, 5]  # (T, Dh)
    scores = q @ k.T / np.sqrt(q.shape[-1])
    softmax = np.exp(scores - scores.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    np.testing.assert_allclose(run.attentions[2, 5], softmax, atol=1e-5)


def test_runs_are_picklable(model):
    import pickle

    run = model.run("Cache me.")
    again = pickle.loads(pickle.dumps(run))
    np.testing.assert_array_equal(again.attentions, run.attentions)
