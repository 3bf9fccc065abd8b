"""Known answers for the attention view options."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.attention_view import (
    attention_view,
    head_average,
    merge_groups,
    renormalize_rows,
    word_groups,
)
from figures.common import downsample_mean


def test_merge_groups_sums_to_and_averages_from():
    # 3 tokens; tokens 1 and 2 are one word.
    a = np.array([[0.5, 0.2, 0.3],
                  [0.1, 0.6, 0.3],
                  [0.2, 0.2, 0.6]])
    merged = merge_groups(a, [[0], [1, 2]], [[0], [1, 2]])
    expected = np.array([[0.5, 0.5],
                         [(0.1 + 0.2) / 2, (0.9 + 0.8) / 2]])
    np.testing.assert_allclose(merged, expected)
    np.testing.assert_allclose(merged.sum(-1), 1)


def test_word_groups_respect_segments_and_specials():
    word_ids = [None, 0, 0, 1, None, 0, 0, None]
    segments = [0, 0, 0, 0, 0, 1, 1, 1]
    assert word_groups(word_ids, segments, list(range(8))) == [[0], [1, 2], [3], [4], [5, 6], [7]]


def test_renormalize_rows_keeps_zero_rows():
    out = renormalize_rows(np.array([[1.0, 3.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [0, 0]])


def test_head_average():
    w = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(head_average(w)[1], w[1].mean(0))


def test_downsample_keeps_the_mean():
    m = np.random.default_rng(0).random((100, 70))
    small = downsample_mean(m, 16)
    assert small.shape == (16, 16)
    assert small.mean() == pytest.approx(m.mean(), rel=0.05)
    np.testing.assert_array_equal(downsample_mean(m[:10, :10], 16), m[:10, :10])  # small enough: unchanged
    blocks = np.array([[1.0, 3.0, 10.0, 20.0],
                       [5.0, 7.0, 30.0, 40.0],
                       [0.0, 0.0, 2.0, 2.0],
                       [0.0, 4.0, 2.0, 2.0]])
    np.testing.assert_allclose(downsample_mean(blocks, 2), [[4.0, 25.0], [1.0, 2.0]])  # each 2x2 block's mean


def test_default_view_is_the_run_itself(model):
    run = model.run("The cat sat on the mat.")
    view = attention_view(run)
    np.testing.assert_array_equal(view.weights, run.attentions)
    assert view.query_labels == run.tokens and view.key_labels == run.tokens


def test_hide_special_with_and_without_renormalising(model):
    run = model.run("The cat sat.")
    kept = [i for i, s in enumerate(run.special) if not s]
    raw = attention_view(run, hide_special=True, renormalize=False)
    np.testing.assert_array_equal(raw.weights, run.attentions[:, :, kept][:, :, :, kept])
    assert "[CLS]" not in raw.query_labels and "[SEP]" not in raw.key_labels
    renormed = attention_view(run, hide_special=True, renormalize=True)
    np.testing.assert_allclose(renormed.weights.sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(renormed.weights, raw.weights / raw.weights.sum(-1, keepdims=True), atol=1e-6)


def test_merge_subwords_labels_words_as_typed(model):
    run = model.run("Tokenization is unbelievable")
    view = attention_view(run, merge_subwords=True)
    assert view.query_labels == ["[CLS]", "Tokenization", "is", "unbelievable", "[SEP]"]
    np.testing.assert_allclose(view.weights.sum(-1), 1, atol=1e-5)
    pieces = view.query_positions[1]
    assert len(pieces) > 1
    np.testing.assert_allclose(view.weights[0, 0, 1, 0], run.attentions[0, 0, pieces, 0].mean(), atol=1e-6)


def test_pair_blocks(model):
    run = model.run("Where is it?", "Over there.")
    a = [i for i, s in enumerate(run.segment_ids) if s == 0]
    b = [i for i, s in enumerate(run.segment_ids) if s == 1]
    view = attention_view(run, block="A→B")
    np.testing.assert_array_equal(view.weights, run.attentions[:, :, a][:, :, :, b])
    assert view.weights.sum(-1).max() < 1  # a block shows its share, not renormalised
    total = sum(attention_view(run, block=blk).weights.sum(-1).sum() for blk in ("A→A", "A→B"))
    assert total == pytest.approx(run.attentions[:, :, a].sum(), rel=1e-5)

