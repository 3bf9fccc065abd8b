"""A view's thumbnails pooled straight from the attention (encoder.view_tiles) equal the view built
and then pooled (map_view, then downsample_mean), for every view option, on the bundled model."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from bench.forward import text_of_length
from encoder.attention_view import PAIR_BLOCKS, ViewOptions, kept_positions, map_view
from encoder.view_tiles import view_tiles
from figures.common import downsample_mean


def _views(run):
    blocks = PAIR_BLOCKS if run.is_pair else ("all",)
    for hide, renormalize, merge, block in itertools.product((False, True), (False, True), (False, True), blocks):
        options = ViewOptions(hide, renormalize, merge, block)
        try:
            kept_positions(run, options)
        except ValueError:
            continue
        yield options


@pytest.fixture(scope="module")
def runs(model):
    # Words of several pieces ("unbelievably", "tokenizers"), a pair whose blocks cut the map, and a
    # text long enough that every tile pools many rows and columns.
    return [model.run("Tokenizers split unbelievably long words.", "Doesn't it, unbelievably?"),
            model.run(text_of_length(model, 300, prefix="unbelievably tokenizers ")),
            model.run(text_of_length(model, 120, prefix="unbelievably "), text_of_length(model, 90))]


@pytest.mark.parametrize("sizes", [(64, 96), (4, 7), (1, 1)])
def test_view_tiles_equal_the_view_pooled(runs, sizes):
    head_size, mean_size = sizes
    checked = 0
    for run in runs:
        for options in _views(run):
            view = map_view(run, run.attentions, options).weights  # (L, H, Q', K')
            tiles, mean = view_tiles(run, run.attentions, options, head_size, mean_size)
            expected, expected_mean = downsample_mean(view, head_size), downsample_mean(view.mean(axis=1), mean_size)
            assert tiles.shape == expected.shape and mean.shape == expected_mean.shape, options
            np.testing.assert_allclose(tiles, expected, rtol=2e-5, atol=1e-7 * view.max(), err_msg=str(options))
            np.testing.assert_allclose(mean, expected_mean, rtol=2e-5, atol=1e-7 * view.max(), err_msg=str(options))
            checked += 1
    assert checked == 40 + 8 + 40  # every option of each run: a pair's five blocks, a text's one


def test_view_tiles_say_when_nothing_is_left():
    only_special = SimpleNamespace(n_tokens=2, is_pair=False, special=[True, True])  # [CLS] [SEP]
    with pytest.raises(ValueError, match="Nothing is left"):
        view_tiles(only_special, np.full((1, 1, 2, 2), 0.5, np.float32), ViewOptions(hide_special=True), 64, 96)
