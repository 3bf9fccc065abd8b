"""`RecycledMemory`: a run's large arrays reuse the memory of runs nobody holds, and only theirs."""

from __future__ import annotations

import gc

import numpy as np
import torch

from encoder.run import RecycledMemory, _size_class

MB = 1 << 20


def address(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def test_a_block_comes_back_only_when_nothing_made_from_it_is_left():
    memory = RecycledMemory()
    first = memory.empty((2, MB // 4))  # 2 MB of float32
    first_address = address(first)
    view = first[1].numpy()[10:20]  # a numpy view of a view: it alone keeps the block
    del first
    gc.collect()
    second = memory.empty((2, MB // 4))
    second_address = address(second)
    assert second_address != first_address and memory.idle_bytes() == 0
    del view, second
    gc.collect()
    assert memory.idle_bytes() == 2 * 2 * MB
    third = memory.empty((2, MB // 4))
    assert address(third) in {first_address, second_address} and memory.idle_bytes() == 2 * MB


def test_similar_sizes_share_a_block_and_tensors_are_aligned_like_torchs():
    memory = RecycledMemory()
    tensor = memory.empty((3 * MB // 4 + 1000,))  # 3 MB and a bit, float32
    first_address = address(tensor)
    assert first_address % RecycledMemory.ALIGNMENT == 0 and tensor.is_contiguous()
    del tensor
    again = memory.empty((3 * MB // 4 + 2000,))  # the same size class
    assert address(again) == first_address


def test_size_classes_waste_at_most_an_eighth():
    for nbytes in (MB, MB + 1, 3 * MB - 7, 5 * MB + 12345, 77 * MB):
        size = _size_class(nbytes)
        assert nbytes <= size <= nbytes * 1.125 and size % 64 == 0


def test_small_and_other_dtypes_and_devices_are_plain_tensors():
    memory = RecycledMemory()
    small = memory.empty((10, 10))
    assert small.shape == (10, 10) and small.dtype == torch.float32
    halves = memory.empty((MB,), dtype=torch.bfloat16)
    assert halves.dtype == torch.bfloat16 and halves.numel() == MB
    stacked = memory.stack([torch.full((2, 3, MB // 16), float(i)) for i in range(4)])  # 4 × 1.5 MB
    assert stacked.shape == (2, 4, 3, MB // 16)
    np.testing.assert_array_equal(stacked[:, :, 0, 0].numpy(), [[0, 1, 2, 3]] * 2)


def test_idle_memory_is_capped():
    memory = RecycledMemory(keep_bytes=5 * MB)
    tensors = [memory.empty((MB // 4 * (2 + i),)) for i in range(4)]  # 2, 3, 4, 5 MB
    del tensors
    gc.collect()
    assert 0 < memory.idle_bytes() <= 5 * MB


def test_idle_blocks_are_let_go_when_the_server_sweeps(model):
    """Issue 16's bound: memory returns after the visitors leave. The engine keeps blocks for runs to
    come; the cache sweep's release (state.release_free_memory) lets them go, and a block a run still
    holds stays its own."""
    from encoder.run import _MEMORY, release_recycled_memory

    memory = RecycledMemory()
    kept = memory.empty((2, MB // 4))
    freed = memory.empty((4, MB // 4))
    del freed
    gc.collect()
    assert memory.idle_bytes() == 4 * MB
    assert memory.release() == 4 * MB and memory.idle_bytes() == 0
    kept[0, 0] = 1.5
    del kept
    gc.collect()
    assert memory.idle_bytes() == 2 * MB  # it came back once nothing held it
    model.run("The sweep lets idle blocks go. " * 40)  # a run large enough for recycled blocks
    gc.collect()
    assert _MEMORY.idle_bytes() > 0
    assert release_recycled_memory() > 0 and _MEMORY.idle_bytes() == 0


def test_a_kept_run_never_changes_while_later_runs_reuse_memory(model):
    text = "A sentence long enough to fill a few megabytes of attention weights. " * 12
    kept = model.run(text)
    copies = {name: getattr(kept, name).copy() for name in ("attentions", "hidden_states", "queries", "keys", "values")}
    for other in ("Something else entirely. " * 30, text, "Short."):
        model.run(other)
        gc.collect()
    for name, copy in copies.items():
        np.testing.assert_array_equal(getattr(kept, name), copy, err_msg=name)
    again = model.run(text)  # reused memory gives the same numbers as fresh memory
    for name, copy in copies.items():
        np.testing.assert_array_equal(getattr(again, name), copy, err_msg=name)
