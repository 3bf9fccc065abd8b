"""Positional encodings as plain arrays, shared by the encoder module and the figures."""

from __future__ import annotations

import numpy as np


def sinusoidal_table(n_positions: int, d_model: int) -> np.ndarray:
    """The fixed encoding of Vaswani et al. (2017), §3.5, as a float32 (n_positions, d_model) array.

    PE[pos, 2i] = sin(pos / 10000^(2i/d)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d)).
    Each pair of dimensions is one frequency, so PE[pos + k] is a rotation of PE[pos]:
    the reason the paper gives for choosing it.
    """
    if n_positions <= 0 or d_model <= 0:
        raise ValueError("n_positions and d_model must be positive.")
    positions = np.arange(n_positions, dtype=np.float64)[:, None]  # (P, 1)
    rates = 10000.0 ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)  # (ceil(d/2),)
    angles = positions * rates  # (P, ceil(d/2))
    table = np.empty((n_positions, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return table.astype(np.float32)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Row-by-row cosine similarity of an (N, D) array, as float32 (N, N); zero rows give 0."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    return (unit @ unit.T).astype(np.float32)
