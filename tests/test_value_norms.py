"""‖v_j W_O^h‖ is computed in one place (modules.factored_value_output_norms), from each head's
triangular factor of W_O (modules.head_factors), cached per weight: the same lengths as the direct
product for healthy and degenerate heads, a cache that follows a weight changed in place, and every
caller (the engine's runs, the adapters' captures) agreeing with the direct product."""

from __future__ import annotations

import torch

from encoder.adapters.value_norms import head_output_norms
from encoder.modules import factored_value_output_norms, head_factors


def direct(values: torch.Tensor, w_out: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(H, T, Dh) values -> (H, T) norms, projecting each head's values through its slice of W_O."""
    d_head = w_out.shape[1] // n_heads
    return torch.stack([(values[h] @ w_out[:, h * d_head:(h + 1) * d_head].T).norm(dim=-1)
                        for h in range(n_heads)])


def test_factors_give_the_direct_lengths():
    torch.manual_seed(0)
    n_heads, d_head, d_model, n_tokens = 12, 32, 384, 40
    w_out = torch.randn(d_model, n_heads * d_head) / d_model ** 0.5
    values = torch.randn(n_heads, n_tokens, d_head)
    expected = direct(values.double(), w_out.double(), n_heads)
    factored = factored_value_output_norms(values, head_factors(w_out, n_heads))
    assert factored.dtype == torch.float32 and factored.shape == (n_heads, n_tokens)
    torch.testing.assert_close(factored.double(), expected, rtol=1e-5, atol=0)


def test_factors_are_lower_triangular_and_keep_every_length():
    torch.manual_seed(1)
    w_out = torch.randn(24, 16)
    factors = head_factors(w_out, 2)  # (2, 8, 8)
    assert factors.shape == (2, 8, 8)
    assert torch.equal(factors, factors.tril())
    # F_h F_hᵀ is W_O^hᵀ W_O^h: the factor keeps the Gram matrix, so every length.
    w_heads = w_out.reshape(24, 2, 8).transpose(0, 1)  # (H, D, Dh)
    torch.testing.assert_close(factors @ factors.mT, w_heads.mT @ w_heads, rtol=1e-5, atol=1e-5)


def test_a_zeroed_head_gets_zero_lengths_and_a_rank_deficient_one_its_exact_lengths():
    torch.manual_seed(2)
    w_out = torch.randn(16, 3 * 4)
    w_out[:, 0:4] = 0.0  # head 0 switched off (pruned)
    w_out[:, 5] = w_out[:, 4]  # head 1 lost a rank: two columns alike
    values = torch.randn(3, 6, 4)
    norms = factored_value_output_norms(values, head_factors(w_out, 3))
    assert torch.equal(norms[0], torch.zeros(6))
    assert not norms.isnan().any()
    torch.testing.assert_close(norms, direct(values, w_out, 3), rtol=1e-5, atol=1e-6)


def test_cached_factors_follow_an_in_place_change():
    torch.manual_seed(3)
    w_out = torch.randn(16, 16)
    first = head_factors(w_out, 4)
    assert head_factors(w_out, 4) is first  # cached while the weight is unchanged
    assert head_factors(w_out, 2).shape == (2, 8, 8)  # another head split is another entry
    with torch.no_grad():
        w_out.mul_(2.0)  # an optimiser step or load_state_dict writes in place
    values = torch.randn(4, 3, 4)
    torch.testing.assert_close(factored_value_output_norms(values, head_factors(w_out, 4)),
                               2 * factored_value_output_norms(values, first))


def test_factors_keep_the_graph_when_training():
    torch.manual_seed(4)
    w_out = torch.randn(12, 8, requires_grad=True)
    values = torch.randn(2, 5, 4)
    factored_value_output_norms(values, head_factors(w_out, 2)).sum().backward()
    expected = w_out.detach().clone().requires_grad_(True)
    direct(values, expected, 2).sum().backward()
    torch.testing.assert_close(w_out.grad, expected.grad, rtol=1e-4, atol=1e-5)


def test_half_precision_weights_get_factors_of_their_dtype():
    w_out = torch.randn(16, 8).half()
    factors = head_factors(w_out, 2)
    assert factors.dtype == torch.float16 and factors.shape == (2, 4, 4)


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
