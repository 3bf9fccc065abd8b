"""Attention figures: one head large, a layer's heads, every layer × head, and one token's row.

All take an `AttentionView` (encoder.attention_view), so hiding special tokens, merging subwords and
pair blocks apply to every figure alike.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from encoder.attention_view import MEAN_HEAD, AttentionView, head_average, head_name, head_or_mean

from .common import (
    CHART_CONFIG,
    DEFAULT_COLOR_SCALE,
    _rgb,
    axis_ticks,
    base_layout,
    code_fractions,
    downsample_mean,
    exact_heatmap,
    log_codes,
    matrix_layout,
    nearest_resize,
    plotly_text,
    png_data_uri,
)

GAP = 6  # pixels between thumbnails
HEADS_TILE_PX = 96  # a layer's heads, beside the main map
MEANS_TILE_PX = 96  # the layers' means
OVERVIEW_TILE_PX = 64  # every layer x head
MEANS_PER_ROW = 6  # layer means a row
LABEL_GAP = 24  # pixels between rows when every tile carries its own label
# Thumbnail pixels are log codes of weight / TILE_REFERENCE, the same for every colour choice, so a
# new colour scale or mode is only a new palette (the browser swaps it in the PNG, no redraw of the
# tiles): 0 is under LOG_FLOOR, 1..TILE_CODES span LOG_FLOOR..1 in log10, 255 is the background.
# The reference is 1, the most any attention weight can be (each row sums to 1), not each tile's
# own maximum: against its own maximum a broad head, whose weights are all about 1/T, was painted
# as bright as a head that puts everything on one token ("diffuse" read as "focused", issue 17 §4).
TILE_REFERENCE = 1.0
TILE_CODES = 254
BACKGROUND = 255
SELECTED = "#e4572e"  # outline of the selected thumbnail; stands out on every colour scale


@dataclass(frozen=True)
class ColorOptions:
    scale: str = DEFAULT_COLOR_SCALE
    log: bool = False

    @property
    def legend(self) -> str:
        """The colour bar's title: which mapping is in use, so a reader knows what shades mean."""
        return "log colour" if self.log else "linear colour"


@dataclass(frozen=True)
class Sizes:
    """Text and chart sizes: the desk defaults, or large ones for a projector."""

    tick: int = 12  # axis label font, px
    title: int = 15
    row_px: int = 22  # heatmap height per row, within [min_height, max_height]
    min_height: int = 380
    max_height: int = 900
    max_ticks: int = 48  # every token labelled up to here (the window takes over beyond: WINDOW_DEFAULT)
    thumb_label: int = 11  # thumbnails' names ("head 3", "L2"), px
    thumb_title: int = 15


NORMAL = Sizes()
# At 1920 x 1080 on a projector, 16 px is about the smallest label a class reads from the back.
PRESENTATION = Sizes(tick=17, title=22, row_px=34, min_height=640, max_height=1400, max_ticks=32, thumb_label=16,
                     thumb_title=20)
TEXT_COLOR = "#111111"  # labels in near-black: Streamlit's default grey washes out on a projector
TITLE_ROOM = 44  # px above the plot besides the title's own height: the colour bar sits there
# The heatmaps' modebar keeps four buttons (~110 px): on a heatmap, panning and zooming steps add nothing
# to a box zoom and a reset (titles have a row of their own under the bar: figures.common.base_layout).
HEATMAP_CONFIG = CHART_CONFIG | {"modeBarButtonsToRemove": ["pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}
SAVE_ONLY_CONFIG = CHART_CONFIG | {"modeBarButtons": [["toImage"]]}  # charts with nothing to zoom
THUMBNAIL_CONFIG = CHART_CONFIG | {"displayModeBar": False}  # images to click, nothing to zoom
TITLE_TOKEN_CHARS = 24  # a longer token is cut in a title (the axis and hover show it whole)
WINDOW_DEFAULT = 48  # tokens in the readable window around the followed token


def _readable(layout: dict, sizes: Sizes) -> dict:
    """Axis labels and title at the chosen sizes, in near-black."""
    for axis in ("xaxis", "yaxis"):
        if axis in layout:
            layout[axis]["tickfont"] = dict(size=sizes.tick, color=TEXT_COLOR)
            layout[axis]["title"]["font"] = dict(size=sizes.tick, color=TEXT_COLOR)
    layout["title"].update(font=dict(size=sizes.title, color=TEXT_COLOR))
    layout["margin"] = dict(l=10, r=10, t=TITLE_ROOM + sizes.title, b=10)
    return layout


def _legend(trace: go.Heatmap, colors: ColorOptions, sizes: Sizes) -> None:
    """A short horizontal colour bar above the map's top right corner, its title saying linear or
    log: beside the map it took ~70 px of width, which a 400 px screen cannot spare for labels."""
    font = dict(size=sizes.tick - 1, color=TEXT_COLOR)
    trace.colorbar.update(title=dict(text=colors.legend, side="top", font=font), tickfont=font, orientation="h",
                          x=1, xanchor="right", y=1, yanchor="bottom", yref="paper", len=0.3, thickness=8, ypad=2,
                          nticks=4)


# Titles the explorer also writes in the browser, for the view it shows (its packer sends these).
BLOCK_TITLE = " · block {block}"
WINDOW_TITLE = "Rows {row_from}–{row_to} × columns {col_from}–{col_to}"  # short: beside the map, 368 px on a projector
TOKEN_TITLE = "Attention from “{token}” (·{position}), layer {layer}"
HEADS_TITLE = "All heads of layer {layer}"


def head_title(layer: int, head: int, block: str = "all") -> str:
    """'Layer 3, head 7' (or the mean), naming the pair block when only one block is shown."""
    title = f"Layer {layer + 1}, {head_name(head)}"
    if block != "all":
        title += BLOCK_TITLE.format(block=block)
    return title


def head_matrix(view: AttentionView, layer: int, head: int) -> np.ndarray:
    """(Q, K): one head of the view, or for MEAN_HEAD the mean of the layer's heads."""
    return head_or_mean(view.weights, layer, head)


def head_heatmap(view: AttentionView, layer: int, head: int, colors: ColorOptions = ColorOptions(), *,
                 block: str = "all", b_start: int | None = None, sizes: Sizes = NORMAL) -> go.Figure:
    """One head (or, for head -1, the mean of the layer's heads) as an exact heatmap.

    Queries are rows, keys are columns. b_start: the first row/column of sentence B, marked by
    lines in the "all" view of a pair.
    """
    matrix = head_matrix(view, layer, head)  # (Q, K)
    trace = exact_heatmap(matrix, view.query_labels, view.key_labels, color_scale=colors.scale,
                          log=colors.log, zmax=float(matrix.max()))
    _legend(trace, colors, sizes)
    layout = matrix_layout(view.query_labels, view.key_labels, head_title(layer, head, block),
                           _matrix_height(len(matrix), sizes))
    # Upright key labels never overlap, however narrow the screen: each needs only a line's height.
    layout["xaxis"].update(axis_ticks(view.key_labels, sizes.max_ticks), tickangle=-90)
    layout["yaxis"].update(axis_ticks(view.query_labels, sizes.max_ticks))
    if b_start is not None and block == "all":
        layout["shapes"] = _sentence_b_lines(b_start, len(view.key_labels), len(view.query_labels))
    return go.Figure(trace, _readable(layout, sizes))


def window_heatmap(view: AttentionView, layer: int, head: int, rows: tuple[int, int], cols: tuple[int, int],
                   colors: ColorOptions = ColorOptions(), *, sizes: Sizes = NORMAL) -> go.Figure:
    """A span of the head's map with every token labelled: rows [start, stop) and columns [start, stop).

    Coloured against the window's own maximum, so its structure shows even when a few far
    cells (often [CLS] or [SEP]) hold most of the weight.
    """
    matrix = head_matrix(view, layer, head)[rows[0]:rows[1], cols[0]:cols[1]]  # (r, c)
    query_labels, key_labels = view.query_labels[rows[0]:rows[1]], view.key_labels[cols[0]:cols[1]]
    trace = exact_heatmap(matrix, query_labels, key_labels, color_scale=colors.scale, log=colors.log,
                          zmax=float(matrix.max()))
    _legend(trace, colors, sizes)
    # Category names must stay unique and tell the true row: number them from the window's start.
    trace.update(x=[f"{plotly_text(t)} ·{cols[0] + i}" for i, t in enumerate(key_labels)],
                 y=[f"{plotly_text(t)} ·{rows[0] + i}" for i, t in enumerate(query_labels)])
    title = WINDOW_TITLE.format(row_from=rows[0] + 1, row_to=rows[1], col_from=cols[0] + 1, col_to=cols[1])
    # Every label needs its own line: a row per label height plus spacing, however tall that makes it.
    layout = matrix_layout(query_labels, key_labels, title, 170 + (sizes.tick + 6) * len(matrix))
    for axis, names, labels in (("xaxis", trace.x, key_labels), ("yaxis", trace.y, query_labels)):
        layout[axis].update(tickvals=list(names), ticktext=[plotly_text(t) for t in labels])
    layout["xaxis"]["tickangle"] = -90
    return go.Figure(trace, _readable(layout, sizes))


SENTENCE_B_LINE = dict(color=SELECTED, width=2, dash="dot")


def _sentence_b_lines(b_start: int, n_cols: int, n_rows: int) -> list[dict]:
    """A vertical and a horizontal line between the last token of sentence A and the first of B."""
    style = SENTENCE_B_LINE
    return [dict(type="line", x0=b_start - 0.5, x1=b_start - 0.5, y0=-0.5, y1=n_rows - 0.5, line=style),
            dict(type="line", y0=b_start - 0.5, y1=b_start - 0.5, x0=-0.5, x1=n_cols - 0.5, line=style)]


def token_title(view: AttentionView, layer: int, query: int, position: int | None = None) -> str:
    """'Attention from “token” (·position), layer N': the token cut to TITLE_TOKEN_CHARS."""
    token = view.query_labels[query]
    token = token if len(token) <= TITLE_TOKEN_CHARS else token[:TITLE_TOKEN_CHARS - 1] + "…"
    return TOKEN_TITLE.format(token=token, position=query if position is None else position, layer=layer + 1)


def token_across_heads(view: AttentionView, layer: int, query: int, colors: ColorOptions = ColorOptions(), *,
                       position: int | None = None, sizes: Sizes = NORMAL) -> go.Figure:
    """Where one query token looks, in every head of a layer: heads are rows, keys columns.

    position: the token's position in the run (shown in the title; defaults to the row)."""
    rows = view.weights[layer, :, query, :]  # (H, K)
    heads = [f"head {h + 1}" for h in range(rows.shape[0])]
    trace = exact_heatmap(rows, heads, view.key_labels, color_scale=colors.scale, log=colors.log)
    trace.update(y=heads, hovertemplate="%{y} → %{x}<br>weight: %{z:.4f}<extra></extra>")  # heads are unique
    _legend(trace, colors, sizes)
    layout = matrix_layout(heads, view.key_labels, token_title(view, layer, query, position),
                           height=160 + int(26 * sizes.tick / 12) * len(heads), y_title="")
    layout["xaxis"].update(axis_ticks(view.key_labels, sizes.max_ticks), tickangle=-90)
    layout["yaxis"].update(tickvals=heads, ticktext=heads)
    return go.Figure(trace, _readable(layout, sizes))


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
    sizes: Sizes = NORMAL,
) -> go.Figure:
    """Many small attention maps as ONE image, with an invisible marker on each to click.

    matrices: (N, Q, K). Each is average-pooled to at most tile_px cells a side (the pattern
    survives, the bytes do not grow with T) and scaled up to tile_px with square pixels. Colours
    are the weight itself (TILE_REFERENCE = 1 brightest), so a broad head reads dim and a sharp
    one bright, at any length.
    selection_ids[i] is returned as the clicked point's customdata. display_width is the
    width in pixels the figure will probably get, used to size its height to the tiles.
    """
    n = len(matrices)
    canvas, row_gap = _tile_canvas(matrices, n_cols, tile_px, bool(row_titles), sizes)
    h = w = tile_px
    centers_x = [(i % n_cols) * (w + GAP) + w / 2 for i in range(n)]
    centers_y = [(i // n_cols) * (h + row_gap) + h / 2 for i in range(n)]
    image = go.Image(source=png_data_uri(canvas, tile_palette(colors.scale, colors.log)), hoverinfo="skip")
    targets = go.Scatter(
        x=centers_x, y=centers_y, mode="markers", customdata=[list(s) for s in selection_ids],
        marker=dict(size=max(w, h) * 0.9, symbol="square", opacity=0.01, color="white"),
        text=[plotly_text(t) for t in tile_titles], hovertemplate="%{text}<br>click to open<extra></extra>",
        showlegend=False,
    )
    def outline(i: int) -> dict:
        r, c = divmod(i, n_cols)
        return dict(type="rect", x0=c * (w + GAP) - 2.5, x1=c * (w + GAP) + w + 1.5, y0=r * (h + row_gap) - 2.5,
                    y1=r * (h + row_gap) + h + 1.5, line=dict(color=SELECTED, width=3))

    shapes = [] if selected is None else [outline(selected)]
    # Built as one list: add_annotation copies the whole list each call, quadratic in tiles.
    # With row titles (the overview) only the first row names its columns; otherwise every tile
    # is named. Built as one list: add_annotation copies the whole list each call.
    labelled = range(min(n_cols, n)) if row_titles else range(n)
    annotations = [
        dict(x=(i % n_cols) * (w + GAP) + w / 2, y=(i // n_cols) * (h + row_gap) - 4, showarrow=False,
             yanchor="bottom", font=dict(size=sizes.thumb_label, color=TEXT_COLOR),
             text=plotly_text(tile_titles[i].split(" ")[-1] if row_titles else tile_titles[i]))
        for i in labelled
    ] + [
        dict(x=-6, y=r * (h + row_gap) + h / 2, text=plotly_text(text), showarrow=False, xanchor="right",
             font=dict(size=sizes.thumb_label, color=TEXT_COLOR))
        for r, text in enumerate(row_titles or [])
    ]
    left = 3 * sizes.thumb_label + 7 if row_titles else 4  # room for "L6" at the label size
    width, height = canvas.shape[1] + left + 4, canvas.shape[0] + 28
    top = sizes.thumb_title + 25 if title else 8
    layout = base_layout(
        title, int(top + height * min(1.5, display_width / width)),
        shapes=shapes, annotations=annotations, plot_bgcolor="white",
        xaxis=dict(visible=False, range=[-left, canvas.shape[1] + 4]),
        # No fixed aspect ratio: the height is sized for `display_width`; on a narrower screen the
        # tiles grow taller rather than the image shrinking inside an empty band (bug 12).
        yaxis=dict(visible=False, range=[canvas.shape[0] + 4, -(sizes.thumb_label + 13)], scaleanchor=False),
        clickmode="event+select", dragmode=False,
        # Every tile's outline, for the browser-side explorer to move the selection without a rerun.
        # and the plot's extent in image pixels, for it to keep them square at any width.
        meta=dict(outlines=[outline(i) for i in range(n)],
                  span=[canvas.shape[1] + 4 + left, canvas.shape[0] + 4 + sizes.thumb_label + 13], top=top,
                  # how the tiles lie on the image, for the explorer to paint them itself (transform.js)
                  tiles=dict(px=tile_px, cols=n_cols, gap=GAP, row_gap=row_gap, count=n)),
    ) | dict(margin=dict(l=0, r=0, t=top, b=0))
    layout["title"]["font"] = dict(size=sizes.thumb_title, color=TEXT_COLOR)
    return go.Figure([image, targets], layout)


def _tile_canvas(matrices: np.ndarray, n_cols: int, tile_px: int, row_titles: bool, sizes: Sizes
                 ) -> tuple[np.ndarray, int]:
    """The tiles of `thumbnail_grid` on one canvas of codes, and the gap between its rows."""
    n = len(matrices)
    n_rows = -(-n // n_cols)
    # room above each row for the tiles' names (larger names need more)
    row_gap = GAP if row_titles else max(LABEL_GAP, sizes.thumb_label + 13)
    # every tile with its gaps (right, below), laid out by reshaping: (rows, cols, h + gap, w + GAP)
    cells = np.full((n_rows * n_cols, tile_px + row_gap, tile_px + GAP), BACKGROUND, dtype=np.uint8)
    cells[:n, :tile_px, :tile_px] = _tile(np.asarray(matrices), tile_px)  # (N, tile_px, tile_px)
    canvas = cells.reshape(n_rows, n_cols, tile_px + row_gap, tile_px + GAP).transpose(0, 2, 1, 3).reshape(
        n_rows * (tile_px + row_gap), n_cols * (tile_px + GAP))  # rows of tiles, side by side
    return np.ascontiguousarray(canvas[:-row_gap, :-GAP]), row_gap  # no gap after the last row and column


def _heads_columns(n_heads: int) -> int:
    return 4 if n_heads % 4 == 0 else min(n_heads, 6)


def means_image(means: np.ndarray, colors: ColorOptions = ColorOptions(), sizes: Sizes = NORMAL) -> str:
    """The image of `layer_means_grid` alone (a PNG data URI), from the layers' means (L, Q, K),
    maybe already pooled to MEANS_TILE_PX."""
    canvas, _ = _tile_canvas(means, min(len(means), MEANS_PER_ROW), MEANS_TILE_PX, False, sizes)
    return png_data_uri(canvas, tile_palette(colors.scale, colors.log))


def overview_grid_image(heads: np.ndarray, colors: ColorOptions = ColorOptions(), sizes: Sizes = NORMAL) -> str:
    """The image of `overview_grid` alone (a PNG data URI), from every head (L, H, Q, K), maybe
    already pooled to OVERVIEW_TILE_PX."""
    n_layers, n_heads = heads.shape[:2]
    canvas, _ = _tile_canvas(heads.reshape(n_layers * n_heads, *heads.shape[2:]), n_heads, OVERVIEW_TILE_PX, True,
                             sizes)
    return png_data_uri(canvas, tile_palette(colors.scale, colors.log))


def heads_title(layer: int) -> str:
    return HEADS_TITLE.format(layer=layer + 1)


def layer_heads_grid(view: AttentionView, layer: int, head: int, colors: ColorOptions = ColorOptions(),
                     sizes: Sizes = NORMAL) -> go.Figure:
    """Small multiples of every head in one layer; click one to open it."""
    n_heads = view.weights.shape[1]
    return thumbnail_grid(
        view.weights[layer], n_cols=_heads_columns(n_heads),
        tile_titles=[f"head {h + 1}" for h in range(n_heads)],
        selection_ids=[(layer, h) for h in range(n_heads)], tile_px=HEADS_TILE_PX, display_width=440,
        selected=None if head == MEAN_HEAD else head, colors=colors,
        title=heads_title(layer), sizes=sizes,
    )


def overview_grid(view: AttentionView, layer: int, head: int, colors: ColorOptions = ColorOptions(),
                  sizes: Sizes = NORMAL) -> go.Figure:
    """Every layer × head as thumbnails: layers are rows, heads columns."""
    n_layers, n_heads = view.weights.shape[:2]
    return thumbnail_grid(
        view.weights.reshape(n_layers * n_heads, *view.weights.shape[2:]), n_cols=n_heads,  # (L*H, Q, K)
        tile_titles=[f"layer {lay + 1}, head {h + 1}" for lay in range(n_layers) for h in range(n_heads)],
        selection_ids=[(lay, h) for lay in range(n_layers) for h in range(n_heads)],
        tile_px=OVERVIEW_TILE_PX, row_titles=[f"L{lay + 1}" for lay in range(n_layers)],
        selected=None if head == MEAN_HEAD else layer * n_heads + head, colors=colors,
        title="Every layer (rows) × head (columns)", display_width=900, sizes=sizes,
    )


def layer_means_grid(view: AttentionView, layer: int, head: int,
                     colors: ColorOptions = ColorOptions(), sizes: Sizes = NORMAL) -> go.Figure:
    """Head-averaged attention of every layer, side by side (rows of MEANS_PER_ROW for deep
    models: 30 layers in one row were 12 px tiles under overlapping names); click one to open it."""
    selected = layer if head == MEAN_HEAD else None
    means = head_average(view.weights)  # (L, Q, K)
    return thumbnail_grid(
        means, n_cols=min(len(means), MEANS_PER_ROW), tile_titles=[f"layer {lay + 1}" for lay in range(len(means))],
        selection_ids=[(lay, -1) for lay in range(len(means))], tile_px=MEANS_TILE_PX, display_width=440,
        selected=selected, colors=colors,
        title="Mean over heads, layer by layer", sizes=sizes,
    )


def _tile(matrices: np.ndarray, tile_px: int) -> np.ndarray:
    """(..., Q, K) -> (..., tile_px, tile_px) codes (see TILE_CODES), every matrix at once: pooled
    down, or blown up cell by cell, to fill the whole tile, each against TILE_REFERENCE. The
    colours are the palette's."""
    small = downsample_mean(matrices, tile_px)  # (..., <= tile_px, <= tile_px)
    return nearest_resize(log_codes(small, TILE_REFERENCE, TILE_CODES), tile_px)


@functools.lru_cache(maxsize=16)
def tile_palette(color_scale: str, log: bool) -> np.ndarray:
    """(256, 3) colours of the tile codes: in log colour, evenly along the scale; in linear colour,
    at each code's weight / max; white background."""
    positions = np.arange(TILE_CODES, dtype=np.float64) / (TILE_CODES - 1)  # along log10, LOG_FLOOR to 1
    shades = positions if log else code_fractions(TILE_CODES)[1:]
    colors = [(0, 0, 0)] * 256
    for code, color in enumerate(sample_colorscale(color_scale, [0.0, *shades.tolist()])):
        colors[code] = _rgb(color)
    colors[BACKGROUND] = (255, 255, 255)
    table = np.array(colors, dtype=np.uint8)
    table.setflags(write=False)
    return table


def _matrix_height(n_rows: int, sizes: Sizes = NORMAL) -> int:
    return int(min(sizes.max_height, max(sizes.min_height, 160 + sizes.row_px * n_rows)))
