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
    # RoBERTa (after fairseq): position ids count real tokens from position_offset = padding_idx + 1,
    # and padding sits at padding_idx; the table has max_positions + position_offset rows.
    position_offset: int = 0
    # Factorised embeddings (ALBERT, Lan et al. 2020 §3.1; ELECTRA's small generator): tables of this
    # width, then a linear map up to d_model. None: tables are d_model wide and nothing is projected.
    embedding_size: int | None = None
    share_layers: bool = False  # ALBERT: one layer's parameters applied n_layers times (Lan et al. §3.1)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must divide evenly into n_heads ({self.n_heads})."
            )
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_positions"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}.")
        if self.position_offset < 0:
            raise ValueError(f"position_offset must not be negative, not {self.position_offset}.")
        if self.embedding_size is not None and self.embedding_size <= 0:
            raise ValueError(f"embedding_size must be positive, not {self.embedding_size}.")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def embedding_width(self) -> int:
        """Width of the token, position and segment tables (before any projection to d_model)."""
        return self.embedding_size or self.d_model

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
