"""Per-head queries, keys and values of a transformers decoder, as its attention uses them.

transformers returns the attention weights but not the vectors they came from. A forward pre-hook
on each attention module records the module's input (the normed hidden states, and for rotary
models the (cos, sin) position embeddings the decoder computed once for every layer); the
projections are then applied again here with the module's own weights and, for rotary models,
the module's own `apply_rotary_pos_emb`, so the queries and keys are those *after* rotation: the
ones whose scaled dot products the softmax turned into the captured weights.

Two layouts are known:
- "separate": q_proj / k_proj / v_proj (Llama, Mistral, Qwen2/3, SmolLM2, ...), with grouped-query
  attention: K and V have fewer heads than Q, and query head h reads KV head h // (H / KV)
  (transformers' repeat_kv), so each KV head is repeated for its query heads here;
- "fused": GPT-2's c_attn, one Conv1D giving q, k and v side by side.

Whatever the layout, `check_parity` recomputes softmax(QKᵀ/√d_head + causal mask) from what was
captured and compares it with the model's own weights: a family that scales or biases its scores
differently (T5's relative bias, a query_pre_attn_scalar) is refused rather than shown wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..capture import Hook, hooked

Layout = Literal["separate", "fused"]
PARITY_TOLERANCE = 1e-4  # float32 softmax of recomputed scores; a wrong scale or bias misses by far more


def qkv_layout(module: nn.Module) -> Layout | None:
    """Which known layout an attention module has, or None."""
    if all(isinstance(getattr(module, name, None), nn.Linear) for name in ("q_proj", "k_proj", "v_proj")):
        return "separate"
    if isinstance(getattr(module, "c_attn", None), nn.Module) and not getattr(module, "is_cross_attention", False):
        return "fused"
    return None


def rotary_function(module: nn.Module) -> Callable | None:
    """The `apply_rotary_pos_emb` of the module's own modeling file (each family keeps its own copy)."""
    return getattr(sys.modules.get(type(module).__module__), "apply_rotary_pos_emb", None)


@contextmanager
def capture_inputs(modules: dict[str, nn.Module]) -> Iterator[dict[str, tuple[torch.Tensor, object]]]:
    """Record each attention module's (hidden_states, position_embeddings) for one call on this thread."""
    inputs: dict[str, tuple[torch.Tensor, object]] = {}

    def keep_input_of(name: str):
        def keep(module: nn.Module, args: tuple, kwargs: dict) -> None:
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            inputs[name] = (hidden, kwargs.get("position_embeddings"))
        return keep

    with hooked(Hook(m, keep_input_of(name), kind="pre", with_kwargs=True) for name, m in modules.items()):
        yield inputs


def _linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's map without calling it (its forward hooks, such as the value capture, stay quiet)."""
    if isinstance(layer, nn.Linear):
        return nn.functional.linear(x, layer.weight, layer.bias)
    return torch.addmm(layer.bias, x.reshape(-1, x.shape[-1]), layer.weight).reshape(*x.shape[:-1], -1)  # Conv1D


def per_head_qkv(module: nn.Module, hidden: torch.Tensor, position_embeddings: object, n_heads: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q, k, v), each (H, T, Dh), for one attention module's input hidden (1, T, D).

    K and V are repeated from KV heads to query heads; q and k are rotated when the layer is rotary."""
    layout = qkv_layout(module)
    if layout == "fused":
        d = module.c_attn.weight.shape[0]
        q, k, v = _linear(module.c_attn, hidden).split(d, dim=-1)  # (1, T, D) each
    elif layout == "separate":
        q, k, v = (_linear(getattr(module, n), hidden) for n in ("q_proj", "k_proj", "v_proj"))
    else:
        raise ValueError(f"no known query/key/value layout in {type(module).__name__}")
    d_head = q.shape[-1] // n_heads
    q, k, v = (x.view(*x.shape[:-1], -1, d_head) for x in (q, k, v))  # (1, T, heads, Dh)
    # Qwen3-style per-head norms act on each head's vector before the rotation
    if isinstance(norm := getattr(module, "q_norm", None), nn.Module):
        q = norm(q)
    if isinstance(norm := getattr(module, "k_norm", None), nn.Module):
        k = norm(k)
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # (1, heads, T, Dh)
    if position_embeddings is not None:
        rotate = rotary_function(module)
        if rotate is None:
            raise ValueError(f"{type(module).__name__} takes position embeddings but its rotation is unknown")
        cos, sin = position_embeddings
        q, k = rotate(q, k, cos, sin)
    groups = n_heads // k.shape[1]
    k, v = (x.repeat_interleave(groups, dim=1) for x in (k, v))  # KV head h // groups serves query head h
    return q[0], k[0], v[0]


def recomputed_attention(queries: np.ndarray, keys: np.ndarray, causal: bool,
                         rows: np.ndarray | None = None) -> np.ndarray:
    """softmax(Q Kᵀ / √d_head), masked above the diagonal when causal: (..., H, T, Dh) twice -> (..., H, R, T)
    for the query rows `rows` (all T by default).

    What the Q·K walk-through computes row by row, for many rows at once (float64)."""
    q, k = np.asarray(queries, dtype=np.float64), np.asarray(keys, dtype=np.float64)
    n = k.shape[-2]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    scores = q[..., rows, :] @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., H, R, T)
    if causal:
        scores = np.where(np.arange(n)[None, :] > rows[:, None], -np.inf, scores)
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def parity_error(queries: np.ndarray, keys: np.ndarray, attentions: np.ndarray, causal: bool,
                 max_rows: int = 64) -> float:
    """The largest |recomputed − captured| weight over every layer and head, on at most `max_rows`
    evenly spaced query rows (the last always among them): a scale or a bias that differs shows in
    every row, and at 512 tokens all rows would cost seconds a page cannot spend."""
    n = attentions.shape[-1]
    rows = np.unique(np.r_[np.arange(0, n, max(1, -(-n // max_rows))), n - 1])
    worst = 0.0
    for layer in range(attentions.shape[0]):  # one layer at a time: (H, R, T)
        recomputed = recomputed_attention(queries[layer], keys[layer], causal, rows)
        worst = max(worst, float(np.abs(recomputed - attentions[layer][:, rows]).max(initial=0.0)))
    return worst
