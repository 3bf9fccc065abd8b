"""A GGUF file (llama.cpp's format) -> a cached float32 safetensors folder, run through transformers.

transformers reads GGUF itself (`from_pretrained(folder, gguf_file=...)`, with the `gguf` package)
and dequantizes every tensor to float32, which takes tens of seconds for SmolLM2-135M. We do that
once and write the result as an ordinary transformers folder (model.safetensors, config.json,
tokenizer.json) in the cache; later loads read that folder in about a second.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from .bundled import write_cache_folder
from .errors import ModelLoadError, scrub
from .limits import LoadLimits

CONVERTER_VERSION = 1  # bump when the folder this module writes changes, so caches are rebuilt


def convert_gguf(gguf_path: Path, folder: Path) -> Path:
    """Write `folder` from a decoder's GGUF file, once. Needs transformers, gguf and accelerate.

    transformers refuses to `save_pretrained` a model it loaded from GGUF (its config keeps a
    `quantization_config`), although the weights it holds are plain float32: we write them with
    safetensors ourselves and drop that entry from config.json, so the folder loads as a float32
    model. The folder is built beside its final place and renamed into it, so a crash or a
    concurrent conversion never leaves half a folder.
    """
    if (folder / "model.safetensors").is_file():
        return folder
    missing = [m for m in ("transformers", "gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelLoadError(f"Reading {gguf_path.name} needs {', '.join(missing)}. "
                             "Run: pip install -r requirements-models.txt")
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32,
                                                     attn_implementation="eager", trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, trust_remote_code=False)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"transformers could not read {gguf_path.name}: {scrub(str(exc))}") from exc
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the weights below are dequantized float32
    config["dtype"] = "float32"

    def write(staging: Path) -> None:
        # save_model (not save_file) writes a tied tensor (lm_head = embed_tokens) once.
        save_model(model, str(staging / "model.safetensors"), metadata={"format": "pt",
                                                                         "converted_from": gguf_path.name})
        (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        tokenizer.save_pretrained(str(staging))  # tokenizer.json (+ tokenizer_config.json, chat template)

    return write_cache_folder(folder, write)


def load_gguf_cached(gguf_path: Path, folder: Path, name: str, limits: LoadLimits | None = None):
    """The decoder in `gguf_path` as a TransformersModel, converted into `folder` the first time."""
    from .transformers import load_transformers_model

    convert_gguf(gguf_path, folder)
    return load_transformers_model(folder, name=name, limits=limits)
