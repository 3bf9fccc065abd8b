"""AttentionViz's joint query–key map (Yeh et al. 2023): one head's queries and keys in one 2-D picture.

    from encoder.analysis.joint_qk import head_queries_keys, joint_qk_map
    sample = head_queries_keys(model, texts, layer=2, head=5)      # the head's own Q and K, every token
    joint = joint_qk_map(sample, method="pca")                     # JointMap: xy (2N, 2), queries first

A query lands near the keys it attends to when their dot product is large, so clusters show what the
head matches. Two changes make the picture honest without changing any attention weight, both from
AttentionViz (§4.1):
- translate="centroid" (default): every key is shifted by (mean query − mean key). Within one
  query's row, q·(k + c) = q·k + q·c adds the same number to every key's score, which the softmax
  removes, so attention is unchanged; without the shift, queries and keys often sit in two separate
  clouds and the projection shows only that gap. "none" keeps the raw keys.
- scale=True (default), applied first: queries × s and keys ÷ s, with s = √(mean ‖k‖ / mean ‖q‖),
  so that the raw vectors have the same mean norm (q·k is unchanged); the translation follows.
Then PCA (scikit-learn, exact), t-SNE (scikit-learn, seeded) or UMAP (umap-learn, seeded, when
installed) projects the 2N vectors together, as the person chooses. PCA keeps distances' linear
structure and is instant; t-SNE and UMAP keep neighbourhoods and take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..run import Model

METHODS = ("pca", "tsne", "umap")
TRANSLATIONS = ("centroid", "none")


@dataclass(frozen=True)
class HeadSample:
    """One head's queries and keys over a corpus sample, one row per token (specials included)."""

    layer: int
    head: int
    queries: np.ndarray  # float32 (N, Dh)
    keys: np.ndarray  # float32 (N, Dh)
    sentence: np.ndarray  # int (N,): index into `sentences`
    position: np.ndarray  # int (N,): position in run.tokens
    tokens: tuple[str, ...]  # (N,)
    offsets: np.ndarray  # int (N, 2): character span in the sentence ((0, 0) for specials)
    special: np.ndarray  # bool (N,)
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class JointMap:
    """The 2-D map: rows 0..N−1 are the queries, N..2N−1 the same tokens' keys."""

    sample: HeadSample
    xy: np.ndarray  # float32 (2N, 2)
    method: str
    translate: str
    scale: float  # s: queries × s, keys ÷ s
    explained: tuple[float, float] | None  # PCA's explained variance ratios, else None

    @property
    def is_key(self) -> np.ndarray:
        n = len(self.sample.tokens)
        return np.arange(2 * n) >= n


def head_queries_keys(model: Model, texts: Sequence[str], layer: int, head: int, batch_size: int = 32) -> HeadSample:
    """One head's per-token queries and keys over `texts`, from `model.run_batch(..., qkv=True)` (batched).

    Unreadable texts are left out. Raises ValueError when the model gives no queries and keys
    (an encoder–decoder through transformers) or the layer or head does not exist.
    """
    n_layers, n_heads = model.config.n_layers, model.config.n_heads
    if not (0 <= layer < n_layers and 0 <= head < n_heads):
        raise ValueError(f"Layer {layer}, head {head} is not in a model of {n_layers} layers × {n_heads} heads.")
    queries, keys, sentence, position, tokens, offsets, special = [], [], [], [], [], [], []
    texts = list(texts)
    for start in range(0, len(texts), batch_size):
        chunk = list(range(start, min(start + batch_size, len(texts))))
        try:
            runs = list(zip(chunk, model.run_batch([texts[i] for i in chunk], batch_size, qkv=True), strict=True))
        except ValueError:  # one unreadable text stops a batch: run the readable ones alone
            runs = []
            for i in chunk:
                try:
                    runs.append((i, model.run(texts[i], qkv=True)))
                except ValueError:
                    continue
        for i, run in runs:
            if run.queries is None:
                raise ValueError(f"{model.name} gives no per-head queries and keys, so it has no query–key map.")
            queries.append(run.queries[layer, head])  # (T, Dh)
            keys.append(run.keys[layer, head])
            sentence += [i] * run.n_tokens
            position += list(range(run.n_tokens))
            tokens += list(run.tokens)
            offsets += [tuple(o) for o in run.offsets]
            special += list(run.special)
    if not queries:
        raise ValueError("No text of the sample could be read.")
    return HeadSample(layer, head, np.concatenate(queries).astype(np.float32), np.concatenate(keys).astype(np.float32),
                      np.asarray(sentence), np.asarray(position), tuple(tokens),
                      np.asarray(offsets, dtype=np.int64).reshape(-1, 2), np.asarray(special, dtype=bool),
                      tuple(texts))


def aligned(queries: np.ndarray, keys: np.ndarray, translate: str = "centroid", scale: bool = True
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """(queries, keys, s) after AttentionViz's key translation and norm scaling (see the module): q·k per row
    changes only by a constant, so every attention weight stays the same."""
    if translate not in TRANSLATIONS:
        raise ValueError(f"translate is one of {TRANSLATIONS}, not {translate!r}.")
    q, k = np.asarray(queries, dtype=np.float64), np.asarray(keys, dtype=np.float64)
    s = 1.0
    if scale:  # first, on the raw vectors, so that the translation below leaves the centroids equal
        q_norm, k_norm = np.linalg.norm(q, axis=1).mean(), np.linalg.norm(k, axis=1).mean()
        s = float(np.sqrt(k_norm / q_norm)) if q_norm > 0 and k_norm > 0 else 1.0
    q, k = q * s, k / s
    if translate == "centroid":
        k = k + (q.mean(axis=0) - k.mean(axis=0))
    return q, k, s


def joint_qk_map(sample: HeadSample, method: str = "pca", translate: str = "centroid", scale: bool = True,
                 seed: int = 0) -> JointMap:
    """The 2-D joint map of a head's queries and keys (queries first), by PCA, t-SNE or UMAP."""
    if method not in METHODS:
        raise ValueError(f"method is one of {METHODS}, not {method!r}.")
    q, k, s = aligned(sample.queries, sample.keys, translate, scale)
    stacked = np.concatenate([q, k])  # (2N, Dh)
    explained = None
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        xy = pca.fit_transform(stacked)
        explained = (float(pca.explained_variance_ratio_[0]), float(pca.explained_variance_ratio_[1]))
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(stacked) - 1) / 3.0)))
        # 500 iterations rather than 1,000: the layout settles by then and it halves a slow projection.
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=500,
                  random_state=seed).fit_transform(stacked)
    else:
        try:
            import umap
        except ImportError as error:  # an optional extra (requirements-scale.txt)
            raise ValueError("UMAP needs the umap-learn package (pip install -r requirements-scale.txt); "
                             "PCA and t-SNE work without it.") from error
        neighbours = int(min(15, len(stacked) - 1))
        xy = umap.UMAP(n_components=2, n_neighbors=max(2, neighbours), random_state=seed).fit_transform(stacked)
    return JointMap(sample, np.asarray(xy, dtype=np.float32), method, translate, s, explained)
