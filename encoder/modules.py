"""The pieces of a Transformer encoder, each small enough to read in one sitting.

Everything is batch-first: B = batch, T = tokens, D = d_model, H = heads, Dh = D / H.
"""

from __future__ import annotations

import functools
import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import EncoderConfig
from .positional import sinusoidal_table


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, Vaswani et al. (2017) eq. 1, returning (output, weights).

    q, k, v: (B, H, T, Dh). mask: bool, broadcastable to (B, H, T, T) (key padding: (B, 1, 1, T);
    causal: (1, 1, T, T)), True where the query may attend to the key; masked keys get exactly
    zero weight. The softmax is computed here rather than in a fused kernel because the weights
    are the point of this project. `out`, like torch's own out= arguments, is an optional
    (B, H, T, T) tensor to hold the weights (see capture.py for why).
    """
    # QKᵀ/√d_k with the scale applied inside the product (the GEMM's alpha), which rounds as
    # transformers' eager BERT does: a separate pass over q had cost about 10 % of this function
    # at 128 tokens (0.1 of 0.7 ms). Batch and heads folded into one batch dimension: views for a
    # single text, where q and k are strided views of the fused projection.
    q_rows, k_rows = q.flatten(0, -3), k.flatten(0, -3)  # (B·H, T, Dh)
    shape = (q_rows.size(0), q.size(-2), k.size(-2))  # (B·H, T, T)
    scale = 1.0 / math.sqrt(q.size(-1))
    if out is None:  # beta=0: the first argument only gives the shape, its values are never read
        scores = torch.baddbmm(q.new_zeros(()).expand(shape), q_rows, k_rows.transpose(1, 2), beta=0.0, alpha=scale)
    else:
        scores = torch.baddbmm(out.view(shape), q_rows, k_rows.transpose(1, 2), beta=0.0, alpha=scale,
                               out=out.view(shape))
    scores = scores.view(*q.shape[:-1], k.size(-2))  # (B, H, T, T)
    if mask is not None:
        scores.masked_fill_(~mask, torch.finfo(scores.dtype).min)
    # (B, H, T, T); row = query, column = key. In place when writing into `out`.
    weights = torch.softmax(scores, dim=-1, out=scores if out is not None else None)
    if mask is not None:
        # exp(min - max) already underflows to 0, but say it outright: padded keys get none.
        # In place only into `out` (inference): softmax's backward needs its own output intact.
        weights = weights.masked_fill_(~mask, 0.0) if out is not None else weights.masked_fill(~mask, 0.0)
    return weights @ v, weights  # (B, H, T, Dh), (B, H, T, T)


# What each output-projection weight yields per head, (H, Dh, Dh): (the weight's id, how) -> (a weak
# reference to it, its in-place version, H, the matrices). Recomputed when the weight changes in
# place (an optimiser step, load_state_dict) and forgotten when it is freed.
_PER_HEAD: dict[tuple[int, str], tuple[weakref.ref, int, int, torch.Tensor]] = {}
_PER_HEAD_LOCK = threading.Lock()


def head_factors(w_out: torch.Tensor, n_heads: int) -> torch.Tensor:
    """For every head h a (Dh, Dh) lower-triangular F_h with ‖v F_h‖ = ‖W_O^h v‖ for any value v:
    (H, Dh, Dh), from w_out (D, H·Dh) in nn.Linear layout; head h's share of the output projection
    is the slice W_O^h = w_out[:, h·Dh:(h+1)·Dh], (D, Dh).

    W_O^h = Q R with Q's columns orthonormal (its QR decomposition), so ‖W_O^h v‖ = ‖R v‖ and
    F_h = Rᵀ: the (D, Dh) slice shrinks to (Dh, Dh) without losing a length, and a head whose
    slice has lost rank (pruned, zeroed) still gets its exact lengths. Cached per weight while no
    gradient is wanted (see `_per_head`).
    """
    return _per_head(w_out, n_heads, _factors_of)


def _per_head(w_out: torch.Tensor, n_heads: int,
              derive: Callable[[torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
    """derive(w_out, n_heads), cached per weight: a model's weights do not change between runs, and
    at 16 tokens computing these (about H·Dh·D·Dh multiply-adds a layer) cost more than using them."""
    if torch.is_grad_enabled() and w_out.requires_grad:
        return derive(w_out, n_heads)  # training: keep the graph, cache nothing
    key = (id(w_out), derive.__name__)
    entry = _PER_HEAD.get(key)
    if entry is not None and entry[0]() is w_out and entry[1] == w_out._version and entry[2] == n_heads:
        return entry[3]
    # A normal tensor even when called under inference_mode, so a later no_grad caller may use it.
    with torch.inference_mode(False), torch.no_grad():
        derived = derive(w_out.detach(), n_heads)
    with _PER_HEAD_LOCK:
        _PER_HEAD[key] = (weakref.ref(w_out, lambda _, key=key: _PER_HEAD.pop(key, None)),
                          w_out._version, n_heads, derived)
    return derived


def _head_slices(w_out: torch.Tensor, n_heads: int) -> torch.Tensor:
    return w_out.reshape(w_out.shape[0], n_heads, -1).transpose(0, 1)  # (H, D, Dh): W_O^h per head


def _factors_of(w_out: torch.Tensor, n_heads: int) -> torch.Tensor:
    w_heads = _head_slices(w_out, n_heads)
    if w_heads.requires_grad:  # training: differentiable (mode="r" is not), in the weight's precision
        return torch.linalg.qr(w_heads, mode="reduced").R.mT  # (H, Dh, Dh)
    # Once per weight: in float64 (which also serves half-precision weights, which QR does not take).
    return torch.linalg.qr(w_heads.double(), mode="r").R.mT.to(w_out.dtype).contiguous()  # (H, Dh, Dh)


def factored_value_output_norms(values: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """‖v_j W_O^h‖ for every head and token: values (..., H, T, Dh), factors (..., H, Dh, Dh) from
    `head_factors` -> (..., H, T).

    The length head h's value for token j has once projected into the residual stream; times
    α_ij it is Kobayashi et al.'s (2020, eq. 5) value-weighted attention, without the bias,
    which α does not weigh. ‖W_O^h v‖ = ‖v F_h‖: one (T, Dh)·(Dh, Dh) product per head and one
    norm, instead of materialising the (T, D) projections (D / Dh times fewer multiply-adds) or
    the Gram form vᵀ(W_O^hᵀ W_O^h)v (a product, a sum, a clamp and a square root, each a pass
    over memory: at 128 tokens 0.7 ms against 0.4).
    """
    return torch.linalg.vector_norm(values @ factors, dim=-1)  # (..., H, T)


class ScaledDotProductAttention(nn.Module):
    """`attention()` as a module, so forward hooks can see (q, k, v) going in and weights coming out."""

    forward = staticmethod(attention)


def split_heads(qkv: torch.Tensor, n_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused projection (..., T, 3D) -> queries, keys, values, each (..., H, T, Dh): views, no copy.

    Each row of `qkv` is [q; k; v] and each of those is its heads side by side, [head 1; head 2; ...].
    """
    per_head = qkv.unflatten(-1, (3, n_heads, -1))  # (..., T, 3, H, Dh)
    q, k, v = per_head.unbind(-3)  # each (..., T, H, Dh)
    return q.transpose(-3, -2), k.transpose(-3, -2), v.transpose(-3, -2)  # each (..., H, T, Dh)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017, §3.2.2) with one fused Q/K/V projection."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)  # [W_Q; W_K; W_V] stacked
        self.core = ScaledDotProductAttention()
        self.out = nn.Linear(config.d_model, config.d_model)  # W_O

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *,
                projections_out: torch.Tensor | None = None,
                weights_out: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, D). projections_out, an optional (B, T, 3D) tensor, receives the fused Q/K/V
        projection and weights_out, an optional (B, H, T, T) one, the attention weights: like
        torch's out= arguments, so that capture can collect every layer's in one buffer (capture.py)."""
        B, T, D = x.shape
        if projections_out is None:
            qkv = self.qkv(x)  # (B, T, 3D)
        else:  # the addmm nn.Linear runs on (B·T, D) rows, written into the caller's memory
            qkv = torch.addmm(self.qkv.bias, x.reshape(B * T, D), self.qkv.weight.t(),
                              out=projections_out.view(B * T, 3 * D)).view(B, T, 3 * D)
        q, k, v = split_heads(qkv, self.n_heads)  # each (B, H, T, Dh)
        context, _ = self.core(q, k, v, mask, out=weights_out)  # (B, H, T, Dh)
        context = context.transpose(1, 2).reshape(B, T, D)  # (B, T, D): heads side by side
        return self.out(context)


class FeedForward(nn.Module):
    """Position-wise feed-forward network, §3.3: two linear maps around a non-linearity."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_ff)
        self.activation = ACTIVATIONS[config.activation]()
        self.down = nn.Linear(config.d_ff, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.activation(self.up(x)))  # (B, T, D_ff) inside, (B, T, D) out


# The paper's ReLU; BERT's "gelu" is the exact erf form (Hendrycks & Gimpel 2016), "gelu_tanh"
# the tanh approximation GPT-2 used.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_tanh": functools.partial(nn.GELU, approximate="tanh"),
}


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and LayerNorm.

    Post-LN (the paper and BERT): x = LN(x + Sublayer(x)). Pre-LN: x = x + Sublayer(LN(x)),
    which trains more stably without warm-up (Xiong et al. 2020).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.norm_first = config.norm_first
        self.attention = MultiHeadAttention(config)
        self.attention_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.feed_forward_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, **attention_out: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D). attention_out: `MultiHeadAttention`'s projections_out and weights_out, if given."""
        if self.norm_first:
            x = x + self._drop(self.attention(self.attention_norm(x), mask, **attention_out))
            return x + self._drop(self.feed_forward(self.feed_forward_norm(x)))
        x = self.attention_norm(x + self._drop(self.attention(x, mask, **attention_out)))
        return self.feed_forward_norm(x + self._drop(self.feed_forward(x)))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        # Dropout is the identity in eval mode, but calling the module still costs a call.
        return self.dropout(x) if self.training else x


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position encodings (§3.5), looked up like an embedding table."""

    def __init__(self, n_positions: int, d_model: int) -> None:
        super().__init__()
        table = torch.from_numpy(sinusoidal_table(n_positions, d_model))
        self.register_buffer("weight", table, persistent=False)  # derived, never saved

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return F.embedding(positions, self.weight)


@dataclass(frozen=True)
class EmbeddingParts:
    """The three vectors summed into each token's input: all (B, T, E), E = embedding width
    (d_model unless the embeddings are factorised, see `EncoderConfig.embedding_size`)."""

    token: torch.Tensor
    position: torch.Tensor
    segment: torch.Tensor | None


class Embeddings(nn.Module):
    """Token + position (+ segment) embeddings, optionally normalised, as in BERT (Devlin et al. 2019).

    With `embedding_size` set, the tables are that narrow and a linear map (`project`) takes the
    normalised sum up to d_model: ALBERT's factorised embeddings (Lan et al. 2020, §3.1), ELECTRA's
    `embeddings_project`. It is created only then, so a BERT's parameters stay exactly as they were.
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        width = config.embedding_width
        self.token = nn.Embedding(config.vocab_size, width, padding_idx=None)
        self.token_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.position_offset = config.position_offset
        self.pad_token_id = config.pad_token_id
        n_rows = config.max_positions + config.position_offset  # RoBERTa's first rows are never read
        if config.positions == "learned":
            self.position: nn.Module = nn.Embedding(n_rows, width)
        else:
            self.position = SinusoidalPositions(n_rows, width)
        self.segment = nn.Embedding(config.type_vocab_size, width) if config.type_vocab_size else None
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps) if config.embedding_norm else None
        self.dropout = nn.Dropout(config.dropout)
        self.project = nn.Linear(width, config.d_model) if config.embedding_size is not None else None

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Which row of the position table each token reads: (1, T), or (B, T) with an offset.

        With position_offset > 0 this is fairseq's `make_positions`, as RoBERTa uses it: real
        tokens count up from the offset (= padding_idx + 1) and padding tokens sit at padding_idx,
        so a right-padded row reads the same positions for its real tokens as it would alone.
        """
        T = input_ids.size(1)
        if self.position_offset == 0:
            return torch.arange(T, device=input_ids.device).unsqueeze(0)  # (1, T)
        real = input_ids.ne(self.pad_token_id)  # (B, T)
        counted = torch.cumsum(real, dim=1) - 1  # (B, T): 0 for the first real token
        return torch.where(real, counted + self.position_offset, self.position_offset - 1)  # (B, T)

    def learned_position_rows(self) -> torch.Tensor | None:
        """The rows of a learned position table that tokens 0, 1, 2, ... read: (max_positions, E).

        Leaves out RoBERTa's first position_offset rows (padding_idx and below), which no real
        token reads. None for sinusoids, which are computed, not learned.
        """
        if not isinstance(self.position, nn.Embedding):
            return None
        return self.position.weight[self.position_offset:]  # (max_positions, E)

    def parts(self, input_ids: torch.Tensor, segment_ids: torch.Tensor | None) -> EmbeddingParts:
        token = self.token(input_ids) * self.token_scale  # (B, T, E)
        position = self.position(self.position_ids(input_ids)).expand_as(token)  # (B, T, E)
        segment = None
        if self.segment is not None:
            if segment_ids is None or self.segment.num_embeddings == 1:
                # BERT adds segment 0 to single texts; a one-row table (RoBERTa) adds it to every
                # token, as transformers does, whose RoBERTa tokenizer passes no token types.
                segment_ids = torch.zeros_like(input_ids)
            segment = self.segment(segment_ids)  # (B, T, E)
        return EmbeddingParts(token, position, segment)

    def combine(self, parts: EmbeddingParts) -> torch.Tensor:
        x = parts.token + parts.position
        if parts.segment is not None:
            x = x + parts.segment
        if self.norm is not None:
            x = self.norm(x)
        if self.training:  # the identity otherwise; skipping the call saves a little per run
            x = self.dropout(x)  # (B, T, E)
        if self.project is not None:
            x = self.project(x)  # (B, T, D)
        return x  # (B, T, D)

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.combine(self.parts(input_ids, segment_ids))
