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
from dataclasses import dataclass, replace
from typing import Any

from ..config import Activation, EncoderConfig
from .limits import fraction, whole

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


def _pad_token_id(hf: dict[str, Any]) -> int:
    """pad_token_id, 0 when absent or null (BERT's [PAD])."""
    pad = hf.get("pad_token_id")
    return 0 if pad is None else whole(pad, "pad_token_id", minimum=0)


def _activation(hf: dict[str, Any], key: str, default: str = "gelu") -> Activation:
    act = hf.get(key, default)
    if not isinstance(act, str) or act not in HF_ACTIVATIONS:
        raise ValueError(f"{key} {act!r:.40} is not supported; use one of {sorted(HF_ACTIVATIONS)}.")
    return HF_ACTIVATIONS[act]


def bert_config(hf: dict[str, Any], default_activation: str = "gelu") -> EncoderConfig:
    """A BERT config.json: post-LN, learned absolute positions, segments, embedding LayerNorm."""
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"position_embedding_type '{hf['position_embedding_type']}' is not supported; "
            "only absolute (learned) positions are."
        )
    _required(hf, "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    return EncoderConfig(
        vocab_size=whole(hf["vocab_size"], "vocab_size"),
        d_model=whole(hf["hidden_size"], "hidden_size"),
        n_layers=whole(hf["num_hidden_layers"], "num_hidden_layers"),
        n_heads=whole(hf["num_attention_heads"], "num_attention_heads"),
        d_ff=whole(hf["intermediate_size"], "intermediate_size"),
        max_positions=whole(hf.get("max_position_embeddings", 512), "max_position_embeddings"),
        type_vocab_size=whole(hf.get("type_vocab_size", 2), "type_vocab_size", minimum=0),
        activation=_activation(hf, "hidden_act", default_activation),
        # NaN or inf here would load, then turn every hidden state into NaN on the first run.
        layer_norm_eps=fraction(hf.get("layer_norm_eps", 1e-12), "layer_norm_eps", 0.0, 1.0, low_open=True),
        dropout=fraction(hf.get("hidden_dropout_prob", 0.1), "hidden_dropout_prob", 0.0, 1.0),
        pad_token_id=_pad_token_id(hf),
    )


def roberta_config(hf: dict[str, Any]) -> EncoderConfig:
    """RoBERTa (Liu et al. 2019): BERT's layers, but position ids start at padding_idx + 1.

    fairseq numbers positions after the padding index, so max_position_embeddings (514 in
    roberta-base) holds padding_idx + 1 rows that real tokens never read: 512 usable positions.
    """
    pad = 1 if hf.get("pad_token_id") is None else _pad_token_id(hf)  # 1: RobertaConfig's default
    offset = pad + 1
    n_rows = whole(hf.get("max_position_embeddings", 514), "max_position_embeddings")
    if n_rows <= offset:
        raise ValueError(
            f"max_position_embeddings ({n_rows}) leaves no positions after the padding offset ({offset})."
        )
    config = bert_config({"type_vocab_size": 1, **hf})
    return replace(config, pad_token_id=pad, position_offset=offset, max_positions=n_rows - offset)


# DistilBERT's config.json names for BERT's settings.
_DISTILBERT_NAMES = {"dim": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                     "hidden_dim": "intermediate_size", "activation": "hidden_act", "dropout": "hidden_dropout_prob"}


def distilbert_config(hf: dict[str, Any]) -> EncoderConfig:
    """DistilBERT (Sanh et al. 2019): BERT's post-LN layers under other names, and no segments.

    sinusoidal_pos_embds=true still stores its (frozen) table in the checkpoint, which we load as a
    learned table: the same numbers transformers uses. Its LayerNorm eps is fixed at 1e-12 in code.
    """
    _required(hf, "dim", "n_layers", "n_heads", "hidden_dim", "vocab_size")
    shared = {key: hf[key] for key in ("vocab_size", "max_position_embeddings", "pad_token_id") if key in hf}
    renamed = {bert: hf[name] for name, bert in _DISTILBERT_NAMES.items() if name in hf}
    return bert_config({**shared, **renamed, "type_vocab_size": 0, "layer_norm_eps": 1e-12})

def electra_config(hf: dict[str, Any]) -> EncoderConfig:
    """ELECTRA (Clark et al. 2020): BERT, with `embeddings_project` when embedding_size != hidden_size."""
    config = bert_config(hf)
    width = whole(hf.get("embedding_size", config.d_model), "embedding_size")
    return replace(config, embedding_size=None if width == config.d_model else width)


def albert_config(hf: dict[str, Any]) -> EncoderConfig:
    """ALBERT (Lan et al. 2020): factorised embeddings (E -> hidden) and one layer shared across depth."""
    groups = whole(hf.get("num_hidden_groups", 1), "num_hidden_groups")
    inner = whole(hf.get("inner_group_num", 1), "inner_group_num")
    if (groups, inner) != (1, 1):
        raise ValueError(
            f"num_hidden_groups={groups} and inner_group_num={inner} are not supported; Headlight reads "
            "ALBERTs with one layer shared across depth (1 and 1, as every released ALBERT has)."
        )
    config = bert_config(hf, default_activation="gelu_new")
    return replace(config, embedding_size=whole(hf.get("embedding_size", 128), "embedding_size"), share_layers=True)


def _layer_modules(layer: str, *, qkv: tuple[str, str, str], out: str, attention_norm: str, up: str, down: str,
                   feed_forward_norm: str) -> dict[str, Sources]:
    """The `modules` rows of one layer: each of our modules -> the checkpoint's module of that name
    under `layer`, the checkpoint's path to a layer ("{n}" for its number). qkv's three are
    concatenated: (3D, D) / (3D,), which matches the (B, T, 3, H, Dh) view in MultiHeadAttention."""
    return {
        "layers.{n}.attention.qkv": tuple(f"{layer}.{name}" for name in qkv),
        "layers.{n}.attention.out": f"{layer}.{out}",
        "layers.{n}.attention_norm": f"{layer}.{attention_norm}",
        "layers.{n}.feed_forward.up": f"{layer}.{up}",
        "layers.{n}.feed_forward.down": f"{layer}.{down}",
        "layers.{n}.feed_forward_norm": f"{layer}.{feed_forward_norm}",
    }


# BERT's names for the embeddings, which every family here keeps.
_BERT_EMBEDDINGS: dict[str, Sources] = {
    "embeddings.token": "embeddings.word_embeddings",
    "embeddings.position": "embeddings.position_embeddings",
    "embeddings.segment": "embeddings.token_type_embeddings",
    "embeddings.norm": "embeddings.LayerNorm",
}
# The layers shared by BERT, RoBERTa and ELECTRA.
_BERT_MODULES = _BERT_EMBEDDINGS | _layer_modules(
    "encoder.layer.{n}", qkv=("attention.self.query", "attention.self.key", "attention.self.value"),
    out="attention.output.dense", attention_norm="attention.output.LayerNorm",
    up="intermediate.dense", down="output.dense", feed_forward_norm="output.LayerNorm",
)
# DistilBERT has no segments.
_DISTILBERT_EMBEDDINGS = {key: name for key, name in _BERT_EMBEDDINGS.items() if key != "embeddings.segment"}
_DISTILBERT_MODULES = _DISTILBERT_EMBEDDINGS | _layer_modules(
    "transformer.layer.{n}", qkv=("attention.q_lin", "attention.k_lin", "attention.v_lin"),
    out="attention.out_lin", attention_norm="sa_layer_norm",
    up="ffn.lin1", down="ffn.lin2", feed_forward_norm="output_layer_norm",
)
# ALBERT's one shared layer: no "{n}", so every depth of `Encoder` reads the same checkpoint keys.
_ALBERT_MODULES = _BERT_EMBEDDINGS | {"embeddings.project": "encoder.embedding_hidden_mapping_in"} | _layer_modules(
    "encoder.albert_layer_groups.0.albert_layers.0", qkv=("attention.query", "attention.key", "attention.value"),
    out="attention.dense", attention_norm="attention.LayerNorm",
    up="ffn", down="ffn_output", feed_forward_norm="full_layer_layer_norm",
)
# TensorFlow checkpoints name LayerNorm parameters gamma and beta.
_TF_LAYER_NORM = ((r"(LayerNorm)\.gamma$", r"\1.weight"), (r"(LayerNorm)\.beta$", r"\1.bias"))


def _ignoring(*heads: str) -> str:
    """`ignore` for a family whose pre-training heads are the top-level modules `heads`: those, the
    task heads an encoder does not use (a head, if wanted, is read from the weights separately),
    and the stored position and segment ids."""
    return rf"^({'|'.join((*heads, 'classifier', 'qa_outputs'))})\.|position_ids$|token_type_ids$"


# name, model types, config.json reader and modules, then how the checkpoint's keys are named.
BERT = Family("BERT", ("bert",), bert_config, _BERT_MODULES,
              strip_prefixes=("bert.",), renames=_TF_LAYER_NORM, ignore=_ignoring("cls", "pooler"))
# XLM-RoBERTa and CamemBERT are RoBERTa's code with other vocabularies (transformers copies it).
ROBERTA = Family("RoBERTa", ("roberta", "xlm-roberta", "camembert"), roberta_config, _BERT_MODULES,
                 strip_prefixes=("roberta.",), ignore=_ignoring("lm_head", "pooler"))
DISTILBERT = Family("DistilBERT", ("distilbert",), distilbert_config, _DISTILBERT_MODULES,
                    strip_prefixes=("distilbert.",),
                    ignore=_ignoring("vocab_transform", "vocab_layer_norm", "vocab_projector", "pre_classifier"))
ELECTRA = Family("ELECTRA", ("electra",), electra_config, _BERT_MODULES | {"embeddings.project": "embeddings_project"},
                 strip_prefixes=("electra.",), renames=_TF_LAYER_NORM,
                 ignore=_ignoring("discriminator_predictions", "generator_predictions", "generator_lm_head"))
ALBERT = Family("ALBERT", ("albert",), albert_config, _ALBERT_MODULES,
                strip_prefixes=("albert.",), renames=_TF_LAYER_NORM,
                ignore=_ignoring("pooler", "predictions", "sop_classifier"))

FAMILIES: tuple[Family, ...] = (BERT, ROBERTA, DISTILBERT, ELECTRA, ALBERT)


def family_for(model_type: str) -> Family:
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    known = ", ".join(f"'{t}'" for family in FAMILIES for t in family.model_types)
    raise ValueError(f"config.json says model_type '{model_type}'; Headlight reads {known}.")
