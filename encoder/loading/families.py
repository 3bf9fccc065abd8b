"""One table per model family: how its config.json reads and how its checkpoint keys are named.

A family is data, not code paths: `config_from_hf` maps config.json onto `EncoderConfig`, and
`modules` names, for each module of `Encoder`, the checkpoint module(s) its parameters come
from. Which parameters exist, and their shapes, come from `Encoder(config).state_dict()` itself
(as nanoGPT's `from_pretrained` derives them), so the table never lists a shape.

Adding a family = one `Family(...)` entry in FAMILIES plus its config mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import Activation, EncoderConfig

# Hugging Face names for the activations we implement. "gelu" there is the exact erf form;
# "gelu_new" / "gelu_pytorch_tanh" are the tanh approximation (Hendrycks & Gimpel 2016, eq. 2).
HF_ACTIVATIONS: dict[str, Activation] = {
    "relu": "relu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
}

Sources = str | tuple[str, ...]  # one checkpoint module, or several concatenated along dim 0


@dataclass(frozen=True)
class Family:
    """How one family's checkpoints map onto `Encoder`.

    modules: our module path -> checkpoint module path(s), "{n}" standing for the layer number;
    a tuple is concatenated along the first axis (BERT's separate query, key and value become
    our fused qkv). strip_prefixes are dropped from checkpoint keys first (`bert.`), renames are
    regex substitutions applied next (TensorFlow's LayerNorm gamma/beta), and keys matching
    `ignore` are not used by an encoder (pre-training heads, the pooler, stored position ids).
    """

    name: str
    model_types: tuple[str, ...]
    config_from_hf: Callable[[dict[str, Any]], EncoderConfig]
    modules: dict[str, Sources]
    strip_prefixes: tuple[str, ...] = ()
    renames: tuple[tuple[str, str], ...] = ()
    ignore: str = r"$^"  # matches nothing

    def normalize_keys(self, keys: list[str]) -> dict[str, str]:
        """Checkpoint key -> its normalised name, for every key an encoder uses."""
        normalized = {}
        for key in keys:
            name = key
            for prefix in self.strip_prefixes:
                name = name.removeprefix(prefix)
            for pattern, replacement in self.renames:
                name = re.sub(pattern, replacement, name)
            if not re.search(self.ignore, name):
                normalized[key] = name
        return normalized

    def sources(self, parameter: str) -> tuple[str, ...]:
        """Our parameter name ("layers.3.attention.qkv.weight") -> its normalised checkpoint key(s)."""
        module, _, kind = parameter.rpartition(".")
        layer = re.search(r"(?<=\.)\d+(?=\.)", module)
        template = re.sub(r"(?<=\.)\d+(?=\.)", "{n}", module, count=1)
        if template not in self.modules:
            raise KeyError(f"{self.name} has no checkpoint name for {parameter}")
        found = self.modules[template]
        names = (found,) if isinstance(found, str) else found
        return tuple(name.format(n=layer.group() if layer else "") + "." + kind for name in names)


def _required(hf: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in hf]
    if missing:
        raise ValueError(f"config.json lacks {', '.join(missing)}.")


def _activation(hf: dict[str, Any], key: str) -> Activation:
    act = hf.get(key, "gelu")
    if act not in HF_ACTIVATIONS:
        raise ValueError(f"{key} '{act}' is not supported; use one of {sorted(HF_ACTIVATIONS)}.")
    return HF_ACTIVATIONS[act]


def bert_config(hf: dict[str, Any]) -> EncoderConfig:
    """A BERT config.json: post-LN, learned absolute positions, segments, embedding LayerNorm."""
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"position_embedding_type '{hf['position_embedding_type']}' is not supported; "
            "only absolute (learned) positions are."
        )
    _required(hf, "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    return EncoderConfig(
        vocab_size=int(hf["vocab_size"]),
        d_model=int(hf["hidden_size"]),
        n_layers=int(hf["num_hidden_layers"]),
        n_heads=int(hf["num_attention_heads"]),
        d_ff=int(hf["intermediate_size"]),
        max_positions=int(hf.get("max_position_embeddings", 512)),
        type_vocab_size=int(hf.get("type_vocab_size", 2)),
        activation=_activation(hf, "hidden_act"),
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        dropout=float(hf.get("hidden_dropout_prob", 0.1)),
        pad_token_id=int(hf.get("pad_token_id") or 0),
    )


BERT = Family(
    name="BERT",
    model_types=("bert",),
    config_from_hf=bert_config,
    modules={
        "embeddings.token": "embeddings.word_embeddings",
        "embeddings.position": "embeddings.position_embeddings",
        "embeddings.segment": "embeddings.token_type_embeddings",
        "embeddings.norm": "embeddings.LayerNorm",
        # (3D, D) / (3D,): matches the (B, T, 3, H, Dh) view in MultiHeadAttention
        "layers.{n}.attention.qkv": tuple(f"encoder.layer.{{n}}.attention.self.{p}" for p in ("query", "key", "value")),
        "layers.{n}.attention.out": "encoder.layer.{n}.attention.output.dense",
        "layers.{n}.attention_norm": "encoder.layer.{n}.attention.output.LayerNorm",
        "layers.{n}.feed_forward.up": "encoder.layer.{n}.intermediate.dense",
        "layers.{n}.feed_forward.down": "encoder.layer.{n}.output.dense",
        "layers.{n}.feed_forward_norm": "encoder.layer.{n}.output.LayerNorm",
    },
    strip_prefixes=("bert.",),
    renames=((r"(LayerNorm)\.gamma$", r"\1.weight"), (r"(LayerNorm)\.beta$", r"\1.bias")),
    ignore=r"^(cls|pooler)\.|position_ids$",
)

FAMILIES: tuple[Family, ...] = (BERT,)


def family_for(model_type: str) -> Family:
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    known = ", ".join(f"'{t}'" for family in FAMILIES for t in family.model_types)
    raise ValueError(f"config.json says model_type '{model_type}'; Headlight reads {known}.")
