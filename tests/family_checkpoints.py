"""Tiny random checkpoints of every family Headlight reads, written by transformers itself.

Each is a transformers model built from a small config with random weights (spread wider than
transformers' initialisation, so attention is far from uniform and a wrong mapping shows),
saved with `save_pretrained` (safetensors), plus a tokenizer.json built in-process with
`tokenizers`: WordPiece for the BERT-likes, byte-level BPE (Ġ) for RoBERTa, a SentencePiece-style
Unigram (▁) for ALBERT. Nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from checkpoints import tiny_tokenizer
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

# Sentences the in-process tokenizers are trained on.
CORPUS = [
    "The cat sat on the mat.", "Hello world, the dog ran!", "A man plays guitar; someone is making music.",
    "Prices rose 3.5% in 2024, didn't they?", "Crème brûlée à la française, naïve café.",
    "东京是日本的首都。", "Where is the station? It is two blocks north.\nTurn left.",
]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
ALBERT_SPECIALS = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]


@functools.cache
def _byte_level_bpe_json() -> str:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=ROBERTA_SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")), add_prefix_space=False,
    )
    return tokenizer.to_str()


def byte_level_bpe() -> Tokenizer:
    """RoBERTa-style: byte-level BPE, <s> A </s></s> B </s>, <pad> = 1."""
    return Tokenizer.from_str(_byte_level_bpe_json())


@functools.cache
def _unigram_json() -> str:
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=ALBERT_SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    return tokenizer.to_str()


def sentencepiece_unigram() -> Tokenizer:
    """ALBERT-style: a SentencePiece Unigram with ▁ word starts, [CLS] A [SEP] B [SEP]."""
    return Tokenizer.from_str(_unigram_json())


_SHAPE = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48)


@dataclass(frozen=True)
class FamilySpec:
    """One family's tiny config.json, its tokenizer, and how its task checkpoints name keys."""

    model_type: str
    config: dict
    tokenizer: Callable[[], Tokenizer]
    prefix: str  # what a pre-training or task checkpoint puts before the encoder's keys
    head_keys: tuple[str, ...]  # keys of heads such a checkpoint adds
    segments: bool = True  # whether the model takes token_type_ids


def _roberta(model_type: str) -> FamilySpec:
    vocab = byte_level_bpe().get_vocab_size()
    return FamilySpec(model_type, dict(_SHAPE, vocab_size=vocab, max_position_embeddings=34, type_vocab_size=1,
                                       pad_token_id=1, bos_token_id=0, eos_token_id=2, hidden_act="gelu"),
                      byte_level_bpe, "roberta.", ("lm_head.dense.weight", "lm_head.bias"), segments=False)


def family_specs() -> dict[str, FamilySpec]:
    wordpiece_vocab = tiny_tokenizer().get_vocab_size()
    return {
        "roberta": _roberta("roberta"),
        "xlm-roberta": _roberta("xlm-roberta"),
        "camembert": _roberta("camembert"),
        "distilbert": FamilySpec(
            "distilbert", dict(vocab_size=wordpiece_vocab, dim=32, n_layers=3, n_heads=4, hidden_dim=48,
                               max_position_embeddings=24, activation="gelu", pad_token_id=0),
            tiny_tokenizer, "distilbert.", ("vocab_transform.weight", "pre_classifier.weight"), segments=False),
        "electra": FamilySpec(
            "electra", dict(_SHAPE, vocab_size=wordpiece_vocab, embedding_size=16, max_position_embeddings=24,
                            hidden_act="gelu"),
            tiny_tokenizer, "electra.", ("discriminator_predictions.dense.weight",)),
        "albert": FamilySpec(
            "albert", dict(_SHAPE, vocab_size=sentencepiece_unigram().get_vocab_size(), embedding_size=16,
                           max_position_embeddings=24, hidden_act="gelu_new", num_hidden_groups=1,
                           inner_group_num=1, pad_token_id=0),
            sentencepiece_unigram, "albert.", ("predictions.dense.weight", "sop_classifier.classifier.weight")),
    }


def reference_model(spec: FamilySpec, seed: int = 0, **overrides):
    """A transformers model of the family with random weights, eager attention, in eval mode."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model(spec.model_type, **{**spec.config, **overrides})
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = AutoModel.from_config(config, attn_implementation="eager")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:  # biases and LayerNorm parameters: not the trivial 0 and 1
                p.copy_(torch.randn_like(p) * 0.1 + ("LayerNorm" in name or "layer_norm" in name))
            else:  # matrices: wide enough that attention rows are peaked, not uniform
                p.copy_(torch.randn_like(p) * 0.25)
    return model.eval()


def write_family_checkpoint(folder: Path, spec: FamilySpec, seed: int = 0, **overrides):
    """config.json + model.safetensors (save_pretrained) + tokenizer.json; returns the model too."""
    model = reference_model(spec, seed, **overrides)
    model.save_pretrained(folder)
    spec.tokenizer().save(str(folder / "tokenizer.json"))
    return folder, model
