"""Hooks on a shared model, for one call and one thread; and the attention capture built on them.

One model object serves every browser session of the app at once, so every hook the engine adds
(attention capture, value capture, the heads switch, ...) lives for one `with hooked([...]):` block
and acts only on the passes of the thread that entered it: another thread's forward pass runs the
same hooks but they ignore it. `hooked` is the one place that registers and removes them.

What the lock guarantees when threads hook and run the same model at once:
- Registering and removing hooks happen one thread at a time, engine-wide. torch numbers hook
  handles with one process-wide counter (`RemovableHandle.next_id += 1`, not atomic) and keeps
  them in plain dicts on each module; unserialised, two threads could draw the same number and
  one's removal would take the other's hook with it.
- Forward passes do not take the lock, so sessions still compute in parallel. torch copies a
  module's hook dicts into a tuple before calling them, so a pass sees a whole set of hooks, the
  one before or after another thread's edit, never a dict changing under it.
- A pass therefore meets other threads' hooks, and every hook registered here returns at once,
  changing nothing, unless it runs on the thread that entered its block: each thread gets its
  own captures and its own interventions (heads switched off for one session stay on for the
  others). The corollary: the pass must run on the thread that entered the block; hooks ignore
  work a model hands to another thread of its own.
- Every hook of the block is removed on leaving it, whether the block ends or raises.

Hooks that transformers registers by itself (on a model's first call) are outside this lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from .model import Encoder
from .modules import ScaledDotProductAttention

_HOOK_LOCK = threading.Lock()


@dataclass(frozen=True)
class Hook:
    """One hook to register: `function` on `module`, as torch calls it.

    kind "forward": after the module's forward, function(module, args, output) -> new output or None;
    kind "pre": before it, function(module, args) -> new args or None. with_kwargs=True passes the
    keyword arguments too, as torch's `with_kwargs` does (a pre-hook then returns (args, kwargs) or None).
    """

    module: nn.Module
    function: Callable[..., Any]
    kind: Literal["forward", "pre"] = "forward"
    with_kwargs: bool = False


@contextmanager
def hooked(hooks: Iterable[Hook]) -> Iterator[None]:
    """Register `hooks` for the length of the `with` block, acting on this thread's passes only.

    A hook called from another thread's pass returns None, which torch reads as "change nothing".
    Registration and removal share one engine-wide lock (see the module's docstring for what it
    guarantees); all hooks are removed on exit, also when the block raises.
    """
    owner = threading.get_ident()
    handles = []
    try:
        with _HOOK_LOCK:
            for hook in hooks:
                handles.append(_register(hook, owner))
        yield
    finally:
        with _HOOK_LOCK:
            for handle in handles:
                handle.remove()


def _register(hook: Hook, owner: int):
    function = hook.function

    def on_owner_thread(*arguments: Any) -> Any:
        return function(*arguments) if threading.get_ident() == owner else None

    if hook.kind == "pre":
        return hook.module.register_forward_pre_hook(on_owner_thread, with_kwargs=hook.with_kwargs)
    return hook.module.register_forward_hook(on_owner_thread, with_kwargs=hook.with_kwargs)


def registered_hook_count(model: nn.Module) -> int:
    """Forward and pre-forward hooks registered anywhere in `model` (0 between calls)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ---------------------------------------------------------------- attention capture

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
    model: nn.Module, select: ModuleFilter = is_attention_core, *,
    empty: Callable[..., torch.Tensor] = torch.empty,
) -> Iterator[AttentionRecord]:
    """Record what every selected attention module sees and returns during the `with` block.

    A selected module must be called as module(q, k, v, ...) and return (output, weights), as
    `ScaledDotProductAttention` does. Tensors are kept by reference, not copied.

    The one optimisation lives here: without autograd, each `ScaledDotProductAttention` is
    handed, through its `out=` argument, its layer's slice of one preallocated (L, B, H, T, T)
    buffer, and its softmax writes the weights straight into it. At 512 tokens the layers'
    weights are 75 MB, and stacking them after the pass had cost a fifth of the forward pass.
    `empty(shape, dtype=, device=)` allocates that buffer (`Model.run` passes memory it recycles).
    """
    # One entry per application: a module shared across depth (ALBERT) is listed once per layer,
    # so the buffer has a slot for each; hooks go on each distinct module once. An Encoder lists
    # its own, which spares walking its ~70 modules on every run.
    if select is is_attention_core and isinstance(model, Encoder):
        applications = model.attention_cores()
    else:
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
            record.weights_buffer = empty(shape, dtype=q.dtype, device=q.device)
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
