"""Attention figures: one head large, a layer's heads, every layer × head, and one token's row.

All take an `AttentionView` (encoder.attention_view), so hiding special tokens, merging subwords and
pair blocks apply to every figure alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from encoder.attention_view import AttentionView, head_average

from .common import (
    DEFAULT_COLOR_SCALE,
    base_layout,
    color_indices,
    downsample_mean,
    exact_heatmap,
    matrix_layout,
    palette,
    plotly_text,
    png_data_uri,
)

GAP = 6  # pixels between thumbnails
LABEL_GAP = 20  # pixels between rows when every tile carries its own label
LEVELS = 255  # colours per thumbnail palette; index 255 is the white background
BACKGROUND = LEVELS
SELECTED = "#e4572e"  # outline of the selected thumbnail; stands out on every colour scale


@dataclass(frozen=True)
class ColorOptions:
    scale: str = DEFAULT_COLOR_SCALE
    log: bool = False


def head_heatmap(view: AttentionView, layer: int, head: int, colors: ColorOptions = ColorOptions()) -> go.Figure:
    """One head (or, for head -1, the mean of the layer's heads) as an exact heatmap.

    Queries are rows, keys are columns.
    """
    if head < 0:
        matrix, title = head_average(view.weights[layer: layer + 1])[0], f"Layer {layer + 1}, mean of all heads"
    else:
        matrix, title = view.weights[layer, head], f"Layer {layer + 1}, head {head + 1}"  # (Q, K)
    trace = exact_heatmap(matrix, view.query_labels, view.key_labels, color_scale=colors.scale,
                          log=colors.log, zmax=float(matrix.max()))
    return go.Figure(trace, matrix_layout(view.query_labels, view.key_labels, title, _matrix_height(len(matrix))))


def token_across_heads(view: AttentionView, layer: int, query: int,
                       colors: ColorOptions = ColorOptions()) -> go.Figure:
    """Where one query token looks, in every head of a layer: heads are rows, keys columns."""
    rows = view.weights[layer, :, query, :]  # (H, K)
    heads = [f"head {h + 1}" for h in range(rows.shape[0])]
    trace = exact_heatmap(rows, heads, view.key_labels, color_scale=colors.scale, log=colors.log)
    trace.update(y=heads, hovertemplate="%{y} → %{x}<br>weight: %{z:.4f}<extra></extra>")  # heads are unique
    token = view.query_labels[query]
    layout = matrix_layout(heads, view.key_labels, f"Attention from “{token}” (·{query}), layer {layer + 1}",
                           height=160 + 26 * len(heads), y_title="")
    layout["yaxis"].update(tickvals=heads, ticktext=heads)
    return go.Figure(trace, layout)


def thumbnail_grid(
    matrices: np.ndarray,
    n_cols: int,
    tile_titles: Sequence[str],
    selection_ids: Sequence[Sequence[int]],
    *,
    tile_px: int = 64,
    row_titles: Sequence[str] | None = None,
    selected: int | None = None,
    colors: ColorOptions = ColorOptions(),
    title: str = "",
    display_width: int = 1100,
) -> go.Figure:
    """Many small attention maps as ONE image, with an invisible marker on each to click.

    matrices: (N, Q, K). Each is average-pooled to at most tile_px cells a side (the pattern
    survives, the bytes do not grow with T) and scaled up to tile_px with square pixels. Each
    tile is coloured against its own maximum so weak heads still show their pattern.
    selection_ids[i] is returned as the clicked point's customdata. display_width is the
    width in pixels the figure will probably get, used to size its height to the tiles.
    """
    n = len(matrices)
    n_rows = -(-n // n_cols)
    tiles = [_tile(m, tile_px, colors) for m in matrices]
    h, w = tiles[0].shape
    row_gap = GAP if row_titles else LABEL_GAP  # room above each row for the tiles' names
    canvas = np.full((n_rows * (h + row_gap) - row_gap, n_cols * (w + GAP) - GAP), BACKGROUND, dtype=np.uint8)
    centers_x, centers_y = [], []
    for i, tile in enumerate(tiles):
        r, c = divmod(i, n_cols)
        y0, x0 = r * (h + row_gap), c * (w + GAP)
        canvas[y0: y0 + h, x0: x0 + w] = tile
        centers_x.append(x0 + w / 2)
        centers_y.append(y0 + h / 2)
    image = go.Image(source=png_data_uri(canvas, palette(colors.scale, LEVELS)), hoverinfo="skip")
    targets = go.Scatter(
        x=centers_x, y=centers_y, mode="markers", customdata=[list(s) for s in selection_ids],
        marker=dict(size=max(w, h) * 0.9, symbol="square", opacity=0.01, color="white"),
        text=[plotly_text(t) for t in tile_titles], hovertemplate="%{text}<br>click to open<extra></extra>",
        showlegend=False,
    )
    shapes = []
    if selected is not None:
        r, c = divmod(selected, n_cols)
        shapes.append(dict(type="rect", x0=c * (w + GAP) - 2.5, x1=c * (w + GAP) + w + 1.5, y0=r * (h + row_gap) - 2.5,
                           y1=r * (h + row_gap) + h + 1.5, line=dict(color=SELECTED, width=3)))
    # Built as one list: add_annotation copies the whole list each call, quadratic in tiles.
    # With row titles (the overview) only the first row names its columns; otherwise every tile
    # is named. Built as one list: add_annotation copies the whole list each call.
    labelled = range(min(n_cols, n)) if row_titles else range(n)
    annotations = [
        dict(x=(i % n_cols) * (w + GAP) + w / 2, y=(i // n_cols) * (h + row_gap) - 4, showarrow=False,
             yanchor="bottom", font=dict(size=11),
             text=plotly_text(tile_titles[i].split(",")[-1].strip() if row_titles else tile_titles[i]))
        for i in labelled
    ] + [
        dict(x=-6, y=r * (h + row_gap) + h / 2, text=plotly_text(text), showarrow=False, xanchor="right",
             font=dict(size=11))
        for r, text in enumerate(row_titles or [])
    ]
    left = 70 if row_titles else 4
    width, height = canvas.shape[1] + left + 4, canvas.shape[0] + 28
    top = 40 if title else 8
    layout = base_layout(
        title, int(top + height * min(1.5, display_width / width)),
        shapes=shapes, annotations=annotations, plot_bgcolor="white",
        xaxis=dict(visible=False, range=[-left, canvas.shape[1] + 4]),
        yaxis=dict(visible=False, range=[canvas.shape[0] + 4, -24], scaleanchor="x"),
        clickmode="event+select", dragmode=False,
    ) | dict(margin=dict(l=0, r=0, t=top, b=0))
    return go.Figure([image, targets], layout)


def layer_heads_grid(view: AttentionView, layer: int, head: int, colors: ColorOptions = ColorOptions()) -> go.Figure:
    """Small multiples of every head in one layer; click one to open it."""
    n_heads = view.weights.shape[1]
    return thumbnail_grid(
        view.weights[layer], n_cols=4 if n_heads % 4 == 0 else min(n_heads, 6),
        tile_titles=[f"head {h + 1}" for h in range(n_heads)],
        selection_ids=[(layer, h) for h in range(n_heads)], tile_px=96, display_width=440,
        selected=None if head < 0 else head, colors=colors,
        title=f"All heads of layer {layer + 1}",
    )


def overview_grid(view: AttentionView, layer: int, head: int, colors: ColorOptions = ColorOptions()) -> go.Figure:
    """Every layer × head as thumbnails: layers are rows, heads columns."""
    n_layers, n_heads = view.weights.shape[:2]
    return thumbnail_grid(
        view.weights.reshape(n_layers * n_heads, *view.weights.shape[2:]), n_cols=n_heads,  # (L*H, Q, K)
        tile_titles=[f"layer {lay + 1}, head {h + 1}" for lay in range(n_layers) for h in range(n_heads)],
        selection_ids=[(lay, h) for lay in range(n_layers) for h in range(n_heads)],
        tile_px=64, row_titles=[f"layer {lay + 1}" for lay in range(n_layers)],
        selected=None if head < 0 else layer * n_heads + head, colors=colors,
        title="Every layer and head (click one to open it)",
    )


def layer_means_grid(view: AttentionView, layer: int, head: int,
                     colors: ColorOptions = ColorOptions()) -> go.Figure:
    """Head-averaged attention of every layer, side by side; click one to open it."""
    selected = layer if head < 0 else None
    means = head_average(view.weights)  # (L, Q, K)
    return thumbnail_grid(
        means, n_cols=len(means), tile_titles=[f"layer {lay + 1}" for lay in range(len(means))],
        selection_ids=[(lay, -1) for lay in range(len(means))], tile_px=96, display_width=440,
        selected=selected, colors=colors,
        title="Mean over heads, layer by layer",
    )


def _tile(matrix: np.ndarray, tile_px: int, colors: ColorOptions) -> np.ndarray:
    """(Q, K) -> (tile_px, tile_px) palette indices: pooled down, or blown up cell by cell, to
    fill the whole tile (nearest neighbour, so cells stay crisp)."""
    small = downsample_mean(matrix, tile_px)  # (<= tile_px, <= tile_px)
    indices = color_indices(small, LEVELS, colors.log, vmax=float(small.max()) or 1.0)
    rows = np.arange(tile_px) * indices.shape[0] // tile_px  # (tile_px,) source row per pixel row
    cols = np.arange(tile_px) * indices.shape[1] // tile_px
    return indices[np.ix_(rows, cols)]  # (tile_px, tile_px)


def _matrix_height(n_rows: int) -> int:
    return int(min(900, max(380, 160 + 22 * n_rows)))
