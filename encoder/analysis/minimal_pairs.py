"""Minimal pairs: the same head on two texts that differ in a word or two, aligned word by word.

"The trophy didn't fit in the suitcase because it was too big." against "…too small.": which
heads change where "it" looks? Subwords are merged into words (Clark et al. 2019, §4.1: attention
to a word is summed over its pieces, attention from a word is averaged), the two word sequences
are aligned with difflib, and heads are ranked by how far their rows move.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from ..attention_view import group_label, merge_groups, select_tokens, word_groups
from ..run import Run
from .rollout import normalize_rows


@dataclass(frozen=True, eq=False)
class MinimalPair:
    """Two runs' word-level attention on one aligned axis of W slots. L = layers, H = heads.

    A slot holds a word of A, a word of B, or both (a partner). `attention_a` is NaN in the rows
    and columns of slots A has no word in, `attention_b` likewise; `difference` = B − A is NaN
    wherever either is.
    """

    words_a: list[str]  # A's words (subwords merged; [CLS] and [SEP] are words of their own)
    words_b: list[str]
    slots: list[tuple[int | None, int | None]]  # (index in words_a, index in words_b) per slot
    labels: list[str]  # per slot: "word", or "big → small" where the partners differ, "big → ∅"
    attention_a: np.ndarray  # float64 (L, H, W, W)
    attention_b: np.ndarray  # float64 (L, H, W, W)
    difference: np.ndarray  # float64 (L, H, W, W): attention_b − attention_a
    head_changes: pd.DataFrame  # layer, head, js: most changed first
    special: list[bool]  # per slot: a special token ([CLS], [SEP]) in the text(s) that hold it

    @property
    def paired(self) -> np.ndarray:
        """bool (W,): slots where both texts have a word."""
        return np.array([a is not None and b is not None for a, b in self.slots], dtype=bool)

    @property
    def changed(self) -> np.ndarray:
        """bool (W,): slots whose words differ, or that only one text has (case-insensitive)."""
        return np.array([a is None or b is None or self.words_a[a].lower() != self.words_b[b].lower()
                         for a, b in self.slots], dtype=bool)

    def first_changed_word(self) -> int:
        """The slot to follow first: the first word that differs between the texts (the point of the
        pair), else the first word that is not a special token, else 0."""
        readable = ~np.array(self.special, dtype=bool)
        for candidates in (self.changed & readable, readable):
            if candidates.any():
                return int(np.flatnonzero(candidates)[0])
        return 0


def run_words(run: Run) -> tuple[list[str], np.ndarray]:
    """A run's words and its word-level attention (L, H, W, W), rows still summing to 1."""
    groups = word_groups(run.word_ids, run.segment_ids, list(range(run.n_tokens)))
    attention = merge_groups(run.attentions.astype(np.float64), groups, groups)  # (L, H, W, W)
    return [group_label(run, group) for group in groups], attention


def align_words(words_a: list[str], words_b: list[str]) -> list[tuple[int | None, int | None]]:
    """Slots pairing equal words (case-insensitive) and same-length replacements word for word.

    A replacement of unequal length ("too big" → "rather small indeed") has no word-for-word
    partner, so its words get slots of their own.
    """
    matcher = difflib.SequenceMatcher(a=[w.lower() for w in words_a], b=[w.lower() for w in words_b],
                                      autojunk=False)
    slots: list[tuple[int | None, int | None]] = []
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a_end - a_start == b_end - b_start):
            slots.extend(zip(range(a_start, a_end), range(b_start, b_end), strict=True))
        else:
            slots.extend((a, None) for a in range(a_start, a_end))
            slots.extend((None, b) for b in range(b_start, b_end))
    return slots


def _on_slots(attention: np.ndarray, indices: list[int | None]) -> np.ndarray:
    """(L, H, W_text, W_text) -> (L, H, W, W) on the aligned slots, NaN where the text has no word."""
    present = np.array([i is not None for i in indices])
    source = np.array([i if i is not None else 0 for i in indices])
    placed = attention[..., source[:, None], source[None, :]]  # (L, H, W, W)
    placed[..., ~present, :] = np.nan
    placed[..., ~present] = np.nan
    return placed


def _slot_label(a: str | None, b: str | None) -> str:
    if a is not None and b is not None:
        return a if a.lower() == b.lower() else f"{a} → {b}"
    return f"{a} → ∅" if a is not None else f"∅ → {b}"


def _special_words(run: Run) -> list[bool]:
    """Per word of `run_words`: whether it is one special token."""
    groups = word_groups(run.word_ids, run.segment_ids, list(range(run.n_tokens)))
    return [all(run.special[p] for p in group) for group in groups]


def minimal_pair(run_a: Run, run_b: Run) -> MinimalPair:
    """Align two runs word by word and rank their heads by how much their attention differs.

    `head_changes.js`: for each head, the Jensen–Shannon distance (scipy's, in nats: the square
    root of the divergence) between A's and B's row for each paired word, restricted to the
    paired words and renormalised, averaged over the paired words.
    """
    if run_a.attentions.shape[:2] != run_b.attentions.shape[:2]:
        raise ValueError("The two runs come from models with different layers or heads.")
    words_a, attention_a = run_words(run_a)
    words_b, attention_b = run_words(run_b)
    slots = align_words(words_a, words_b)
    special_a, special_b = _special_words(run_a), _special_words(run_b)
    placed_a = _on_slots(attention_a, [a for a, _ in slots])  # (L, H, W, W)
    placed_b = _on_slots(attention_b, [b for _, b in slots])
    paired_a = [a for a, b in slots if a is not None and b is not None]  # P paired words, in A
    paired_b = [b for a, b in slots if a is not None and b is not None]
    rows_a = normalize_rows(select_tokens(attention_a, paired_a, paired_a))  # (L, H, P, P)
    rows_b = normalize_rows(select_tokens(attention_b, paired_b, paired_b))
    # scipy takes the square root of a divergence that rounding can leave a hair below 0 for
    # equal rows, and rows with no mass on the paired words are 0/0: both mean "no change".
    with np.errstate(invalid="ignore"):
        js = np.nan_to_num(jensenshannon(rows_a, rows_b, axis=-1)).mean(axis=-1)  # (L, H)
    n_layers, n_heads = js.shape
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    changes = pd.DataFrame({"layer": layer, "head": head, "js": js.ravel()})
    changes = changes.sort_values("js", ascending=False, kind="stable").reset_index(drop=True)
    return MinimalPair(
        words_a=words_a, words_b=words_b, slots=slots,
        labels=[_slot_label(None if a is None else words_a[a], None if b is None else words_b[b]) for a, b in slots],
        attention_a=placed_a, attention_b=placed_b, difference=placed_b - placed_a, head_changes=changes,
        special=[(a is not None and special_a[a]) or (b is not None and special_b[b]) for a, b in slots],
    )
