"""Safetensors checkpoints: read them (never a pickle) and map them onto `Encoder` via a family table.

Loading goes header first: the names, shapes and dtypes of every tensor come from the files'
headers (a few kilobytes, read without touching the tensors), are compared with the shapes the
config implies, and only then are the tensors read, straight into an `Encoder` built on the meta
device. A folder whose config promises a giant model is refused before any of it is allocated.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..config import EncoderConfig
from ..model import Encoder
from .errors import ModelLoadError
from .families import Family
from .limits import LoadLimits

PICKLES = ("pytorch_model.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.bin")
FLOATS = ("F16", "BF16", "F32", "F64")  # what a parameter may be stored as; it becomes float32


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as a safetensors header lists it."""

    file: Path
    dtype: str  # safetensors' name: "F32", "BF16", "I64", ...
    shape: tuple[int, ...]


def weight_files(folder: Path, name: str, limits: LoadLimits | None = None) -> list[Path]:
    """model.safetensors, or the shards a model.safetensors.index.json names (never outside `folder`)."""
    limits = limits or LoadLimits()
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            if index.stat().st_size > limits.max_header_bytes:
                raise ValueError(f"it is larger than {limits.max_header_bytes // 2**20} MB")
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            files = [folder / Path(str(s)).name for s in shards]  # .name: never leave the folder
        except (ValueError, KeyError, AttributeError, TypeError, RecursionError) as exc:
            raise ModelLoadError(f"The safetensors index of {name} cannot be used: {exc}") from exc
    elif (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    else:
        pickles = sorted({p.name for pattern in PICKLES for p in folder.glob(pattern)})
        if pickles:
            raise ModelLoadError(
                f"{name} holds only pickled weights ({', '.join(pickles)}). Headlight never "
                "unpickles files, because unpickling can run arbitrary code. Convert the "
                "checkpoint to model.safetensors first."
            )
        raise ModelLoadError(f"{name} has no model.safetensors.")
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"The safetensors index of {name} names {file.name}, which is missing.")
    return files


def read_header(files: list[Path], name: str, limits: LoadLimits | None = None) -> dict[str, TensorEntry]:
    """Every tensor's file, dtype and shape, from the headers alone.

    A safetensors file starts with 8 bytes giving the header's length, then the JSON header. The
    length is checked against `limits.max_header_bytes` and the file's size before anything is
    parsed, so a file claiming a 2**60-byte header costs nothing; safetensors then checks that the
    listed tensors fill the file exactly, so a header cannot claim a tensor larger than the file.
    """
    limits = limits or LoadLimits()
    entries: dict[str, TensorEntry] = {}
    for file in files:
        _check_header_length(file, name, limits)
        try:
            with safe_open(str(file), framework="pt") as handle:
                names = handle.keys()  # a list; safe_open itself is not iterable
                for key in names:
                    view = handle.get_slice(key)
                    entries[key] = TensorEntry(file, view.get_dtype(), tuple(view.get_shape()))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise _unreadable(file, name, exc) from exc
    return entries


def _check_header_length(file: Path, name: str, limits: LoadLimits) -> None:
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            prefix = handle.read(8)
    except OSError as exc:
        raise _unreadable(file, name, exc) from exc
    if len(prefix) < 8:
        raise _unreadable(file, name, "shorter than its 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)  # little-endian unsigned 64-bit, per the format
    if length > limits.max_header_bytes:
        raise _unreadable(file, name, f"its header claims {length:,} bytes, more than the "
                                      f"{limits.max_header_bytes:,} allowed")
    if length > size - 8:
        raise _unreadable(file, name, f"its header claims {length:,} bytes but the file has {size:,}")


def _unreadable(file: Path, name: str, why: object) -> ModelLoadError:
    # safetensors' messages do not contain the path; OSError's do, so only its reason is kept.
    reason = why.strerror if isinstance(why, OSError) and why.strerror else why
    return ModelLoadError(f"{file.name} of {name} is not a readable safetensors file (truncated or corrupted?): "
                          f"{reason}")


def read_tensors(entries: dict[str, TensorEntry], keys: list[str], name: str) -> dict[str, torch.Tensor]:
    """The tensors `keys` (and no others: a checkpoint's pre-training heads are never read)."""
    by_file: dict[Path, list[str]] = {}
    for key in keys:
        by_file.setdefault(entries[key].file, []).append(key)
    tensors: dict[str, torch.Tensor] = {}
    for file, wanted in by_file.items():
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in wanted:
                    tensors[key] = handle.get_tensor(key)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise _unreadable(file, name, exc) from exc
    return tensors


def read_weights(folder: Path, name: str | None = None) -> dict[str, torch.Tensor]:
    """Every tensor of model.safetensors, or of the shards a model.safetensors.index.json names."""
    name = name or folder.name
    entries = read_header(weight_files(folder, name), name)
    return read_tensors(entries, list(entries), name)


def meta_encoder(config: EncoderConfig) -> Encoder:
    """An `Encoder` on the meta device: shapes without memory or initialisation."""
    with torch.device("meta"):
        return Encoder(config)


def expected_parameters(config: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """Our parameter names and shapes for `config`, read off an `Encoder` built on the meta
    device (no memory, no initialisation), so they can never drift from the model code."""
    return {name: tuple(t.shape) for name, t in meta_encoder(config).state_dict().items()}


def match_shapes(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str] | None,
                 expected: dict[str, tuple[int, ...]], family: Family) -> dict[str, tuple[str, ...]]:
    """Our parameter -> the checkpoint keys it is made of, after checking names and shapes only.

    Raises ModelLoadError naming missing keys, unexpected keys and wrong shapes, in the
    checkpoint's own (normalised) names. A shared layer (ALBERT) has one name per depth in
    `Encoder.state_dict()`, all read from the same checkpoint keys; each problem is named once.
    """
    by_name = {normalised: key for key, normalised in family.normalize_keys(list(shapes)).items()}
    plan: dict[str, tuple[str, ...]] = {}
    missing: dict[str, None] = {}  # ordered sets: a shared layer repeats the same keys
    wrong: dict[str, None] = {}
    used: set[str] = set()
    for parameter, shape in expected.items():
        sources = family.sources(parameter)
        absent = [s for s in sources if s not in by_name]
        if absent:
            missing.update(dict.fromkeys(absent))
            continue
        used.update(sources)
        parts = [shapes[by_name[s]] for s in sources]
        if len(parts) == 1:
            fused: tuple[int, ...] | None = parts[0]
        elif all(parts) and len({p[1:] for p in parts}) == 1:  # fused along dim 0, e.g. q; k; v
            fused = (sum(p[0] for p in parts), *parts[0][1:])
        else:
            fused = None
        if fused != shape:
            got = " + ".join(str(list(p)) for p in parts)
            wrong[f"{' + '.join(sources)} is {got}, config.json implies {list(shape)}"] = None
            continue
        bad = [s for s in sources if dtypes is not None and dtypes[by_name[s]] not in FLOATS]
        if bad:
            wrong[f"{bad[0]} is stored as {dtypes[by_name[bad[0]]]}, not as floating point"] = None
            continue
        plan[parameter] = tuple(by_name[s] for s in sources)
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
    return plan


def assemble(tensors: dict[str, torch.Tensor], plan: dict[str, tuple[str, ...]]) -> dict[str, torch.Tensor]:
    """Our state dict from the checkpoint's tensors, as float32 (concatenating fused parts)."""
    out = {}
    for parameter, keys in plan.items():
        parts = [tensors[k] for k in keys]
        out[parameter] = (parts[0] if len(parts) == 1 else torch.cat(parts)).float()
    return out


def convert_state_dict(
    weights: dict[str, torch.Tensor], config: EncoderConfig, family: Family
) -> dict[str, torch.Tensor]:
    """Check a checkpoint against `config` and rename it for `Encoder`, as float32."""
    shapes = {key: tuple(t.shape) for key, t in weights.items()}
    return assemble(weights, match_shapes(shapes, None, expected_parameters(config), family))


def build_encoder(config: EncoderConfig, state: dict[str, torch.Tensor]) -> Encoder:
    """An `Encoder` holding `state`'s tensors themselves: built on the meta device (nothing
    allocated, nothing initialised) and then handed the tensors (`assign=True`), so the weights
    exist once in memory, not twice. Non-persistent buffers (the sinusoid table) are computed on
    the CPU even under the meta device (`torch.from_numpy` ignores it); the check below makes
    sure that stays so."""
    encoder = meta_encoder(config)
    encoder.load_state_dict(state, assign=True)
    left = [n for n, t in (*encoder.named_parameters(), *encoder.named_buffers()) if t.is_meta]
    if left:
        raise ModelLoadError(f"Building the encoder left {_few(left)} without values.")
    return encoder


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
