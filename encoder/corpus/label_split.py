"""Head statistics split by a label column (sentiment, source, language), and which differences are real.

    from encoder.corpus.label_split import read_labelled, split_by_label, compare_labels
    labelled = read_labelled("assets/sentiment.csv", "label")
    split = split_by_label(model, labelled.texts, labelled.labels)
    label_means(split)                                   # one row per (label, layer, head)
    compare_labels(split, "positive", "negative")        # one row per (statistic, layer, head)

Each sentence's (L, H) statistics (Clark et al. 2019, as `statistics.SentenceStatistics`) are kept,
float32, so that the labels can be permuted: N × 10 × L × H × 4 bytes (2.9 KB a sentence for
MiniLM-L6, 58 MB at the 20,000 rows an upload may hold).

The test: for each statistic and head, the difference of the two labels' means is compared with
its distribution when the labels are shuffled among the two groups' sentences (a two-sided
permutation test, `permutations` shuffles, seeded; p = (1 + #{|d*| ≥ |d|}) / (1 + permutations),
never 0). One statistic has L·H heads tested at once, so the p-values are adjusted by
Benjamini–Hochberg (scipy's `false_discovery_control`) within each statistic: a head is marked
when its adjusted q ≤ alpha (0.05 by default), i.e. the expected share of false marks among the
marked heads is at most alpha.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from ..analysis import STATISTICS
from ..run import Model
from .reading import (
    _ESCAPED_BYTE,
    MAX_LINES,
    MAX_ROW_CHARS,
    MAX_ROWS,
    TEXT_COLUMNS,
    _csv_lines,
    _text_chunks,
)
from .statistics import Progress, SentenceStatistics, measure_by_length

MAX_LABEL_CHARS = 64  # a label value is a category name, not a text
MAX_LABELS = 50  # distinct label values kept; rows with a later new value are skipped and counted
ALPHA = 0.05
PERMUTATIONS = 1_000


@dataclass(frozen=True)
class Labelled:
    """Sentences with one label each, read from a CSV with the same caps as `read_sentences`."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    rows: tuple[int, ...]
    skipped: dict[str, int]  # reason -> rows skipped for it
    notes: tuple[str, ...] = ()


def read_labelled(source: str | Path | BinaryIO | TextIO, label_column: str, *, max_rows: int | None = MAX_ROWS,
                  max_lines: int | None = MAX_LINES) -> Labelled:
    """Texts and labels of a CSV: the 'text' or 'sentence' column (else the first other than the label's) and
    `label_column` (case-insensitive), named in its header. Streams like `read_sentences`: rows cut at
    MAX_ROW_CHARS, labels at MAX_LABEL_CHARS, at most `max_rows` rows kept and `max_lines` lines read,
    at most MAX_LABELS label values. Raises ValueError with a sentence when the header lacks the column.
    """
    if isinstance(source, str | Path):
        with Path(source).open("rb") as file:
            return read_labelled(file, label_column, max_rows=max_rows, max_lines=max_lines)
    reader = csv.reader(_csv_lines(_text_chunks(source)))
    skipped: dict[str, int] = {}
    texts, labels, rows, notes = [], [], [], []
    seen: set[str] = set()
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError("This CSV is empty.")
        names = [cell.strip().lower() for cell in header]
        wanted = label_column.strip().lower()
        if wanted not in names:
            shown = ", ".join(cell.strip()[:32] for cell in header[:12])
            raise ValueError(f"The CSV's header has no column named '{label_column[:64]}' (it has: {shown}).")
        label_at = names.index(wanted)
        named = [names.index(name) for name in TEXT_COLUMNS if name in names and names.index(name) != label_at]
        text_at = named[0] if named else next((i for i in range(len(names)) if i != label_at), None)
        if text_at is None:
            raise ValueError("The CSV has only the label column: it needs a text column too.")
        start = reader.line_num + 1
        for cells in reader:
            row, start = start, reader.line_num + 1
            if max_lines is not None and row > max_lines:
                notes.append(f"Reading stopped after {max_lines:,} lines; the rest of the file was not read.")
                break
            text = (cells[text_at] if text_at < len(cells) else "")[:MAX_ROW_CHARS].strip()
            label = (cells[label_at] if label_at < len(cells) else "")[:MAX_LABEL_CHARS].strip()
            reason = ("not valid UTF-8" if _ESCAPED_BYTE.search(text + label) else "empty text" if not text
                      else "no label" if not label
                      else f"a label beyond the first {MAX_LABELS}" if label not in seen and len(seen) >= MAX_LABELS
                      else "")
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            if max_rows is not None and len(texts) == max_rows:
                notes.append(f"Reading stopped after {max_rows:,} rows (at most {max_rows:,} are read).")
                break
            texts.append(text)
            labels.append(label)
            seen.add(label)
            rows.append(row)
    except csv.Error as error:
        raise ValueError(f"This CSV cannot be read at line {reader.line_num:,}: {error}.") from None
    return Labelled(tuple(texts), tuple(labels), tuple(rows), skipped, tuple(notes))


@dataclass(frozen=True, eq=False)
class LabelSplit:
    """Every read sentence's statistics with its label."""

    values: np.ndarray  # float32 (N, S, L, H): S = len(STATISTICS), NaN where undefined for that sentence
    labels: tuple[str, ...]  # (N,)
    skipped: tuple[tuple[int, str], ...]  # (row, reason) of texts the model could not read

    @property
    def counts(self) -> dict[str, int]:
        """Sentences per label value, most frequent first."""
        names, counts = np.unique(np.asarray(self.labels, dtype=object), return_counts=True)
        order = np.lexsort((names, -counts))
        return {str(names[i]): int(counts[i]) for i in order}

    @property
    def nbytes(self) -> int:
        return self.values.nbytes


def stack_statistics(results: dict[int, SentenceStatistics | str], n: int, shape: tuple[int, int], labels,
                     rows: Sequence[int]) -> LabelSplit:
    """The split from each sentence's statistics (or the reason it was skipped), in input order."""
    kept = [i for i in range(n) if isinstance(results.get(i), SentenceStatistics)]
    values = np.full((len(kept), len(STATISTICS), *shape), np.nan, dtype=np.float32)
    for k, i in enumerate(kept):
        values[k] = np.stack([results[i].arrays[name] for name in STATISTICS])
    skipped = tuple((rows[i], str(results.get(i, "not read"))) for i in range(n) if i not in set(kept))
    return LabelSplit(values, tuple(str(labels[i]) for i in kept), skipped)


def split_by_label(model: Model, texts: Sequence[str], labels: Sequence[str], batch_size: int = 32,
                   progress: Progress | None = None, *, row_numbers: Sequence[int] | None = None) -> LabelSplit:
    """Each text's head statistics (batched, streamed: `measure_by_length`), kept with its label."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(labels)} labels for {len(texts)} texts.")
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(texts) + 1))
    results = dict(measure_by_length(model, list(texts), SentenceStatistics.of_run, batch_size, progress))
    shape = (model.config.n_layers, model.config.n_heads)
    return stack_statistics(results, len(texts), shape, labels, rows)


def label_means(split: LabelSplit) -> pd.DataFrame:
    """One row per (label, layer, head): label, n_sentences, layer, head and the mean of each statistic."""
    frames = []
    labels = np.asarray(split.labels, dtype=object)
    n_layers, n_heads = split.values.shape[2:]
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    for label, count in split.counts.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a statistic never defined for this label stays NaN
            means = np.nanmean(split.values[labels == label].astype(np.float64), axis=0)  # (S, L, H)
        frame = pd.DataFrame({"label": label, "n_sentences": count, "layer": layer, "head": head})
        for s, name in enumerate(STATISTICS):
            frame[name] = means[s].reshape(-1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _group_means(values: np.ndarray, defined: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mean of each feature over the members of each group row: groups (R, n) of 0/1, values (n, M) → (R, M)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (groups @ values) / (groups @ defined)


def compare_labels(split: LabelSplit, a: str, b: str, permutations: int = PERMUTATIONS, alpha: float = ALPHA,
                   seed: int = 0) -> pd.DataFrame:
    """Label a's mean minus label b's, per (statistic, layer, head), with a permutation test.

    Columns: statistic, layer, head, mean_a, mean_b, difference, p_value (two-sided permutation),
    q_value (Benjamini–Hochberg within the statistic's L·H heads), significant (q ≤ alpha).
    attrs: a, b, n_a, n_b, permutations, alpha.
    """
    labels = np.asarray(split.labels, dtype=object)
    members = (labels == a) | (labels == b)
    n_a, n_b = int((labels == a).sum()), int((labels == b).sum())
    if a == b or n_a < 2 or n_b < 2:
        raise ValueError(f"Comparing needs two different labels with at least 2 sentences each "
                         f"('{a}': {n_a}, '{b}': {n_b}).")
    if permutations < 1:
        raise ValueError("permutations must be at least 1.")
    n_statistics, n_layers, n_heads = split.values.shape[1:]
    raw = split.values[members].reshape(n_a + n_b, -1).astype(np.float64)  # (n, M), M = S·L·H
    defined = np.isfinite(raw).astype(np.float64)
    values = np.where(defined > 0, raw, 0.0)
    is_a = (labels[members] == a).astype(np.float64)  # (n,)
    observed = _group_means(values, defined, is_a[None]) - _group_means(values, defined, 1 - is_a[None])  # (1, M)
    rng = np.random.default_rng(seed)
    exceed = np.zeros(observed.shape[1])
    for start in range(0, permutations, 250):  # 250 shuffles at a time: (250, M) float64, about 1.4 MB
        count = min(250, permutations - start)
        shuffled = np.stack([rng.permutation(is_a) for _ in range(count)])  # (R, n)
        null = _group_means(values, defined, shuffled) - _group_means(values, defined, 1 - shuffled)
        # A tiny tolerance counts the observed split's own shuffles as "as large" despite rounding.
        exceed += (np.abs(null) >= np.abs(observed) - 1e-12).sum(axis=0)
    p_values = (1 + exceed) / (1 + permutations)
    p_values[~np.isfinite(observed[0])] = np.nan
    frame = pd.DataFrame({
        "statistic": np.repeat(np.asarray(STATISTICS, dtype=object), n_layers * n_heads),
        "layer": np.tile(np.repeat(np.arange(n_layers), n_heads), n_statistics),
        "head": np.tile(np.arange(n_heads), n_statistics * n_layers),
        "mean_a": _group_means(values, defined, is_a[None])[0],
        "mean_b": _group_means(values, defined, 1 - is_a[None])[0],
        "difference": observed[0],
        "p_value": p_values,
    })
    frame["q_value"] = np.nan
    for name in STATISTICS:
        rows = (frame["statistic"] == name) & frame["p_value"].notna()
        if rows.any():
            frame.loc[rows, "q_value"] = false_discovery_control(frame.loc[rows, "p_value"].to_numpy(), method="bh")
    frame["significant"] = frame["q_value"] <= alpha
    frame.attrs.update(a=a, b=b, n_a=n_a, n_b=n_b, permutations=int(permutations), alpha=float(alpha))
    return frame
