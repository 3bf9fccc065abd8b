"""Without autograd, an Encoder's layers write what capture keeps straight into shared buffers:
the results must be exactly those of the plain pass, in every case the buffers do not fit."""

from __future__ import annotations

import numpy as np
import torch

from encoder import Encoder, EncoderConfig, Model
from encoder.capture import capture_attention, registered_hook_count
from encoder.modules import split_heads


def _ids(model, text: str = "The buffers hold every layer.") -> torch.Tensor:
    return torch.tensor([model.tokenizer.encode(text).ids])


def _plain(model, ids: torch.Tensor):
    """The same pass with autograd on, where capture keeps the cores' own tensors by reference."""
    with capture_attention(model.encoder) as record:
        output = model.encoder(ids)
    return record, output


def test_split_heads_is_the_layers_view_of_the_fused_projection():
    qkv = torch.arange(2 * 5 * 3 * 4 * 8, dtype=torch.float32).view(2, 5, 3 * 4 * 8)  # (B, T, 3·H·Dh)
    expected = qkv.view(2, 5, 3, 4, 8).permute(2, 0, 3, 1, 4)  # each (B, H, T, Dh)
    for part, want in zip(split_heads(qkv, 4), expected, strict=True):
        assert part.shape == (2, 4, 5, 8) and part.stride() == want.stride()
        assert part.data_ptr() == want.data_ptr() and torch.equal(part, want)


def test_projections_and_weights_are_views_of_one_buffer_each_and_equal_the_plain_pass(model):
    ids = _ids(model)
    plain, plain_output = _plain(model, ids)
    hidden = torch.empty(7, 1, ids.size(1), 384)
    with torch.inference_mode(), capture_attention(model.encoder) as record:
        output = model.encoder(ids, hidden_out=hidden)
    assert record.buffered == len(record.weights) == 6
    queries, keys, values = record.stacked_projections()
    buffer = record.projections_buffer
    for part in (queries, keys, values):
        assert part.shape == (1, 6, 12, ids.size(1), 32)
        assert buffer.data_ptr() <= part.data_ptr() < buffer.data_ptr() + buffer.nbytes  # a view, no copy
    assert record.stacked_weights().data_ptr() == record.weights_buffer.data_ptr()
    assert torch.equal(record.stacked_weights(), plain.stacked_weights().detach())
    for ours, theirs in zip((queries, keys, values), plain.stacked_projections(), strict=True):
        assert torch.equal(ours, theirs.detach())
    for index, state in enumerate(output.hidden_states):  # written into hidden_out as they were made
        assert state.data_ptr() == hidden[index].data_ptr()
        assert torch.equal(state, plain_output.hidden_states[index].detach())


def test_a_second_pass_in_one_block_is_recorded_whole(model):
    ids = _ids(model)
    plain, _ = _plain(model, ids)
    with torch.inference_mode(), capture_attention(model.encoder) as record:
        model.encoder(ids)
        model.encoder(ids)  # more calls than layers: the extra ones get memory of their own
    assert len(record.weights) == 12 and record.buffered == 6
    weights = record.stacked_weights()
    assert weights.shape[1] == 12
    assert torch.equal(weights[:, :6], weights[:, 6:])
    assert torch.equal(weights[:, 6:], plain.stacked_weights().detach())
    assert torch.equal(record.stacked_projections()[2][:, 6:], plain.stacked_projections()[2].detach())


def test_a_different_length_in_the_same_block_gets_its_own_memory(model):
    short, long = _ids(model, "Short."), _ids(model, "A longer text than the first one.")
    with torch.inference_mode(), capture_attention(model.encoder) as record:
        model.encoder(short)
        model.encoder(long)  # the buffers were shaped by the first pass
    assert record.buffered == 6 and len(record.weights) == 12
    assert [w.shape[-1] for w in record.weights] == [short.size(1)] * 6 + [long.size(1)] * 6
    plain, _ = _plain(model, long)
    assert torch.equal(torch.stack(record.weights[6:], 1), plain.stacked_weights().detach())


def test_nested_captures_both_see_the_pass(model):
    ids = _ids(model)
    plain, _ = _plain(model, ids)
    with torch.inference_mode(), capture_attention(model.encoder) as outer, \
            capture_attention(model.encoder) as inner:
        model.encoder(ids)
    for record in (outer, inner):
        assert torch.equal(record.stacked_weights(), plain.stacked_weights().detach())
        assert torch.equal(record.stacked_projections()[0], plain.stacked_projections()[0].detach())
    assert registered_hook_count(model.encoder) == 0


def test_shared_layers_fill_one_slot_per_application(model):
    torch.manual_seed(0)
    albert = Model(Encoder(EncoderConfig(n_layers=3, share_layers=True)).eval(), model.tokenizer, "shared")
    run = albert.run("One layer, three times.")
    ids = torch.tensor([run.ids])
    plain, _ = _plain(albert, ids)
    np.testing.assert_array_equal(run.attentions, plain.stacked_weights()[0].detach().numpy())
    np.testing.assert_array_equal(run.values, plain.stacked_projections()[2][0].detach().numpy())
    assert run.attentions.shape[0] == 3
