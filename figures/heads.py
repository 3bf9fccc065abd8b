"""Figures of the Head patterns page: one layers × heads map per statistic (Clark et al. 2019) and a
gallery of thumbnails grouped by the pattern each head shows. Pure drawing: statistics and
patterns come from `encoder.analysis.head_statistics` / `head_patterns`.

Both figures put an invisible marker on every cell or tile, carrying (layer, head) as customdata,
so a click can open that head (Streamlit reports clicks on markers, not on images).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import (
    DEFAULT_COLOR_SCALE,
    base_layout,
    color_indices,
    layer_head_axes,
    layer_head_map,
    nearest_resize,
    palette,
    plotly_text,
    png_data_uri,
)
from .compose import compose

LEVELS = 255  # palette colours; index LEVELS is the white gap between tiles
MAPS_PER_ROW = 4  # statistic maps side by side, on the page and in the export
GALLERY_COLUMNS = 8  # at 1280 px wide a tile's column keeps about 100 px: its label fits
DISPLAY_WIDTH = 1000  # pixels the page gives a full-width chart between 1280 and 1600 wide: sets the height
TILE_PX = 72  # the largest tile; with importances, tiles shrink to MIN_TILE_FRACTION of it
MIN_TILE_FRACTION = 0.45
GAP_X, GAP_Y = 18, 44  # room between tiles, and for the two lines of label under each
TITLE_CHARS = 105  # a gallery title's line: what a 15 px bold title fits in about 820 px (1280 px wide)
LAYER_PX = 14  # a statistic map's height per layer: a line of its 10 px labels
LABEL_OVERHANG = 16  # a label wider than its tile (the broad rule's) reaches this far left of the first tile

# Each head statistic (encoder.analysis.STATISTICS) -> (chart title, colour-bar unit), for every page
# that maps a statistic over layers × heads (Head patterns, Corpus).
FOCUSED_WHEN_LOW = frozenset({"entropy"})  # statistics whose low values mean a focused head: drawn bright
STATISTIC_NAMES = {
    "entropy": ("Entropy of each row", "nats"),
    "cls": ("Mass on [CLS]", "share"),
    "sep": ("Mass on [SEP]", "share"),
    "first": ("Mass on the first token", "share"),
    "punct": ("Mass on . and , (Clark)", "share"),
    "punct_any": ("Mass on any punctuation (P*)", "share"),
    "prev": ("Mass on the previous token", "share"),
    "self": ("Mass on the token itself", "share"),
    "next": ("Mass on the next token", "share"),
    "distance": ("Mean distance looked", "tokens"),
}



def statistic_map(values: np.ndarray, name: str, unit: str = "", color_scale: str = DEFAULT_COLOR_SCALE,
                  low_is_bright: bool = False) -> go.Figure:
    """(L, H) values of one statistic: layers down, heads across; hover gives the number.

    Drawn small (four to a row), so the unit goes into the title and the colour bar stays thin.
    `low_is_bright` turns the colours round (for entropy: bright = low entropy = a focused head), so
    that on every map of the page a bright cell is a head with one job, never a diffuse one."""
    n_layers, n_heads = values.shape
    traces = layer_head_map(
        values, color_scale, 14, z_dtype=np.float32,
        heatmap=dict(hoverinfo="skip", reversescale=low_is_bright,
                     colorbar=dict(thickness=8, len=1.0, tickfont=dict(size=9), nticks=4)),
        targets=dict(text=[f"{v:.3f}" for v in values.ravel()],
                     hovertemplate=f"layer %{{y}}, head %{{x}}<br>{plotly_text(name)} = %{{text}} "
                                   f"{plotly_text(unit)}<br>click to open<extra></extra>"),
    )
    title = f"{name} ({unit})" if unit else name
    # A line per layer: SmolLM2's 30 layer labels overlapped in a 240 px map.
    layout = base_layout(title, max(240, 80 + LAYER_PX * n_layers), clickmode="event+select", dragmode=False,
                         plot_bgcolor="white",
                         **layer_head_axes(n_layers, n_heads))
    layout["xaxis"] |= dict(tickangle=0, tickfont=dict(size=9))  # drawn small, four to a row
    layout["yaxis"] |= dict(tickfont=dict(size=10))
    layout["title"]["font"] = dict(size=13)
    layout["margin"] = dict(l=6, r=6, t=34, b=6)
    return go.Figure(traces, layout)


def tile_sizes(n: int, importance: np.ndarray | None, largest: int = TILE_PX) -> np.ndarray:
    """Pixels per tile side: all `largest` without importances; otherwise the area follows importance.

    For a head-ablation ranking (Dodrio sizes BERT's heads the same way): importances (N,) in [0, 1]
    (scaled by the caller over every head, so tiles compare across groups) map linearly onto areas
    between MIN_TILE_FRACTION² and 1 of the largest.
    """
    if importance is None:
        return np.full(n, largest, dtype=int)
    scaled = np.clip(np.asarray(importance, dtype=np.float64), 0.0, 1.0)
    area = MIN_TILE_FRACTION ** 2 + (1 - MIN_TILE_FRACTION ** 2) * scaled
    return np.maximum(np.rint(largest * np.sqrt(area)), 8).astype(int)


def _tile(matrix: np.ndarray, size: int) -> np.ndarray:
    """(Q, K) -> (size, size) palette indices: each pixel the largest weight of its block of cells, on
    one scale from 0 to 1 for every tile.

    Against a tile's own maximum, a head spread over 512 tokens (every weight near 1/512) was painted
    as bright as a head with one weight of 1: "diffuse" read as "focused". Block means would instead
    dim a sharp head's diagonal to 1/7 at 512 tokens; block maxima keep it at its weight."""
    return nearest_resize(color_indices(block_max(np.asarray(matrix, dtype=np.float64), size), LEVELS, vmax=1.0),
                          size)


def block_max(matrix: np.ndarray, size: int) -> np.ndarray:
    """Max-pool the last two axes to at most (size, size): each cell the largest of its block."""
    rows, cols = matrix.shape[-2:]
    if rows <= size and cols <= size:
        return matrix
    row_edges = np.linspace(0, rows, min(rows, size) + 1).astype(int)[:-1]
    col_edges = np.linspace(0, cols, min(cols, size) + 1).astype(int)[:-1]
    return np.maximum.reduceat(np.maximum.reduceat(matrix, row_edges, axis=-2), col_edges, axis=-1)


def gallery(matrices: np.ndarray, heads: Sequence[tuple[int, int]], reasons: Sequence[str], title: str,
            importance: np.ndarray | None = None, n_cols: int = GALLERY_COLUMNS,
            color_scale: str = DEFAULT_COLOR_SCALE) -> go.Figure:
    """Thumbnails of some heads' attention (N, T, T) as ONE image, each labelled with its head and
    the reason (threshold) that placed it, and clickable.

    `heads` are 0-based (layer, head); `importance` (N,), when given, sizes the tiles (see `tile_sizes`).
    """
    n = len(matrices)
    n_cols = max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    sizes = tile_sizes(n, importance)
    cell_w, cell_h = TILE_PX + GAP_X, TILE_PX + GAP_Y
    canvas = np.full((n_rows * cell_h, n_cols * cell_w), LEVELS, dtype=np.uint8)
    centers_x, centers_y, annotations = [], [], []
    for i, (matrix, size) in enumerate(zip(matrices, sizes, strict=True)):
        r, c = divmod(i, n_cols)
        y0 = r * cell_h + (TILE_PX - size) // 2
        x0 = c * cell_w + (TILE_PX - size) // 2
        canvas[y0: y0 + size, x0: x0 + size] = _tile(matrix, size)
        centers_x.append(c * cell_w + TILE_PX / 2)
        centers_y.append(r * cell_h + TILE_PX / 2)
        layer, head = heads[i]
        annotations.append(dict(
            x=c * cell_w + TILE_PX / 2, y=r * cell_h + TILE_PX + 2, yanchor="top", showarrow=False,
            text=f"<b>L{layer + 1} H{head + 1}</b><br>{plotly_text(_short(reasons[i]))}", font=dict(size=10),
        ))
    image = go.Image(source=png_data_uri(canvas, palette(color_scale, LEVELS)), hoverinfo="skip")
    targets = go.Scatter(
        x=centers_x, y=centers_y, mode="markers", customdata=[list(h) for h in heads],
        marker=dict(size=TILE_PX * 0.8, symbol="square", opacity=0.01, color="white"),
        text=[f"layer {lay + 1}, head {h + 1}<br>{plotly_text(reason)}" for (lay, h), reason in zip(heads, reasons,
                                                                                                   strict=True)],
        hovertemplate="%{text}<br>click to open<extra></extra>", showlegend=False,
    )
    width, height = canvas.shape[1], canvas.shape[0]
    full_width = max(width, GALLERY_COLUMNS * cell_w)
    lines = textwrap.wrap(title, TITLE_CHARS) or [""]  # a pattern's rule can be longer than the page is wide
    top = 14 + 20 * len(lines)
    layout = base_layout(title, top + int(height * DISPLAY_WIDTH / full_width), annotations=annotations,
                         plot_bgcolor="white", clickmode="event+select", dragmode=False,
                         xaxis=dict(visible=False, range=[-LABEL_OVERHANG, full_width]),
                         # On a page narrower than DISPLAY_WIDTH the tiles shrink: the room they leave
                         # goes under them, not between the title and the tiles.
                         yaxis=dict(visible=False, range=[height, -4], scaleanchor="x", constrain="domain",
                                    constraintoward="top"))
    layout["title"]["text"] = "<br>".join(plotly_text(line) for line in lines)
    layout["margin"] = dict(l=0, r=0, t=top, b=0)
    return go.Figure([image, targets], layout)


def _short(reason: str) -> str:
    """A reason from `head_patterns` in a thumbnail's width: 'prev 0.98 ≥ 0.5', 'entropy 2.51 ≥ 2.22'
    (the broad rule's bound, BROAD_FRACTION · ln T, worked out), 'cls 0.20 < 0.6' (mixed: the nearest miss)."""
    if "highest: " in reason:
        reason = reason.split("highest: ")[-1].rstrip(")")
    elif reason.startswith("entropy") and " = " in reason:
        parts = reason.split(" = ")  # ['entropy', '2.51 ≥ 0.8 · ln 16', '2.22']
        return f"entropy {parts[1].split(' ')[0]} ≥ {parts[-1]}"
    elif reason.startswith("no statistic"):
        return "no threshold met"
    return reason.replace(" = ", " ")


def page_figure(statistic_maps: Sequence[go.Figure], galleries: Sequence[go.Figure], title: str) -> go.Figure:
    """The page's figures as one, for its export: the statistic maps four to a row, then each
    pattern's gallery across the width, every label as on the page."""
    rows = [list(statistic_maps[i:i + MAPS_PER_ROW]) for i in range(0, len(statistic_maps), MAPS_PER_ROW)]
    if rows and len(rows[-1]) < MAPS_PER_ROW:
        rows[-1] += [None] * (MAPS_PER_ROW - len(rows[-1]))  # a short last row keeps the maps' width
    return compose(rows + [[gallery] for gallery in galleries], title)
