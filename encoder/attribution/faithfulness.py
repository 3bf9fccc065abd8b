"""Faithfulness, measured: does removing what a method ranks on top change the target? (DeYoung et al. 2020, ERASER)

For a ranking of the removable tokens (special tokens and the target's own token never are) and
k ∈ {1, 5, 10, 20, 50}% of them (at least one token):
- comprehensiveness_k = f(x) − f(x without its top k): large when the top tokens were needed;
- sufficiency_k = f(x) − f(only its top k, special tokens kept): small when they were enough;
each averaged over the k's: the area over the perturbation curve (AOPC). Removal is one operation for
every method of a model (`Backend.removal`: [MASK], a zero embedding, or dropping the token), and a
random ranking is the floor a method has to beat. The deletion curve is f(x without its top k) over k.

These say whether the model follows an explanation, not whether the explanation is how language works:
a faithful ranking of a model that reads shortcuts shows the shortcuts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .backend import REMOVAL_WORDS, backend_for
from .methods import IG_STEPS, METHODS, Attribution, Explainer
from .targets import Target

PERCENTS = (1, 5, 10, 20, 50)
# Integrated gradients' steps in a faithfulness run: the same 50 as on one text. 16 steps would be 3x
# cheaper, but left 10 of 32 held-out sentiment sentences above 5% completeness error (median 1.6%),
# against none above 1.2% at 50 (median 0.003%). Each run keeps its errors (`FaithfulnessReport.completeness`).
FAITHFULNESS_STEPS = IG_STEPS
RANDOM = "random"
ProgressCallback = Callable[[int, int], None]  # (texts done, texts in all)


@dataclass(frozen=True)
class Erasure:
    """One ranking on one text: what the target becomes with its top k% removed, or with only them kept."""

    value: float  # f(x)
    counts: np.ndarray  # int (K,): tokens removed (or kept) at each percent
    without_top: np.ndarray  # (K,) f(x without the top k): the deletion curve
    only_top: np.ndarray  # (K,) f(only the top k)

    @property
    def comprehensiveness(self) -> np.ndarray:
        return self.value - self.without_top  # (K,)

    @property
    def sufficiency(self) -> np.ndarray:
        return self.value - self.only_top  # (K,)


def top_counts(n_removable: int, percents: Sequence[float] = PERCENTS) -> np.ndarray:
    """How many tokens k% of n is: ⌈k·n/100⌉, at least 1 and at most n."""
    return np.array([min(n_removable, max(1, math.ceil(p * n_removable / 100))) for p in percents], dtype=int)


def ranking(scores: np.ndarray, removable: np.ndarray) -> np.ndarray:
    """The removable positions, highest score first (NaN last; ties by position, so runs repeat)."""
    positions = np.flatnonzero(removable)
    values = np.nan_to_num(np.asarray(scores, np.float64)[positions], nan=-np.inf)
    return positions[np.argsort(-values, kind="stable")]


def erase(values: Callable[[torch.Tensor], np.ndarray], value: float, rankings: dict[str, np.ndarray],
          removable: np.ndarray, percents: Sequence[float] = PERCENTS) -> dict[str, Erasure]:
    """Every ranking's comprehensiveness and sufficiency rows in one batch of perturbed passes.

    values: keep (R, T) bool -> (R,) the target with the other tokens removed. value: f(x).
    """
    n = len(removable)
    counts = top_counts(int(removable.sum()), percents)
    keeps = []
    for order in rankings.values():
        for k in counts:
            without = np.ones(n, dtype=bool)
            without[order[:k]] = False
            only = ~removable  # special tokens and the target's token stay
            only[order[:k]] = True
            keeps += [without, only]
    if not keeps:
        return {}
    # Short texts make equal rows (1% and 5% of 12 tokens are both one token; methods share a top
    # token): each distinct row is run once.
    unique, inverse = np.unique(np.stack(keeps), axis=0, return_inverse=True)
    out = values(torch.from_numpy(unique))[inverse.reshape(-1)].reshape(len(rankings), len(counts), 2)
    return {name: Erasure(value, counts, out[m, :, 0], out[m, :, 1]) for m, name in enumerate(rankings)}


@dataclass(frozen=True)
class FaithfulnessReport:
    table: pd.DataFrame  # one row per method + random: method, comprehensiveness, sufficiency, n_texts, seconds
    curves: pd.DataFrame  # long: method, percent, comprehensiveness, sufficiency, deletion (mean f without top k)
    per_text: pd.DataFrame  # long: text, method, percent, tokens, comprehensiveness, sufficiency
    removal: str  # the removal operation, in words
    target: str
    skipped: tuple[str, ...]  # one line per text left out, and why
    # integrated gradients' completeness errors over the texts (one per text), to judge its steps by
    completeness: tuple[float, ...] = ()


class _Tally:
    """What a faithfulness run gathers text by text, and the report it makes at the end."""

    def __init__(self, methods: Sequence[str], percents: Sequence[float], steps: int, baseline: str,
                 seed: int) -> None:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"Unknown methods: {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
        self.methods, self.percents, self.steps, self.baseline, self.seed = methods, percents, steps, baseline, seed
        self.rows: list[tuple] = []
        self.skipped: list[str] = []
        self.errors: list[float] = []
        self.seconds = dict.fromkeys([*methods, RANDOM], 0.0)

    def measurable(self, index: int, explainer: Explainer) -> bool:
        """Whether the text has a token to remove; if not, it is left out, and the report says so."""
        if not explainer.removable.any():
            self.skipped.append(f"Text {index + 1}: no token to remove.")
        return bool(explainer.removable.any())

    def add(self, index: int, explainer: Explainer) -> dict[str, Attribution]:
        """Every method on one text, then one batch of erasure passes for all their rankings and the
        random one (rows already run for this text, e.g. by occlusion, are not run again)."""
        attributions, rankings = {}, {}
        for method in self.methods:
            attribution = attributions[method] = explainer.attribute(method, steps=self.steps, baseline=self.baseline)
            self.seconds[method] += attribution.seconds
            if attribution.completeness_error is not None:
                self.errors.append(attribution.completeness_error)
            if np.isfinite(attribution.scores[explainer.removable]).all():
                rankings[method] = ranking(attribution.scores, explainer.removable)
        rng = np.random.default_rng([self.seed, index])
        rankings[RANDOM] = rng.permutation(np.flatnonzero(explainer.removable))
        start = time.perf_counter()
        erasures = erase(explainer.values, explainer.value, rankings, explainer.removable, self.percents)
        share = (time.perf_counter() - start) / len(rankings)  # the erasure passes, split evenly
        for name, e in erasures.items():
            self.seconds[name] += share
            for p, k, c, s, d in zip(self.percents, e.counts, e.comprehensiveness, e.sufficiency, e.without_top,
                                     strict=True):
                self.rows.append((index, name, p, int(k), c, s, d, e.value))
        return attributions

    def report(self, removal: str, target: str) -> FaithfulnessReport:
        per_text = pd.DataFrame(self.rows, columns=["text", "method", "percent", "tokens", "comprehensiveness",
                                                    "sufficiency", "deletion", "value"])
        curves = (per_text.groupby(["method", "percent"], sort=False)[["comprehensiveness", "sufficiency",
                                                                       "deletion"]].mean().reset_index())
        aopc = per_text.groupby(["method", "text"], sort=False)[["comprehensiveness", "sufficiency"]].mean()
        table = aopc.groupby("method", sort=False).agg(comprehensiveness=("comprehensiveness", "mean"),
                                                       sufficiency=("sufficiency", "mean"),
                                                       n_texts=("comprehensiveness", "size")).reset_index()
        table["seconds"] = table["method"].map(self.seconds)
        table = table.sort_values("comprehensiveness", ascending=False, kind="stable").reset_index(drop=True)
        return FaithfulnessReport(table, curves, per_text.drop(columns=["value"]), removal, target,
                                  tuple(self.skipped), tuple(self.errors))


def faithfulness_report(model, texts: Sequence[str], target: Target, methods: Sequence[str] = METHODS, *,
                        percents: Sequence[float] = PERCENTS, steps: int = FAITHFULNESS_STEPS, baseline: str = "pad",
                        seed: int = 0, progress: ProgressCallback | None = None) -> FaithfulnessReport:
    """Comprehensiveness and sufficiency (AOPC over `percents`) of each method over `texts`, with a random
    ranking as the floor. progress(done, total) is called after each text. Integrated gradients runs at
    `steps` (50 by default, see FAITHFULNESS_STEPS; its completeness error per text is reported)."""
    tally = _Tally(methods, percents, steps, baseline, seed)
    backend = backend_for(model)
    for index, text in enumerate(texts):
        try:
            explainer = Explainer(model, text, target, backend)
        except ValueError as error:
            tally.skipped.append(f"Text {index + 1}: {error}")
        else:
            if tally.measurable(index, explainer):
                tally.add(index, explainer)
        if progress is not None:
            progress(index + 1, len(texts))
    return tally.report(REMOVAL_WORDS[backend.removal], target.name)


def attribute_and_measure(model, text: str, target: Target, methods: Sequence[str] = METHODS, *,
                          percents: Sequence[float] = PERCENTS, steps: int = IG_STEPS, baseline: str = "pad",
                          seed: int = 0) -> tuple[dict[str, Attribution], FaithfulnessReport]:
    """Every method's scores on one text and their faithfulness there, each method run once:
    (`attribute_all(...)`, `faithfulness_report(model, [text], ...)`) without computing the scores twice.
    ValueError if the target cannot read the text."""
    tally = _Tally(methods, percents, steps, baseline, seed)
    explainer = Explainer(model, text, target)
    if tally.measurable(0, explainer):
        attributions = tally.add(0, explainer)
    else:
        attributions = {m: explainer.attribute(m, steps=steps, baseline=baseline) for m in methods}
    return attributions, tally.report(REMOVAL_WORDS[explainer.backend.removal], target.name)


def faithfulness(model, texts: Sequence[str], target: Target, methods: Sequence[str] = METHODS,
                 **options) -> pd.DataFrame:
    """`faithfulness_report(...).table`: method, comprehensiveness, sufficiency (AOPC), n_texts, seconds;
    most comprehensive first, "random" among them."""
    return faithfulness_report(model, texts, target, methods, **options).table
