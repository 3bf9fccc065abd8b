"""Attention capture with forward hooks, isolated per call and per thread.

One model object serves every browser session of the app at once, so hooks are added for the
length of one call and removed afterwards (`hooks.hooked`), and each hook writes only to the record
of the thread that added it. Another thread's forward pass runs the same hooks but they ignore it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .hooks import Hook, hooked
from .hooks import registered_hook_count as registered_hook_count  # where tests have always found it
from .modules import ScaledDotProductAttention

ModuleFilter = Callable[[str, nn.Module], bool]


def is_attention_core(name: str, module: nn.Module) -> bool:
    return isinstance(module, ScaledDotProductAttention)


@dataclass
class AttentionRecord:
    """Per-call capture, one entry per attention module in call order (that is, per layer).

    weights: (B, H, T, T); queries, keys, values: (B, H, T, Dh).
    """

    weights: list[torch.Tensor] = field(default_factory=list)
    queries: list[torch.Tensor] = field(default_factory=list)
    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    # (L, B, H, T, T) that the layers' softmax writes into, when the modules allow it.
    weights_buffer: torch.Tensor | None = None

    def stacked_weights(self) -> torch.Tensor:
        """All layers' weights as (B, L, H, T, T)."""
        if self.weights_buffer is not None and len(self.weights) == len(self.weights_buffer):
            return self.weights_buffer.transpose(0, 1)  # a view: no copy of L*H*T*T floats
        return stack_layers(self.weights)


@contextmanager
def capture_attention(
    model: nn.Module, select: ModuleFilter = is_attention_core
) -> Iterator[AttentionRecord]:
    """Record what every selected attention module sees and returns during the `with` block.

    A selected module must be called as module(q, k, v, ...) and return (output, weights), as
    `ScaledDotProductAttention` does. Tensors are kept by reference, not copied.

    The one optimisation lives here: without autograd, each `ScaledDotProductAttention` is
    handed, through its `out=` argument, its layer's slice of one preallocated (L, B, H, T, T)
    buffer, and its softmax writes the weights straight into it. At 512 tokens the layers'
    weights are 75 MB, and stacking them after the pass had cost a fifth of the forward pass.
    """
    # One entry per application: a module shared across depth (ALBERT) is listed once per layer,
    # so the buffer has a slot for each; hooks go on each distinct module once.
    applications = [m for name, m in model.named_modules(remove_duplicate=False) if select(name, m)]
    targets = list(dict.fromkeys(applications))
    if not targets:
        raise ValueError("The model has no attention modules to capture.")
    record = AttentionRecord()
    preallocate = not torch.is_grad_enabled() and all(
        isinstance(m, ScaledDotProductAttention) for m in targets
    )

    def hand_out_buffer(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        if len(args) < 3:
            return None
        q, k = args[0], args[1]
        shape = (len(applications), q.size(0), q.size(1), q.size(2), k.size(2))  # (L, B, H, T, T)
        if record.weights_buffer is None:
            record.weights_buffer = torch.empty(shape, dtype=q.dtype, device=q.device)
        layer = len(record.weights)
        if layer >= shape[0] or record.weights_buffer.shape != shape:
            return None  # an unexpected extra call: let it allocate its own weights
        return args, {**kwargs, "out": record.weights_buffer[layer]}

    def keep_inputs_and_weights(module: nn.Module, inputs: tuple, output: tuple) -> None:
        q, k, v = inputs[:3]
        record.queries.append(q)
        record.keys.append(k)
        record.values.append(v)
        record.weights.append(output[1])

    hooks = [Hook(m, keep_inputs_and_weights) for m in targets]
    if preallocate:
        hooks += [Hook(m, hand_out_buffer, kind="pre", with_kwargs=True) for m in targets]
    with hooked(hooks):
        yield record


def stack_layers(tensors: list[torch.Tensor]) -> torch.Tensor:
    """n_layers of (B, H, T, X) -> (B, n_layers, H, T, X)."""
    return torch.stack(tensors, dim=1)
