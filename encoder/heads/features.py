"""Features from the frozen encoder, computed once in padded, length-sorted batches.

The task heads never change the encoder (Devlin et al. 2019 fine-tune it; the tutorial's heads,
like a linear probe, keep it frozen), so its outputs can be computed once and cached: training
then only fits a linear layer on fixed vectors, which takes a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..batching import length_sorted_batches, pad_batch
from ..run import Model
from ..tokenize import Tokenized

BATCH_SIZE = 64
# Any id works for padding: padded keys get zero attention weight and padded positions are left
# out of every pooling and loss, so their embedding never reaches a result. 0 is [PAD] in BERT.
PAD_ID = 0


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens of each row: hidden (B, T, D), mask (B, T) 1/0 -> (B, D).

    Padding is excluded, so a text pools to the same vector alone or in a padded batch. Special
    tokens ([CLS], [SEP]) count as real, as in sentence-transformers' mean pooling.
    """
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, D)


def features_unavailable(model) -> str | None:
    """Why the task heads cannot read features from `model`, in one sentence naming it; None when they
    can (native encoders; decoders run through transformers, whose last hidden state is mean-pooled
    the same way, each token having seen only the tokens before it)."""
    if getattr(model, "hidden_states_batch", None) is None and not hasattr(model, "encoder"):
        return f"{model.name} offers no hidden states Headlight can batch."
    if getattr(model.config, "encoder_decoder", False):
        return (f"{model.name} is an encoder–decoder run through transformers: the task heads read one stack's "
                "hidden states, and Headlight does not choose between its encoder and its decoder.")
    return None


def encode_all(model: Model, texts: Sequence[str]) -> list[Tokenized]:
    """Tokenize every text (raises ValueError for an empty one, like `Model.run`)."""
    if isinstance(texts, str):
        raise TypeError("Expected a list of texts, not one string.")
    return [model.tokenizer.encode(text) for text in texts]


def resolve_layer(model: Model, layer: int | None) -> int:
    """The hidden state a head reads: 0 is the embedding output, n_layers (the default, None) the last layer."""
    n_layers = model.config.n_layers
    if layer is None:
        return n_layers
    if not 0 <= layer <= n_layers:
        raise ValueError(f"layer must be between 0 (the embeddings) and {n_layers} (the last layer), not {layer}.")
    return layer


def hidden_batches(
    model: Model, tokenized: Sequence[Tokenized], batch_size: int = BATCH_SIZE, layer: int | None = None
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Run the frozen encoder over all texts, batch by batch, shortest texts first.

    Yields (indices into `tokenized`, hidden state (B, T, D) after `layer`, attention mask (B, T)).
    """
    layer = resolve_layer(model, layer)
    for indices in length_sorted_batches([len(t) for t in tokenized], batch_size):
        ids, mask = pad_batch([tokenized[i].ids for i in indices], PAD_ID)  # (B, T) each
        segments, _ = pad_batch([tokenized[i].segment_ids for i in indices], 0)  # (B, T)
        with torch.inference_mode():
            batch = getattr(model, "hidden_states_batch", None)  # a decoder run through transformers
            # right padding is safe there too: causal attention never lets a real token see the pads after it
            hidden_states = batch(ids, mask) if callable(batch) else model.encoder(ids, segments, mask).hidden_states
        # hidden_states[-1] is last_hidden_state (final norm included), so the default is the encoder's output
        yield indices, hidden_states[layer], mask  # (B, T, D)


def pooled_features(
    model: Model, texts: Sequence[str], batch_size: int = BATCH_SIZE, layer: int | None = None
) -> torch.Tensor:
    """Mean-pooled hidden states (the last layer's unless `layer` says), (N, D) in the order of `texts`."""
    tokenized = encode_all(model, texts)
    features = torch.empty(len(tokenized), model.config.d_model)  # (N, D)
    for indices, hidden, mask in hidden_batches(model, tokenized, batch_size, layer):
        features[indices] = mean_pool(hidden, mask)
    return features


def first_subword_positions(tokenized: Tokenized) -> list[int]:
    """For each word of text A, the position of its first token (the one that speaks for the word)."""
    first: dict[int, int] = {}
    for position, (word, segment) in enumerate(zip(tokenized.word_ids, tokenized.segment_ids, strict=True)):
        if word is not None and segment == 0 and word not in first:
            first[word] = position
    return [first[word] for word in sorted(first)]


def word_spans(tokenized: Tokenized) -> list[tuple[int, int]]:
    """For each word of text A, its character span in `tokenized.text_a` (from its tokens' offsets)."""
    spans: dict[int, tuple[int, int]] = {}
    for word, segment, (start, end) in zip(tokenized.word_ids, tokenized.segment_ids, tokenized.offsets, strict=True):
        if word is None or segment != 0:
            continue
        old = spans.get(word, (start, end))
        spans[word] = (min(old[0], start), max(old[1], end))
    return [spans[word] for word in sorted(spans)]


def token_features(
    model: Model, tokenized: Sequence[Tokenized], batch_size: int = BATCH_SIZE, layer: int | None = None
) -> list[torch.Tensor]:
    """Each text's hidden state (the last layer's unless `layer` says) without padding, (T_i, D) per text."""
    out: list[torch.Tensor] = [torch.empty(0)] * len(tokenized)
    for indices, hidden, _ in hidden_batches(model, tokenized, batch_size, layer):
        for row, i in enumerate(indices):
            out[i] = hidden[row, : len(tokenized[i])].clone()  # (T_i, D); a normal tensor, fit for training
    return out
