"""Value-output norms for transformers models: hooks on each attention's value projection.

Kobayashi et al. (2020) weigh attention α_ij by ‖v_j W_O^h‖, the length head h's value for token j
has once projected into the residual stream. transformers does not return values, so a forward
hook on each attention's value projection records them (per call and per thread, through
encoder/capture.py's `hooked`), and the output projection's weight gives W_O^h.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ..capture import Hook, hooked
from ..modules import factored_value_output_norms, head_factors


@dataclass
class ValueCapture:
    """The value projection's output per attention module of one call, by module name."""

    outputs: dict[str, torch.Tensor] = field(default_factory=dict)


# (value projection, output projection) child names of an attention module, per layout.
_LAYOUTS = (("v_proj", "o_proj"), ("v_proj", "out_proj"), ("v", "o"), ("c_attn", "c_proj"))


def attention_modules(model: nn.Module) -> dict[str, tuple[nn.Module, nn.Module, str]]:
    """Attention module name -> (value projection, output projection, layout's value name), in call order."""
    found = {}
    for name, module in model.named_modules():
        for value_name, out_name in _LAYOUTS:
            value, out = getattr(module, value_name, None), getattr(module, out_name, None)
            if isinstance(value, nn.Module) and isinstance(out, nn.Module) and hasattr(out, "weight"):
                if value_name == "c_attn" and getattr(module, "is_cross_attention", False):
                    break  # GPT-2's cross-attention computes values with q_attn/c_attn differently
                found[name] = (value, out, value_name)
                break
    return found


@contextmanager
def capture_values(modules: dict[str, tuple[nn.Module, nn.Module, str]]) -> Iterator[ValueCapture]:
    """Hooks on the value projections for one call, recording only this thread's forward pass."""
    capture = ValueCapture()

    def keep_output_of(name: str):
        def keep(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            capture.outputs[name] = output
        return keep

    with hooked(Hook(value, keep_output_of(name)) for name, (value, _, _) in modules.items()):
        yield capture


def head_output_norms(values: torch.Tensor, w_out: torch.Tensor, n_heads: int) -> torch.Tensor:
    """‖v_j W_O^h‖ per head and token (Kobayashi et al. 2020, eq. 5, without the bias): (H, T).

    values: (T, KV·Dh), the value projection's output; with grouped-query attention each of the
    KV heads serves n_heads / KV query heads (repeat_kv in transformers), so it is repeated.
    w_out: (D, H·Dh), the output projection in nn.Linear layout; W_O^h = w_out[:, h·Dh:(h+1)·Dh].
    The norms themselves are the engine's (modules.factored_value_output_norms), computed in one place.
    """
    d_head = w_out.shape[1] // n_heads
    n_kv = values.shape[-1] // d_head
    per_kv = values.reshape(values.shape[0], n_kv, d_head).transpose(0, 1)  # (KV, T, Dh)
    per_head = per_kv.repeat_interleave(n_heads // n_kv, dim=0)  # (H, T, Dh)
    factors = head_factors(w_out, n_heads).to(per_head.dtype)  # (H, Dh, Dh)
    return factored_value_output_norms(per_head, factors)  # (H, T)
