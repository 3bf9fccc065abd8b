"""Head statistics (Clark et al. 2019) on attention made by hand, with answers worked out by hand as the
authors' code (clarkkev/attention-analysis, General_Analysis.ipynb) computes them, then on the bundled model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from encoder.analysis import (
    STATISTICS,
    head_patterns,
    head_statistic_arrays,
    head_statistics,
    token_classes,
)

T = 6
NO_MASK = np.zeros(T, dtype=bool)


def stats_of(attention: np.ndarray, cls=NO_MASK, sep=NO_MASK, punct=NO_MASK, punct_any=None) -> dict[str, float]:
    arrays = head_statistic_arrays(attention[None, None], cls, sep, punct, punct_any)  # one layer, one head
    return {name: float(value[0, 0]) for name, value in arrays.items()}


def test_uniform_rows_have_entropy_ln_t_and_mean_distance():
    stats = stats_of(np.full((T, T), 1 / T))
    assert math.isclose(stats["entropy"], math.log(T), rel_tol=1e-12)
    # mean |i − j| over all pairs of 6 positions: Σ|i − j| = 70, over 36 pairs
    assert math.isclose(stats["distance"], 70 / 36, rel_tol=1e-12)


def test_one_hot_rows_have_clarks_smoothed_entropy():
    # Clark et al. smooth every row to 0.9999·α + 0.0001/T before −Σ α ln α: a one-hot row of T = 6 keeps
    # p = 0.9999 + 0.0001/6 on its key and 0.0001/6 on the other five.
    high, low = 0.9999 + 0.0001 / T, 0.0001 / T
    expected = -(high * math.log(high) + (T - 1) * low * math.log(low))  # 0.0010002 nats
    assert math.isclose(stats_of(np.eye(T))["entropy"], expected, rel_tol=1e-12)
    assert 0.00099 < expected < 0.00101


def test_shifted_identities_divide_by_every_row_as_clark_does():
    previous = np.eye(T, k=-1)  # row i puts everything on key i − 1
    previous[0, 0] = 1.0  # row 0 has no previous key: it adds 0, and still counts in the T rows
    following = np.eye(T, k=1)
    following[-1, -1] = 1.0
    # Clark: (attns * np.eye(T, T, -1)).sum() / T = 5 / 6, not 5 / 5
    assert stats_of(previous)["prev"] == 5 / 6 and stats_of(previous)["next"] == 0.0
    assert stats_of(np.eye(T))["self"] == 1.0 and stats_of(np.eye(T))["prev"] == 0.0
    assert stats_of(following)["next"] == 5 / 6 and stats_of(following)["self"] == 1 / T
    assert math.isclose(stats_of(previous)["distance"], (T - 1) / T)


def test_a_small_hand_written_head_against_hand_worked_clark_statistics():
    # T = 4: [CLS] a , [SEP]. Each row's weights written out; Clark's statistics worked by hand below.
    attention = np.array([
        [0.7, 0.1, 0.1, 0.1],
        [0.5, 0.2, 0.2, 0.1],
        [0.1, 0.6, 0.2, 0.1],
        [0.0, 0.0, 0.5, 0.5],
    ])
    cls, sep, punct, punct_any = token_classes(["[CLS]", "a", ",", "[SEP]"], [True, False, False, True])
    stats = stats_of(attention, cls, sep, punct, punct_any)
    assert math.isclose(stats["prev"], (0.5 + 0.6 + 0.5) / 4)  # a[1,0] + a[2,1] + a[3,2], / T = 0.4
    assert math.isclose(stats["next"], (0.1 + 0.2 + 0.1) / 4)  # a[0,1] + a[1,2] + a[2,3], / T = 0.1
    assert math.isclose(stats["self"], (0.7 + 0.2 + 0.2 + 0.5) / 4)  # 0.4
    assert math.isclose(stats["cls"], (0.7 + 0.5 + 0.1 + 0.0) / 4)  # 0.325
    assert math.isclose(stats["sep"], (0.1 + 0.1 + 0.1 + 0.5) / 4)  # 0.2
    assert math.isclose(stats["punct"], (0.1 + 0.2 + 0.2 + 0.5) / 4)  # ',' column: 0.25
    smoothed = 0.9999 * attention + 0.0001 / 4
    assert math.isclose(stats["entropy"], float(np.mean(-(smoothed * np.log(smoothed)).sum(-1))), rel_tol=1e-12)


def test_a_one_token_text_has_zero_offset_mass_not_nan():
    stats = stats_of(np.ones((1, 1)), np.zeros(1, bool), np.zeros(1, bool), np.zeros(1, bool))
    assert stats["prev"] == 0.0 and stats["next"] == 0.0 and stats["self"] == 1.0


def test_mass_on_token_classes():
    tokens = ["[CLS]", "hello", ",", "world", "!?", "[SEP]"]
    special = [True, False, False, False, False, True]
    cls, sep, punct, punct_any = token_classes(tokens, special)
    assert cls.tolist() == [True, False, False, False, False, False]
    assert sep.tolist() == [False, False, False, False, False, True]
    assert punct.tolist() == [False, False, True, False, False, False]  # Clark: "." and "," only
    assert punct_any.tolist() == [False, False, True, False, True, False]  # every Unicode P* token
    attention = np.zeros((T, T))
    attention[:, 0] = 0.5  # half of every row on [CLS]
    attention[:, 2] = 0.2  # ","
    attention[:, 4] = 0.1  # "!?": punctuation, but not Clark's
    attention[:, 5] = 0.2
    stats = stats_of(attention, cls, sep, punct, punct_any)
    assert math.isclose(stats["cls"], 0.5) and math.isclose(stats["sep"], 0.2)
    assert math.isclose(stats["punct"], 0.2) and math.isclose(stats["punct_any"], 0.3)


def test_pairs_count_both_separators_and_subword_punctuation():
    cls, sep, punct, punct_any = token_classes(["[CLS]", "a", "[SEP]", "b", "##.", ";", "[SEP]"],
                                               [1, 0, 1, 0, 0, 0, 1])
    assert cls.sum() == 1 and sep.tolist() == [False, False, True, False, False, False, True]
    assert punct.tolist() == [False, False, False, False, True, False, False]
    assert punct_any.tolist() == [False, False, False, False, True, True, False]


def test_patterns_follow_clark_thresholds():
    rows = [
        dict(layer=0, head=0, entropy=0.5, cls=0.1, sep=0.1, punct=0.1, prev=0.72, self=0.1, next=0.0, distance=1.0),
        dict(layer=0, head=1, entropy=0.5, cls=0.61, sep=0.1, punct=0.0, prev=0.1, self=0.1, next=0.1, distance=3.0),
        dict(layer=0, head=2, entropy=2.2, cls=0.1, sep=0.1, punct=0.1, prev=0.1, self=0.1, next=0.1, distance=3.0),
        dict(layer=0, head=3, entropy=1.0, cls=0.1, sep=0.59, punct=0.1, prev=0.1, self=0.1, next=0.1, distance=3.0),
        # punct_any is not a rule: only Clark's punct places a punctuation head
        dict(layer=0, head=4, entropy=1.0, cls=0.1, sep=0.1, punct=0.2, punct_any=0.9, prev=0.1, self=0.1, next=0.1,
             distance=3.0),
    ]
    placed = head_patterns(pd.DataFrame(rows), n_tokens=10)  # broad above 0.8 · ln 10 = 1.84
    assert placed["pattern"].tolist() == ["previous token", "[CLS] sink", "broad", "mixed", "mixed"]
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
    smoothed = 0.9999 * a + 0.0001 / run.n_tokens
    assert math.isclose(row["entropy"], float(np.mean(-(smoothed * np.log(smoothed)).sum(-1))), rel_tol=1e-6)
    assert math.isclose(row["cls"], float(a[:, 0].mean()), rel_tol=1e-6)
    assert math.isclose(row["prev"], float(np.sum([a[i, i - 1] for i in range(1, run.n_tokens)])) / run.n_tokens,
                        rel_tol=1e-6)
    commas = [i for i, t in enumerate(run.tokens) if t in (".", ",")]
    assert math.isclose(row["punct"], float(a[:, commas].sum(-1).mean()), rel_tol=1e-6)
    assert (stats["entropy"] <= math.log(run.n_tokens) + 1e-9).all()
    placed = head_patterns(stats)  # T comes from the table's attrs
    assert set(placed["pattern"]) <= {"previous token", "next token", "self", "[CLS] sink", "[SEP] sink",
                                      "punctuation", "broad", "mixed"}
    assert (placed["pattern"] == "broad").any()  # MiniLM's first layer spreads widely


def test_clarks_next_statistic_keeps_layer_2_head_9_below_the_threshold():
    # Issue 17 §8: on this text layer 2 head 9 (from 1) has next = Σ a[i, i+1] / T = 0.475 (Clark's code);
    # dividing by the T − 1 rows that have a next token gave 0.543 and wrongly labelled it a next-token head.
    from encoder import load_model

    run = load_model().run("Dogs bark loudly at night.", qkv=False)
    placed = head_patterns(head_statistics(run))
    row = placed[(placed["layer"] == 1) & (placed["head"] == 8)].iloc[0]
    a = run.attentions[1, 8].astype(np.float64)
    assert math.isclose(row["next"], float(np.trace(a, offset=1)) / run.n_tokens, rel_tol=1e-9)
    assert round(row["next"], 3) == 0.475
    assert row["pattern"] != "next token" and "next = 0.47 < 0.5" in row["reason"]


def test_token_statistics_by_hand_and_their_means_are_the_head_statistics():
    """Issue 20 §2: the text can be shaded by a head statistic, token by token. Hand-computed on a
    3-token head: row 0 looks at itself, row 1 splits between 0 and 2, row 2 looks at 0."""
    from scipy.special import entr

    from encoder.analysis import token_statistic_arrays

    head = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    per_token = token_statistic_arrays(head[None, None])
    np.testing.assert_allclose(per_token["received"][0, 0], [2.5 / 3, 0.0, 0.5 / 3])
    np.testing.assert_allclose(per_token["distance"][0, 0], [0.0, 1.0, 2.0])
    smoothed = 0.9999 * head + 0.0001 / 3
    np.testing.assert_allclose(per_token["entropy"][0, 0], entr(smoothed).sum(axis=-1))
    assert per_token["entropy"][0, 0, 1] == pytest.approx(np.log(2), abs=1e-3)  # two keys, evenly
    masks = [np.zeros(3, dtype=bool)] * 3
    heads = head_statistic_arrays(head[None, None], *masks)
    assert heads["entropy"][0, 0] == pytest.approx(per_token["entropy"].mean())
    assert heads["distance"][0, 0] == pytest.approx(per_token["distance"].mean())
