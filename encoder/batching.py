"""Padded batches for texts of different lengths: the tutorial's "padding masks for variable lengths".

A batch holds one row per text, so shorter texts are padded to the longest one. The attention
mask (1 = real token, 0 = padding) tells the encoder which keys to ignore (`key_padding_mask` in
`model.py`) and tells poolers which positions to leave out. Padding goes on the right, so every
real token keeps its position id and its output does not depend on what else is in the batch.

Sorting texts by length before cutting them into batches keeps similar lengths together, so little
compute goes into padding. Both helpers are pure: they know nothing about models or tokenizers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad integer sequences into one batch.

    Returns (ids, attention_mask), both int64 (B, T) with T the longest length: ids holds `pad_id`
    after each sequence ends, attention_mask is 1 for real positions and 0 for padding.
    Raises ValueError for no sequences or an empty one (an empty row would have nothing to attend to).
    """
    if len(sequences) == 0:
        raise ValueError("A batch needs at least one sequence.")
    lengths = [len(s) for s in sequences]
    if min(lengths) == 0:
        raise ValueError("Every sequence in a batch needs at least one element.")
    ids = torch.full((len(sequences), max(lengths)), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(sequences), max(lengths)), dtype=torch.long)  # (B, T)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(list(sequence), dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids, mask


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices into `lengths`, grouped into batches of at most `batch_size` with similar lengths.

    Indices are sorted by length (ties keep their original order, so the result is deterministic)
    and cut into consecutive batches; every index appears exactly once. Callers put results back
    in the original order through the indices.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])  # sorted() is stable
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
