"""Hooks: nothing stays registered, threads sharing one model each get their own record."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from encoder.capture import capture_attention, registered_hook_count
from encoder.modules import attention

TEXTS = [f"Sentence number {i} talks about {'cats ' * (i % 5)}and {i * 7} dogs." for i in range(32)]


def test_no_hooks_remain_after_a_run(model):
    assert registered_hook_count(model.encoder) == 0
    model.run("The cat sat.")
    assert registered_hook_count(model.encoder) == 0


def test_no_hooks_remain_after_an_error(model):
    with pytest.raises(RuntimeError), capture_attention(model.encoder):
        assert registered_hook_count(model.encoder) > 0
        raise RuntimeError("boom")
    assert registered_hook_count(model.encoder) == 0


def test_record_has_one_entry_per_layer(model):
    ids = torch.tensor([model.tokenizer.encode("hello there").ids])
    with torch.inference_mode(), capture_attention(model.encoder) as record:
        model.encoder(ids)
    assert len(record.weights) == len(record.queries) == 6
    assert record.queries[0].shape == (1, 12, 4, 32)
    assert record.stacked_weights().shape == (1, 6, 12, 4, 4)


def test_capture_also_works_with_autograd(model):
    ids = torch.tensor([model.tokenizer.encode("hello there").ids])
    with capture_attention(model.encoder) as record:  # no buffer: autograd forbids out=
        model.encoder(ids)
    with torch.inference_mode():
        expected = model.run("hello there").attentions
    np.testing.assert_allclose(record.stacked_weights()[0].detach().numpy(), expected, atol=1e-6)


def test_threads_sharing_a_model_get_their_own_results(model):
    alone = {text: model.run(text) for text in TEXTS}
    barrier = threading.Barrier(16)

    def run(text):
        barrier.wait(timeout=30) if text in TEXTS[:16] else None
        return text, model.run(text)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(run, TEXTS * 3))
    for text, result in results:
        expected = alone[text]
        assert result.tokens == expected.tokens
        np.testing.assert_array_equal(result.attentions, expected.attentions)
        np.testing.assert_array_equal(result.hidden_states, expected.hidden_states)
        np.testing.assert_array_equal(result.queries, expected.queries)
    assert registered_hook_count(model.encoder) == 0


class ToyAttention(nn.Module):
    """Any module called as (q, k, v) and returning (output, weights) can be captured."""

    def forward(self, q, k, v):
        return attention(q, k, v)


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.second = ToyAttention(), ToyAttention()

    def forward(self, x):
        y, _ = self.first(x, x, x)
        return self.second(y, y, y)[0]


def test_capture_works_on_other_modules():
    toy = ToyModel()
    x = torch.randn(1, 2, 3, 4)
    with capture_attention(toy, select=lambda name, m: isinstance(m, ToyAttention)) as record:
        toy(x)
    assert len(record.weights) == 2 and record.stacked_weights().shape == (1, 2, 2, 3, 3)
    assert registered_hook_count(toy) == 0


def test_capture_needs_attention_modules():
    with pytest.raises(ValueError, match="no attention modules"), capture_attention(nn.Linear(2, 2)):
        pass
