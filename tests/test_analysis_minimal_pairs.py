"""Minimal pairs: word-level alignment of two runs and the heads that change most."""

from __future__ import annotations

import numpy as np

from encoder.analysis import minimal_pair
from encoder.analysis.minimal_pairs import align_words, run_words


def test_alignment_pairs_equal_words_and_one_for_one_replacements():
    slots = align_words(["the", "cat", "sat", "down"], ["The", "black", "cat", "lay", "down"])
    assert slots == [(0, 0), (None, 1), (1, 2), (2, 3), (3, 4)]
    assert align_words(["a", "b"], ["x", "y", "z"]) == [(0, None), (1, None), (None, 0), (None, 1), (None, 2)]


def test_trophy_pair(model):
    big = model.run("The trophy didn't fit in the suitcase because it was too big.")
    small = model.run("The trophy didn't fit in the suitcase because it was too small.")
    pair = minimal_pair(big, small)
    assert "big → small" in pair.labels and pair.labels[0] == "[CLS]" and pair.paired.all()
    _, attention = run_words(big)
    np.testing.assert_allclose(pair.attention_a, attention)  # every word has a partner
    np.testing.assert_allclose(pair.attention_a.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pair.difference, pair.attention_b - pair.attention_a)
    changes = pair.head_changes
    assert list(changes.columns) == ["layer", "head", "js"] and len(changes) == 72
    assert changes["js"].is_monotonic_decreasing and changes["js"].iloc[0] > 0


def test_an_inserted_word_has_no_partner(model):
    pair = minimal_pair(model.run("The cat sat."), model.run("The black cat sat."))
    assert pair.labels == ["[CLS]", "the", "∅ → black", "cat", "sat", ".", "[SEP]"]
    assert np.isnan(pair.attention_a[:, :, 2]).all() and np.isnan(pair.attention_a[:, :, :, 2]).all()
    assert not np.isnan(pair.attention_b).any()
    assert np.isnan(pair.difference[0, 0, 2]).all() and not np.isnan(pair.difference[0, 0, 1, 3])


def test_the_same_text_changes_nothing(model):
    run = model.run("Nothing changes here.")
    pair = minimal_pair(run, run)
    np.testing.assert_array_equal(pair.difference, 0.0)
    np.testing.assert_allclose(pair.head_changes["js"], 0.0, atol=1e-6)
