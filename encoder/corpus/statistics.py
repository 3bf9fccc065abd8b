"""Per-head statistics over a corpus, streamed batch by batch.

Clark et al. (2019, §3) average each head's statistics over many sentences: one sentence is an
anecdote. The corpus is cut into length-sorted batches; each batch goes through
`Model.run_batch` (padded, with a key-padding mask, so every sentence's attention equals its
single run), each sentence's (L, H) statistics are added to running sums, and the batch's
attention maps are dropped before the next batch. Memory is one batch of runs plus (L, H) sums,
whatever the corpus size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from ..analysis import STATISTICS, head_statistic_arrays, token_classes
from ..analysis.head_statistics import statistics_frame
from ..run import Model, Run

Progress = Callable[[int, int], None]  # (sentences done, sentences in all)
Measure = TypeVar("Measure")


def seconds_left(done: int, total: int, elapsed: float) -> float | None:
    """Time left at the pace so far (seconds), for a progress bar; None before anything is done."""
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed / done * max(total - done, 0)


@dataclass(frozen=True)
class SentenceStatistics:
    """One sentence's statistics: each of `STATISTICS` as an (L, H) float64 array."""

    arrays: dict[str, np.ndarray]
    n_tokens: int

    @classmethod
    def of_run(cls, run: Run) -> SentenceStatistics:
        masks = token_classes(run.tokens, run.special)  # (T,) each: [CLS], [SEP], punctuation keys
        return cls(head_statistic_arrays(run.attentions, *masks), run.n_tokens)


class RunningMeans:
    """Sums and counts of per-sentence statistics: the mean over sentences without keeping them.

    A statistic can be NaN for one sentence (prev/next of a one-token text has no such key), so
    each (layer, head) cell counts the sentences where it was defined. Sums are float64, so the
    order sentences arrive in (batches, Ray workers) changes the means by rounding only.
    """

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.n_sentences = 0
        self.n_tokens = 0

    def add(self, sentence: SentenceStatistics) -> None:
        for name in STATISTICS:
            values = np.asarray(sentence.arrays[name], dtype=np.float64)  # (L, H)
            defined = np.isfinite(values)
            if name not in self.sums:
                self.sums[name] = np.zeros(values.shape)
                self.counts[name] = np.zeros(values.shape, dtype=np.int64)
            self.sums[name] += np.where(defined, values, 0.0)
            self.counts[name] += defined
        self.n_sentences += 1
        self.n_tokens += sentence.n_tokens

    def frame(self, skipped: Sequence[tuple[int, str]] = ()) -> pd.DataFrame:
        """One row per (layer, head): `layer`, `head` and the mean of each statistic.

        attrs: n_sentences (sentences averaged), skipped ((row, reason) pairs, by row) and
        n_tokens, the mean sentence length rounded, which `head_patterns` reads as T for its
        "broad" threshold.
        """
        if self.n_sentences == 0:
            frame = pd.DataFrame({name: pd.Series(dtype=np.float64) for name in ("layer", "head", *STATISTICS)})
            frame = frame.astype({"layer": np.int64, "head": np.int64})
        else:
            with np.errstate(invalid="ignore", divide="ignore"):  # a never-defined cell stays NaN
                means = {name: self.sums[name] / self.counts[name] for name in STATISTICS}  # (L, H) each
            frame = statistics_frame(means, round(self.n_tokens / self.n_sentences))
        frame.attrs["n_sentences"] = self.n_sentences
        frame.attrs["skipped"] = sorted(skipped)
        return frame


def runs_or_reasons(model: Model, texts: Sequence[object], batch_size: int = 32) -> list[Run | str]:
    """A Run for each text, or the reason it was skipped, in the order given.

    One `run_batch` call for the lot (callers keep the lot to one batch). That call stops at the
    first unreadable text, so only when it fails are the texts checked one by one through the
    tokenizer (the check `run_batch` makes) and the readable ones run again.
    """
    results: list[Run | str] = ["" if isinstance(text, str) else f"not text ({type(text).__name__})"
                                for text in texts]
    readable = [i for i, result in enumerate(results) if result == ""]
    try:
        runs = model.run_batch([texts[i] for i in readable], batch_size) if readable else []
    except ValueError:
        checked = []
        for i in readable:
            try:
                model.tokenizer.encode(texts[i])
                checked.append(i)
            except ValueError as error:
                results[i] = str(error)
        readable = checked
        runs = model.run_batch([texts[i] for i in readable], batch_size) if readable else []
    for i, run in zip(readable, runs, strict=True):
        results[i] = run
    return results


def text_statistics(model: Model, texts: Sequence[object], batch_size: int = 32) -> list[SentenceStatistics | str]:
    """Statistics for each text, or the reason it was skipped; its Runs are dropped on return."""
    runs = runs_or_reasons(model, texts, batch_size)
    return [run if isinstance(run, str) else SentenceStatistics.of_run(run) for run in runs]


def length_order(texts: Sequence[object]) -> list[int]:
    """Indices of texts, shortest first by characters (a free stand-in for token counts), ties in order.

    Batches cut from this order hold texts of similar length, so padding wastes little; sorting
    by characters needs no tokenizer, so the Ray driver can do it without loading a model.
    """
    return sorted(range(len(texts)), key=lambda i: len(texts[i]) if isinstance(texts[i], str) else 0)


def measure_by_length(model: Model, texts: Sequence[object], measure: Callable[[Run], Measure], batch_size: int = 32,
                      progress: Progress | None = None, indices: Sequence[int] | None = None
                      ) -> Iterator[tuple[int, Measure | str]]:
    """(i, measure(Run of texts[i]) or the reason it was skipped) for each index (all by default),
    shortest texts first.

    Streams: one length-sorted batch of `batch_size` texts at a time goes through `runs_or_reasons`
    and is measured, and its Runs are dropped before the next batch runs, so at most one batch of
    attention maps is alive. `progress(done, total)` counts the indices: 0 first, then after every batch.
    """
    chosen = list(range(len(texts))) if indices is None else list(indices)
    order = [chosen[k] for k in length_order([texts[i] for i in chosen])]
    if progress:
        progress(0, len(order))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        runs = runs_or_reasons(model, [texts[i] for i in batch], batch_size)
        results = [run if isinstance(run, str) else measure(run) for run in runs]
        del runs  # the caller may hold a result while the next batch runs, never a Run
        yield from zip(batch, results, strict=True)
        if progress:
            progress(min(start + batch_size, len(order)), len(order))


def corpus_statistics(model: Model, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None,
                      *, row_numbers: Sequence[int] | None = None) -> pd.DataFrame:
    """Each head's statistics averaged over sentences: one row per (layer, head), the columns of
    `head_statistics`, `attrs["n_sentences"]` and `attrs["skipped"]` (see `RunningMeans.frame`).

    Streams (`measure_by_length`): at most one batch of attention maps is alive. Unreadable texts are
    skipped and listed as (row, reason); row is `row_numbers[i]` (e.g. `Sentences.rows`) or the
    1-based position. `progress(done, total)` is called with 0 first and after every batch.
    """
    texts = list(texts)
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(texts) + 1))
    if len(rows) != len(texts):
        raise ValueError(f"{len(rows)} row numbers for {len(texts)} texts.")
    means, skipped = RunningMeans(), []
    for i, result in measure_by_length(model, texts, SentenceStatistics.of_run, batch_size, progress):
        if isinstance(result, str):
            skipped.append((rows[i], result))
        else:
            means.add(result)
    return means.frame(skipped)
