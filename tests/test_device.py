"""load_model(device=...): the CPU explicitly equals the default, CUDA matches transformers where
there is a GPU, and a device this machine lacks is one sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoder import ModelLoadError, load_model

TEXT = ("Where is the station?", "It is two blocks north, past the bank.")
ARRAYS = ("attentions", "hidden_states", "value_output_norms", "token_embeddings", "position_embeddings",
          "segment_embeddings", "queries", "keys", "values")


def test_cpu_explicitly_equals_the_default(model):
    on_cpu = load_model(device="cpu")
    assert on_cpu.device == torch.device("cpu") == model.device
    explicit, default = on_cpu.run(*TEXT), model.run(*TEXT)
    assert explicit.tokens == default.tokens
    for name in ARRAYS:
        a, b = getattr(explicit, name), getattr(default, name)
        assert isinstance(a, np.ndarray) and a.dtype == np.float32, name
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("device,words", [
    ("gpu", "not a device name"),
    ("cuda:x", "not a device name"),
    ("", "not a device name"),
    ("meta", "runs models on"),
    ("cuda:99", "CUDA GPU"),
])
def test_a_device_this_machine_lacks_is_one_sentence(device, words):
    if device == "cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("this machine has a hundred GPUs")
    with pytest.raises(ModelLoadError, match=words) as caught:
        load_model(device=device)
    message = str(caught.value)
    assert "\n" not in message and "/" not in message and message.endswith(".")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        load_model(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_run_matches_transformers_and_comes_back_as_numpy(model, hf_model):
    on_gpu = load_model(device="cuda")
    assert on_gpu.device.type == "cuda"
    run, reference = on_gpu.run(*TEXT), model.run(*TEXT)
    with torch.no_grad():
        out = hf_model(input_ids=torch.tensor([run.ids]), token_type_ids=torch.tensor([run.segment_ids]),
                       output_attentions=True, output_hidden_states=True)
    # GPU matmuls may use TF32 or another summation order: the tolerance of a float32 GPU kernel.
    np.testing.assert_allclose(run.attentions, torch.stack(out.attentions)[:, 0].numpy(), atol=1e-4)
    np.testing.assert_allclose(run.hidden_states, torch.stack(out.hidden_states)[:, 0].numpy(), atol=1e-3)
    for name in ARRAYS:
        array = getattr(run, name)
        assert isinstance(array, np.ndarray), name
        np.testing.assert_allclose(array, getattr(reference, name), atol=1e-3, rtol=1e-3, err_msg=name)
    batch = on_gpu.run_batch([TEXT[0], TEXT[1], TEXT], batch_size=3)  # padded, masked on the GPU
    np.testing.assert_allclose(batch[2].attentions, reference.attentions, atol=1e-4)
