"""The Q·K walk-through: how one head turns one query and the keys into a row of attention.

Vaswani et al. (2017) eq. 1: softmax(q·k_j / √d_head). The temperature τ divides the scaled
scores once more, softmax(q·k_j / √d_head / τ), to show how a sharper or flatter softmax moves
the weights; τ = 1 is what the model computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from ..run import Run


@dataclass(frozen=True, eq=False)
class QKWalkthrough:
    """Every step for one head and one query token. T = tokens, Dh = d_head."""

    layer: int
    head: int
    position: int  # the query token's position
    temperature: float
    query: np.ndarray  # (Dh,) q_i, before scaling
    keys: np.ndarray  # (T, Dh) k_j
    products: np.ndarray  # (T, Dh) q_i ⊙ k_j: each dimension's part of the score
    scores: np.ndarray  # (T,) q_i · k_j, the sum of each row of products
    scaled_scores: np.ndarray  # (T,) scores / √Dh / temperature
    softmax: np.ndarray  # (T,) the attention row; 0 on keys the model may not see
    visible: np.ndarray  # (T,) bool: False for keys a causal mask hides from this query


def is_causal(attentions: np.ndarray) -> bool:
    """Whether every weight above the diagonal is exactly zero: the trace a causal mask leaves.

    A softmax never gives exactly 0 to every later key of every row of every head by chance, so
    this reads the mask from the run itself (a Run does not carry its model's config).
    """
    n_tokens = attentions.shape[-1]
    if n_tokens < 2:
        return False
    upper = np.triu_indices(n_tokens, k=1)
    return not attentions[..., upper[0], upper[1]].any()


def qk_unavailable(model) -> str | None:
    """Why runs of `model` cannot carry the queries and keys the walk-through needs, in one sentence
    naming it; None when they can (every native encoder; decoders whose layout the transformers
    adapter knows)."""
    reason = getattr(model, "qkv_unavailable", None)  # the transformers adapter's
    return reason() if callable(reason) else None


def qk_walkthrough(run: Run, layer: int, head: int, query: int, temperature: float = 1.0) -> QKWalkthrough:
    """The query vector, the keys, their products, the scores, the scaled scores and the softmax.

    At temperature 1 `softmax` equals `run.attentions[layer, head, query]` (within float32
    rounding). A Run has no padding (a batch's padded keys are cut off), and a causal model's
    hidden keys (`run.causal` where the run has it, else `is_causal`) get weight 0, as the model gave them.
    """
    if run.queries is None or run.keys is None:
        why = getattr(run, "qkv_unavailable", None)  # the transformers adapter says why it kept none
        raise ValueError(why or "This run has no queries and keys: make it with model.run(text, qkv=True).")
    if not 0 <= layer < run.n_layers or not 0 <= head < run.n_heads or not 0 <= query < run.n_tokens:
        raise ValueError(
            f"No layer {layer}, head {head}, token {query}: the run has {run.n_layers} layers, "
            f"{run.n_heads} heads and {run.n_tokens} tokens (counted from 0)."
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature}.")
    q = run.queries[layer, head, query].astype(np.float64)  # (Dh,)
    k = run.keys[layer, head].astype(np.float64)  # (T, Dh)
    products = q[None, :] * k  # (T, Dh)
    scores = products.sum(axis=-1)  # (T,)
    scaled = scores / np.sqrt(q.shape[0]) / temperature  # (T,)
    visible = np.ones(run.n_tokens, dtype=bool)
    causal = getattr(run, "causal", None)  # the transformers adapter's runs say so; native runs do not
    if causal is None:
        causal = is_causal(run.attentions[layer])  # one layer's heads suffice: (H, T, T)
    if causal:
        visible[query + 1:] = False
    weights = np.zeros_like(scaled)
    weights[visible] = softmax(scaled[visible])
    return QKWalkthrough(
        layer=layer, head=head, position=query, temperature=float(temperature),
        query=q, keys=k, products=products, scores=scores, scaled_scores=scaled,
        softmax=weights, visible=visible,
    )
