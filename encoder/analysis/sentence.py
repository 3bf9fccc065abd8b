"""The bundled model's own output: its sentence embedding, and which tokens make two texts alike.

all-MiniLM-L6-v2's sentence-transformers pipeline (modules.json) is Transformer → mean Pooling →
Normalize: the last hidden state averaged over every token, [CLS] and [SEP] included (a single
text has no padding), then scaled to unit length. sentence-transformers cuts texts at
max_seq_length 256 tokens; a Run may hold up to 512, so beyond 256 the two differ.
"""

from __future__ import annotations

import numpy as np

from ..run import Run


def _mean_pool(run: Run) -> np.ndarray:
    return run.hidden_states[-1].astype(np.float64).mean(axis=0)  # (D,)


def sentence_embedding(run: Run) -> np.ndarray:
    """(D,) float64: the mean-pooled, L2-normalised last hidden state, as `SentenceTransformer.encode`."""
    pooled = _mean_pool(run)
    return pooled / np.linalg.norm(pooled)


def sentence_similarity(run_a: Run, run_b: Run) -> float:
    """The cosine similarity of the two texts' sentence embeddings."""
    return float(sentence_embedding(run_a) @ sentence_embedding(run_b))


def similarity_contributions(run_a: Run, run_b: Run) -> tuple[np.ndarray, np.ndarray]:
    """Each token's share of the cosine: ((T_a,), (T_b,)) float64, each summing to `sentence_similarity`.

    With e_a = (1/T_a) Σ_i h_i, cos = e_a · ê_b / ‖e_a‖ = Σ_i (h_i / T_a) · ê_b / ‖e_a‖, so token i
    of A contributes (h_i / T_a) · ê_b / ‖e_a‖, and symmetrically for B. Mean pooling is linear,
    so this split is exact, not an approximation; a token with a negative share pulls the texts apart.
    """
    pooled_a, pooled_b = _mean_pool(run_a), _mean_pool(run_b)
    unit_a, unit_b = pooled_a / np.linalg.norm(pooled_a), pooled_b / np.linalg.norm(pooled_b)
    hidden_a = run_a.hidden_states[-1].astype(np.float64)  # (T_a, D)
    hidden_b = run_b.hidden_states[-1].astype(np.float64)  # (T_b, D)
    share_a = hidden_a @ unit_b / (len(hidden_a) * np.linalg.norm(pooled_a))
    share_b = hidden_b @ unit_a / (len(hidden_b) * np.linalg.norm(pooled_b))
    return share_a, share_b
