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
from .modules import MultiHeadAttention, ScaledDotProductAttention, split_heads

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
    # Without autograd, memory for every layer that the layers write into (see capture_attention):
    weights_buffer: torch.Tensor | None = None  # (L, B, H, T, T), the softmax's output
    projections_buffer: torch.Tensor | None = None  # (L, B, T, 3D), an Encoder's fused Q/K/V projections
    buffered: int = 0  # how many entries, from the first, live in the buffers

    def stacked_weights(self) -> torch.Tensor:
        """All layers' weights as (B, L, H, T, T)."""
        if self._all_buffered(self.weights_buffer):
            return layer_major(self.weights_buffer)  # a view: no copy of L*H*T*T floats
        return stack_layers(self.weights)

    def stacked_projections(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All layers' queries, keys and values, each (B, L, H, T, Dh).

        Views into the projections buffer when every layer wrote there (strided: each row of the
        buffer holds a token's q, k and v side by side), else stacked copies.
        """
        if self._all_buffered(self.projections_buffer):
            return projections_per_head(self.projections_buffer, self.queries[0].size(1))
        return stack_layers(self.queries), stack_layers(self.keys), stack_layers(self.values)

    def _all_buffered(self, buffer: torch.Tensor | None) -> bool:
        return buffer is not None and self.buffered == len(self.weights) == len(buffer)


@contextmanager
def capture_attention(
    model: nn.Module, select: ModuleFilter = is_attention_core, *,
    empty: Callable[..., torch.Tensor] = torch.empty,
) -> Iterator[AttentionRecord]:
    """Record what every selected attention module sees and returns during the `with` block.

    A selected module must be called as module(q, k, v, ...) and return (output, weights), as
    `ScaledDotProductAttention` does. Tensors are kept by reference, not copied.

    The one optimisation lives here: without autograd, the layers write what is captured into
    memory handed out for all of them at once, through out= arguments, instead of it being
    stacked after the pass. Each `ScaledDotProductAttention`'s softmax writes its weights into its
    layer's slice of one (L, B, H, T, T) buffer: at 512 tokens the layers' weights are 75 MB, and
    stacking them had cost a fifth of the forward pass. In an `Encoder` (and the default `select`)
    each layer's `MultiHeadAttention` also writes its fused Q/K/V projection into its slice of one
    (L, B, T, 3D) buffer, so the captured queries, keys and values are views into it and never
    copied (stacking them had cost about 0.4 ms of a 30 ms run at 128 tokens), and the hooks are
    then one per layer instead of two. `empty(shape, dtype=, device=)` allocates the buffers.
    `Model.run`, which calls the encoder itself, gives it the same buffers directly
    (`Encoder.forward`'s projections_out and weights_out) and registers no hook; a capture
    around it records views of those.
    """
    # One entry per application: a module shared across depth (ALBERT) is listed once per layer,
    # so the buffers have a slot for each; hooks go on each distinct module once. An Encoder lists
    # its own, which spares walking its ~70 modules on every run.
    record = AttentionRecord()
    encoder = isinstance(model, Encoder) and select is is_attention_core
    if encoder and not torch.is_grad_enabled():
        hooks = _whole_layer_hooks(record, model.self_attentions(), empty)
    else:
        if encoder:
            applications = model.attention_cores()
        else:
            applications = [m for name, m in model.named_modules(remove_duplicate=False) if select(name, m)]
        if not applications:
            raise ValueError("The model has no attention modules to capture.")
        hooks = _core_hooks(record, applications, empty)
    with hooked(hooks):
        yield record


def _whole_layer_hooks(record: AttentionRecord, applications: list[MultiHeadAttention],
                       empty: Callable[..., torch.Tensor]) -> list[Hook]:
    """One pre-hook per distinct MultiHeadAttention, handing each application its layer's slices
    of the projections and weights buffers, and recording views of them."""
    n_layers = len(applications)

    def hand_out_layer_memory(module: MultiHeadAttention, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        projections, weights = kwargs.get("projections_out"), kwargs.get("weights_out")
        if projections is None:  # (else a capture around this one handed out memory: record that)
            projections, weights = layer_memory(args[0], module.n_heads)
        q, k, v = split_heads(projections, module.n_heads)  # what the layer's core will be given
        record.queries.append(q)
        record.keys.append(k)
        record.values.append(v)
        record.weights.append(weights)
        return args, {**kwargs, "projections_out": projections, "weights_out": weights}

    def layer_memory(x: torch.Tensor, H: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3D) for the projection and (B, H, T, T) for the weights of the layer called now."""
        B, T, D = x.shape  # x: the layer's input
        if record.projections_buffer is None:
            record.projections_buffer = empty((n_layers, B, T, 3 * D), dtype=x.dtype, device=x.device)
            record.weights_buffer = empty((n_layers, B, H, T, T), dtype=x.dtype, device=x.device)
        layer = len(record.weights)
        if layer < n_layers and record.projections_buffer.shape[1:3] == (B, T):
            record.buffered += 1
            return record.projections_buffer[layer], record.weights_buffer[layer]
        return x.new_empty((B, T, 3 * D)), x.new_empty((B, H, T, T))  # an unexpected extra call

    return [Hook(m, hand_out_layer_memory, kind="pre", with_kwargs=True) for m in dict.fromkeys(applications)]


def _core_hooks(record: AttentionRecord, applications: list[nn.Module],
                empty: Callable[..., torch.Tensor]) -> list[Hook]:
    """A forward hook per distinct attention module keeping its inputs and weights; without
    autograd, on `ScaledDotProductAttention`s, also a pre-hook handing out the weights buffer."""
    n_layers = len(applications)
    targets = list(dict.fromkeys(applications))

    def hand_out_buffer(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        if len(args) < 3 or kwargs.get("out") is not None:  # not (q, k, v), or memory given already
            return None
        q, k = args[0], args[1]
        shape = (n_layers, q.size(0), q.size(1), q.size(2), k.size(2))  # (L, B, H, T, T)
        if record.weights_buffer is None:
            record.weights_buffer = empty(shape, dtype=q.dtype, device=q.device)
        layer = len(record.weights)
        if layer >= n_layers or record.weights_buffer.shape != shape:
            return None  # an unexpected extra call: let it allocate its own weights
        record.buffered += 1
        return args, {**kwargs, "out": record.weights_buffer[layer]}

    def keep_inputs_and_weights(module: nn.Module, inputs: tuple, output: tuple) -> None:
        q, k, v = inputs[:3]
        record.queries.append(q)
        record.keys.append(k)
        record.values.append(v)
        record.weights.append(output[1])

    hooks = [Hook(m, keep_inputs_and_weights) for m in targets]
    if not torch.is_grad_enabled() and all(isinstance(m, ScaledDotProductAttention) for m in targets):
        hooks += [Hook(m, hand_out_buffer, kind="pre", with_kwargs=True) for m in targets]
    return hooks


def layer_major(buffer: torch.Tensor) -> torch.Tensor:
    """A buffer the layers wrote into, (L, B, ...) -> (B, L, ...): a view."""
    return buffer.transpose(0, 1)


def projections_per_head(projections: torch.Tensor, n_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The layers' fused projections (L, B, T, 3D) -> queries, keys and values, each (B, L, H, T, Dh):
    views, strided (each row of the buffer holds a token's q, k and v side by side)."""
    return tuple(layer_major(p) for p in split_heads(projections, n_heads))


def stack_layers(tensors: list[torch.Tensor]) -> torch.Tensor:
    """n_layers of (B, H, T, X) -> (B, n_layers, H, T, X)."""
    return torch.stack(tensors, dim=1)
