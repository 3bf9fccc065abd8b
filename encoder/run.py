"""`Model.run(text)` -> `Run`: the contract between the engine and everything visual.

A Run holds numpy arrays only, so it can be cached, pickled by Streamlit and shared between
threads without keeping tensors (or the graph behind them) alive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .capture import capture_attention, stack_layers
from .config import EncoderConfig
from .model import Encoder
from .tokenize import TextTokenizer


@dataclass(frozen=True, eq=False)
class Run:
    """Everything one forward pass shows. L = layers, H = heads, T = tokens, D = d_model."""

    model_name: str
    text_a: str  # the text as read: control characters removed
    text_b: str | None
    tokens: list[str]  # special tokens included
    ids: list[int]
    segment_ids: list[int]  # 0 for text A, 1 for text B
    word_ids: list[int | None]  # word index within its own text; None for special tokens
    offsets: list[tuple[int, int]]  # character span within its own text
    special: list[bool]
    truncated: bool
    n_tokens_before_truncation: int
    attentions: np.ndarray  # float32 (L, H, T, T); row = query, column = key; rows sum to 1
    hidden_states: np.ndarray  # float32 (L + 1, T, D); [0] is the embedding output
    queries: np.ndarray  # float32 (L, H, T, Dh)
    keys: np.ndarray  # float32 (L, H, T, Dh)
    values: np.ndarray  # float32 (L, H, T, Dh)
    token_embeddings: np.ndarray  # float32 (T, D), before position and segment are added
    position_embeddings: np.ndarray  # float32 (T, D)
    segment_embeddings: np.ndarray | None  # float32 (T, D), or None without segments

    @property
    def n_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def is_pair(self) -> bool:
        return self.text_b is not None

    def truncation_message(self) -> str | None:
        """A sentence for people, or None when nothing was cut."""
        if not self.truncated:
            return None
        cut = self.n_tokens_before_truncation - self.n_tokens
        return (
            f"The text made {self.n_tokens_before_truncation} tokens but {self.model_name} reads "
            f"at most {self.n_tokens}; the last {cut} tokens were cut."
        )


class Model:
    """A loaded encoder with its tokenizer. Safe to share between threads: `run` never mutates it."""

    def __init__(self, encoder: Encoder, tokenizer: TextTokenizer, name: str) -> None:
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.name = name

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    def __repr__(self) -> str:
        c = self.config
        return f"Model({self.name!r}, layers={c.n_layers}, heads={c.n_heads}, d_model={c.d_model})"

    def run(self, text_a: str, text_b: str | None = None) -> Run:
        """Tokenize, run the encoder once with attention capture, and return numpy results.

        Raises ValueError for empty text. Text longer than the model's positions is truncated
        and flagged in `Run.truncated`.
        """
        tokenized = self.tokenizer.encode(text_a, text_b)
        if tokenized.text_b is not None and self.config.type_vocab_size < 2:
            raise ValueError(f"{self.name} has no segment embeddings, so it reads one text, not pairs.")
        ids = torch.tensor([tokenized.ids])  # (1, T)
        segments = torch.tensor([tokenized.segment_ids])  # (1, T)
        with torch.inference_mode(), capture_attention(self.encoder) as record:
            output = self.encoder(ids, segments)
            attentions = record.stacked_weights()[0]  # (L, H, T, T)
            queries = stack_layers(record.queries)[0]  # (L, H, T, Dh)
            keys = stack_layers(record.keys)[0]
            values = stack_layers(record.values)[0]
            hidden = torch.stack(output.hidden_states, dim=1)[0]  # (L + 1, T, D)
            parts = output.embedding_parts
        return Run(
            model_name=self.name,
            text_a=tokenized.text_a,
            text_b=tokenized.text_b,
            tokens=tokenized.tokens,
            ids=tokenized.ids,
            segment_ids=tokenized.segment_ids,
            word_ids=tokenized.word_ids,
            offsets=tokenized.offsets,
            special=tokenized.special,
            truncated=tokenized.truncated,
            n_tokens_before_truncation=tokenized.n_tokens_before_truncation,
            attentions=attentions.numpy(),
            hidden_states=hidden.numpy(),
            queries=queries.numpy(),
            keys=keys.numpy(),
            values=values.numpy(),
            token_embeddings=parts.token[0].numpy(),
            position_embeddings=parts.position[0].numpy(),
            segment_embeddings=None if parts.segment is None else parts.segment[0].numpy(),
        )

