"""`Encoder`: embeddings, a stack of layers and an optional final norm."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import EncoderConfig
from .modules import EmbeddingParts, Embeddings, EncoderLayer, MultiHeadAttention


@dataclass(frozen=True)
class EncoderOutput:
    """What one forward pass produces (attention weights come from hooks, see capture.py)."""

    last_hidden_state: torch.Tensor  # (B, T, D)
    hidden_states: tuple[torch.Tensor, ...]  # n_layers + 1 of (B, T, D); [0] is the embedding output
    embedding_parts: EmbeddingParts


def key_padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T) 1/0 attention mask -> bool (B, 1, 1, T) for `attention()`; None when nothing is padded.

    Skipping the mask when every token is real saves a (B, H, T, T) pass per layer.
    """
    if attention_mask is None or bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): broadcast over heads and queries


def causal_mask(n_tokens: int, device: torch.device | None = None) -> torch.Tensor:
    """bool (1, 1, T, T), True on and below the diagonal: query i may see keys 0..i only.

    The decoder's mask of Vaswani et al. (2017, §3.2.3), which stops a position from reading
    the tokens after it.
    """
    return torch.ones(n_tokens, n_tokens, dtype=torch.bool, device=device).tril()[None, None]


def combined_mask(attention_mask: torch.Tensor | None, n_tokens: int, causal: bool,
                  device: torch.device | None = None) -> torch.Tensor | None:
    """The key-padding mask, and with `causal` the causal one too: (B or 1, 1, 1 or T, T), or None."""
    padding = key_padding_mask(attention_mask)
    if not causal:
        return padding
    future = causal_mask(n_tokens, device)
    return future if padding is None else padding & future  # (B, 1, T, T)


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        if config.share_layers:
            # ALBERT: the same module at every depth, so its parameters exist once (`parameters()`
            # and `named_modules()` list it once) while `layers[i]` and the forward loop see L
            # applications, each firing its own hooks.
            shared = EncoderLayer(config)
            self.layers = nn.ModuleList([shared] * config.n_layers)
        else:
            self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        self.final_norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.final_norm else None
        )

    def self_attentions(self) -> list[MultiHeadAttention]:
        """Each layer's `MultiHeadAttention`, once per application (ALBERT's shared layer L times):
        what `capture_attention` hooks, found without walking every module on every run."""
        return [layer.attention for layer in self.layers]

    def attention_cores(self) -> list[nn.Module]:
        """Each layer's `ScaledDotProductAttention`, once per application, as `self_attentions`."""
        return [attention.core for attention in self.self_attentions()]

    def parameter_count(self) -> int:
        """Distinct parameters (ALBERT's shared layer counts once), as model cards report them."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        input_ids: torch.Tensor,
        segment_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        hidden_out: torch.Tensor | None = None,
        projections_out: torch.Tensor | None = None,
        weights_out: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """input_ids, segment_ids, attention_mask: (B, T) integer tensors.

        hidden_out, an optional (n_layers + 1, B, T, D) tensor, receives the hidden states as they
        are made, like torch's out= arguments: each is copied in while still in the cache, and the
        next layer reads it from there (`Model.run` keeps them all; stacking them after the pass
        reads them back from memory). projections_out, (n_layers, B, T, 3D), and weights_out,
        (n_layers, B, H, T, T), both or neither, receive each layer's fused Q/K/V projection and
        attention weights the same way (`MultiHeadAttention`'s arguments of those names, one slice
        per layer): what `capture_attention` hands out through hooks, given here by a caller that
        calls the encoder itself (`Model.run`), without registering any.
        """
        if input_ids.size(1) > self.config.max_positions:
            raise ValueError(
                f"{input_ids.size(1)} tokens exceed the model's {self.config.max_positions} positions."
            )
        mask = combined_mask(attention_mask, input_ids.size(1), self.config.causal, input_ids.device)
        parts = self.embeddings.parts(input_ids, segment_ids)

        def kept(index: int, x: torch.Tensor) -> torch.Tensor:  # x (B, T, D), or its copy in hidden_out
            return x if hidden_out is None else hidden_out[index].copy_(x)

        x = kept(0, self.embeddings.combine(parts))  # (B, T, D)
        hidden_states = [x]
        for index, layer in enumerate(self.layers, start=1):
            if projections_out is None:
                x = kept(index, layer(x, mask))  # (B, T, D)
            else:
                x = kept(index, layer(x, mask, projections_out=projections_out[index - 1],
                                      weights_out=weights_out[index - 1]))
            hidden_states.append(x)
        if self.final_norm is not None:
            x = kept(len(self.layers), self.final_norm(x))
            hidden_states[-1] = x
        return EncoderOutput(x, tuple(hidden_states), parts)
