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


BATCH = [
    "The cat sat.",
    "A far longer sentence, with commas, subwords like unbelievably, and numbers such as 1984 in it.",
    "Hi",
    ("Where is the station?", "Two blocks north, past the bakery."),
    "Émile a mangé 3 croissants 🥐 à Paris.",
]


def test_padded_batches_equal_single_runs(model):
    """Padding + the key-padding mask change nothing: every batched run equals its single run."""
    runs = model.run_batch(BATCH, batch_size=2, qkv=True)  # 3 batches, each padded to its longest text
    assert len(runs) == len(BATCH)
    for item, batched in zip(BATCH, runs, strict=True):
        single = model.run(*((item,) if isinstance(item, str) else item))
        assert batched.tokens == single.tokens and batched.segment_ids == single.segment_ids
        for name in ("attentions", "hidden_states", "value_output_norms", "token_embeddings",
                     "position_embeddings", "queries", "keys", "values"):
            np.testing.assert_allclose(getattr(batched, name), getattr(single, name), atol=1e-5, err_msg=name)
        np.testing.assert_allclose(batched.attentions.sum(-1), 1, atol=1e-5)


def test_batch_errors_name_the_text(model):
    import pytest

    with pytest.raises(ValueError, match="Text 2"):
        model.run_batch(["fine", "   "])


def test_qkv_only_on_request(model):
    light, full = model.run("Light run.", qkv=False), model.run("Light run.")
    assert light.queries is None and light.keys is None and light.values is None and not light.has_qkv
    assert full.has_qkv and light.nbytes < full.nbytes
    assert full.nbytes == sum(a.nbytes for a in (full.attentions, full.hidden_states, full.value_output_norms,
                                                 full.token_embeddings, full.position_embeddings,
                                                 full.segment_embeddings, full.queries, full.keys, full.values))


def test_run_arrays_are_read_only(model):
    """One cached run serves every session: nothing may write into it."""
    import pytest

    run = model.run("Do not touch.")
    with pytest.raises(ValueError, match="read-only"):
        run.attentions[0, 0, 0, 0] = 1.0


def test_value_output_norms_are_the_heads_slice_of_w_o(model):
    """‖v_j W_O^h‖ computed directly from the output projection, head by head."""
    run = model.run("Values carry the message.")
    layer, head = 3, 7
    w_out = model.encoder.layers[layer].attention.out.weight.detach().numpy()  # (D, D)
    d_head = run.values.shape[-1]
    w_head = w_out[:, head * d_head:(head + 1) * d_head]  # (D, Dh)
    expected = np.linalg.norm(run.values[layer, head] @ w_head.T, axis=-1)  # (T,)
    np.testing.assert_allclose(run.value_output_norms[layer, head], expected, rtol=1e-4)
