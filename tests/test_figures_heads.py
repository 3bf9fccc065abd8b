"""figures.heads: gallery thumbnails on one weight scale (issue 17 §4: a diffuse head must not look hot),
and the page's figures composed for its export."""

from __future__ import annotations

import numpy as np

from figures.heads import LEVELS, TILE_PX, _tile, block_max


def test_a_diffuse_head_stays_dark_and_a_sharp_one_bright_at_512_tokens():
    tokens = 512
    uniform = np.full((tokens, tokens), 1 / tokens)
    previous = np.eye(tokens, k=-1)
    previous[0, 0] = 1.0
    diffuse, sharp = _tile(uniform, TILE_PX), _tile(previous, TILE_PX)
    assert diffuse.shape == sharp.shape == (TILE_PX, TILE_PX)
    assert diffuse.max() <= 1  # 1/512 on the 0..1 scale: the palette's darkest colours
    assert sharp.max() == LEVELS - 1  # the diagonal keeps its weight of 1
    assert (np.diag(sharp) == LEVELS - 1).mean() > 0.9


def test_block_max_keeps_each_blocks_largest_weight():
    matrix = np.zeros((10, 10))
    matrix[3, 7] = 0.8
    pooled = block_max(matrix, 5)
    assert pooled.shape == (5, 5) and pooled[1, 3] == 0.8 and pooled.sum() == 0.8
    assert block_max(matrix[:4, :4], 5).shape == (4, 4)  # already small: kept as it is


def test_entropy_maps_draw_focused_heads_bright():
    from figures.heads import FOCUSED_WHEN_LOW, statistic_map

    values = np.array([[0.1, 3.0]])
    assert "entropy" in FOCUSED_WHEN_LOW
    assert statistic_map(values, "Entropy", "nats", low_is_bright=True).data[0].reversescale is True
    assert not statistic_map(values, "Mass on [CLS]", "share").data[0].reversescale
