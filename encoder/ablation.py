"""Head ablation: switch heads off (zero their output before W_O) and see what changes.

Zeroing head h's output Z_h removes its term Z_h W_O^h from the multi-head sum (Vaswani et al.
2017, §3.2.2), the intervention of Michel et al. (2019, "Are Sixteen Heads Really Better than
One?"). The switch is a forward hook on the attention core, like capture's: it lives for one call
and acts only on the calling thread's pass, so a shared cached model serves other sessions
unchanged meanwhile.

Every batch row may switch off different heads (`keep`, a (B, L, H) 0/1 tensor), so ranking all
L × H heads costs one batched pass instead of L × H single ones.

Models run through transformers (`TransformersModel`, decoders) switch heads off with their own
`heads_switched_off`, a pre-hook zeroing the head's slice of the output projection's input: the
same intervention on the concatenated head outputs. Both kinds are called the same way here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .capture import Hook, hooked, is_attention_core
from .run import Model

Head = tuple[int, int]  # (layer, head), 0-based


@contextmanager
def heads_switched_off(encoder: nn.Module, keep: torch.Tensor) -> Iterator[None]:
    """Inside the block, head h of layer l in batch row b outputs zeros where keep[b, l, h] == 0.

    keep: (B, L, H) or (L, H) for every row. Attention cores are called once per layer in order
    (also when one module serves every layer, as in ALBERT), so the n-th call is layer n.
    """
    cores = list(dict.fromkeys(m for name, m in encoder.named_modules() if is_attention_core(name, m)))
    calls = [0]
    n_layers = keep.shape[-2]

    def zero_heads(module: nn.Module, inputs: tuple, output: tuple) -> tuple:
        layer = calls[0] % n_layers
        calls[0] += 1
        context, weights = output  # (B, H, T, Dh), (B, H, T, T)
        rows = keep[..., layer, :].to(context.dtype)  # (B, H) or (H,)
        return context * rows[..., :, None, None], weights

    with hooked(Hook(core, zero_heads) for core in cores):
        yield


def keep_mask(n_layers: int, n_heads: int, off: Iterable[Head]) -> torch.Tensor:
    """(L, H) float mask: 1 everywhere but the heads in `off`."""
    keep = torch.ones(n_layers, n_heads)
    for layer, head in off:
        keep[layer, head] = 0.0
    return keep


def ablation_unavailable(model) -> str | None:
    """Why heads of `model` cannot be switched off, in one sentence naming it; None when they can
    (every native encoder; transformers decoders)."""
    reason = getattr(model, "ablation_unavailable", None)
    return reason() if callable(reason) else None


def switched_off(model, keep: torch.Tensor):
    """The head switch for either kind of model (see `heads_switched_off`)."""
    own = getattr(model, "heads_switched_off", None)  # the transformers adapter's
    return own(keep) if callable(own) else heads_switched_off(model.encoder, keep)


def last_hidden_state(model, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """(B, T, D) last hidden state of an unpadded batch (after a pre-LN model's final norm)."""
    batch = getattr(model, "hidden_states_batch", None)  # the transformers adapter's
    if callable(batch):
        return batch(ids, torch.ones_like(ids))[-1]
    return model.encoder(ids, segments).last_hidden_state


def parameter_count(model) -> int:
    counter = getattr(model, "parameter_count", None)
    return int(counter() if callable(counter) else model.encoder.parameter_count())


# Ranking every head costs (L·H + 1) passes; below this many parameter-token products per pass
# summed over them (all-MiniLM-L6-v2's 73 passes of 512 tokens) a page can rank on its first view.
RANKING_BUDGET = 73 * 512 * 22_565_376


def ranking_cost(model, n_tokens: int) -> float:
    """(L·H + 1) × T × parameters, in units of `RANKING_BUDGET`: above 1, a ranking takes longer than
    the default model's at its longest text (minutes for SmolLM2's 271 passes of 512 tokens)."""
    config = model.config
    return (config.n_layers * config.n_heads + 1) * n_tokens * parameter_count(model) / RANKING_BUDGET


def ablated_run(model: Model, text_a: str, text_b: str | None, off: Iterable[Head]):
    """`model.run` with the heads in `off` switched off (attentions of later layers change)."""
    keep = keep_mask(model.config.n_layers, model.config.n_heads, off)
    with switched_off(model, keep):
        return model.run(text_a, text_b, qkv=False)


@dataclass(frozen=True)
class HeadEffects:
    """What switching each head off alone does to one text.

    table: one row per (layer, head), 0-based, with `embedding_shift` = 1 − cos(sentence
    embedding with the head off, without), and with a classifier `probability` (of the label the
    intact model predicts) and `probability_change`; sorted by effect, largest first.
    """

    table: pd.DataFrame
    label: str | None
    probability: float | None  # the intact model's probability for `label`


def head_effects(model: Model, text: str, classifier: nn.Module | None = None, labels: list[str] | None = None,
                 batch_size: int = 24) -> HeadEffects:
    """Rank every head by how much switching it off alone moves the sentence embedding (mean of
    the last hidden states, normalised, as sentence-transformers pools) and, given a
    `classifier` (hidden (B, T, D), mask (B, T) -> logits), the predicted probability."""
    config = model.config
    tokenized = model.tokenizer.encode(text)
    heads = [(layer, head) for layer in range(config.n_layers) for head in range(config.n_heads)]
    ids = torch.tensor([tokenized.ids])  # (1, T)
    segments = torch.tensor([tokenized.segment_ids])
    outputs = []  # row 0: intact; then one row per head
    rows = [None, *heads]
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            keep = torch.stack([keep_mask(config.n_layers, config.n_heads, [] if r is None else [r]) for r in chunk])
            with switched_off(model, keep):
                hidden = last_hidden_state(model, ids.expand(len(chunk), -1), segments.expand(len(chunk), -1))
            outputs.append(hidden)  # (b, T, D)
    hidden = torch.cat(outputs)  # (1 + L·H, T, D)
    pooled = torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)  # (1 + L·H, D)
    shift = (1 - pooled[1:] @ pooled[0]).numpy()  # (L·H,)
    table = pd.DataFrame({"layer": [h[0] for h in heads], "head": [h[1] for h in heads], "embedding_shift": shift})
    label = probability = None
    if classifier is not None:
        with torch.inference_mode():
            probs = torch.softmax(classifier(hidden, torch.ones(hidden.shape[:2], dtype=torch.long)), dim=-1)
        chosen = int(probs[0].argmax())
        label = labels[chosen] if labels else str(chosen)
        probability = float(probs[0, chosen])
        table["probability"] = probs[1:, chosen].numpy()
        table["probability_change"] = table["probability"] - probability
    order = table["probability_change"].abs() if classifier is not None else table["embedding_shift"]
    table = table.assign(_order=order).sort_values("_order", ascending=False, kind="stable").drop(columns="_order")
    return HeadEffects(table.reset_index(drop=True), label, probability)


def layer_without_attention(model: Model, text: str, layer: int) -> np.ndarray:
    """The hidden states (L + 1, T, D) when layer `layer`'s attention contributes only W_O's bias,
    computed by hooking the output projection directly (not through the head switch): the
    reference the identity "switching off every head of a layer = removing its attention" is
    tested against."""
    out = model.encoder.layers[layer].attention.out
    calls = [0]  # when one module serves every layer (ALBERT), act on the call of `layer` only
    shared = sum(block.attention.out is out for block in model.encoder.layers) > 1

    def only_bias(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        index, calls[0] = calls[0], calls[0] + 1
        if shared and index != layer:
            return output
        return torch.zeros_like(output) + module.bias

    with hooked([Hook(out, only_bias)]), torch.inference_mode():
        ids = torch.tensor([model.tokenizer.encode(text).ids])
        return torch.stack(model.encoder(ids).hidden_states, dim=1)[0].numpy()


def attention_change(intact: np.ndarray, ablated: np.ndarray) -> np.ndarray:
    """(L, H, T, T) twice -> (L, H): how far each head's attention moved, as the mean over query
    rows of the total variation distance ½ Σ_k |a_k − b_k| (0 = unchanged, 1 = disjoint rows)."""
    diff = np.abs(np.asarray(intact, dtype=np.float64) - np.asarray(ablated, dtype=np.float64))
    return (0.5 * diff.sum(axis=-1)).mean(axis=-1).astype(np.float32)  # (L, H)


def class_probabilities(classifier: nn.Module, hidden: np.ndarray) -> np.ndarray:
    """(T, D) hidden states (the layer the classifier reads) -> (C,) its class probabilities."""
    with torch.inference_mode():
        states = torch.from_numpy(np.array(hidden, dtype=np.float32))[None]  # (1, T, D)
        logits = classifier(states, torch.ones(states.shape[:2], dtype=torch.long))  # (1, C)
        return torch.softmax(logits, dim=-1)[0].numpy()


def effect_grid(table: pd.DataFrame, column: str, n_layers: int, n_heads: int) -> np.ndarray:
    """A `head_effects` table column as an (L, H) grid (NaN where a head is missing): what a
    heads gallery sizes its thumbnails by."""
    grid = np.full((n_layers, n_heads), np.nan, dtype=np.float32)
    grid[table["layer"].to_numpy(), table["head"].to_numpy()] = table[column].to_numpy()
    return grid
