"""One frozen dataclass describes an encoder (reading a config.json into it is per family: loading/families.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Activation = Literal["relu", "gelu", "gelu_tanh"]
Positions = Literal["learned", "sinusoidal"]

@dataclass(frozen=True)
class EncoderConfig:
    """Shape and flavour of a Transformer encoder.

    The defaults describe all-MiniLM-L6-v2 (a post-LN BERT). `EncoderConfig.paper()` gives the
    encoder of "Attention Is All You Need" (Vaswani et al. 2017): sinusoidal positions, ReLU,
    token embeddings scaled by sqrt(d_model), no segment embeddings and no embedding LayerNorm.
    """

    vocab_size: int = 30522
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 12
    d_ff: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2  # 0 turns segment (token-type) embeddings off
    positions: Positions = "learned"
    activation: Activation = "gelu"
    norm_first: bool = False  # pre-LN (Xiong et al. 2020) instead of the paper's post-LN
    final_norm: bool = False  # a LayerNorm after the last layer; usual with pre-LN
    embedding_norm: bool = True  # BERT normalises the summed embeddings; the paper does not
    scale_embedding: bool = False  # the paper multiplies token embeddings by sqrt(d_model), §3.4
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    pad_token_id: int = 0
    causal: bool = False  # each token attends only to itself and earlier ones (a decoder's mask)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must divide evenly into n_heads ({self.n_heads})."
            )
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_positions"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}.")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def paper(cls, vocab_size: int = 30522, **overrides: Any) -> EncoderConfig:
        """The base encoder of Vaswani et al. (2017): d=512, 8 heads, 6 layers, d_ff=2048."""
        settings: dict[str, Any] = dict(
            vocab_size=vocab_size, d_model=512, n_heads=8, n_layers=6, d_ff=2048,
            type_vocab_size=0, positions="sinusoidal", activation="relu",
            embedding_norm=False, scale_embedding=True, layer_norm_eps=1e-6,
        )
        settings.update(overrides)
        return cls(**settings)
