"""`hooked`: the engine's one way to hook a shared model for one call.

Every hook set leaves nothing behind, even when the block raises, and threads hooking one model
at the same time each see their own passes only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch import nn

from encoder.capture import Hook, hooked, registered_hook_count


class Scaled(nn.Module):
    """A module with a keyword argument, for pre-hooks that read or change keywords."""

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return x * scale


def toy() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), Scaled(), nn.Linear(4, 2))


def every_kind_of_hook(model: nn.Module, seen: list) -> list[Hook]:
    return [
        Hook(model[0], lambda module, args, output: seen.append("forward")),
        Hook(model[0], lambda module, args: seen.append("pre"), kind="pre"),
        Hook(model[1], lambda module, args, kwargs: seen.append("pre with kwargs"), kind="pre", with_kwargs=True),
        Hook(model[2], lambda module, args, kwargs, output: seen.append("forward with kwargs"), with_kwargs=True),
    ]


def test_every_kind_of_hook_runs_inside_the_block_and_is_gone_after():
    model, seen = toy(), []
    with hooked(every_kind_of_hook(model, seen)):
        assert registered_hook_count(model) == 4
        model(torch.ones(1, 4))
    assert sorted(seen) == ["forward", "forward with kwargs", "pre", "pre with kwargs"]
    seen.clear()
    model(torch.ones(1, 4))
    assert seen == [] and registered_hook_count(model) == 0


def test_a_hook_set_is_removed_after_an_exception_in_the_block():
    model = toy()
    with pytest.raises(RuntimeError, match="the forward failed"), hooked(every_kind_of_hook(model, [])):
        model(torch.ones(1, 4))
        raise RuntimeError("the forward failed")
    assert registered_hook_count(model) == 0
    assert not any(m._forward_pre_hooks_with_kwargs or m._forward_hooks_with_kwargs for m in model.modules())


def test_hooks_registered_before_a_failed_registration_are_removed():
    model = toy()

    def hooks():
        yield Hook(model[0], lambda module, args, output: None)
        raise ValueError("no such module")

    with pytest.raises(ValueError, match="no such module"), hooked(hooks()):
        pass
    assert registered_hook_count(model) == 0


def test_hooks_change_what_they_return_on_their_own_thread_only():
    model = toy()
    x = torch.ones(1, 4)
    intact = model(x)
    double = Hook(model[1], lambda module, args, kwargs: (args, {**kwargs, "scale": 2.0}), kind="pre",
                  with_kwargs=True)
    with hooked([double]):
        mine = model(x)
        with ThreadPoolExecutor(max_workers=1) as pool:
            theirs = pool.submit(model, x).result()
    torch.testing.assert_close(theirs, intact)  # another session's pass, meanwhile, is untouched
    assert not torch.allclose(mine, intact)


def test_two_threads_hooking_one_model_each_get_their_own_captures():
    model = toy()
    both_hooked = threading.Barrier(2)
    inputs = {name: torch.full((1, 4), value) for name, value in (("first", 1.0), ("second", -3.0))}

    def capture(name: str) -> list[torch.Tensor]:
        captured = []
        with hooked([Hook(model[0], lambda module, args, output: captured.append(output.detach()))]):
            both_hooked.wait(timeout=30)  # both hook sets are on the module before either pass
            model(inputs[name])
            both_hooked.wait(timeout=30)  # and both passes are done before either set leaves
        return captured

    with ThreadPoolExecutor(max_workers=2) as pool:
        captures = dict(zip(inputs, pool.map(capture, inputs), strict=True))
    for name, captured in captures.items():
        assert len(captured) == 1  # the other thread's pass ran this thread's hook too, which ignored it
        torch.testing.assert_close(captured[0], model[0](inputs[name]).detach())
    assert registered_hook_count(model) == 0


def test_many_threads_hooking_and_unhooking_one_module_leave_nothing_behind():
    model = toy()
    x = torch.ones(1, 4)

    def hook_and_run(_: int) -> int:
        calls = []
        with hooked([Hook(model[0], lambda module, args, output: calls.append(1)),
                     Hook(model[1], lambda module, args, kwargs: calls.append(1), kind="pre", with_kwargs=True)]):
            model(x)
        return len(calls)

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(hook_and_run, range(400)))
    assert counts == [2] * 400  # each block saw its own pass once per hook, never another's
    assert registered_hook_count(model) == 0
    assert not any(m._forward_pre_hooks_with_kwargs for m in model.modules())
