"""Head statistics (Clark et al. 2019) on attention made by hand, then on the bundled model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from encoder.analysis import (
    STATISTICS,
    head_patterns,
    head_statistic_arrays,
    head_statistics,
    token_classes,
)

T = 6
NO_MASK = np.zeros(T, dtype=bool)


def stats_of(attention: np.ndarray, cls=NO_MASK, sep=NO_MASK, punct=NO_MASK) -> dict[str, float]:
    arrays = head_statistic_arrays(attention[None, None], cls, sep, punct)  # one layer, one head
    return {name: float(value[0, 0]) for name, value in arrays.items()}


def test_uniform_rows_have_entropy_ln_t_and_mean_distance():
    stats = stats_of(np.full((T, T), 1 / T))
    assert math.isclose(stats["entropy"], math.log(T), rel_tol=1e-12)
    # mean |i − j| over all pairs of 6 positions: Σ|i − j| = 70, over 36 pairs
    assert math.isclose(stats["distance"], 70 / 36, rel_tol=1e-12)


def test_one_hot_rows_have_zero_entropy():
    assert stats_of(np.eye(T))["entropy"] == 0.0


def test_shifted_identities_give_prev_self_next_of_one():
    previous = np.eye(T, k=-1)  # row i puts everything on key i − 1
    previous[0, 0] = 1.0  # row 0 has no previous key: left out of the mean
    following = np.eye(T, k=1)
    following[-1, -1] = 1.0
    assert stats_of(previous)["prev"] == 1.0 and stats_of(previous)["next"] == 0.0
    assert stats_of(np.eye(T))["self"] == 1.0 and stats_of(np.eye(T))["prev"] == 0.0
    assert stats_of(following)["next"] == 1.0 and stats_of(following)["self"] == 1 / T
    assert math.isclose(stats_of(previous)["distance"], (T - 1) / T)


def test_mass_on_token_classes():
    tokens = ["[CLS]", "hello", ",", "world", "!?", "[SEP]"]
    special = [True, False, False, False, False, True]
    cls, sep, punct = token_classes(tokens, special)
    assert cls.tolist() == [True, False, False, False, False, False]
    assert sep.tolist() == [False, False, False, False, False, True]
    assert punct.tolist() == [False, False, True, False, True, False]
    attention = np.zeros((T, T))
    attention[:, 0] = 0.5  # half of every row on [CLS]
    attention[:, 2] = 0.3
    attention[:, 5] = 0.2
    stats = stats_of(attention, cls, sep, punct)
    assert math.isclose(stats["cls"], 0.5) and math.isclose(stats["punct"], 0.3) and math.isclose(stats["sep"], 0.2)


def test_pairs_count_both_separators_and_subword_punctuation():
    cls, sep, punct = token_classes(["[CLS]", "a", "[SEP]", "b", "##.", "[SEP]"], [1, 0, 1, 0, 0, 1])
    assert cls.sum() == 1 and sep.tolist() == [False, False, True, False, False, True]
    assert punct.tolist() == [False, False, False, False, True, False]


def test_patterns_follow_clark_thresholds():
    rows = [
        dict(layer=0, head=0, entropy=0.5, cls=0.1, sep=0.1, punct=0.1, prev=0.72, self=0.1, next=0.0, distance=1.0),
        dict(layer=0, head=1, entropy=0.5, cls=0.61, sep=0.1, punct=0.0, prev=0.1, self=0.1, next=0.1, distance=3.0),
        dict(layer=0, head=2, entropy=2.2, cls=0.1, sep=0.1, punct=0.1, prev=0.1, self=0.1, next=0.1, distance=3.0),
        dict(layer=0, head=3, entropy=1.0, cls=0.1, sep=0.59, punct=0.1, prev=0.1, self=0.1, next=0.1, distance=3.0),
    ]
    placed = head_patterns(pd.DataFrame(rows), n_tokens=10)  # broad above 0.8 · ln 10 = 1.84
    assert placed["pattern"].tolist() == ["previous token", "[CLS] sink", "broad", "mixed"]
    assert placed["reason"][0] == "prev = 0.72 ≥ 0.5"
    assert "0.8 · ln 10" in placed["reason"][2]
    assert "sep = 0.59 < 0.6" in placed["reason"][3]


def test_head_statistics_of_a_run(model):
    run = model.run("The cat sat on the mat, and the dog barked.")
    stats = head_statistics(run)
    assert list(stats.columns) == ["layer", "head", *STATISTICS]
    assert len(stats) == run.n_layers * run.n_heads
    assert stats["layer"].tolist()[:13] == [0] * 12 + [1] and stats["head"].tolist()[:13] == [*range(12), 0]
    # one row equals the statistic computed directly for that head
    layer, head = 4, 7
    row = stats[(stats["layer"] == layer) & (stats["head"] == head)].iloc[0]  # stats.head is a method
    a = run.attentions[layer, head].astype(np.float64)
    assert math.isclose(row["entropy"], float(np.mean(-(a * np.log(a)).sum(-1))), rel_tol=1e-6)
    assert math.isclose(row["cls"], float(a[:, 0].mean()), rel_tol=1e-6)
    assert math.isclose(row["prev"], float(np.mean([a[i, i - 1] for i in range(1, run.n_tokens)])), rel_tol=1e-6)
    assert (stats["entropy"] <= math.log(run.n_tokens) + 1e-9).all()
    placed = head_patterns(stats)  # T comes from the table's attrs
    assert set(placed["pattern"]) <= {"previous token", "next token", "self", "[CLS] sink", "[SEP] sink",
                                      "punctuation", "broad", "mixed"}
    assert (placed["pattern"] == "broad").any()  # MiniLM's first layer spreads widely
