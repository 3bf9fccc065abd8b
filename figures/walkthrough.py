"""Figures of the Walk-through page: one text's real numbers at every stage of a layer.

Pure drawing: the arrays come prepared from `encoder.walkthrough` and `encoder.lesson`. Small
matrices are exact heatmaps (values on hover); (tokens × d_model) tensors are drawn as a window
of their first dimensions beside each token's vector length. Tokens go through `plotly_text`.

A long text is drawn as a window of its tokens (the page picks it around the followed token): every
builder takes the window's `row_labels` and its first position `start`, so each token is labelled by
its own text and named by its true position ("it ·213").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (
    DEFAULT_COLOR_SCALE,
    SIGNED_COLOR_SCALE,
    base_layout,
    colorbar_on_top,
    colorscale,
    exact_heatmap,
    labelled_axis,
    plotly_text,
    scale_top,
    window_names,
)
from .positional import OKABE_ITO

WINDOW_DIMENSIONS = 32  # dimensions drawn of a (T, D) tensor: enough to see the texture, few enough to read
ROW_PX = 18  # a line of 12 px text per token: every label shows
TOP_COLORBAR_TOKENS = 24  # wider token × token maps put their colour bar on top: their key labels need the width
UPRIGHT_TOKENS = 16  # up to here token labels across a chart lie flat where they fit; beyond, they stand at 90°


def matrix_height(n_rows: int, extra: int = 150, low: int = 300) -> int:
    return int(max(n_rows * ROW_PX + extra, low))


def token_axis(row_labels: Sequence[str], start: int, title: str, tickangle: int | None = 0) -> dict:
    """A category axis of a window of tokens, every one labelled by its text (tickangle None: upright where
    the labels fit, turned where they would touch)."""
    return labelled_axis(window_names(row_labels, start), row_labels, title, tickangle)


def _signed_heatmap(matrix: np.ndarray, row_labels: Sequence[str], columns: Sequence, value_name: str,
                    column_title: str = "dimension", showscale: bool = True, start: int = 0) -> go.Heatmap:
    """A signed matrix, white at 0 (red positive, blue negative), exact values on hover."""
    m = np.asarray(matrix, dtype=np.float32)
    bound = scale_top(float(np.max(np.abs(m))) if m.size else 0.0)  # an all-zero matrix: -1…1, not "1n"
    return go.Heatmap(
        z=m, x=list(columns), y=window_names(row_labels, start), zmin=-bound, zmax=bound, zmid=0.0,
        colorscale=colorscale(SIGNED_COLOR_SCALE), showscale=showscale,
        colorbar=dict(thickness=12, len=0.8, title=dict(text=value_name, side="right")),
        hovertemplate=f"%{{y}}, {column_title} %{{x}}<br>{value_name}: %{{z:.4f}}<extra></extra>",
    )


def signed_matrix(matrix: np.ndarray, row_labels: Sequence[str], title: str, value_name: str = "value",
                  columns: Sequence[int] | None = None, column_title: str = "dimension",
                  boundaries: Sequence[float] = (), highlight: tuple[float, float] | None = None,
                  start: int = 0) -> go.Figure:
    """A (T, N) tensor as a signed heatmap, one row per token; `columns` names its columns
    (dimension numbers), `boundaries` draws vertical lines between blocks (heads) and
    `highlight` outlines one block."""
    columns = list(range(matrix.shape[1])) if columns is None else list(columns)
    trace = _signed_heatmap(matrix, row_labels, columns, value_name, column_title, start=start)
    shapes = [dict(type="line", x0=b, x1=b, yref="paper", y0=0, y1=1, line=dict(color="#333", width=2))
              for b in boundaries]
    if highlight is not None:
        shapes.append(dict(type="rect", x0=highlight[0], x1=highlight[1], yref="paper", y0=0, y1=1,
                           line=dict(color="#111", width=3), fillcolor="rgba(0,0,0,0)"))
    layout = base_layout(title, matrix_height(len(row_labels)), shapes=shapes,
                         xaxis=dict(title=dict(text=column_title), showgrid=False),
                         yaxis=dict(token_axis(row_labels, start, "token"), autorange="reversed"))
    return go.Figure(trace, layout)


def window(matrix: np.ndarray, row_labels: Sequence[str], title: str, value_name: str = "value",
           n_columns: int = WINDOW_DIMENSIONS, start: int = 0) -> go.Figure:
    """The first `n_columns` dimensions of a (T, D) tensor (D is too wide to read whole)."""
    shown = min(n_columns, matrix.shape[1])
    suffix = f" (dimensions 0–{shown - 1} of {matrix.shape[1]})" if shown < matrix.shape[1] else ""
    return signed_matrix(matrix[:, :shown], row_labels, title + suffix, value_name, start=start)


def side_by_side(matrices: dict[str, np.ndarray], row_labels: Sequence[str], title: str,
                 n_columns: int = WINDOW_DIMENSIONS, value_name: str = "value", start: int = 0) -> go.Figure:
    """Several (T, N) tensors next to each other on one colour scale (e.g. token + position = sum,
    or Q, K, V), each cut to its first `n_columns` dimensions."""
    names = list(matrices)
    shown = {name: np.asarray(m[:, :n_columns], dtype=np.float32) for name, m in matrices.items()}
    bound = scale_top(max(float(np.max(np.abs(m))) for m in shown.values()))
    fig = make_subplots(1, len(names), subplot_titles=names, shared_yaxes=True, horizontal_spacing=0.02)
    for k, name in enumerate(names):
        trace = _signed_heatmap(shown[name], row_labels, range(shown[name].shape[1]), value_name,
                                showscale=k == len(names) - 1, start=start)
        trace.update(zmin=-bound, zmax=bound, hovertemplate=(
            f"{name}<br>%{{y}}, dimension %{{x}}<br>{value_name}: %{{z:.4f}}<extra></extra>"))
        fig.add_trace(trace, 1, k + 1)
    fig.update_layout(base_layout(title, matrix_height(len(row_labels), extra=170)))
    fig.update_yaxes(token_axis(row_labels, start, ""), autorange="reversed")
    fig.update_yaxes(title_text="token", col=1)
    fig.update_xaxes(showgrid=False, title_text="dimension")
    return fig


def token_bars(series: dict[str, np.ndarray], row_labels: Sequence[str], title: str, y_title: str,
               percent: bool = False, height: int = 340, start: int = 0, across: bool = False) -> go.Figure:
    """One bar per token for each named (T,) series, grouped; `across`: horizontal bars, a token a
    line down the side (for a narrow column, where upright labels would be crushed)."""
    names = window_names(row_labels, start)
    value_format = ".1%" if percent else ".3f"
    bars = []
    for k, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=np.float32)
        place = dict(x=values, y=names, orientation="h") if across else dict(x=names, y=values)
        shown = "%{y}<br>" + name + ": %{x:" if across else "%{x}<br>" + name + ": %{y:"
        bars.append(go.Bar(**place, name=name, marker=dict(color=OKABE_ITO[k % len(OKABE_ITO)]),
                           hovertemplate=shown + value_format + "}<extra></extra>"))
    values_axis = dict(title=dict(text=y_title), tickformat=".0%" if percent else None)
    tokens_axis = token_axis(row_labels, start, "", tickangle=0 if across else (
        -90 if len(row_labels) > UPRIGHT_TOKENS else None))
    if across:
        layout = base_layout(title, max(height, matrix_height(len(row_labels), 140)), barmode="group", bargap=0.2,
                             legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
                             xaxis=values_axis, yaxis=dict(tokens_axis, autorange="reversed"))
    else:
        layout = base_layout(title, height, barmode="group", bargap=0.2,
                             legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"),
                             xaxis=tokens_axis, yaxis=values_axis)
    return go.Figure(bars, layout)


def _token_matrix(trace: go.Heatmap, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
                  start: int, col_start: int | None = None, x_title: str = "key", y_title: str = "query"
                  ) -> go.Figure:
    """A token × token map with every token labelled, named by its true position; a wide one gets
    its colour bar on top, so that its key labels keep the width."""
    col_start = start if col_start is None else col_start
    trace.update(x=window_names(col_labels, col_start), y=window_names(row_labels, start))
    wide = len(col_labels) > TOP_COLORBAR_TOKENS
    if wide and trace.showscale is not False:
        colorbar_on_top(trace)
    layout = base_layout(title, matrix_height(len(row_labels), 170),
                         xaxis=token_axis(col_labels, col_start, x_title,
                                          tickangle=-90 if len(col_labels) > UPRIGHT_TOKENS else None),
                         yaxis=dict(token_axis(row_labels, start, y_title), autorange="reversed"))
    return go.Figure(trace, layout)


def weights_heatmap(weights: np.ndarray, row_labels: Sequence[str], title: str, start: int = 0) -> go.Figure:
    """Attention weights (T, T): exact values, 0 to the largest weight."""
    return _token_matrix(exact_heatmap(weights, row_labels, row_labels, color_scale=DEFAULT_COLOR_SCALE),
                         row_labels, row_labels, title, start)


def scores_heatmap(scores: np.ndarray, row_labels: Sequence[str], title: str, start: int = 0) -> go.Figure:
    """Scaled scores (T, T): signed, white at 0, exact values on hover."""
    trace = _signed_heatmap(scores, row_labels, window_names(row_labels, start), "score", "key", start=start)
    trace.update(hovertemplate="query %{y} → key %{x}<br>score: %{z:.3f}<extra></extra>")
    return _token_matrix(trace, row_labels, row_labels, title, start)


def mask_heatmap(mask: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
                 y_title: str = "query", x_title: str = "key", start: int = 0) -> go.Figure:
    """A 0/1 mask: dark = may attend (1), light = hidden (0)."""
    trace = go.Heatmap(z=np.asarray(mask, dtype=np.float32), zmin=0, zmax=1, showscale=False,
                       colorscale=[[0, "#f2f2f2"], [1, "#2a4d69"]], xgap=1, ygap=1,
                       hovertemplate=f"{y_title} %{{y}} → {x_title} %{{x}}<br>mask: %{{z:.0f}}<extra></extra>")
    return _token_matrix(trace, row_labels, col_labels, title, start, x_title=x_title, y_title=y_title)


def padding_mask_strip(attention_mask: np.ndarray, tokens: Sequence[Sequence[str]], start: int = 0) -> go.Figure:
    """A padded batch's attention_mask (B, T): one row per text, one cell per position, labelled
    with its token (1 = a real token, 0 = [PAD]); `tokens` are the batch's, [PAD] included; `start`
    is the first position drawn."""
    length = attention_mask.shape[1]
    text = [[_short(t) for t in row] for row in tokens]
    trace = go.Heatmap(z=attention_mask.astype(np.float32), x=list(range(start, start + length)),
                       y=[f"text {i + 1}" for i in range(len(tokens))],
                       text=text, texttemplate="%{text}", textfont=dict(size=11), zmin=0, zmax=1, showscale=False,
                       xgap=2, ygap=2, colorscale=[[0, "#e6e6e6"], [1, "#9ecae1"]],
                       hovertemplate="%{y}, position %{x}: %{text}<br>attention_mask = %{z:.0f}<extra></extra>")
    return go.Figure(trace, base_layout("The batch's attention_mask: blue = 1 (real token), grey = 0 ([PAD])", 190,
                                        xaxis=dict(title=dict(text="position"), dtick=1, showgrid=False),
                                        yaxis=dict(autorange="reversed", showgrid=False)))


def _short(token: str, limit: int = 8) -> str:
    return plotly_text(token if len(token) <= limit else token[: limit - 1] + "…")


def answer_distribution(labels: Sequence[str], counts: Sequence[int], right: Sequence[bool] | None = None,
                        title: str = "The class's answers", height: int = 300) -> go.Figure:
    """A class's answers, one horizontal bar per distinct answer (labels may quote the text or a
    student's number: escaped); after the reveal, `right` colours the right answers green."""
    colours = ["#1b9e77" if ok else "#bbbbbb" for ok in right] if right is not None else OKABE_ITO[4]
    bar = go.Bar(x=list(counts), y=[plotly_text(label) for label in labels], orientation="h",
                 marker=dict(color=colours), text=list(counts), textposition="auto",
                 hovertemplate="%{y}: %{x}<extra></extra>")
    return go.Figure(bar, base_layout(title, height,
                                      xaxis=dict(title=dict(text="students"), dtick=1, rangemode="tozero"),
                                      yaxis=dict(autorange="reversed", type="category")))
