"""A view's thumbnails, pooled straight from the captured attention, without building the view.

The explorer's layer means and overview show every layer of a long text as small tiles: the view
(`map_view`: hidden tokens dropped, rows renormalised, subwords merged, a pair's block) average-
pooled to a few dozen cells a side (`figures.common.downsample_mean`). Building each layer's view
first copies it several times over (12 heads x 512 x 512 at a time); at 512 tokens with hidden
tokens and merged words, six layers took about 0.4 s of a new text's first view in the server.

Every step of that path is linear in a head's attention A (T x T), given its rows' renormalising
factors S (the diagonal of 1 / each row's sum over the ordinary tokens), so the tiles are one
product per head,

    tiles = L S A R,   and a layer's mean   L' (mean over heads of S A) R'

L (tiles' rows x T) averages the tile row's view rows, each a word's mean over its pieces; R (T x
tiles' columns) averages the tile column's view columns, each a word's sum over its pieces (Clark et
al. 2019, section 4.1). Positions the view leaves out (hidden tokens, the other sentence of a pair's
block) have no weight in either. Equal to
`downsample_mean(map_view(...).weights, size)` up to float32 rounding (tests/test_view_tiles.py).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .attention_view import ViewOptions, groups_of, kept_positions, row_scales
from .run import Run


def view_tiles(run: Run, attentions: np.ndarray, options: ViewOptions, head_size: int, mean_size: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """The (L, H, T, T) attention of `run` -> the view `options` makes of each head, pooled to at
    most (head_size, head_size) as `downsample_mean` pools it, (L, H, R, C); and each layer's mean
    over its heads, pooled to at most (mean_size, mean_size), (L, R', C'). A layer at a time: no
    copy of the attention is made. ValueError when the view keeps nothing (`kept_positions`)."""
    queries, keys = kept_positions(run, options)
    query_groups = groups_of(run, queries, options.merge_subwords)
    key_groups = groups_of(run, keys, options.merge_subwords)
    n_tokens = run.n_tokens
    head_rows, mean_rows = _pooling(query_groups, head_size, n_tokens), _pooling(query_groups, mean_size, n_tokens)
    head_cols = _pooling(key_groups, head_size, n_tokens, sum_pieces=True).T  # (T, C)
    mean_cols = _pooling(key_groups, mean_size, n_tokens, sum_pieces=True).T
    heads_tiles, mean_tiles = [], []
    # One BLAS thread: the server's cores are shared (other sessions; Chromium, where the benchmarks run
    # it beside the server). With the other core busy, two threads took 70 ms for six 512-token layers
    # and 135 ms of CPU, spinning while they waited for each other; one took 54 ms and 61 ms of CPU.
    with threadpool_limits(limits=1, user_api="blas"):
        for heads in attentions:  # (H, T, T)
            if options.renormalizes:
                scales = row_scales(run, heads)[..., 0]  # (H, T): each head's rows' own factors
                rows = head_rows * scales[:, None, :]  # (H, R, T)
                mean = np.einsum("ht,htk->tk", scales, heads) / len(heads)  # (T, T): the renormalised heads' mean
            else:
                rows, mean = head_rows, heads.mean(axis=0)
            heads_tiles.append(rows @ heads @ head_cols)  # (H, R, C)
            mean_tiles.append(mean_rows @ mean @ mean_cols)  # (R', C')
    return np.stack(heads_tiles), np.stack(mean_tiles)


def _pooling(groups: list[list[int]], size: int, n_tokens: int, sum_pieces: bool = False) -> np.ndarray:
    """(tiles, T) float32: each tile the mean of its groups (a view's rows or columns), a group the
    mean of its token positions, or with `sum_pieces` their sum. The tiles' edges are
    `downsample_mean`'s, np.linspace over the groups, so a view no larger than `size` keeps one
    group a tile."""
    n = len(groups)
    edges = np.linspace(0, n, min(n, size) + 1).astype(int)
    per_tile = np.diff(edges)  # groups in each tile
    lengths = np.array([len(group) for group in groups])
    tile_of_group = np.repeat(np.arange(len(per_tile)), per_tile)
    weight_of_group = 1.0 / (per_tile[tile_of_group] * (1 if sum_pieces else lengths))
    matrix = np.zeros((len(per_tile), n_tokens), np.float32)
    matrix[np.repeat(tile_of_group, lengths), np.concatenate(groups)] = np.repeat(weight_of_group, lengths)
    return matrix
