"""Heads of a corpus placed on a map: alike heads close together (Clark et al. 2019, §6).

Clark et al.'s distance between two heads adds, over sentences, each sentence's Jensen–Shannon
divergences summed over its tokens (`encoder.analysis.head_distances`; longer sentences weigh more),
so it streams like the statistics: each batch's
sentences add their (L·H, L·H) distances to a running sum and are dropped. The pairwise
divergences cost far more than the forward pass (L·H·(L·H − 1)/2 pairs of T × T rows a
sentence), so the map is drawn from a seeded random sample of the corpus; the sample size
bounds the time, and one batch bounds the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..analysis import head_distances, head_map, head_statistic_arrays, token_classes
from ..run import Model, Run
from .statistics import Progress, measure_by_length


@dataclass(frozen=True)
class CorpusHeadMap:
    """Every head as a point; head index k = layer · H + head, as in `head_distances`."""

    xy: np.ndarray  # float64 (L·H, 2): metric MDS coordinates of `distances`
    # float64 (L·H, L·H): JS divergence summed over each sentence's tokens (Clark et al.), averaged over
    # the sampled sentences (their total / the count: the map's shape is the same)
    distances: np.ndarray
    layer: np.ndarray  # int (L·H,), 0-based
    head: np.ndarray  # int (L·H,), 0-based
    # For each head, the index into `texts` of the sampled sentence where it is most focused
    # (lowest entropy as a share of ln T, so short sentences do not win by length alone): the
    # sentence to open when someone clicks the head.
    example: np.ndarray  # int (L·H,)
    sample: tuple[int, ...]  # indices into `texts` of the sentences measured, in text order
    skipped: tuple[tuple[int, str], ...]  # (row, reason) for sampled texts that could not be read


def sample_indices(n_texts: int, sample_size: int, seed: int = 0) -> list[int]:
    """Up to `sample_size` distinct indices below n_texts, sorted; all of them when there are few enough."""
    if sample_size < 1:
        raise ValueError(f"sample_size must be at least 1, not {sample_size}.")
    if n_texts <= sample_size:
        return list(range(n_texts))
    return sorted(np.random.default_rng(seed).choice(n_texts, size=sample_size, replace=False).tolist())


def distances_and_focus(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """One sentence's JS distances between heads (L·H, L·H), and each head's focus (L·H,): its entropy
    as a share of ln T, 0 = one key, 1 = uniform."""
    entropy = head_statistic_arrays(run.attentions, *token_classes(run.tokens, run.special))["entropy"]
    return head_distances(run.attentions), entropy.ravel() / np.log(max(run.n_tokens, 2))


def corpus_head_map(model: Model, texts: Sequence[str], sample_size: int = 32, batch_size: int = 32,
                    seed: int = 0, progress: Progress | None = None, *,
                    row_numbers: Sequence[int] | None = None) -> CorpusHeadMap:
    """The head map of a corpus from a seeded sample of `sample_size` sentences.

    Unreadable sampled texts are skipped (rows as in `corpus_statistics`). `progress(done, total)`
    counts sampled sentences. Raises ValueError when no sampled text can be read.
    """
    texts = list(texts)
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(texts) + 1))
    sample = sample_indices(len(texts), sample_size, seed)
    n_heads = model.config.n_layers * model.config.n_heads
    distance_sum = np.zeros((n_heads, n_heads))
    best_focus = np.full(n_heads, np.inf)  # lowest entropy / ln T so far, per head
    example = np.full(n_heads, -1)
    measured, skipped = [], []
    for i, result in measure_by_length(model, texts, distances_and_focus, batch_size, progress, indices=sample):
        if isinstance(result, str):
            skipped.append((rows[i], result))
            continue
        sentence_distances, focus = result  # (L·H, L·H), (L·H,)
        distance_sum += sentence_distances
        better = focus < best_focus
        best_focus[better], example[better] = focus[better], i
        measured.append(i)
    if not measured:
        raise ValueError("None of the sampled sentences could be read, so there is no head map to draw.")
    distances = distance_sum / len(measured)
    layer, head = np.divmod(np.arange(n_heads), model.config.n_heads)
    return CorpusHeadMap(xy=head_map(distances, seed), distances=distances, layer=layer, head=head,
                         example=example, sample=tuple(sorted(measured)), skipped=tuple(sorted(skipped)))
