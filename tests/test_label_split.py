"""The label split: per-label means, a planted difference found by the permutation test and a null split not,
the CSV reader's caps and refusals, the command line, and the Ray paths equal to the single process."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy.stats import permutation_test

from encoder.analysis import STATISTICS
from encoder.corpus import build_context_index, read_sentences
from encoder.corpus.__main__ import main
from encoder.corpus.label_split import (
    MAX_LABEL_CHARS,
    LabelSplit,
    compare_labels,
    label_means,
    read_labelled,
    split_by_label,
)

SHORT = ["Yes.", "No way.", "Fine.", "Thanks!", "Go home.", "Stop.", "Hello there.", "Why?", "Sure.", "Wait.",
         "Sit down.", "Good night."]


def synthetic(planted: float, n: int = 40, seed: int = 1) -> LabelSplit:
    """Random statistics for n sentences in two labels; `planted` added to one head's entropy for label a."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, len(STATISTICS), 2, 3)).astype(np.float32)
    labels = tuple("a" if i % 2 else "b" for i in range(n))
    values[np.array(labels) == "a", STATISTICS.index("entropy"), 1, 2] += planted
    return LabelSplit(values, labels, ())


def test_a_planted_difference_is_marked_and_nothing_else():
    frame = compare_labels(synthetic(planted=2.0), "a", "b", permutations=500)
    marked = frame[frame["significant"]]
    assert list(zip(marked["statistic"], marked["layer"], marked["head"], strict=True)) == [("entropy", 1, 2)]
    assert marked["p_value"].iloc[0] == pytest.approx(1 / 501)  # no shuffle reached it
    assert marked["difference"].iloc[0] == pytest.approx(2.0, abs=0.8)
    assert frame.attrs["n_a"] == frame.attrs["n_b"] == 20


def test_a_null_split_marks_nothing():
    frame = compare_labels(synthetic(planted=0.0), "a", "b", permutations=500)
    assert not frame["significant"].any()
    assert frame["q_value"].min() > 0.05
    assert 0.2 < frame["p_value"].mean() < 0.8  # p-values of a null spread over (0, 1]


def test_p_values_agree_with_scipys_permutation_test():
    split = synthetic(planted=1.0, n=30)
    frame = compare_labels(split, "a", "b", permutations=2000, seed=3)
    labels = np.array(split.labels)
    cell = split.values[:, STATISTICS.index("entropy"), 1, 2].astype(np.float64)
    # Two-sided as here: the absolute difference, large in one direction ("greater").
    expected = permutation_test((cell[labels == "a"], cell[labels == "b"]), lambda x, y: abs(x.mean() - y.mean()),
                                n_resamples=2000, alternative="greater", rng=7).pvalue
    assert 0.0005 < expected < 0.5  # a p-value the two estimates can disagree on
    row = frame[(frame["statistic"] == "entropy") & (frame["layer"] == 1) & (frame["head"] == 2)]
    assert row["p_value"].iloc[0] == pytest.approx(expected, abs=0.035)


def test_a_difference_in_the_text_is_found_by_the_model(model):
    long = list(read_sentences("assets/corpus.txt").texts[40:52])
    split = split_by_label(model, SHORT + long, ["short"] * len(SHORT) + ["long"] * len(long))
    assert split.counts == {"long": 12, "short": 12}
    means = label_means(split)
    assert set(means["label"]) == {"short", "long"} and len(means) == 2 * 72
    frame = compare_labels(split, "long", "short", permutations=300)
    entropy = frame[frame["statistic"] == "entropy"]
    # Longer rows spread over more keys: most heads' entropy differs, and every marked one is higher.
    assert entropy["significant"].sum() >= 36
    assert (entropy.loc[entropy["significant"], "difference"] > 0).all()
    # The same sentences split at random: no marked difference.
    shuffled = LabelSplit(split.values, tuple(np.random.default_rng(0).permutation(split.labels)), ())
    assert compare_labels(shuffled, "long", "short", permutations=300)["significant"].sum() <= 3


def test_the_reader_keeps_the_caps_and_says_what_is_missing():
    text = "text,label\nA fine sentence.,pos\n,neg\nNo label here.,\n" + "x" * 3000 + ",neg\nOne more.," + \
           "L" * 200 + "\n"
    labelled = read_labelled(io.BytesIO(text.encode()), "LABEL")
    assert labelled.labels[0] == "pos" and len(labelled.texts[1]) == 2000 and len(labelled.labels[2]) == MAX_LABEL_CHARS
    assert labelled.skipped == {"empty text": 1, "no label": 1}
    assert labelled.rows == (2, 5, 6)
    assert len(read_labelled(io.BytesIO(text.encode()), "label", max_rows=1).texts) == 1
    with pytest.raises(ValueError, match="no column named 'stars'"):
        read_labelled(io.BytesIO(text.encode()), "stars")


def test_the_command_line_writes_both_tables(tmp_path):
    source = tmp_path / "labelled.csv"
    long = list(read_sentences("assets/corpus.txt").texts[40:46])
    pd.DataFrame({"sentence": SHORT[:6] + long, "kind": ["short"] * 6 + ["long"] * 6}).to_csv(source, index=False)
    out = tmp_path / "by-label.csv"
    assert main([str(source), "--out", str(out), "--label-column", "kind", "--permutations", "100"]) == 0
    means, differences = pd.read_csv(out), pd.read_csv(tmp_path / "by-label-differences.csv")
    assert set(means["label"]) == {"short", "long"}
    assert len(differences) == len(STATISTICS) * 72 and differences["significant"].dtype == bool
    assert main([str(source), "--out", str(out), "--label-column", "nothing"]) == 2


def test_ray_paths_equal_the_single_process(model):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-scale.txt")
    from encoder.corpus import nearest_contexts
    from encoder.corpus.ray_engine import ray_session
    from encoder.corpus.ray_index import ray_build_context_index, ray_split_by_label

    texts = [*SHORT[:6], "\x00\x01", *read_sentences("assets/corpus.txt").texts[:6]]
    labels = ["a", "b"] * 6 + ["a"]
    with ray_session(None, 1):  # one actor, one model load per path: the test checks the arithmetic, not speed
        assert ray.is_initialized()
        by_ray = ray_build_context_index(texts, layers=[3], batch_size=4, workers=1)
        split = ray_split_by_label(texts, labels, batch_size=4, workers=1)
    single = build_context_index(model, texts, layers=[3])
    assert by_ray.skipped == single.skipped and [s for s, _ in single.skipped] == [6]
    np.testing.assert_array_equal(by_ray.positions, single.positions)
    rows = np.arange(single.n_tokens)
    for mode, layer in (("hidden", 3), ("attention", 2)):
        np.testing.assert_allclose(by_ray.vectors(mode, layer, rows), single.vectors(mode, layer, rows), atol=2e-3)
    pd.testing.assert_frame_equal(nearest_contexts(by_ray, 8, 2, 3, k=5), nearest_contexts(single, 8, 2, 3, k=5),
                                  atol=2e-3)
    local = split_by_label(model, texts, labels)
    assert split.labels == local.labels and split.skipped == local.skipped == ((7, split.skipped[0][1]),)
    np.testing.assert_allclose(split.values, local.values, atol=1e-5)
