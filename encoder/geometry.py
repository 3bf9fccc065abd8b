"""The geometry of token vectors: which vectors a depth means, PCA projections, norms, cosines.

Pure numpy (plus the `Run` they read from); no Streamlit, no Plotly. The Embeddings page draws
what these functions return.

Depths, in the order a token goes through the model:
- "token embedding": the row of the token table alone, before anything is added;
- "token + position + segment": the sum of the three table rows, still before the LayerNorm;
- "embedding output": LayerNorm of that sum, the input of layer 1 (`hidden_states[0]`);
- "layer 1" … "layer L": the output of each encoder layer (`hidden_states[i]`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .run import Run

TOKEN_EMBEDDING = "token embedding"
EMBEDDING_OUTPUT = "embedding output"


@dataclass(frozen=True)
class Projection:
    """Vectors projected onto their first k principal axes.

    coordinates: float32 (..., k), the same leading shape as the vectors projected;
    explained_ratio: float64 (k,), each axis's share of the total variance of the fitted data;
    components: float64 (k, D), unit principal axes (rows); mean: float64 (D,), the centre.
    """

    coordinates: np.ndarray
    explained_ratio: np.ndarray
    components: np.ndarray
    mean: np.ndarray

    @property
    def n_components(self) -> int:
        return self.components.shape[0]


# ---------------------------------------------------------------- depths


def summed_embedding_name(run: Run) -> str:
    return "token + position" if run.segment_embeddings is None else "token + position + segment"


def layer_name(layer: int) -> str:
    """1-based, as people count layers: hidden_states[i] is 'layer i'."""
    return f"layer {layer}"


def hidden_depth_names(n_layers: int) -> list[str]:
    """Names of hidden_states[0 .. L]: the embedding output, then one per layer."""
    return [EMBEDDING_OUTPUT] + [layer_name(i) for i in range(1, n_layers + 1)]


def depth_names(run: Run) -> list[str]:
    """Every depth the page offers, from the raw token table to the last layer."""
    return [TOKEN_EMBEDDING, summed_embedding_name(run), *hidden_depth_names(run.n_layers)]


def vectors_at_depth(run: Run, depth: str) -> np.ndarray:
    """The (T, D) float32 token vectors at a depth named by `depth_names`."""
    if depth == TOKEN_EMBEDDING:
        return run.token_embeddings
    if depth == summed_embedding_name(run):
        summed = run.token_embeddings + run.position_embeddings  # (T, D)
        if run.segment_embeddings is not None:
            summed = summed + run.segment_embeddings
        return summed.astype(np.float32)
    hidden = hidden_depth_names(run.n_layers)
    if depth not in hidden:
        raise ValueError(f"Unknown depth {depth!r}; expected one of {depth_names(run)}.")
    return run.hidden_states[hidden.index(depth)]


# ---------------------------------------------------------------- PCA


def pca(vectors: np.ndarray, n_components: int = 2) -> Projection:
    """Principal axes of an (N, D) array (SVD of the centred data), and the data projected on them.

    Signs are made deterministic the way scikit-learn's `svd_flip(u_based_decision=False)`
    does: each axis is flipped so that its largest-magnitude loading is positive. Without this
    the picture could mirror between two runs of the same text.

    Asking for more axes than the data have (k > min(N, D)) pads with zero axes that explain
    0% of the variance, so callers can always ask for 2 or 3.
    """
    if n_components < 1:
        raise ValueError("n_components must be at least 1.")
    data = np.asarray(vectors, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"Expected a non-empty (N, D) array, got shape {data.shape}.")
    mean = data.mean(axis=0)  # (D,)
    centred = data - mean  # (N, D)
    variances, axes = _principal_axes(centred)  # (r,), (r, D), largest variance first
    total = variances.sum()
    ratios = variances / total if total > 0 else np.zeros_like(variances)
    axes = _flip_to_largest_positive(axes)
    k = min(n_components, axes.shape[0])
    components = np.zeros((n_components, data.shape[1]))  # (k, D), padded rows stay zero
    components[:k] = axes[:k]
    explained = np.zeros(n_components)
    explained[:k] = ratios[:k]
    coordinates = (centred @ components.T).astype(np.float32)  # (N, k)
    return Projection(coordinates, explained, components, mean)


def _principal_axes(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared singular values (r,) and right singular vectors (r, D) of centred (N, D) data.

    With more vectors than dimensions (all depths of a long text: 7 x 512 vectors of 384) the
    eigen-decomposition of the (D, D) scatter matrix gives the same axes about ten times faster
    than an SVD of the (N, D) data; the squared condition number it costs is harmless for
    the top few axes a picture needs. Short texts (N < D) use the SVD directly.
    """
    n, d = centred.shape
    if n < d:
        _, singular_values, axes = np.linalg.svd(centred, full_matrices=False)  # axes: (N, D)
        return singular_values**2, axes
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)  # ascending; vectors: (D, D)
    order = np.argsort(eigenvalues)[::-1]
    return np.clip(eigenvalues[order], 0.0, None), eigenvectors[:, order].T  # (D,), (D, D)


def depth_projection(run: Run, depth: str, n_components: int = 2) -> Projection:
    """The tokens at one depth on their own first principal axes (what the scatter draws)."""
    return pca(vectors_at_depth(run, depth), n_components)


def project(vectors: np.ndarray, basis: Projection) -> np.ndarray:
    """(..., D) -> (..., k) float32 coordinates on an already fitted basis."""
    centred = np.asarray(vectors, dtype=np.float64) - basis.mean  # (..., D)
    return (centred @ basis.components.T).astype(np.float32)


def shared_pca(stacked: np.ndarray, n_components: int = 2) -> Projection:
    """One PCA space for every depth: (S, T, D) -> coordinates (S, T, k).

    Fitted on all S·T vectors at once, so the axes are the same at every depth and a token's
    path from depth to depth is a real movement, not a change of axes. (A separate PCA per depth
    would rotate and mirror freely between depths.)
    """
    depths, tokens, dim = stacked.shape
    basis = pca(stacked.reshape(depths * tokens, dim), n_components)  # fit on (S·T, D)
    coordinates = basis.coordinates.reshape(depths, tokens, n_components)  # (S, T, k)
    return Projection(coordinates, basis.explained_ratio, basis.components, basis.mean)


def _flip_to_largest_positive(axes: np.ndarray) -> np.ndarray:
    """(k, D) -> (k, D) with each row's largest-|value| entry made positive."""
    largest = np.argmax(np.abs(axes), axis=1)  # (k,)
    signs = np.sign(axes[np.arange(axes.shape[0]), largest])
    signs[signs == 0] = 1.0
    return axes * signs[:, None]


# ---------------------------------------------------------------- norms and cosines


def vector_norms(hidden_states: np.ndarray) -> np.ndarray:
    """(L + 1, T, D) -> (L + 1, T) float32 Euclidean lengths of every token vector."""
    return np.linalg.norm(np.asarray(hidden_states, dtype=np.float64), axis=-1).astype(np.float32)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Row-by-row cosine similarity of an (N, D) array, as float32 (N, N); zero rows give 0."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    return (unit @ unit.T).astype(np.float32)


def centre(vectors: np.ndarray) -> np.ndarray:
    """(T, D) minus its mean token (T, D).

    Contextual vectors share a large common direction, so raw cosines are high between almost
    any two tokens (the "anisotropy" of Ethayarajh 2019, "How Contextual are Contextualized Word
    Representations?"). Removing the mean, as Mu & Viswanath (2018, "All-but-the-Top") do,
    shows how tokens differ from each other rather than what they share.
    """
    data = np.asarray(vectors, dtype=np.float64)
    return (data - data.mean(axis=0, keepdims=True)).astype(np.float32)


def token_cosines(vectors: np.ndarray, centred: bool = False) -> np.ndarray:
    """(T, D) -> (T, T) float32 cosine similarity of every pair of tokens, optionally centred."""
    return cosine_similarity(centre(vectors) if centred else vectors)


# ---------------------------------------------------------------- choosing tokens


def spread_positions(special: list[bool], limit: int = 8) -> list[int]:
    """A readable default subset of token positions: all of them for short texts, otherwise the
    first token ([CLS]) and content tokens spread evenly across the text, `limit` at most."""
    n = len(special)
    if n <= limit:
        return list(range(n))
    content = [i for i, is_special in enumerate(special) if not is_special]
    chosen = {0}
    if content:
        picks = np.linspace(0, len(content) - 1, num=min(limit - 1, len(content)))
        chosen.update(content[round(p)] for p in picks)
    return sorted(chosen)
