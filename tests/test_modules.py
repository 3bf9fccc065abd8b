"""Known answers for the encoder's pieces, and masking that leaves real tokens untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from encoder import Encoder, EncoderConfig
from encoder.geometry import cosine_similarity
from encoder.loading.families import family_for
from encoder.modules import attention
from encoder.positional import sinusoidal_table


def test_attention_is_uniform_when_queries_are_zero():
    q = torch.zeros(1, 2, 4, 8)
    k = torch.randn(1, 2, 4, 8)
    v = torch.randn(1, 2, 4, 8)
    out, weights = attention(q, k, v)
    assert torch.allclose(weights, torch.full((1, 2, 4, 4), 0.25))
    assert torch.allclose(out, v.mean(dim=2, keepdim=True).expand_as(out), atol=1e-6)


def test_attention_known_answer():
    # One head, two tokens: scores = q.k / sqrt(2).
    q = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    k = torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]]])
    v = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    out, weights = attention(q, k, v)
    a = math.exp(2 / math.sqrt(2))
    expected = torch.tensor([[a / (a + 1), 1 / (a + 1)], [0.5, 0.5]])
    assert torch.allclose(weights[0, 0], expected, atol=1e-6)
    assert torch.allclose(out[0, 0], expected, atol=1e-6)  # v is the identity


def test_attention_writes_into_a_given_buffer():
    q, k, v = (torch.randn(1, 3, 5, 4) for _ in range(3))
    buffer = torch.empty(1, 3, 5, 5)
    out, weights = attention(q, k, v, out=buffer)
    expected_out, expected = attention(q, k, v)
    assert weights.data_ptr() == buffer.data_ptr()
    assert torch.allclose(weights, expected) and torch.allclose(out, expected_out)


def test_masked_keys_get_exactly_zero():
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()[:, None, None, :]
    _, weights = attention(q, k, v, mask)
    assert torch.all(weights[0, :, :, 3:] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5))


def test_sinusoidal_table_known_values():
    table = sinusoidal_table(50, 6)
    np.testing.assert_allclose(table[0], [0, 1, 0, 1, 0, 1], atol=1e-7)
    pos, i = 7, 1  # dimension 2i = 2 has frequency 1 / 10000^(2/6)
    angle = pos / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(table[pos, 2 * i], math.sin(angle), rtol=1e-6)
    np.testing.assert_allclose(table[pos, 2 * i + 1], math.cos(angle), rtol=1e-6)
    assert sinusoidal_table(3, 5).shape == (3, 5)  # odd widths work too


def test_cosine_similarity():
    sim = cosine_similarity(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]]))
    np.testing.assert_allclose(np.diag(sim)[:3], 1, atol=1e-6)
    assert sim[0, 1] == pytest.approx(0) and sim[0, 2] == pytest.approx(2 ** -0.5)
    assert sim[3, 3] == 0


CONFIGS = {
    "paper": EncoderConfig.paper(vocab_size=50, d_model=32, n_heads=4, d_ff=64, n_layers=2,
                                 max_positions=16),
    "bert": EncoderConfig(vocab_size=50, d_model=32, n_heads=4, d_ff=64, n_layers=2, max_positions=16),
    "pre_ln": EncoderConfig(vocab_size=50, d_model=32, n_heads=4, d_ff=64, n_layers=2,
                            max_positions=16, norm_first=True, final_norm=True),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_padding_changes_nothing_for_real_tokens(name):
    torch.manual_seed(0)
    encoder = Encoder(CONFIGS[name]).eval()
    ids = torch.randint(1, 50, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], dim=1)  # (1, 10)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], dim=1)
    with torch.no_grad():
        alone = encoder(ids)
        with_padding = encoder(padded, attention_mask=mask)
    for a, b in zip(alone.hidden_states, with_padding.hidden_states, strict=True):
        torch.testing.assert_close(b[:, :6], a, atol=1e-5, rtol=0)


def test_batch_rows_are_independent():
    torch.manual_seed(1)
    encoder = Encoder(CONFIGS["bert"]).eval()
    batch = torch.randint(1, 50, (3, 7))
    with torch.no_grad():
        together = encoder(batch).last_hidden_state
        apart = torch.cat([encoder(batch[i: i + 1]).last_hidden_state for i in range(3)])
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=0)


def test_paper_config_uses_sinusoids_and_scaling():
    config = CONFIGS["paper"]
    encoder = Encoder(config)
    assert config.positions == "sinusoidal" and config.scale_embedding
    assert not any("position" in name for name, _ in encoder.named_parameters())
    parts = encoder.embeddings.parts(torch.tensor([[3, 4]]), None)
    torch.testing.assert_close(parts.position[0], torch.from_numpy(sinusoidal_table(16, 32)[:2]))
    torch.testing.assert_close(parts.token[0], encoder.embeddings.token.weight[[3, 4]] * math.sqrt(32))
    assert parts.segment is None


def test_config_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divide evenly"):
        EncoderConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        family_for("gpt2")


def test_too_many_positions_is_an_error():
    encoder = Encoder(CONFIGS["bert"])
    with pytest.raises(ValueError, match="exceed"):
        encoder(torch.ones(1, 17, dtype=torch.long))


def test_causal_mask_hides_the_future_and_keeps_the_past_unchanged():
    """With `causal`, query i sees keys 0..i only, so appending tokens changes nothing before them."""
    from encoder.capture import capture_attention

    torch.manual_seed(0)
    config = EncoderConfig.paper(vocab_size=20, d_model=32, n_heads=4, n_layers=2, d_ff=64, causal=True, dropout=0.0)
    encoder = Encoder(config).eval()
    ids = torch.randint(0, 20, (1, 9))
    with torch.inference_mode(), capture_attention(encoder) as record:
        long = encoder(ids).last_hidden_state
        weights = record.stacked_weights()[0]  # (L, H, T, T)
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-6)
    with torch.inference_mode():
        short = encoder(ids[:, :5]).last_hidden_state
    assert torch.allclose(long[:, :5], short, atol=1e-5)
