"""Which head to open on: the sharpest pattern that is not one of the model's sinks.

The Attention page opens on it for a new text (and says why); `head_sharpness` estimates the
columns it reads from a few rows, fast enough for a first view at 512 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import entr

from .head_statistics import ENTROPY_SMOOTHING, SINK_THRESHOLD, is_causal_table


@dataclass(frozen=True)
class HeadChoice:
    """A head picked to open on, with the rule's reason in words."""

    layer: int  # 0-based
    head: int  # 0-based
    reason: str


def clearest_head(stats: pd.DataFrame, sink_threshold: float | None = None) -> HeadChoice:
    """The head with the lowest mean row entropy among those that are not one of the model's sinks.

    Low entropy means each token looks at few others (a sharp pattern); sink heads also have low
    entropy but only say "nothing to do here" (Clark et al. 2019, §3.3), so they are left out. The
    sinks are the model's own: [CLS] and [SEP] in an encoder; in a decoder (causal attention, as
    `stats.attrs["causal"]` or the table itself says, see `head_statistics.is_causal_table`) the
    first token, where most of its heads park their weight.
    `stats` is `head_statistics(run)` or `head_sharpness(...)`. When every head is a sink, the
    lowest entropy overall. The threshold defaults to Clark et al.'s sink threshold (0.6).
    """
    if sink_threshold is None:
        sink_threshold = SINK_THRESHOLD
    causal = is_causal_table(stats)
    sinks = ["first"] if causal else ["cls", "sep"]
    keep = np.ones(len(stats), dtype=bool)
    for column in sinks:
        if column in stats:
            keep &= (stats[column] < sink_threshold).to_numpy()
    candidates = stats[keep]
    pool = candidates if len(candidates) else stats
    best = pool.loc[pool["entropy"].idxmin()]
    layer, head = int(best["layer"]), int(best["head"])
    where = "the first token (a decoder's attention sink)" if causal else "[CLS] or [SEP]"
    reason = (f"Opened on layer {layer + 1}, head {head + 1}: the sharpest pattern here, the lowest mean "
              f"attention entropy ({best['entropy']:.2f} nats) among heads that do not put most of their "
              f"weight on {where} (under {sink_threshold:.0%}).")
    return HeadChoice(layer, head, reason)


def head_sharpness(attentions: np.ndarray, special: list[bool], max_rows: int = 64,
                   causal: bool | None = None) -> pd.DataFrame:
    """Per head: mean row entropy and the mean share on [CLS], on [SEP] and on the first token, the
    columns `clearest_head` reads, as in `head_statistics` (Clark et al. 2019, entropy smoothed as
    theirs) but from at most `max_rows` evenly spaced query rows. All are means over rows, so a
    strided subset estimates them (exactly, up to `max_rows` tokens) at a fraction of the cost: at
    512 tokens the full table takes seconds, which a page's first view cannot spend.

    causal (default: read from the attention, every weight above the diagonal exactly 0) goes into
    `attrs["causal"]`, so `clearest_head` leaves out a decoder's first-token sinks.
    """
    n_layers, n_heads, n_tokens = attentions.shape[:3]
    if causal is None:  # one layer suffices: the mask is the model's, the same in every layer
        causal = n_tokens > 1 and not np.triu(attentions[0], k=1).any()
    step = max(1, -(-n_tokens // max_rows))
    rows = np.asarray(attentions[:, :, ::step, :], dtype=np.float64)  # (L, H, R, T), R <= max_rows
    specials = np.flatnonzero(special)
    cls_keys, sep_keys = specials[:1], specials[1:]  # BERT-style: the first special plays [CLS]
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    smoothed = (1.0 - ENTROPY_SMOOTHING) * rows + ENTROPY_SMOOTHING / attentions.shape[-1]
    frame = pd.DataFrame({
        "layer": layer, "head": head,
        "entropy": entr(smoothed).sum(axis=-1).mean(axis=-1).ravel(),
        "cls": rows[..., cls_keys].sum(axis=-1).mean(axis=-1).ravel(),
        "sep": rows[..., sep_keys].sum(axis=-1).mean(axis=-1).ravel(),
        "first": rows[..., 0].mean(axis=-1).ravel(),
    })
    frame.attrs["causal"] = bool(causal)
    return frame
