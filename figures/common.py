"""Building blocks shared by every figure: safe labels, exact heatmaps and image heatmaps.

Two ways to draw a matrix:
- `exact_heatmap`: a go.Heatmap whose z is the float32 matrix itself (Plotly sends it as a
  base64 typed array, 4 bytes a cell), with hover "query → key: weight". Used for the views
  people read numbers from.
- a palette PNG (`color_indices` + `palette` + `png_data_uri`, or `signed_image` for -1..1
  values): the matrix colour-mapped here and sent as one image. Used for thumbnails, grids and
  large matrices, where thousands of cells would otherwise cost megabytes.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import get_colorscale, sample_colorscale

# Cividis was designed to read the same with red-green colour blindness (Nuñez et al. 2018).
COLOR_SCALES = ("Cividis", "Viridis", "Magma", "Blues", "Greys")
DEFAULT_COLOR_SCALE = "Cividis"
LOG_FLOOR = 1e-3  # log colour spans three decades: weights below 0.001 share the darkest colour
FONT = dict(family="Inter, 'Noto Sans', 'Noto Sans CJK SC', 'Noto Color Emoji', sans-serif", size=12)


def plotly_text(text: str) -> str:
    """Text shown literally: Plotly reads a subset of HTML in labels, so escape it."""
    return html.escape(text, quote=False)


def position_labels(labels: Sequence[str]) -> list[str]:
    """Unique category names 'token ·i' so that equal tokens never merge into one row."""
    return [f"{plotly_text(label)} ·{i}" for i, label in enumerate(labels)]


def tick_step(n: int, max_ticks: int = 64) -> int:
    return max(1, -(-n // max_ticks))


def axis_ticks(labels: Sequence[str], max_ticks: int = 64) -> dict:
    """Axis settings: one tick per token, labelled with the token (every k-th when crowded)."""
    names = position_labels(labels)
    step = tick_step(len(labels), max_ticks)
    return dict(
        type="category",
        tickmode="array",
        tickvals=names[::step],
        ticktext=[plotly_text(label) for label in labels[::step]],
        showgrid=False,
        automargin=True,
    )


def colorscale(name: str, log: bool = False) -> list[list]:
    """A Plotly colourscale; with log=True its stops are spaced so colour follows log10(weight).

    The data stay exact (hover shows true weights): only where colours sit along [0, max] moves.
    Colours are written as rgb(): Streamlit's frontend takes a few near-black hex colours
    ("#000001" to "#00000f") for theme placeholders and swaps them, so Magma's first stop,
    "#000004", used to arrive as pink.
    """
    if not log:
        return [[float(stop), "rgb({}, {}, {})".format(*_rgb(color))] for stop, color in get_colorscale(name)]
    fractions = np.concatenate([[0.0], np.geomspace(LOG_FLOOR, 1.0, 24)])  # weight / max
    shades = np.clip((np.log10(np.maximum(fractions, LOG_FLOOR)) - np.log10(LOG_FLOOR))
                     / -np.log10(LOG_FLOOR), 0, 1)
    colors = sample_colorscale(name, shades.tolist())
    return [[float(f), c] for f, c in zip(fractions, colors, strict=True)]


def scale_top(top: float, empty: float = 1.0) -> float:
    """The top of a colour scale that starts at 0: `top`, or `empty` where nothing lies above 0
    (every head intact, a blank map). A 0…1e-9 scale would label its colour bar "0" and "1n"."""
    return float(top) if np.isfinite(top) and top > 0 else empty


def exact_heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    color_scale: str = DEFAULT_COLOR_SCALE,
    log: bool = False,
    zmax: float | None = None,
    row_title: str = "query",
    col_title: str = "key",
    value_name: str = "weight",
    showscale: bool = True,
) -> go.Heatmap:
    """A heatmap trace holding `matrix` exactly (float32), rows top to bottom."""
    zmax = float(np.max(matrix)) if zmax is None else zmax
    return go.Heatmap(
        z=np.asarray(matrix, dtype=np.float32),
        x=position_labels(col_labels),
        y=position_labels(row_labels),
        zmin=0.0,
        zmax=scale_top(zmax),
        colorscale=colorscale(color_scale, log),
        showscale=showscale,
        colorbar=dict(thickness=12, len=0.8, title=dict(text=value_name, side="right")),
        hovertemplate=f"{row_title} %{{y}} → {col_title} %{{x}}<br>{value_name}: %{{z:.4f}}<extra></extra>",
    )


# Plotly's modebar floats over a figure's top right corner (in Streamlit ~26 px tall, 2 px from the top), as
# wide as ~260 px: in a 400 px column it covered the title. Titles start below it, in a row of their own,
# and a second row under the title is left to what sits on the plot's top edge (subplot titles,
# legends, colour bars), which used to share the title's row.
MODEBAR_ROW = 36  # Streamlit's modebar is ~26 px tall from 2 px; a title's box starts ~4 px above its pad
TOP_MARGIN = 76  # px above the plot: the modebar's row, the title's, and one for the plot's top edge


def base_layout(title: str, height: int, **extra) -> dict:
    """What every figure's layout shares: an escaped title on the left, below the modebar's row, the
    app's font, tight margins; `extra` adds or overrides keys.

    The title hangs MODEBAR_ROW px under the figure's top edge, and its automargin lowers the plot
    when a figure's own top margin leaves it no room (a projector's larger font, a tight small multiple)."""
    return dict(title=dict(text=plotly_text(title), x=0, y=1, yref="container", yanchor="top",
                           pad=dict(t=MODEBAR_ROW), automargin=True, font=dict(size=15)),
                height=height, font=FONT, margin=dict(l=10, r=10, t=TOP_MARGIN, b=10), **extra)


def layer_head_map(values: np.ndarray, color_scale: str, cell_px: float, z_dtype: type = np.float64, *,
                   heatmap: dict, targets: dict) -> list[go.BaseTraceType]:
    """An (L, H) map's traces on 1-based axes (heads across, layers down): a heatmap coloured over
    the finite values, and over it one invisible square marker per cell with the cell's 0-based
    [layer, head] as customdata, which takes the click (Streamlit reports clicks on markers, not
    on heatmap cells). `heatmap` and `targets` add each figure's own colour bar and hover."""
    n_layers, n_heads = values.shape
    heads, layers = np.meshgrid(np.arange(n_heads), np.arange(n_layers))  # (L, H) each
    finite = values[np.isfinite(values)]
    return [
        go.Heatmap(z=np.asarray(values, dtype=z_dtype), x=np.arange(1, n_heads + 1), y=np.arange(1, n_layers + 1),
                   zmin=float(finite.min()) if finite.size else 0.0, zmax=float(finite.max()) if finite.size else 1.0,
                   colorscale=colorscale(color_scale), **heatmap),
        go.Scatter(x=(heads + 1).ravel(), y=(layers + 1).ravel(), mode="markers", showlegend=False,
                   customdata=np.stack([layers.ravel(), heads.ravel()], axis=1).tolist(),
                   marker=dict(size=cell_px, symbol="square", opacity=0.01, color="white"), **targets),
    ]


def layer_head_axes(n_layers: int, n_heads: int) -> dict:
    """The axes of an (L, H) map drawn by `layer_head_map`: heads across (every other one named past
    12), layers down as L1, L2, ..., numbered from 1 as on screen, no grid."""
    return dict(
        xaxis=dict(title=dict(text="head", standoff=4), showgrid=False, zeroline=False, range=[0.5, n_heads + 0.5],
                   tickvals=list(range(1, n_heads + 1, 1 if n_heads <= 12 else 2))),
        yaxis=dict(range=[n_layers + 0.5, 0.5], showgrid=False, zeroline=False, tickvals=list(range(1, n_layers + 1)),
                   ticktext=[f"L{layer}" for layer in range(1, n_layers + 1)]))


# Plotly's modebar for st.plotly_chart(config=...): no logo, and a sharp PNG for slides.
# The camera button saves a PNG at 3x the chart's size (a 700 px chart prints 7 in wide at 300 dpi);
# in an exported HTML file it saves an SVG, which prints at any size.
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 3}}
PRINT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg"}}
PROJECTOR_PX = 16  # presentation mode: no text smaller than this, on any chart


def for_projector(fig: go.Figure, min_px: int = PROJECTOR_PX) -> go.Figure:
    """A copy of `fig` whose every text is at least `min_px` (titles `min_px` + 4), for a projector.

    Sizes set explicitly anywhere (axis ticks, legends, colour bars, annotations) are raised too;
    text that inherits the layout's font follows it."""
    out = go.Figure(fig)
    raise_to = lambda size, floor=min_px: max(size or 0, floor)
    out.update_layout(font_size=raise_to(out.layout.font.size), legend_font_size=raise_to(out.layout.legend.font.size))
    if out.layout.title.text:
        out.update_layout(title_font_size=raise_to(out.layout.title.font.size, min_px + 4))
    out.for_each_xaxis(lambda axis: axis.update(tickfont_size=raise_to(axis.tickfont.size),
                                                title_font_size=raise_to(axis.title.font.size)))
    out.for_each_yaxis(lambda axis: axis.update(tickfont_size=raise_to(axis.tickfont.size),
                                                title_font_size=raise_to(axis.title.font.size)))
    for annotation in out.layout.annotations:
        annotation.font.size = raise_to(annotation.font.size)
    for trace in out.data:
        if getattr(trace, "colorbar", None) is not None and "colorbar" in trace:
            trace.colorbar.tickfont.size = raise_to(trace.colorbar.tickfont.size)
    return out


def matrix_layout(row_labels: Sequence[str], col_labels: Sequence[str], title: str, height: int = 560,
                  x_title: str = "key", y_title: str = "query") -> dict:
    """Layout for a token matrix: token-labelled axes, queries top to bottom.

    A plain dict handed to go.Figure once: every update_* call on a figure re-validates paths,
    which made up most of a page's server time.
    """
    return base_layout(
        title, height,
        xaxis=dict(axis_ticks(col_labels), title=dict(text=x_title), tickangle=-60),
        yaxis=dict(axis_ticks(row_labels), title=dict(text=y_title), autorange="reversed"),
    )


def color_indices(matrix: np.ndarray, levels: int = 255, log: bool = False, vmin: float = 0.0,
                  vmax: float | None = None) -> np.ndarray:
    """(R, C) values -> (R, C) uint8 indices 0..levels-1 into a palette from `palette()`."""
    m = np.asarray(matrix, dtype=np.float64)
    vmax = float(np.max(m)) if vmax is None else vmax
    if log:  # vmin is 0 for attention: colour follows log10(weight / max) over LOG_FLOOR..1
        scaled = (np.log10(np.maximum(m / max(vmax, 1e-12), LOG_FLOOR)) - np.log10(LOG_FLOOR)) / -np.log10(
            LOG_FLOOR)
    else:
        scaled = (m - vmin) / max(vmax - vmin, 1e-12)
    return np.clip(np.rint(scaled * (levels - 1)), 0, levels - 1).astype(np.uint8)


@functools.lru_cache(maxsize=32)
def palette(color_scale: str, levels: int = 255, background: tuple[int, int, int] | None = (255, 255, 255)
            ) -> np.ndarray:
    """(levels [+ 1], 3) uint8 colours sampled evenly from a Plotly colour scale; the optional
    background colour comes last, at index `levels` (gaps between thumbnails use it)."""
    colors = [_rgb(c) for c in sample_colorscale(color_scale, np.linspace(0, 1, levels).tolist())]
    if background is not None:
        colors.append(background)
    table = np.array(colors, dtype=np.uint8)
    table.setflags(write=False)
    return table


def png_data_uri(indices: np.ndarray, colors: np.ndarray) -> str:
    """A palette PNG (one byte a pixel, a third of RGB) of (R, C) indices into (N <= 256, 3) colours."""
    image = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), mode="P")
    image.putpalette(colors.reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=3)  # ~5% larger than level 6, 2-3x faster
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def colorbar_trace(color_scale: str, log: bool, vmax: float, title: str = "weight",
                   vmin: float = 0.0) -> go.Scatter:
    """An invisible trace that only draws a colour bar, for figures made of images."""
    return go.Scatter(
        x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False,
        marker=dict(colorscale=colorscale(color_scale, log), cmin=vmin, cmax=vmax, color=[0],
                    showscale=True, colorbar=dict(thickness=12, len=0.8, title=dict(text=title, side="right"))),
    )


DECADES = -np.log10(LOG_FLOOR)  # 3: the log colour scale's range, LOG_FLOOR..1


def log_codes(values: np.ndarray, vmax: np.ndarray | float, levels: int) -> np.ndarray:
    """values / vmax as uint8 codes along log10 over the log colour scale's range: 0 under
    LOG_FLOOR, 1..levels from LOG_FLOOR to 1. Every colour either scale can show stays apart, so
    one set of codes serves linear and log colour (`code_fractions` reads them back)."""
    # In place, in the dtypes the plain expression (log10(ratio) / DECADES + 1) * (levels - 1) has, so
    # the codes are the same: a layer of 12 x 512 x 512 allocated about ten full-size temporaries.
    ratio = values / vmax
    below = ratio < LOG_FLOOR
    with np.errstate(divide="ignore"):
        steps = np.divide(np.log10(ratio, out=ratio), DECADES)  # float64, DECADES being a numpy scalar
    steps += 1
    steps *= levels - 1
    np.rint(steps, out=steps)
    steps += 1
    np.minimum(steps, levels, out=steps)
    np.maximum(steps, 1, out=steps)
    codes = steps.astype(np.uint8)
    codes[below] = 0
    return codes


def code_fractions(levels: int) -> np.ndarray:
    """(levels + 1,) the value / vmax each code of `log_codes` stands for: 0, then
    10^(DECADES x ((c - 1) / (levels - 1) - 1)) for c = 1..levels."""
    steps = np.arange(levels, dtype=np.float64) / (levels - 1)  # position along log10, 0..1
    return np.concatenate([[0.0], 10 ** (DECADES * (steps - 1))])


def nearest_resize(matrix: np.ndarray, size: int) -> np.ndarray:
    """(..., R, C) -> (..., size, size) by repeating cells (nearest neighbour), so cells stay crisp."""
    rows = np.arange(size) * matrix.shape[-2] // size  # (size,) source row of each pixel row
    cols = np.arange(size) * matrix.shape[-1] // size
    return matrix[..., rows[:, None], cols[None, :]]


def downsample_mean(matrix: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last two axes to at most (size, size), for thumbnails of long texts.

    Each output cell is the mean of a block of cells, so a thumbnail keeps the overall
    pattern (and its mean) of the full matrix.
    """
    rows, cols = matrix.shape[-2:]
    if rows <= size and cols <= size:
        return matrix
    r_edges = np.linspace(0, rows, min(rows, size) + 1).astype(int)
    c_edges = np.linspace(0, cols, min(cols, size) + 1).astype(int)
    row_pooled = np.add.reduceat(matrix, r_edges[:-1], axis=-2) / np.diff(r_edges)[:, None]
    return np.add.reduceat(row_pooled, c_edges[:-1], axis=-1) / np.diff(c_edges)


SIGNED_COLOR_SCALE = "RdBu_r"  # diverging, white at 0: blue for -1, red for +1 (ColorBrewer, CVD-safe)
SIGNED_LEVELS = 64  # steps of 2/63 ≈ 0.03 are finer than the eye separates on this scale


def signed_image(matrix: np.ndarray, value_name: str, hovertemplate: str) -> list[go.BaseTraceType]:
    """A -1..1 matrix (cosines, sinusoids) as one palette PNG plus a -1..1 colour bar.

    For a noisy 512 x 512 matrix RGB would be about 800 KB; 64 colours make about 175 KB.
    Cell (r, c) sits at x = c, y = r.
    """
    indices = color_indices(np.clip(matrix, -1.0, 1.0), SIGNED_LEVELS, vmin=-1.0, vmax=1.0)  # (R, C)
    image = go.Image(source=png_data_uri(indices, palette(SIGNED_COLOR_SCALE, SIGNED_LEVELS, background=None)),
                     x0=0, y0=0, dx=1, dy=1, hovertemplate=hovertemplate)
    return [image, colorbar_trace(SIGNED_COLOR_SCALE, False, 1.0, title=value_name, vmin=-1.0)]


def figure_bytes(fig: go.Figure) -> int:
    """Size of the figure as Streamlit sends it (Plotly JSON), in bytes."""
    return len(fig.to_json(validate=False).encode("utf-8"))


def _rgb(color: str) -> tuple[int, int, int]:
    """'rgb(r, g, b)' or '#rrggbb' -> (r, g, b)."""
    color = color.strip()
    if color.startswith("#"):
        return tuple(int(color[i: i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    parts = color[color.index("(") + 1: color.index(")")].split(",")
    return tuple(round(float(p)) for p in parts[:3])  # type: ignore[return-value]


# ---------------------------------------------------------------- long texts: a window, top keys, names
# At 512 tokens a whole token × token map is ~1.5 px a cell: labels every 8th token, a map that reads as
# blank. The pages that draw such maps show a labelled window or a few top keys instead, with the
# whole map as an unlabelled overview beside it.

WINDOW_TOKENS = 48  # the Attention page's readable window: every label fits at 1280 px wide
OVERVIEW_PX = 380  # the whole map's overview, in px: a shape, not labels


def token_name(label: str, position: int | None = None) -> str:
    """A token named in a sentence: its text quoted, so a comma reads “,” and never merges with the
    sentence's own punctuation; with its position "“like” ·179" when given."""
    name = f"“{label}”"
    return name if position is None else f"{name} ·{position}"


def window_names(labels: Sequence[str], start: int) -> list[str]:
    """Unique category names of a span of tokens, numbered by their true positions ('it ·213')."""
    return [f"{plotly_text(label)} ·{start + i}" for i, label in enumerate(labels)]


def labelled_axis(names: Sequence[str], labels: Sequence[str], title: str, tickangle: int = 0) -> dict:
    """A category axis with every token labelled by its text (the position stays in the hover)."""
    return dict(type="category", tickmode="array", tickvals=list(names), ticktext=[plotly_text(t) for t in labels],
                showgrid=False, automargin=True, tickangle=tickangle, title=dict(text=plotly_text(title)))


def window_height(n_rows: int) -> int:
    """A labelled map's height: a line of text per row, plus room for the title and the key labels."""
    return int(max(360, 190 + 18 * n_rows))


def top_positions(rows: np.ndarray, k: int, keep: Sequence[int] = ()) -> np.ndarray:
    """Sorted positions (C,) that are among the k largest of any row of `rows` (R, T), plus `keep`:
    the columns a top-k view draws, in text order so that neighbours stay neighbours."""
    rows = np.atleast_2d(np.nan_to_num(np.asarray(rows, dtype=np.float64), nan=-np.inf))
    k = max(1, min(int(k), rows.shape[-1]))
    top = np.argsort(-rows, axis=-1, kind="stable")[:, :k]
    return np.union1d(top.ravel(), np.asarray(list(keep), dtype=int)).astype(int)


def overview_image(matrix: np.ndarray, title: str, *, window: tuple[tuple[int, int], tuple[int, int]] | None = None,
                   color_scale: str = DEFAULT_COLOR_SCALE, log: bool = False, value_name: str = "weight",
                   signed: bool = False) -> go.Figure:
    """The whole (R, C) map as one palette image (a few KB where an exact heatmap of 512 tokens is
    1.4 MB), with the readable window outlined: where the labelled view sits in the text.

    NaN cells take the background colour. signed: a -bound..bound diverging map, white at 0."""
    m = np.asarray(matrix, dtype=np.float64)
    finite = m[np.isfinite(m)]
    if signed:
        bound = float(np.max(np.abs(finite))) if finite.size else 1.0
        bound = bound or 1.0
        indices = color_indices(np.nan_to_num(m), 255, vmin=-bound, vmax=bound)
        colors = palette(SIGNED_COLOR_SCALE, 255)
        bar = colorbar_trace(SIGNED_COLOR_SCALE, False, bound, title=value_name, vmin=-bound)
    else:
        vmax = float(finite.max()) if finite.size else 1.0
        indices = color_indices(np.nan_to_num(m), 255, log=log, vmax=scale_top(vmax))
        colors = palette(color_scale, 255)
        bar = colorbar_trace(color_scale, log, scale_top(vmax), title=value_name)
    indices = np.where(np.isfinite(m), indices, 255).astype(np.uint8)  # 255: the palette's background
    n_rows, n_cols = m.shape
    image = go.Image(source=png_data_uri(indices, colors), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip")
    shapes = []
    if window is not None:
        (r0, r1), (c0, c1) = window
        shapes.append(dict(type="rect", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5,
                           line=dict(color="#e4572e", width=2)))
    bar.marker.colorbar.update(thickness=10, len=0.6)
    layout = base_layout(title, OVERVIEW_PX, shapes=shapes,
                         xaxis=dict(range=[-0.5, n_cols - 0.5], showgrid=False, zeroline=False,
                                    title=dict(text=f"column, 0–{n_cols - 1}")),
                         yaxis=dict(range=[n_rows - 0.5, -0.5], showgrid=False, zeroline=False, scaleanchor="x",
                                    title=dict(text=f"row, 0–{n_rows - 1}")))
    return go.Figure([image, bar], layout)


def colorbar_on_top(trace: go.Heatmap) -> None:
    """A short horizontal colour bar above the map's top right corner: beside the map it takes
    ~70 px of width, which a labelled window of 48 columns needs for its labels."""
    trace.colorbar.update(orientation="h", x=1, xanchor="right", y=1, yanchor="bottom", yref="paper", len=0.3,
                          thickness=8, ypad=2, nticks=4, title=dict(side="top"))
