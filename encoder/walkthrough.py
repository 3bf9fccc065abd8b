"""One text followed through the encoder, stage by stage, in the order a course teaches it.

Every stage is recomputed here from the model's weights with the explicit formula (not by
calling the modules), so a class sees each multiplication; `Walkthrough.recomposition_error`
says how far the result is from what the hooked encoder produced, which the tests hold under
1e-5. Pure engine code: numpy out, no Streamlit.

Stages of layer l (Vaswani et al. 2017, §3; post-LN as in the paper and BERT, or pre-LN):
  x                      the layer's input (T, D)
  Q, K, V = x W + b      per head (T, Dh)                                    §3.2.2
  S = Q Kᵀ / √d_k        scaled scores (T, T)                                eq. 1
  S masked               keys a query may not see get −∞ (padding, or the future when causal)
  A = softmax(S)         rows sum to 1                                       eq. 1
  Z = A V                the head's output (T, Dh)
  concat(Z_1..Z_H) W_O   back to (T, D)                                      §3.2.2
  residual + LayerNorm   LN(x + attention)                                   §3.1, §5.4
  FFN = W_2 act(W_1 · + b_1) + b_2                                           §3.3
  residual + LayerNorm   the layer's output, the next layer's input
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .model import combined_mask
from .run import Model, Run


@dataclass(frozen=True)
class Walkthrough:
    """The numbers of every stage for one layer and head; float32 arrays. T = tokens, D = d_model."""

    layer: int
    head: int
    norm_first: bool  # pre-LN (LayerNorm before each sublayer) instead of the paper's post-LN
    token_scale: float  # √d_model in the paper's encoder; 1 in BERT, which does not scale
    token_embeddings: np.ndarray  # (T, D), already multiplied by token_scale
    position_embeddings: np.ndarray  # (T, D)
    segment_embeddings: np.ndarray | None  # (T, D)
    summed: np.ndarray  # (T, D) token + position (+ segment)
    embedding_output: np.ndarray  # (T, D) after the embedding LayerNorm (if any): layer 1's input
    layer_input: np.ndarray  # (T, D) x, this layer's input
    attention_input: np.ndarray  # (T, D) x, or LN(x) when pre-LN
    queries: np.ndarray  # (T, Dh) this head's Q
    keys: np.ndarray  # (T, Dh)
    values: np.ndarray  # (T, Dh)
    scores: np.ndarray  # (T, T) Q Kᵀ / √Dh, before the mask
    mask: np.ndarray  # bool (T, T): True where the query may attend to the key
    weights: np.ndarray  # (T, T) softmax of the masked scores
    head_output: np.ndarray  # (T, Dh) weights @ values
    concatenated: np.ndarray  # (T, D) every head's output side by side
    attention_output: np.ndarray  # (T, D) after the output projection W_O
    after_attention: np.ndarray  # (T, D) residual (+ LayerNorm when post-LN)
    feed_forward_hidden: np.ndarray  # (T, d_ff) after the activation
    feed_forward_output: np.ndarray  # (T, D)
    layer_output: np.ndarray  # (T, D) the next layer's input
    recomposition_error: float  # max |layer_output − the captured hidden state|


def walkthrough_unavailable(model) -> str | None:
    """Why `walkthrough` cannot follow `model`, in one sentence naming it; None for a native encoder.

    The stages are recomputed from the native engine's own modules (one fused Q/K/V projection,
    LayerNorm, an additive position table, a two-matrix feed-forward); a model run through
    transformers has none of them, and a decoder's layers (RMSNorm, rotary positions, grouped-query
    attention, a gated feed-forward in Llama) would need stages of their own."""
    if hasattr(model, "encoder"):
        return None
    config = model.config
    kind = "an encoder–decoder" if getattr(config, "encoder_decoder", False) else "a decoder"
    return (f"{model.name} is {kind} run through transformers: the walk-through recomputes a native BERT-style "
            f"encoder layer stage by stage (fused Q/K/V, LayerNorm, a position table, a two-matrix feed-forward), "
            f"which this model's {getattr(config, 'family', 'transformers')} layers do not have.")


def walkthrough(model: Model, run: Run, layer: int = 0, head: int = 0) -> Walkthrough:
    """Recompute layer `layer` (0-based) of `run` stage by stage, showing head `head` in detail."""
    config = model.config
    if not (0 <= layer < config.n_layers and 0 <= head < config.n_heads):
        raise ValueError(f"layer {layer} / head {head} is outside {config.n_layers} layers × {config.n_heads} heads.")
    block = model.encoder.layers[layer]
    d, h, dh = config.d_model, config.n_heads, config.d_head
    with torch.inference_mode():
        x = torch.from_numpy(np.array(run.hidden_states[layer]))  # (T, D)
        a_in = block.attention_norm(x) if config.norm_first else x
        qkv = F.linear(a_in, block.attention.qkv.weight, block.attention.qkv.bias)  # (T, 3D)
        q, k, v = (qkv[:, i * d:(i + 1) * d].reshape(-1, h, dh).transpose(0, 1) for i in range(3))  # (H, T, Dh)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)  # (H, T, T)
        mask = combined_mask(None, run.n_tokens, config.causal)
        allowed = torch.ones_like(scores[0], dtype=torch.bool) if mask is None else mask[0, 0].expand_as(scores[0])
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)  # (H, T, T)
        heads_out = weights @ v  # (H, T, Dh)
        concatenated = heads_out.transpose(0, 1).reshape(-1, d)  # (T, D): heads side by side
        attn = block.attention.out(concatenated)  # (T, D)
        if config.norm_first:
            after_attention = x + attn
            ff_hidden = block.feed_forward.activation(block.feed_forward.up(block.feed_forward_norm(after_attention)))
            ff_out = block.feed_forward.down(ff_hidden)
            out = after_attention + ff_out
        else:
            after_attention = block.attention_norm(x + attn)
            ff_hidden = block.feed_forward.activation(block.feed_forward.up(after_attention))  # (T, d_ff)
            ff_out = block.feed_forward.down(ff_hidden)
            out = block.feed_forward_norm(after_attention + ff_out)
        if config.final_norm and layer == config.n_layers - 1:
            out = model.encoder.final_norm(out)  # the encoder's last hidden state includes it
    summed = run.token_embeddings + run.position_embeddings
    if run.segment_embeddings is not None:
        summed = summed + run.segment_embeddings
    captured = run.hidden_states[layer + 1]
    return Walkthrough(
        layer=layer, head=head, norm_first=config.norm_first,
        token_scale=float(model.encoder.embeddings.token_scale),
        token_embeddings=run.token_embeddings, position_embeddings=run.position_embeddings,
        segment_embeddings=run.segment_embeddings, summed=summed.astype(np.float32),
        embedding_output=run.hidden_states[0], layer_input=run.hidden_states[layer],
        attention_input=a_in.numpy(), queries=q[head].numpy(), keys=k[head].numpy(), values=v[head].numpy(),
        scores=scores[head].numpy(), mask=allowed.numpy(), weights=weights[head].numpy(),
        head_output=heads_out[head].numpy(), concatenated=concatenated.numpy(), attention_output=attn.numpy(),
        after_attention=after_attention.numpy(), feed_forward_hidden=ff_hidden.numpy(),
        feed_forward_output=ff_out.numpy(), layer_output=out.numpy(),
        recomposition_error=float(np.abs(out.numpy() - captured).max()),
    )


@dataclass(frozen=True)
class PaddingDemo:
    """Two texts of different lengths in one padded batch (the tutorial's padding mask).

    ids and attention_mask are (2, T); weights (2, T, T) is one head's attention in the batch;
    single_weights are the same head run alone, unpadded (shorter text: (t, t)).
    """

    tokens: list[list[str]]
    ids: np.ndarray
    attention_mask: np.ndarray
    weights: np.ndarray
    single_weights: list[np.ndarray]
    padded_key_weight: float  # the largest weight any query gives a padded key: exactly 0
    max_difference: float  # real tokens, batch against alone


def padding_demo(model: Model, text_a: str, text_b: str, layer: int = 0, head: int = 0) -> PaddingDemo:
    """Run two texts as one padded batch and show that padded keys get zero weight."""
    batched = model.run_batch([text_a, text_b], batch_size=2)  # one batch, padded to the longer text
    singles = [model.run(text_a, qkv=False), model.run(text_b, qkv=False)]
    length = max(r.n_tokens for r in batched)
    pad = model.config.pad_token_id
    ids = np.full((2, length), pad, dtype=np.int64)
    mask = np.zeros((2, length), dtype=np.int64)
    for row, run in enumerate(batched):
        ids[row, :run.n_tokens] = run.ids
        mask[row, :run.n_tokens] = 1
    padded = _padded_batch_weights(model, ids, mask, layer, head)  # (2, T, T) straight from the batch
    real_rows = [padded[row, :r.n_tokens, r.n_tokens:] for row, r in enumerate(batched)]
    difference = max(float(np.abs(padded[row, :r.n_tokens, :r.n_tokens] - s.attentions[layer, head]).max())
                     for row, (r, s) in enumerate(zip(batched, singles, strict=True)))
    return PaddingDemo(
        tokens=[r.tokens + ["[PAD]"] * (length - r.n_tokens) for r in batched], ids=ids, attention_mask=mask,
        weights=padded, single_weights=[s.attentions[layer, head] for s in singles],
        padded_key_weight=max((float(w.max()) for w in real_rows if w.size), default=0.0),
        max_difference=difference,
    )


def _padded_batch_weights(model: Model, ids: np.ndarray, mask: np.ndarray, layer: int, head: int) -> np.ndarray:
    """One head's (B, T, T) attention for a padded batch, padded query rows included."""
    from .capture import capture_attention

    with torch.inference_mode(), capture_attention(model.encoder) as record:
        model.encoder(torch.from_numpy(ids), None, torch.from_numpy(mask))
        return record.stacked_weights()[:, layer, head].numpy().copy()  # (B, T, T)
