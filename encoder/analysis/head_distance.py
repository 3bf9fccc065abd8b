"""How alike two heads attend: Clark et al. (2019, §6) head distances and their 2-D map.

Distance between heads a and b, as the authors' `head_distances.py` (clarkkev/attention-analysis)
computes it: for each query token, the Jensen–Shannon divergence between the two heads' attention
rows (the divergence in nats, not scipy's `jensenshannon`, which returns its square root), SUMMED
over the sentence's tokens, not averaged: a longer sentence weighs more, as in the paper. Rows are
smoothed to 0.999·p + 0.001/T first, as there. Over several sentences the authors add the sums;
`head_distances` divides that total by the number of sentences, a constant factor that leaves
every ratio between distances, and so the map's shape, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import entr

SMOOTHING = 0.001


def _sentence_distances(attentions: np.ndarray) -> np.ndarray:
    """One sentence's (L, H, T, T) -> (L·H, L·H): the sum over queries of the JS divergence (Clark et al.).

    JS(p, q) = H((p + q) / 2) − (H(p) + H(q)) / 2 (Lin 1991), with H the Shannon entropy in
    nats: each head's row entropies are computed once, leaving one entropy pass per pair of heads
    (a third of the work of scipy's `jensenshannon`, which the tests use as the reference).
    """
    attentions = np.asarray(attentions, dtype=np.float64)
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"Expected attention of shape (L, H, T, T), got {attentions.shape}.")
    n_layers, n_heads, n_tokens, _ = attentions.shape
    rows = attentions.reshape(n_layers * n_heads, n_tokens, n_tokens)  # (N, T, T): N = L·H heads
    rows = (1.0 - SMOOTHING) * rows + SMOOTHING / n_tokens
    rows /= rows.sum(axis=-1, keepdims=True)  # a distribution per row, as scipy would make it
    # The pairwise pass is (N²/2)·T² logarithms: in float32 it takes a third of the time, and its
    # sums accumulate in float64, so the divergences stay within ~1e-6 of float64's. The row
    # entropies use the same float32 rows, so that two identical heads give exactly 0.
    rows32 = rows.astype(np.float32)
    entropies = entr(rows32).sum(axis=-1, dtype=np.float64)  # (N, T)
    distances = np.zeros((len(rows), len(rows)))
    buffer = np.empty_like(rows32[1:])  # (N − 1, T, T), reused: no fresh allocation per head
    for a in range(len(rows) - 1):
        block = buffer[: len(rows) - a - 1]  # (N − a − 1, T, T)
        np.add(rows32[a], rows32[a + 1:], out=block)
        block *= 0.5
        mixture = entr(block, out=block).sum(axis=-1, dtype=np.float64)  # (N − a − 1, T)
        divergence = mixture - 0.5 * (entropies[a] + entropies[a + 1:])  # (N − a − 1, T)
        distances[a, a + 1:] = np.maximum(divergence, 0.0).sum(axis=-1)  # Σ over tokens; ≥ 0 up to rounding
    return distances + distances.T  # symmetric, zero on the diagonal


def head_distances(attentions_list: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """(L·H, L·H) float64, head index = layer·H + head: JS divergence (nats) between heads' rows,
    summed over each sentence's tokens (Clark et al.'s convention: longer sentences weigh more).

    Takes one sentence's (L, H, T, T) attention or a list of them (lengths may differ); with a
    list, the per-sentence sums are averaged over sentences (Clark et al.'s total / the count).
    """
    if isinstance(attentions_list, np.ndarray) and attentions_list.ndim == 4:
        attentions_list = [attentions_list]
    if len(attentions_list) == 0:
        raise ValueError("head_distances needs at least one sentence's attention.")
    return np.mean([_sentence_distances(a) for a in attentions_list], axis=0)


def head_map(distances: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, N) head distances -> (N, 2) coordinates whose distances approximate them (metric MDS).

    scikit-learn 1.8 renamed MDS's `dissimilarity="precomputed"` to `metric="precomputed"`.
    Classical MDS starts the SMACOF iterations, so the map does not depend on a random start;
    `seed` still fixes anything random left.
    """
    # Imported here: scikit-learn takes seconds to import, and only the head map needs it, not
    # every page and the corpus CLI that import encoder.analysis.
    from sklearn.manifold import MDS

    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"Expected a square distance matrix, got {distances.shape}.")
    mds = MDS(n_components=2, metric="precomputed", init="classical_mds", random_state=seed)
    return mds.fit_transform(distances)
