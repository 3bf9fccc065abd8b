"""Padded batches and length-sorted batching (encoder/batching.py)."""

from __future__ import annotations

import pytest
import torch

from encoder.batching import length_sorted_batches, pad_batch


def test_pad_batch_pads_right_and_masks_padding():
    ids, mask = pad_batch([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_pad_batch_uses_the_given_pad_id_and_keeps_equal_lengths_unpadded():
    ids, mask = pad_batch([[1, 2], [3]], pad_id=-7)
    assert ids.tolist() == [[1, 2], [3, -7]]
    ids, mask = pad_batch([(4, 5), (6, 7)], pad_id=0)  # any sequence type
    assert ids.tolist() == [[4, 5], [6, 7]] and bool(mask.all())


@pytest.mark.parametrize("sequences", [[], [[1], []]])
def test_pad_batch_refuses_empty_input(sequences):
    with pytest.raises(ValueError):
        pad_batch(sequences, pad_id=0)


def test_length_sorted_batches_cover_every_index_once_in_length_order():
    lengths = [5, 1, 9, 3, 3, 7, 2]
    batches = length_sorted_batches(lengths, batch_size=3)
    assert batches == [[1, 6, 3], [4, 0, 5], [2]]  # ties (3, 3) keep file order: index 3 before 4
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_length_sorted_batches_save_padding():
    lengths = [30, 2, 28, 3, 31, 1]
    padded = lambda batches: sum(len(b) * max(lengths[i] for i in b) for b in batches)
    in_order = [[0, 1], [2, 3], [4, 5]]
    assert padded(length_sorted_batches(lengths, 2)) < padded(in_order)


def test_length_sorted_batches_edge_cases():
    assert length_sorted_batches([], 4) == []
    assert length_sorted_batches([3, 1], 10) == [[1, 0]]
    with pytest.raises(ValueError):
        length_sorted_batches([1, 2], 0)
