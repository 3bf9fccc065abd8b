"""‖v_j W_O^h‖ is computed in one place (modules.value_output_norms), from Gram matrices cached per
weight: the cache must follow a weight that changes in place, and both callers must agree with
the direct product."""

from __future__ import annotations

import torch

from encoder.adapters.value_norms import head_output_norms
from encoder.modules import head_grams


def direct(values: torch.Tensor, w_out: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(H, T, Dh) values -> (H, T) norms, projecting each head's values through its slice of W_O."""
    d_head = w_out.shape[1] // n_heads
    return torch.stack([(values[h] @ w_out[:, h * d_head:(h + 1) * d_head].T).norm(dim=-1)
                        for h in range(n_heads)])


def test_cached_grams_follow_an_in_place_change():
    torch.manual_seed(0)
    w_out = torch.randn(16, 16)
    first = head_grams(w_out, 4)
    assert head_grams(w_out, 4) is first  # cached while the weight is unchanged
    with torch.no_grad():
        w_out.mul_(2.0)  # an optimiser step or load_state_dict writes in place
    torch.testing.assert_close(head_grams(w_out, 4), 4 * first)
    assert head_grams(w_out, 2).shape == (2, 8, 8)  # another head split is another entry


def test_grams_keep_the_graph_when_training():
    w_out = torch.randn(8, 8, requires_grad=True)
    head_grams(w_out, 2).sum().backward()
    assert w_out.grad is not None


def test_grouped_query_heads_match_the_direct_product():
    torch.manual_seed(1)
    n_heads, n_kv, d_head, n_tokens = 6, 2, 4, 5
    values = torch.randn(n_tokens, n_kv * d_head)  # (T, KV·Dh): each KV head serves 3 query heads
    w_out = torch.randn(20, n_heads * d_head)
    per_head = values.reshape(n_tokens, n_kv, d_head).transpose(0, 1).repeat_interleave(3, dim=0)
    torch.testing.assert_close(head_output_norms(values, w_out, n_heads), direct(per_head, w_out, n_heads))


def test_engine_runs_match_the_direct_product(model):
    run = model.run("Values carry the message to the residual stream.")
    for layer in (0, 5):
        w_out = model.encoder.layers[layer].attention.out.weight
        expected = direct(torch.from_numpy(run.values[layer].copy()), w_out, model.config.n_heads)
        torch.testing.assert_close(torch.from_numpy(run.value_output_norms[layer].copy()), expected,
                                   rtol=1e-4, atol=1e-5)


def test_one_function_gives_any_encoders_norms_from_its_values(model):
    """encoder_value_output_norms is what Model.run stores, for values of any leading shape (the
    Lab and the attributions hold an encoder's values without a Run)."""
    from encoder.run import encoder_value_output_norms

    runs = model.run_batch(["Values carry the message.", "Short."], qkv=True)
    for run in runs:
        values = torch.from_numpy(run.values.copy())  # (L, H, T, Dh)
        stored = torch.from_numpy(run.value_output_norms.copy())
        torch.testing.assert_close(encoder_value_output_norms(model.encoder, values), stored)
        batched = encoder_value_output_norms(model.encoder, torch.stack([values, 2 * values]))  # (2, L, H, T)
        torch.testing.assert_close(batched[1], 2 * batched[0])
