"""One way to hook a shared model for one call: `with hooked([...]):`.

One model object serves every browser session of the app at once, so every hook the engine adds
(attention capture, value capture, the heads switch, ...) lives for one `with` block and acts
only on the passes of the thread that entered it. This module is the one place that registers
and removes them.

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
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

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
