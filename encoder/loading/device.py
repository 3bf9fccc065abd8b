"""Which torch device a model runs on: `load_model(..., device=...)` and the app's HEADLIGHT_DEVICE.

The engine's results are numpy arrays on the CPU wherever the model ran (`Model._forward`
copies them back), so only loading needs to know the device. A device string is checked before
a model is loaded: a typo or a missing GPU is one sentence, not a traceback from deep in torch.
"""

from __future__ import annotations

import torch

from .errors import ModelLoadError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"cpu", "cuda", "cuda:1", "mps" or a torch.device -> a torch.device this machine has.

    None means the CPU, as before the option existed. Raises ModelLoadError naming the device.
    """
    if device is None:
        return torch.device("cpu")
    label = str(device).strip()[:40]
    try:
        resolved = torch.device(device if isinstance(device, torch.device) else label.lower())
    except (RuntimeError, TypeError, ValueError):
        raise ModelLoadError(f"“{label}” is not a device name; use “cpu”, “cuda” or “cuda:0”.") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(f"The device “{label}” was asked for but this machine has no CUDA GPU.")
        index = 0 if resolved.index is None else resolved.index
        if index >= torch.cuda.device_count():
            raise ModelLoadError(f"The device “{label}” was asked for but this machine has "
                                 f"{torch.cuda.device_count()} CUDA GPU(s).")
        return torch.device("cuda", index)
    if resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise ModelLoadError(f"The device “{label}” was asked for but this machine has no Apple GPU.")
        return resolved
    raise ModelLoadError(f"Headlight runs models on “cpu”, “cuda” or “mps”, not on “{label}”.")
