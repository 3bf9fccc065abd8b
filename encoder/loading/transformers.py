"""Loading a decoder or encoder-decoder that transformers knows into a `TransformersModel`
(encoder/adapters/): its config checked against `LoadLimits` and counted on the meta device
before transformers allocates anything, from safetensors only, never `trust_remote_code`.

The adapter itself (how such a model runs into a `Run`) knows nothing of loading; this module is
loading's, so the two packages depend one way: loading -> adapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from ..adapters.transformers_adapter import LEARNED_POSITIONS, MAX_TOKENS, AdapterConfig, TransformersModel
from ..tokenize import TextTokenizer
from .checkpoint import read_header, weight_files
from .errors import ModelLoadError, load_boundary, scrub
from .limits import LoadLimits, whole


def is_adapter_config(hf: dict[str, Any]) -> bool:
    """Whether a config.json describes a decoder or encoder-decoder built into transformers."""
    try:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
            MODEL_FOR_MASKED_LM_MAPPING_NAMES,
            MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        )
    except ImportError:
        return False
    model_type = str(hf.get("model_type", ""))
    if model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return True
    # BERT-like encoders are in the causal-LM table too (their *LMHeadModel variants); they are
    # decoders only when config.json says is_decoder.
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and (
        bool(hf.get("is_decoder")) or model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def adapter_config(hf_config: Any, max_tokens: int = MAX_TOKENS) -> AdapterConfig:
    """Our description of a transformers PretrainedConfig (its attribute_map gives the common names)."""
    text = hf_config.get_text_config() if hasattr(hf_config, "get_text_config") else hf_config
    n_heads = int(text.num_attention_heads)
    rope = getattr(text, "rope_parameters", None) or {}
    rotary_base = rope.get("rope_theta") if isinstance(rope, dict) else None
    rotary_base = rotary_base or getattr(text, "rope_theta", None)
    model_type = str(text.model_type)
    positions = ("rotary" if rotary_base else "learned" if model_type in LEARNED_POSITIONS
                 else "relative" if model_type in ("t5", "mt5", "umt5") else "none")
    window = int(getattr(text, "max_position_embeddings", 0) or getattr(text, "n_positions", 0) or max_tokens)
    encoder_decoder = bool(getattr(text, "is_encoder_decoder", False))
    return AdapterConfig(
        family=model_type,
        n_layers=int(getattr(text, "encoder_layers", None) or text.num_hidden_layers),
        n_heads=n_heads,
        n_kv_heads=int(getattr(text, "num_key_value_heads", None) or n_heads),
        d_model=int(text.hidden_size),
        vocab_size=int(text.vocab_size),
        max_positions=min(window, max_tokens),
        positions=positions,
        causal=not encoder_decoder,
        encoder_decoder=encoder_decoder,
        n_decoder_layers=int(getattr(text, "decoder_layers", None) or getattr(text, "num_decoder_layers", None)
                             or (text.num_hidden_layers if encoder_decoder else 0)),
        rotary_base=float(rotary_base) if rotary_base else None,
        pad_token_id=int(getattr(text, "pad_token_id", None) or 0),
    )


def load_transformers_model(folder: str | Path, name: str | None = None, max_tokens: int = MAX_TOKENS,
                            limits: LoadLimits | None = None) -> TransformersModel:
    """A decoder (AutoModelForCausalLM) or encoder-decoder (AutoModelForSeq2SeqLM) from a folder of
    config.json, safetensors weights and tokenizer.json, with eager attention, in float32.

    The config's sizes are checked against `limits` and the model is counted on the meta device
    before transformers allocates anything; messages call the model `name`, never its path."""
    folder = Path(folder)
    name = name or folder.name
    limits = limits or LoadLimits()
    with load_boundary(name):
        return _load(folder, name, max_tokens, limits)


def _load(folder: Path, name: str, max_tokens: int, limits: LoadLimits) -> TransformersModel:
    tokenizer_json = folder / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise ModelLoadError(f"{name} has no tokenizer.json.")
    hf_config, auto = _checked_config(folder, name, limits)
    # an absurd safetensors header is refused before transformers reads it
    read_header(weight_files(folder, name, limits), name, limits)
    try:
        model, info = auto.from_pretrained(folder, config=hf_config, attn_implementation="eager", dtype=torch.float32,
                                           use_safetensors=True, trust_remote_code=False, local_files_only=True,
                                           output_loading_info=True)
        # transformers fills weights it does not find with random ones and only warns: refuse that.
        missing = sorted(info.get("missing_keys") or []) + [str(k) for k in info.get("mismatched_keys") or []]
        if missing:
            raise ValueError(f"the weights do not match config.json; missing or mis-shaped: {', '.join(missing[:4])}"
                             + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""))
        config = adapter_config(model.config, max_tokens)
    except (OSError, ValueError, KeyError, AttributeError, TypeError, RuntimeError) as exc:
        raise ModelLoadError(f"transformers could not load {name} as model_type '{hf_config.model_type}': "
                             f"{scrub(str(exc))}") from exc
    model.train(False).requires_grad_(False)  # inference only: no dropout, no gradients
    try:
        vocabulary = Tokenizer.from_file(str(tokenizer_json))
        tokenizer = TextTokenizer(Tokenizer.from_str(vocabulary.to_str()), max_length=config.max_positions)
    except Exception as exc:  # tokenizers raises plain Exception on malformed files
        raise ModelLoadError(f"The tokenizer of {name} cannot be read: {scrub(str(exc))}") from exc
    return TransformersModel(model, tokenizer, name, config, vocabulary)


def check_transformers_config(folder: str | Path, name: str, limits: LoadLimits | None = None) -> None:
    """Refuse a transformers config.json over `limits` (nothing is allocated)."""
    with load_boundary(name):
        _checked_config(Path(folder), name, limits or LoadLimits())


def _checked_config(folder: Path, name: str, limits: LoadLimits) -> tuple[Any, Any]:
    """(transformers' config of `folder`, the Auto class that builds it), after checking its sizes
    against `limits`: first the numbers config.json states, then the parameters of the model
    built on the meta device (which allocates nothing, and is only built once the numbers
    showed it small enough to build quickly)."""
    try:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    except ImportError as exc:
        raise ModelLoadError(f"{name} needs transformers (pip install -r requirements-models.txt).") from exc
    try:
        hf_config = AutoConfig.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
        text = hf_config.get_text_config() if hasattr(hf_config, "get_text_config") else hf_config
        _check_sizes(text, name, limits)
    except (OSError, ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(f"{name}'s config.json cannot be used: {scrub(str(exc))}") from exc
    auto = AutoModelForSeq2SeqLM if getattr(hf_config, "is_encoder_decoder", False) else AutoModelForCausalLM
    try:
        with torch.device("meta"):
            skeleton = auto.from_config(hf_config, trust_remote_code=False)
    except (ValueError, KeyError, AttributeError, TypeError, RuntimeError) as exc:
        raise ModelLoadError(f"transformers cannot build {name} as model_type '{hf_config.model_type}': "
                             f"{scrub(str(exc))}") from exc
    limits.check_parameters(name, sum(p.numel() for p in skeleton.parameters()))
    return hf_config, auto


# transformers' names for the sizes LoadLimits caps, across families (attribute_map covers GPT-2's
# n_embd, n_layer and n_head; feed-forward widths are named per family).
_SIZE_NAMES = {
    "layers": ("num_hidden_layers", "encoder_layers", "decoder_layers", "num_decoder_layers"),
    "width": ("hidden_size", "d_model", "head_dim", "d_kv"),
    "heads": ("num_attention_heads", "num_key_value_heads", "encoder_attention_heads", "decoder_attention_heads"),
    "ffn": ("intermediate_size", "n_inner", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff"),
    "vocab": ("vocab_size",),
}


def _check_sizes(text: Any, name: str, limits: LoadLimits) -> None:
    sizes: dict[str, int] = {}
    for what, keys in _SIZE_NAMES.items():
        for key in keys:
            value = getattr(text, key, None)
            if value is not None:
                sizes[what] = max(sizes.get(what, 0), whole(value, key))
    if "ffn" not in sizes and "width" in sizes:  # GPT-2's n_inner None means 4 × width
        sizes["ffn"] = 4 * sizes["width"]
    model_type = str(getattr(text, "model_type", ""))
    if model_type in LEARNED_POSITIONS:  # a learned table: its rows are parameters (rotary has none)
        window = getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None)
        if window is not None:
            sizes["positions"] = whole(window, "max_position_embeddings")
    limits.check_sizes(name, **sizes)
