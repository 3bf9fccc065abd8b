"""Known answers for the attention view options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoder.analysis import clearest_head, head_sharpness
from encoder.attention_view import (
    MEAN_HEAD,
    ViewOptions,
    attention_view,
    content_word_position,
    head_average,
    head_name,
    head_or_mean,
    kept_map,
    map_view,
    merge_groups,
    renormalize_rows,
    row_of_position,
    row_sum_ranges,
    score_view,
    segment_b_start,
    window_span,
    word_groups,
)
from encoder.unreadable import unreadable_spans
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



# ---------------------------------------------------------------- following a token, captions, defaults


def test_a_followed_token_keeps_its_identity_through_hide_and_merge(model):
    """Bug 2: "she" at position 7 stays "she" when [CLS] is hidden (its row moves to 6) or words merge."""
    run = model.run("Tokenization says she was unbelievable.")
    she = run.tokens.index("she")
    both = {"hide_special": True, "merge_subwords": True}
    for options in ({}, {"hide_special": True}, {"merge_subwords": True}, both):
        view = attention_view(run, **options)
        row = row_of_position(view.query_positions, she)
        assert view.query_labels[row] == "she", options
    assert row_of_position(attention_view(run, hide_special=True).query_positions, she) == she - 1
    assert row_of_position(attention_view(run, hide_special=True).query_positions, 0) is None  # [CLS] is hidden
    merged = attention_view(run, merge_subwords=True)
    assert merged.query_labels[row_of_position(merged.query_positions, 2)] == "Tokenization"  # a piece -> its word


def test_segment_b_start_and_row_sums(model):
    run = model.run("Where is it?", "Over there.")
    view = attention_view(run)
    start = segment_b_start(view.query_positions, run.segment_ids)
    assert run.segment_ids[start] == 1 and run.segment_ids[start - 1] == 0
    single = model.run("One sentence.")
    assert segment_b_start(attention_view(single).query_positions, single.segment_ids) is None
    low, high = row_sum_ranges(view.weights)[0, 0]
    assert low == pytest.approx(1, abs=1e-5) and high == pytest.approx(1, abs=1e-5)
    weights = attention_view(run, block="A→B").weights
    block = weights[0, 0]
    low, high = row_sum_ranges(weights)[0, 0]
    assert 0 < low <= high < 1
    np.testing.assert_allclose([low, high], [block.sum(-1).min(), block.sum(-1).max()], rtol=1e-6)


def test_window_span_stays_inside():
    assert window_span(512, 100, 48) == (76, 124)
    assert window_span(512, 3, 48) == (0, 48)
    assert window_span(512, 510, 48) == (464, 512)
    assert window_span(20, 10, 48) == (0, 20)


def test_clearest_head_skips_sinks():
    stats = pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1], "entropy": [0.1, 0.9, 0.5, 2.0],
                          "cls": [0.9, 0.1, 0.2, 0.0], "sep": [0.0, 0.1, 0.7, 0.0]})
    choice = clearest_head(stats)  # head (0, 0) is a [CLS] sink and (1, 0) a [SEP] sink
    assert (choice.layer, choice.head) == (0, 1)
    assert "layer 1, head 2" in choice.reason and "entropy" in choice.reason
    every_head_a_sink = stats.assign(cls=0.9)
    assert (clearest_head(every_head_a_sink).layer, clearest_head(every_head_a_sink).head) == (0, 0)


def test_content_word_is_followed(model):
    run = model.run("The animal didn't cross the street because it was too tired.")
    assert run.tokens[content_word_position(run.tokens, run.special, run.word_ids)] == "animal"
    run = model.run("it is so")  # no content word: the first readable token
    assert content_word_position(run.tokens, run.special, run.word_ids) == 1


# ---------------------------------------------------------------- [UNK]


@pytest.mark.parametrize("text,unknown", [
    ("I love 😀 pizza", "😀"),
    ("rare 䶵 character", "䶵"),
    ("a " + "x" * 20_000 + " word", "x" * 20_000),
], ids=["emoji", "cjk", "20000-character-word"])
def test_unknown_tokens_map_back_to_their_characters(model, text, unknown):
    """Bug 7: each [UNK] is traced to the exact characters the model could not read."""
    run = model.run(text)
    assert "[UNK]" in run.tokens
    spans = unreadable_spans(run.tokenized)
    assert [s.text for s in spans] == [unknown]
    assert text[spans[0].start:spans[0].end] == unknown
    line = spans[0].describe()
    assert len(line) < 120 and unknown[:10] in line


def test_unknown_tokens_in_the_second_sentence(model):
    run = model.run("Fine here.", "Not 😀 here")
    (span,) = unreadable_spans(run.tokenized)
    assert (span.segment, span.text, span.start) == (1, "😀", 4)
    assert "second sentence" in span.describe(pair=True)
    assert unreadable_spans(model.run("Plain words only.").tokenized) == []


def test_head_sharpness_equals_head_statistics_on_short_texts_and_estimates_long_ones(model):
    from encoder.analysis import head_statistics

    run = model.run("The animal didn't cross the street because it was too tired.")
    exact = head_statistics(run)
    quick = head_sharpness(run.attentions, run.special)
    for column in ("entropy", "cls", "sep"):
        np.testing.assert_allclose(quick[column], exact[column], rtol=1e-6, atol=1e-9)
    assert clearest_head(quick) == clearest_head(exact)
    long_run = model.run(" ".join(["The cat sat on the mat and looked at the dog."] * 12))  # 146 tokens
    estimate = head_sharpness(long_run.attentions, long_run.special)
    full = head_statistics(long_run)
    close = np.isclose(estimate["entropy"], full["entropy"], rtol=0.25, atol=0.05)
    assert close.mean() > 0.95  # an estimate from every 3rd row (a periodic text can alias a head or two)
    chosen, exact_choice = clearest_head(estimate), clearest_head(full)
    assert (chosen.layer, chosen.head) == (exact_choice.layer, exact_choice.head)


# ---------------------------------------------------------------- any map of a run, and per-token scores


def test_map_view_applies_the_options_to_any_map_as_to_attention(model):
    """Rollout, value-weighted shares, a layer's heads: the same transform as `attention_view`."""
    from encoder.analysis import rollout

    run = model.run("Tokenization is unbelievable, she said.")
    options = ViewOptions(hide_special=True, renormalize=True, merge_subwords=True)
    on_attention = attention_view(run, hide_special=True, renormalize=True, merge_subwords=True)
    np.testing.assert_array_equal(map_view(run, run.attentions, options).weights, on_attention.weights)
    layer = map_view(run, run.attentions[2], options)  # (H, Q, K): one layer's heads
    np.testing.assert_allclose(layer.weights, on_attention.weights[2], atol=1e-6)
    rolled = rollout(run.attentions)  # (L, T, T), rows of shares
    view = map_view(run, rolled, options)
    assert view.renormalized and view.query_labels == on_attention.query_labels
    np.testing.assert_allclose(view.weights.sum(-1), 1, atol=1e-5)
    kept = [i for i, s in enumerate(run.special) if not s]
    hidden = map_view(run, rolled, ViewOptions(hide_special=True))
    block = rolled[:, kept][:, :, kept]
    np.testing.assert_allclose(hidden.weights, block / block.sum(-1, keepdims=True), atol=1e-6)


def test_scores_that_are_not_shares_are_never_renormalised_and_pieces_are_averaged(model):
    """Q·K logits: hiding drops rows and columns, but rescaling a row of logits to sum to 1 means nothing,
    and neither does summing a word's pieces; the view says it did not renormalise."""
    run = model.run("Tokenization is fine")
    logits = np.random.default_rng(0).normal(size=(run.n_tokens, run.n_tokens)).astype(np.float32)
    kept = [i for i, s in enumerate(run.special) if not s]
    view = map_view(run, logits, ViewOptions(hide_special=True, renormalize=True), distribution=False)
    assert not view.renormalized
    np.testing.assert_array_equal(view.weights, logits[np.ix_(kept, kept)])
    merged = map_view(run, logits, ViewOptions(merge_subwords=True), distribution=False)
    pieces = merged.query_positions[1]
    assert len(pieces) > 1 and merged.query_labels[1] == "Tokenization"
    assert merged.weights[0, 1] == pytest.approx(logits[0, pieces].mean(), abs=1e-6)
    shares = map_view(run, run.attentions[0, 0], ViewOptions(hide_special=True, renormalize=True))
    assert shares.renormalized
    with pytest.raises(ValueError, match="token × token"):
        map_view(run, logits[:2], ViewOptions())


def test_score_view_sums_a_words_pieces_and_hides_specials(model):
    """Per-token attributions: a word's score is the sum of its pieces' (Clark et al. 2019 sum attention
    *to* a word), specials drop when hidden, and nothing is rescaled."""
    run = model.run("Tokenization is fine")
    scores = np.arange(run.n_tokens, dtype=float) + 1  # (T,)
    view = score_view(run, np.stack([scores, -scores]), ViewOptions(hide_special=True, merge_subwords=True))
    assert view.labels == ["Tokenization", "is", "fine"]
    pieces = view.positions[0]
    np.testing.assert_allclose(view.scores[0, 0], scores[pieces].sum())
    np.testing.assert_allclose(view.scores[1], -view.scores[0])
    assert score_view(run, scores).labels == run.tokenized.labels  # every token, as it was


def test_kept_map_renormalises_slot_maps_around_missing_words():
    maps = np.array([[0.5, 0.25, 0.25], [np.nan, np.nan, np.nan], [0.2, np.nan, 0.8]])
    kept = kept_map(maps, [1, 2], renormalize=True)
    assert np.isnan(kept[0]).all()  # a slot this text lacks stays missing
    assert np.isnan(kept[1, 0]) and kept[1, 1] == pytest.approx(1.0)
    np.testing.assert_allclose(kept_map(maps, [0, 2], renormalize=False), [[0.5, 0.25], [0.2, 0.8]])
    assert maps[0, 0] == 0.5  # the caller's array is untouched


def test_one_encoding_of_a_head_or_the_mean():
    maps = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(head_or_mean(maps, 1, 2), maps[1, 2])
    np.testing.assert_allclose(head_or_mean(maps, 1, MEAN_HEAD), maps[1].mean(axis=0))
    assert (head_name(0), head_name(MEAN_HEAD)) == ("head 1", "mean of all heads")


def test_a_causal_view_masks_cells_whose_every_key_comes_later():
    from encoder.compare import masked_attention

    weights = np.full((3, 3), 0.5, dtype=np.float32)
    # rows: token 0, the word of tokens 1-2, token 3; columns the same
    groups = [[0], [1, 2], [3]]
    shown = masked_attention(weights, True, groups, groups)
    assert np.isnan(shown[0, 1]) and np.isnan(shown[1, 2]) and np.isnan(shown[0, 2])
    assert not np.isnan(shown[1, 1]) and not np.isnan(shown[2, 1])  # a word sees its own first piece


@pytest.mark.parametrize("pair", [None, "Counterintuitively, photosynthesis isn't straightforward."])
def test_every_option_equals_a_cell_by_cell_reference_on_a_text_of_subwords(model, pair):
    """The views take kept tokens as slices and pool words in one pass (np.add.reduceat); a plain
    reference, cell by cell from the definitions (hide, renormalise over non-special keys, sum to a
    word, mean from a word), must give the same numbers for every option and block."""
    run = model.run("Unbelievably, antidisestablishmentarianism isn't hyperparameterization.", pair)
    weights = run.attentions[1].astype(np.float64)  # (H, T, T)
    specials = [p for p in range(run.n_tokens) if run.special[p]]
    for hide in (False, True):
        for renormalize in (False, True):
            for merge in (False, True):
                for block in (["all", "A→B", "B→A"] if pair else ["all"]):
                    options = ViewOptions(hide, renormalize, merge, block)
                    view = map_view(run, run.attentions[1], options)
                    expected = np.zeros((weights.shape[0], len(view.query_positions), len(view.key_positions)))
                    for r, rows in enumerate(view.query_positions):
                        for c, cols in enumerate(view.key_positions):
                            for q in rows:
                                cell = weights[:, q, cols].sum(axis=-1)
                                if hide and renormalize:
                                    cell = cell / (weights[:, q].sum(-1) - weights[:, q, specials].sum(-1))
                                expected[:, r, c] += cell / len(rows)
                    np.testing.assert_allclose(view.weights, expected, rtol=1e-5, atol=1e-6)
                    assert not np.shares_memory(view.weights, run.attentions) or not (hide and renormalize)
