"""Safetensors checkpoints: read them (never a pickle) and map them onto `Encoder` via a family table."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..config import EncoderConfig
from ..model import Encoder
from .errors import ModelLoadError
from .families import Family

PICKLES = ("pytorch_model.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.bin")


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of model.safetensors, or of the shards a model.safetensors.index.json names."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, AttributeError) as exc:
            raise ModelLoadError(f"{index} is not a valid safetensors index: {exc}") from exc
        files = [folder / Path(s).name for s in shards]  # .name: never leave the folder
    elif (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    else:
        pickles = sorted({p.name for pattern in PICKLES for p in folder.glob(pattern)})
        if pickles:
            raise ModelLoadError(
                f"{folder} holds only pickled weights ({', '.join(pickles)}). Headlight never "
                "unpickles files, because unpickling can run arbitrary code. Convert the "
                "checkpoint to model.safetensors first."
            )
        raise ModelLoadError(f"{folder} has no model.safetensors.")
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"The safetensors index names {file.name}, which is missing.")
        try:
            weights.update(load_file(str(file)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{file} is not a readable safetensors file (truncated or corrupted?): {exc}"
            ) from exc
    return weights


def expected_parameters(config: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """Our parameter names and shapes for `config`, read off an `Encoder` built on the meta
    device (no memory, no initialisation), so they can never drift from the model code."""
    with torch.device("meta"):
        return {name: tuple(t.shape) for name, t in Encoder(config).state_dict().items()}


def convert_state_dict(
    weights: dict[str, torch.Tensor], config: EncoderConfig, family: Family
) -> dict[str, torch.Tensor]:
    """Check a checkpoint against `config` and rename it for `Encoder`, as float32.

    Raises ModelLoadError naming missing keys, unexpected keys and wrong shapes, in the
    checkpoint's own (normalised) names. A shared layer (ALBERT) has one name per depth in
    `Encoder.state_dict()`, all read from the same checkpoint keys; each problem is named once.
    """
    by_name = {name: weights[key] for key, name in family.normalize_keys(list(weights)).items()}
    out: dict[str, torch.Tensor] = {}
    missing: dict[str, None] = {}  # ordered sets: a shared layer repeats the same keys
    wrong: dict[str, None] = {}
    used: set[str] = set()
    for parameter, shape in expected_parameters(config).items():
        sources = family.sources(parameter)
        absent = [s for s in sources if s not in by_name]
        if absent:
            missing.update(dict.fromkeys(absent))
            continue
        used.update(sources)
        parts = [by_name[s] for s in sources]
        tensor = parts[0] if len(parts) == 1 else torch.cat(parts)  # fused along dim 0, e.g. q; k; v
        if tuple(tensor.shape) != shape:
            got = " + ".join(str(list(p.shape)) for p in parts)
            wrong[f"{' + '.join(sources)} is {got}, config.json implies {list(shape)}"] = None
            continue
        out[parameter] = tensor.float()
    unexpected = sorted(by_name.keys() - used)
    problems = []
    if missing:
        problems.append(f"missing {_few(sorted(missing))}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if wrong:
        shown = list(wrong)[:3]
        problems.append("wrong shapes: " + "; ".join(shown) + (" ..." if len(wrong) > 3 else ""))
    if problems:
        raise ModelLoadError("The weights do not match config.json: " + " | ".join(problems))
    return out


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
