"""Positional encodings as plain arrays, shared by the encoder module and the figures.

Nothing here reads a model: a learned table comes from `Model.learned_position_table()`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def sinusoid_wavelength(dim: int, d_model: int) -> float:
    """Wavelength, in positions, of dimension `dim` of the sinusoidal table.

    Dimensions 2i and 2i + 1 share the frequency 1 / 10000^(2i/d), so the wavelengths form a
    geometric progression from 2π to 10000·2π (Vaswani et al. 2017, §3.5).
    """
    if not 0 <= dim < d_model:
        raise ValueError(f"dimension {dim} is outside 0..{d_model - 1}.")
    return float(2 * np.pi * 10000.0 ** (2 * (dim // 2) / d_model))


def sinusoid_kind(dim: int) -> str:
    """'sin' for even dimensions, 'cos' for odd ones (§3.5)."""
    return "sin" if dim % 2 == 0 else "cos"


def similarity_by_offset(similarity: np.ndarray) -> np.ndarray:
    """Mean of each diagonal of a square (P, P) matrix: entry k is the mean over |i - j| = k, (P,).

    For the sinusoidal table this loses nothing (its similarity depends only on i - j); for a
    learned table it summarises how fast similarity falls with distance.
    """
    s = np.asarray(similarity, dtype=np.float64)
    n = s.shape[0]
    return np.array([np.diagonal(s, k).mean() for k in range(n)], dtype=np.float32)  # (P,)


@dataclass(frozen=True)
class InputDecomposition:
    """How much of each token's input vector x = token + position (+ segment) is each part.

    All arrays are (T, K), one column per name in `names`:
    - `shares` = ‖part‖² / Σ_parts ‖part‖². Rows sum to 1 (or are 0 when every part is 0).
      The parts are not orthogonal, so ‖x‖² = Σ‖part‖² + 2Σ⟨part_a, part_b⟩: a share says how
      large a part is beside the others (its share of the "energy" put in), not which fraction of
      ‖x‖ it causes. Shares are never negative, so they stack into a bar.
    - `cosines` = cos(x, part): how far the summed input points in the part's direction, which
      does include the overlaps (1 if x is that part alone, 0 if orthogonal to it).
    - `norms` = ‖part‖.
    All on the raw sum, before BERT's embedding LayerNorm. LayerNorm centres the sum, divides it
    by the token's own standard deviation and scales each dimension by a fixed weight; for one
    token all three act on each part alike, so the parts stay additive through it (its bias aside).
    On all-MiniLM-L6-v2 the centring changes the parts' norms by under 1%.
    """

    names: tuple[str, ...]
    shares: np.ndarray
    cosines: np.ndarray
    norms: np.ndarray


def decompose_input(token: np.ndarray, position: np.ndarray,
                    segment: np.ndarray | None = None) -> InputDecomposition:
    """Split each token's input (token + position + segment rows, each (T, D)) into shares."""
    named = {"token": token, "position": position}
    if segment is not None:
        named["segment"] = segment
    parts = np.stack([np.asarray(p, dtype=np.float64) for p in named.values()], axis=1)  # (T, K, D)
    summed = parts.sum(axis=1, keepdims=True)  # (T, 1, D)
    norms = np.linalg.norm(parts, axis=-1)  # (T, K)
    energy = norms**2  # (T, K)
    total = energy.sum(axis=1, keepdims=True)  # (T, 1)
    shares = np.divide(energy, total, out=np.zeros_like(energy), where=total > 0)
    dots = (parts * summed).sum(axis=-1)  # (T, K)
    lengths = norms * np.linalg.norm(summed, axis=-1)  # (T, K)
    cosines = np.divide(dots, lengths, out=np.zeros_like(dots), where=lengths > 0)
    return InputDecomposition(tuple(named), shares.astype(np.float32), cosines.astype(np.float32),
                              norms.astype(np.float32))


COMPARISON_DISTANCES = (1, 10, 100)
BAND_MARGIN = 0.1  # "banded": neighbours beat positions 100 apart by this much mean cosine


def describe_similarity(sin_curve: np.ndarray, learned_curve: np.ndarray) -> str:
    """A sentence a teacher can read out, with the mean similarities at a few distances, from two
    `similarity_by_offset` curves."""
    n = min(sin_curve.shape[0], learned_curve.shape[0])
    distances = [k for k in COMPARISON_DISTANCES if k < n] or [n - 1]
    numbers = "; ".join(f"{k} apart: {sin_curve[k]:.2f} and {learned_curve[k]:.2f}" for k in distances)
    far = min(n - 1, 100)
    banded = learned_curve[1] - learned_curve[far] > BAND_MARGIN
    learned_part = (
        "the learned one was never told that, yet it is banded too: training made neighbouring "
        "positions similar, with patchier bands"
        if banded else
        "the learned one shows no clear band: its similarity hardly falls with distance"
    )
    return (
        f"Mean cosine similarity, sinusoidal and learned ({numbers}). The sinusoidal matrix depends "
        f"only on the distance |i - j|, so its bands are perfectly straight; {learned_part}."
    )
