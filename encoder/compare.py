"""Two models on the same text: which layer of B matches a layer of A, and their arrays side by side.

Models of different depths cannot be compared layer for layer. The usual answer (as in studies that
compare a model with a shallower variant; DistilBERT, Sanh et al. 2019, is initialised from one layer out
of two of BERT) is to match the same *share of the depth*: layer l of A has done
(l + 1) / L_A of A's work, and B's matching layer is the first one that has done at least as much.
With equal depths the mapping is the identity; the last layer always maps to the last layer.

Pure numpy on `Run`s: nothing here knows about Streamlit or Plotly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .attention_view import AS_CAPTURED, MEAN_HEAD, AttentionView, ViewOptions, head_or_mean, map_view
from .geometry import Projection, hidden_depth_names, pca, project
from .run import Run


def proportional_layer(layer: int, n_layers_a: int, n_layers_b: int) -> int:
    """The 0-based layer of a model with `n_layers_b` layers at the depth of `layer` (0-based) of one with
    `n_layers_a`: the smallest m with (m + 1) / L_B ≥ (layer + 1) / L_A, i.e. ⌈(l + 1) · L_B / L_A⌉ − 1.

    6 → 3 layers: 0, 1 → 0; 2, 3 → 1; 4, 5 → 2. 3 → 6 layers: 0 → 1, 1 → 3, 2 → 5.
    Integer arithmetic, so no rounding error decides a tie.
    """
    if n_layers_a < 1 or n_layers_b < 1:
        raise ValueError(f"Both models need at least one layer, not {n_layers_a} and {n_layers_b}.")
    if not 0 <= layer < n_layers_a:
        raise ValueError(f"Layer {layer} is outside 0..{n_layers_a - 1}.")
    return -(-(layer + 1) * n_layers_b // n_layers_a) - 1  # ceiling division


def layer_mapping(n_layers_a: int, n_layers_b: int) -> np.ndarray:
    """int (L_A,): B's layer for every layer of A (`proportional_layer`)."""
    return np.array([proportional_layer(layer, n_layers_a, n_layers_b) for layer in range(n_layers_a)])


def proportional_depth(depth: int, n_layers_a: int, n_layers_b: int) -> int:
    """The hidden-state index of B matching hidden_states[depth] of A: 0 (the embedding output) stays 0,
    and depth d ≥ 1 (the output of layer d − 1) goes to the output of B's proportional layer."""
    if not 0 <= depth <= n_layers_a:
        raise ValueError(f"Depth {depth} is outside 0..{n_layers_a}.")
    return 0 if depth == 0 else proportional_layer(depth - 1, n_layers_a, n_layers_b) + 1


def masked_attention(matrix: np.ndarray, causal: bool, query_positions: list[list[int]] | None = None,
                     key_positions: list[list[int]] | None = None) -> np.ndarray:
    """A (Q, K) attention map as float32, with the cells a causal model cannot see set to NaN: they are
    masked, not weights of zero, and a figure should draw them as such. A cell is masked when its key
    comes after its query: for a view's rows and columns (`query_positions`, `key_positions`, the run's
    token positions of each, `encoder.attention_view.AttentionView`), when every key token comes after
    every query token; without them, row i and column j are tokens i and j."""
    shown = np.array(matrix, dtype=np.float32)  # a copy: runs are read-only and shared
    if causal:
        if query_positions is None or key_positions is None:
            shown[np.triu_indices(shown.shape[0], k=1, m=shown.shape[1])] = np.nan
        else:
            last_query = np.array([max(group) for group in query_positions])  # (Q,)
            first_key = np.array([min(group) for group in key_positions])  # (K,)
            shown[first_key[None, :] > last_query[:, None]] = np.nan
    return shown


def is_causal(run: Run) -> bool:
    """True for a decoder's run (the transformers adapter sets `causal`); native encoders see every token."""
    return bool(getattr(run, "causal", False))


@dataclass(frozen=True)
class ComparedAttention:
    """One head of A beside a head of B at the proportional layer, each under the same view options
    (its own tokens: the models may cut the text differently); masked cells are NaN."""

    layer_a: int  # 0-based
    head_a: int  # 0-based, or MEAN_HEAD
    matrix_a: np.ndarray  # float32 (Q_A, K_A)
    layer_b: int
    head_b: int
    matrix_b: np.ndarray  # float32 (Q_B, K_B)
    view_a: AttentionView  # labels and positions of A's rows and columns (its weights: the one layer)
    view_b: AttentionView


def compared_attention(run_a: Run, run_b: Run, layer_a: int, head_a: int, head_b: int,
                       options: ViewOptions = AS_CAPTURED) -> ComparedAttention:
    """Head `head_a` of layer `layer_a` of A, and head `head_b` of B's proportional layer (or MEAN_HEAD for
    a layer's mean), each under `options` (`encoder.attention_view.map_view`)."""
    def known(head: int, n_heads: int) -> bool:
        return head == MEAN_HEAD or 0 <= head < n_heads

    if not known(head_a, run_a.n_heads) or not known(head_b, run_b.n_heads):
        raise ValueError(f"Heads {head_a}, {head_b} are outside the models' {run_a.n_heads} and {run_b.n_heads}.")
    layer_b = proportional_layer(layer_a, run_a.n_layers, run_b.n_layers)
    view_a = map_view(run_a, run_a.attentions[layer_a: layer_a + 1], options)  # (1, H_A, Q_A, K_A)
    view_b = map_view(run_b, run_b.attentions[layer_b: layer_b + 1], options)  # (1, H_B, Q_B, K_B)
    matrix_a = masked_attention(head_or_mean(view_a.weights, 0, head_a), is_causal(run_a),
                                view_a.query_positions, view_a.key_positions)
    matrix_b = masked_attention(head_or_mean(view_b.weights, 0, head_b), is_causal(run_b),
                                view_b.query_positions, view_b.key_positions)
    return ComparedAttention(layer_a, head_a, matrix_a, layer_b, head_b, matrix_b, view_a, view_b)


# Decoders such as Llama give a few tokens (usually the first) hidden states thousands of times larger than
# the rest, "massive activations" (Sun et al. 2024). One such vector takes all of a PCA's first axis and
# flattens every other token onto a point, so the axes are fitted without them.
MASSIVE_FACTOR = 10.0


def massive_tokens(vectors: np.ndarray, factor: float = MASSIVE_FACTOR) -> tuple[int, ...]:
    """Positions whose vector norm exceeds `factor` × the median norm of the (T, D) vectors."""
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=-1)  # (T,)
    return tuple(int(i) for i in np.flatnonzero(norms > factor * np.median(norms)))


def pca_without(vectors: np.ndarray, left_out: tuple[int, ...], n_components: int = 2) -> Projection:
    """PCA axes fitted on every token but `left_out`; all T tokens projected on them (coordinates (T, k))."""
    kept = np.setdiff1d(np.arange(len(vectors)), left_out)
    if not left_out or kept.size < 2:
        return pca(vectors, n_components)
    fitted = pca(vectors[kept], n_components)  # (T - n, k)
    return replace(fitted, coordinates=project(vectors, fitted))  # (T, k)


@dataclass(frozen=True)
class ComparedEmbeddings:
    """Each model's token vectors at matching depths, each on its own first principal axes.

    Two models' spaces have different widths and bases, so a shared projection means nothing: each
    gets its own PCA, and what compares is the shape of the cloud (which tokens sit together)."""

    depth_a: int  # hidden-state index: 0 = embedding output, l = output of layer l (1-based)
    name_a: str
    projection_a: Projection  # coordinates (T_A, 2)
    depth_b: int
    name_b: str
    projection_b: Projection  # coordinates (T_B, 2)
    # Tokens with massive activations (`massive_tokens`), left out of each fit but still projected.
    left_out_a: tuple[int, ...] = ()
    left_out_b: tuple[int, ...] = ()


def compared_embeddings(run_a: Run, run_b: Run, depth_a: int, n_components: int = 2) -> ComparedEmbeddings:
    """PCA of A's hidden_states[depth_a] and of B's hidden state at the proportional depth, each fitted
    without its tokens of massive activation."""
    depth_b = proportional_depth(depth_a, run_a.n_layers, run_b.n_layers)
    vectors_a, vectors_b = run_a.hidden_states[depth_a], run_b.hidden_states[depth_b]  # (T_A, D_A), (T_B, D_B)
    left_out_a, left_out_b = massive_tokens(vectors_a), massive_tokens(vectors_b)
    return ComparedEmbeddings(
        depth_a=depth_a, name_a=hidden_depth_names(run_a.n_layers)[depth_a],
        projection_a=pca_without(vectors_a, left_out_a, n_components),
        depth_b=depth_b, name_b=hidden_depth_names(run_b.n_layers)[depth_b],
        projection_b=pca_without(vectors_b, left_out_b, n_components),
        left_out_a=left_out_a, left_out_b=left_out_b,
    )
