"""Per-head statistics of Clark et al. (2019), "What Does BERT Look At?", §3–4, and the patterns they reveal.

`head_statistic_arrays` is the pure core on one sentence's (L, H, T, T) attention, so corpus
statistics can run it sentence by sentence; `head_statistics` applies it to a Run and returns a
table; `head_patterns` names each head's behaviour with Clark et al.'s thresholds.

Conventions follow the authors' code (clarkkev/attention-analysis, General_Analysis.ipynb), so the
thresholds named after the paper mean what they meant there:
- every mass (cls, sep, punct, prev, self, next) is Σ over the rows of the selected cells, divided by
  T: a row with no such key (the first token has no previous one) counts as 0, it is not left out;
- punct counts the tokens "." and "," only (their `token == "." or token == ","`); punct_any is
  Headlight's broader variant, every token made of Unicode punctuation (P*), under its own name;
- entropy smooths each row to 0.9999·α + 0.0001/T first ("smooth to avoid NaNs"), in nats.
distance (the attention-weighted |i − j|) is Headlight's own, not the paper's.

Decoders (causal attention) have no [CLS] or [SEP]: most of their heads park their weight on the
first token instead (the "attention sink" of Xiao et al. 2024, whatever that token is, BOS or the
first word). `first` is the mass on position 0, as Clark's masses are (Σ over rows / T), and a
"first-token sink" is a head with first ≥ SINK_THRESHOLD (0.6, Clark's threshold for [CLS] and
[SEP]). The rule is used for causal attention only, where it takes the place of the [CLS] and
[SEP] rules; in an encoder the first token is [CLS], which its own rule already covers. In a
causal run the first row can see nothing but the first token, so it adds 1/T to `first`
whatever the head does (0.14 on 7 tokens, 0.002 on 512).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import entr

from ..run import Run

STATISTICS = ("entropy", "cls", "sep", "first", "punct", "punct_any", "prev", "self", "next", "distance")

# Clark et al.'s punctuation: the two tokens their notebook selects (`token == "." or token == ","`).
CLARK_PUNCTUATION = frozenset({".", ","})
# Their entropy smoothing: α' = (1 − ε)·α + ε/T with ε = 0.0001.
ENTROPY_SMOOTHING = 0.0001

# Clark et al. (2019) call a head a sink or punctuation head above 0.6 of its mass on those
# keys (§3.3, 3.4), and an offset head above 0.5 on the previous / next token (§3.1).
SINK_THRESHOLD = 0.6
OFFSET_THRESHOLD = 0.5
# "Broad": the mean row entropy is at least this fraction of ln T, the entropy of a uniform
# row. e^entropy is the number of keys a row spreads over as if evenly; at 0.8 that is
# T^0.8 or more (13 of 25 tokens, 28 of 64), far from any one key (Clark et al. §3.2, Fig. 4).
BROAD_FRACTION = 0.8

# (column, threshold, pattern), in the order ties are broken: sinks first, then offsets.
PATTERN_RULES: tuple[tuple[str, float, str], ...] = (
    ("cls", SINK_THRESHOLD, "[CLS] sink"),
    ("sep", SINK_THRESHOLD, "[SEP] sink"),
    ("first", SINK_THRESHOLD, "first-token sink"),  # causal attention only (see the module docstring)
    ("punct", SINK_THRESHOLD, "punctuation"),  # Clark's "." and "," (not punct_any)
    ("prev", OFFSET_THRESHOLD, "previous token"),
    ("next", OFFSET_THRESHOLD, "next token"),
    ("self", OFFSET_THRESHOLD, "self"),
)
PATTERNS = (*(rule[2] for rule in PATTERN_RULES), "broad", "mixed")
ENCODER_ONLY_RULES = frozenset({"cls", "sep", "next"})  # no meaning under a causal mask (next is always 0)
CAUSAL_ONLY_RULES = frozenset({"first"})

_WORD_MARKERS = ("##", "Ġ", "▁")  # WordPiece continuation, byte-level BPE and SentencePiece spaces


def is_punctuation(token: str) -> bool:
    """True when the token (without a subword marker) is non-empty and all Unicode punctuation (P*)."""
    for marker in _WORD_MARKERS:
        token = token.removeprefix(marker)
    return bool(token) and all(unicodedata.category(c).startswith("P") for c in token)


def is_clark_punctuation(token: str) -> bool:
    """True for the tokens Clark et al. count as punctuation: "." and "," (a byte-level or
    SentencePiece space marker before them is dropped first; WordPiece has none there)."""
    for marker in _WORD_MARKERS:
        token = token.removeprefix(marker)
    return token in CLARK_PUNCTUATION


def token_classes(tokens: Sequence[str], special: Sequence[bool]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bool masks (T,) of [CLS], [SEP], Clark's punctuation ("." and ",") and any punctuation (P*) keys.

    BERT-style: the first special token plays [CLS] and every other special token [SEP]
    (in a pair, both separators), read from the special-token flags rather than the token
    text so any vocabulary works. Special tokens are never punctuation.
    """
    special_mask = np.asarray(special, dtype=bool)
    cls_mask = np.zeros(len(tokens), dtype=bool)
    if special_mask.any():
        cls_mask[int(np.argmax(special_mask))] = True
    sep_mask = special_mask & ~cls_mask
    clark_mask = np.array([is_clark_punctuation(t) for t in tokens], dtype=bool) & ~special_mask
    any_mask = np.array([is_punctuation(t) for t in tokens], dtype=bool) & ~special_mask
    return cls_mask, sep_mask, clark_mask, any_mask


def _diagonal_mass(attentions: np.ndarray, offset: int) -> np.ndarray:
    """(L, H, T, T) -> (L, H): Σ_i a[i, i + offset] / T, Clark et al.'s `np.eye(T, T, offset)` selector
    summed and divided by T; the |offset| rows without that key add 0 (T = 1 and offset ≠ 0: 0)."""
    diagonal = np.diagonal(attentions, offset=offset, axis1=-2, axis2=-1)  # (L, H, T − |offset|)
    return diagonal.sum(axis=-1) / attentions.shape[-1]


def head_statistic_arrays(attentions: np.ndarray, cls_mask: np.ndarray, sep_mask: np.ndarray,
                          punct_mask: np.ndarray, punct_any_mask: np.ndarray | None = None
                          ) -> dict[str, np.ndarray]:
    """Each statistic of `STATISTICS` as an (L, H) float64 array, for one sentence's (L, H, T, T) attention.

    As Clark et al.'s code computes them (see the module docstring), with T the number of tokens:
    entropy: mean over query rows of −Σ_j α'_ij ln α'_ij, α' = 0.9999·α + 0.0001/T, in nats (a
    uniform row gives ln T). cls / sep / punct / punct_any: Σ over rows of the mass on those keys, / T.
    first: Σ_i a[i, 0] / T, the mass on the first token (a decoder's sink).
    prev / self / next: Σ_i a[i, i−1], a[i, i], a[i, i+1], / T (a row without that key adds 0).
    distance (Headlight's): mean over rows of Σ_j a_ij |i − j|, the attention-weighted distance in tokens.
    punct_any_mask defaults to punct_mask.
    """
    attentions = np.asarray(attentions, dtype=np.float64)
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"Expected attention of shape (L, H, T, T), got {attentions.shape}.")

    def mass_on(mask: np.ndarray) -> np.ndarray:
        return attentions[..., np.asarray(mask, dtype=bool)].sum(axis=-1).mean(axis=-1)  # (L, H)

    per_token = token_statistic_arrays(attentions)
    return {
        "entropy": per_token["entropy"].mean(axis=-1),
        "cls": mass_on(cls_mask),
        "sep": mass_on(sep_mask),
        "first": attentions[..., 0].mean(axis=-1),  # Σ_i a[i, 0] / T
        "punct": mass_on(punct_mask),
        "punct_any": mass_on(punct_mask if punct_any_mask is None else punct_any_mask),
        "prev": _diagonal_mass(attentions, -1),
        "self": _diagonal_mass(attentions, 0),
        "next": _diagonal_mass(attentions, 1),
        "distance": per_token["distance"].mean(axis=-1),
    }


TOKEN_STATISTICS = ("entropy", "distance", "received")


def token_statistic_arrays(attentions: np.ndarray) -> dict[str, np.ndarray]:
    """Per token, what the head statistics average over rows, for (..., T, T) attention -> (..., T) each:
    entropy: its row's entropy −Σ_j α'_ij ln α'_ij (smoothed as `head_statistic_arrays` does, in nats:
    how broadly token i looks); distance: its row's Σ_j a_ij |i − j| (how far it looks, in tokens);
    received: its column's Σ_i a_ij / T (the attention it gets, Clark et al.'s mass on a key, for one key).
    Their means over tokens are the head's entropy and distance."""
    attentions = np.asarray(attentions, dtype=np.float64)
    n_tokens = attentions.shape[-1]
    positions = np.arange(n_tokens)
    offsets = np.abs(positions[:, None] - positions[None, :])  # (T, T): |i − j|
    smoothed = (1.0 - ENTROPY_SMOOTHING) * attentions + ENTROPY_SMOOTHING / n_tokens
    return {
        "entropy": entr(smoothed).sum(axis=-1),
        "distance": (attentions * offsets).sum(axis=-1),
        "received": attentions.sum(axis=-2) / n_tokens,
    }


def statistics_frame(arrays: dict[str, np.ndarray], n_tokens: int | None = None,
                     causal: bool | None = None) -> pd.DataFrame:
    """(L, H) arrays -> one row per (layer, head), layers first; `attrs["n_tokens"]` keeps T and
    `attrs["causal"]` whether the attention was causal, for `head_patterns`."""
    n_layers, n_heads = next(iter(arrays.values())).shape
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    frame = pd.DataFrame({"layer": layer, "head": head, **{name: arrays[name].ravel() for name in STATISTICS}})
    if n_tokens is not None:
        frame.attrs["n_tokens"] = int(n_tokens)
    if causal is not None:
        frame.attrs["causal"] = bool(causal)
    return frame


def head_statistics(run: Run) -> pd.DataFrame:
    """One row per (layer, head): 0-based `layer`, `head`, then the columns of `STATISTICS`."""
    masks = token_classes(run.tokens, run.special)
    return statistics_frame(head_statistic_arrays(run.attentions, *masks), run.n_tokens, bool(run.causal))


def is_causal_table(stats: pd.DataFrame) -> bool:
    """Whether `stats` describes causal attention: `attrs["causal"]` when set, else the trace a causal
    mask leaves in the table itself, next = 0 exactly for every head (a softmax never gives exactly 0
    to every next token by chance), which survives averaging over a corpus."""
    causal = stats.attrs.get("causal")
    if causal is not None:
        return bool(causal)
    return "next" in stats and len(stats) > 0 and bool((stats["next"] == 0).all())


def classify_head(values: dict[str, float], n_tokens: int | None, causal: bool = False) -> tuple[str, str]:
    """(pattern, reason) for one head's statistics; see `head_patterns`. Under causal attention the
    first-token rule replaces the [CLS], [SEP] (and next-token) rules; otherwise it is not used."""
    skipped = ENCODER_ONLY_RULES if causal else CAUSAL_ONLY_RULES
    rules = [rule for rule in PATTERN_RULES if rule[0] not in skipped and rule[0] in values]
    passed = [(values[column] / threshold, column, threshold, name)
              for column, threshold, name in rules
              if np.isfinite(values[column]) and values[column] >= threshold]
    if passed:
        _, column, threshold, name = max(passed, key=lambda rule: rule[0])
        return name, f"{column} = {values[column]:.2f} ≥ {threshold}"
    if n_tokens and n_tokens > 1:
        broad_entropy = BROAD_FRACTION * math.log(n_tokens)
        if values["entropy"] >= broad_entropy:
            return "broad", (f"entropy = {values['entropy']:.2f} ≥ {BROAD_FRACTION} · ln {n_tokens}"
                             f" = {broad_entropy:.2f}")
    candidates = [(values[c] / t, c, t) for c, t, _ in rules if np.isfinite(values[c])]
    if not candidates:
        return "mixed", "no statistic reaches its threshold"
    _, column, threshold = max(candidates)
    return "mixed", f"no statistic reaches its threshold (highest: {column} = {values[column]:.2f} < {threshold})"


def head_patterns(stats: pd.DataFrame, n_tokens: int | None = None, causal: bool | None = None) -> pd.DataFrame:
    """A copy of `stats` with `pattern` (one of `PATTERNS`) and `reason` (the threshold that placed it).

    A head takes the pattern of `PATTERN_RULES` whose statistic exceeds its threshold by the
    largest factor; else "broad" when entropy ≥ BROAD_FRACTION · ln T; else "mixed". T comes from
    `n_tokens` or `stats.attrs["n_tokens"]` (set by `head_statistics`); without it no head is broad.
    causal (default: `is_causal_table`) picks the decoder's rules: a first-token sink instead of
    [CLS] and [SEP] sinks.
    """
    n_tokens = n_tokens if n_tokens is not None else stats.attrs.get("n_tokens")
    causal = is_causal_table(stats) if causal is None else causal
    placed = [classify_head(values, n_tokens, causal) for values in stats.to_dict("records")]
    result = stats.copy()
    result["pattern"] = [pattern for pattern, _ in placed]
    result["reason"] = [reason for _, reason in placed]
    return result
