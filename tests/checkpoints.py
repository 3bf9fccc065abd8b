"""Small BERT checkpoints that tests write to disk, so the loader is tested without downloads."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "##s", "##ing", "and", ".", ",", "!",
         "?", "hello", "world", "one", "two", "3", "é", "你", "好"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_tokenizer() -> Tokenizer:
    """A WordPiece tokenizer over a few dozen tokens, built like BERT's."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def hf_config(**overrides) -> dict:
    config = dict(
        model_type="bert", architectures=["BertModel"], vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        max_position_embeddings=24, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
        pad_token_id=0, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    config.update(overrides)
    return config


def random_bert_weights(config: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A transformers BertModel with random weights, as its state dict (the reference layout)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    model = BertModel(BertConfig(**config))
    with torch.no_grad():  # non-trivial LayerNorm parameters, so a wrong mapping shows
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def write_checkpoint(folder: Path, config: dict | None = None, weights: dict | None = None,
                     tokenizer: Tokenizer | None = None, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = config or hf_config()
    (folder / "config.json").write_text(json.dumps(config))
    if weights is None:
        weights = random_bert_weights(config, seed)
    save_file(weights, str(folder / "model.safetensors"))
    (tokenizer or tiny_tokenizer()).save(str(folder / "tokenizer.json"))
    return folder


def pretraining_style(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename keys the way checkpoints published for pre-training store them."""
    out = {}
    for key, value in weights.items():
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        out["bert." + key] = value
    n_positions = weights["embeddings.position_embeddings.weight"].shape[0]
    out["bert.embeddings.position_ids"] = torch.arange(n_positions).unsqueeze(0)
    out["cls.predictions.bias"] = torch.zeros(3)
    out["cls.predictions.transform.dense.weight"] = torch.zeros(2, 2)
    return out
