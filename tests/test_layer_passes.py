"""The encoder layer's shortcuts (each sublayer adding itself to the residual stream, outputs written
where they are kept) compute the textbook layer, and step aside for hooks and for training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from encoder import EncoderConfig
from encoder.modules import EncoderLayer, layer_norm, plus_linear


def test_plus_linear_is_the_residual_plus_the_linear_map():
    torch.manual_seed(0)
    linear, residual, x = nn.Linear(8, 6), torch.randn(2, 5, 6), torch.randn(2, 5, 8)
    residual_before = residual.clone()
    with torch.no_grad():
        expected = residual + linear(x)
        torch.testing.assert_close(plus_linear(residual, linear, x), expected, rtol=0, atol=1e-6)
        out = torch.empty(2, 5, 6)
        assert plus_linear(residual, linear, x, out=out).data_ptr() == out.data_ptr()
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
        unbiased = nn.Linear(8, 6, bias=False)
        torch.testing.assert_close(plus_linear(residual, unbiased, x, out=out), residual + unbiased(x),
                                   rtol=0, atol=1e-6)
    assert torch.equal(residual, residual_before)  # the residual stream itself is left as it was


def test_plus_linear_calls_a_hooked_linear_as_a_module():
    torch.manual_seed(1)
    linear, residual, x = nn.Linear(4, 4), torch.randn(3, 4), torch.randn(3, 4)
    handle = linear.register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))
    try:
        assert torch.equal(plus_linear(residual, linear, x), residual)  # the hook's output was added
    finally:
        handle.remove()


def test_layer_norm_into_memory_is_the_modules_own():
    torch.manual_seed(2)
    norm, x = nn.LayerNorm(6), torch.randn(2, 5, 6)
    out = torch.empty(2, 5, 6)
    with torch.inference_mode():
        written = layer_norm(norm, x, out=out)
        assert written.data_ptr() == out.data_ptr()
        assert torch.equal(written, norm(x))


@pytest.mark.parametrize("norm_first", [False, True])
def test_a_layer_computes_the_textbook_layer(norm_first):
    torch.manual_seed(3)
    layer = EncoderLayer(EncoderConfig(d_model=16, n_heads=2, d_ff=32, norm_first=norm_first,
                                       dropout=0.0)).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        attention, feed_forward = layer.attention, layer.feed_forward
        if norm_first:
            h = x + attention(layer.attention_norm(x))
            expected = h + feed_forward(layer.feed_forward_norm(h))
        else:
            h = layer.attention_norm(x + attention(x))
            expected = layer.feed_forward_norm(h + feed_forward(h))
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-5)
        out = torch.empty(2, 5, 16)
        assert layer(x, out=out).data_ptr() == out.data_ptr()
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
        layer.train()  # the dropout path (dropout 0 here: the same numbers, within rounding)
        torch.testing.assert_close(layer(x, out=out), expected, rtol=0, atol=1e-5)
        assert layer(x, out=out).data_ptr() == out.data_ptr()
