"""Figures of the Walk-through page: one text's real numbers at every stage of a layer.

Pure drawing: the arrays come prepared from `encoder.walkthrough` and `encoder.lesson`. Small
matrices are exact heatmaps (values on hover); (tokens × d_model) tensors are drawn as a window
of their first dimensions beside each token's vector length. Tokens go through `plotly_text`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (
    DEFAULT_COLOR_SCALE,
    SIGNED_COLOR_SCALE,
    axis_ticks,
    base_layout,
    colorscale,
    exact_heatmap,
    matrix_layout,
    plotly_text,
    position_labels,
)
from .positional import OKABE_ITO

WINDOW_DIMENSIONS = 32  # dimensions drawn of a (T, D) tensor: enough to see the texture, few enough to read
ROW_PX = 22


def matrix_height(n_rows: int, extra: int = 150, low: int = 300, high: int = 760) -> int:
    return int(min(max(n_rows * ROW_PX + extra, low), high))


def _signed_heatmap(matrix: np.ndarray, row_labels: Sequence[str], columns: Sequence[int], value_name: str,
                    column_title: str = "dimension", showscale: bool = True) -> go.Heatmap:
    """A signed matrix, white at 0 (red positive, blue negative), exact values on hover."""
    m = np.asarray(matrix, dtype=np.float32)
    bound = float(np.max(np.abs(m))) if m.size else 1.0
    return go.Heatmap(
        z=m, x=list(columns), y=position_labels(row_labels), zmin=-bound, zmax=max(bound, 1e-9), zmid=0.0,
        colorscale=colorscale(SIGNED_COLOR_SCALE), showscale=showscale,
        colorbar=dict(thickness=12, len=0.8, title=dict(text=value_name, side="right")),
        hovertemplate=f"%{{y}}, {column_title} %{{x}}<br>{value_name}: %{{z:.4f}}<extra></extra>",
    )


def signed_matrix(matrix: np.ndarray, row_labels: Sequence[str], title: str, value_name: str = "value",
                  columns: Sequence[int] | None = None, column_title: str = "dimension",
                  boundaries: Sequence[float] = (), highlight: tuple[float, float] | None = None) -> go.Figure:
    """A (T, N) tensor as a signed heatmap, one row per token; `columns` names its columns
    (dimension numbers), `boundaries` draws vertical lines between blocks (heads) and
    `highlight` outlines one block."""
    columns = list(range(matrix.shape[1])) if columns is None else list(columns)
    trace = _signed_heatmap(matrix, row_labels, columns, value_name, column_title)
    shapes = [dict(type="line", x0=b, x1=b, yref="paper", y0=0, y1=1, line=dict(color="#333", width=2))
              for b in boundaries]
    if highlight is not None:
        shapes.append(dict(type="rect", x0=highlight[0], x1=highlight[1], yref="paper", y0=0, y1=1,
                           line=dict(color="#111", width=3), fillcolor="rgba(0,0,0,0)"))
    layout = base_layout(title, matrix_height(len(row_labels)), shapes=shapes,
                         xaxis=dict(title=dict(text=column_title), showgrid=False),
                         yaxis=dict(axis_ticks(row_labels), title=dict(text="token"), autorange="reversed"))
    return go.Figure(trace, layout)


def window(matrix: np.ndarray, row_labels: Sequence[str], title: str, value_name: str = "value",
           n_columns: int = WINDOW_DIMENSIONS) -> go.Figure:
    """The first `n_columns` dimensions of a (T, D) tensor (D is too wide to read whole)."""
    shown = min(n_columns, matrix.shape[1])
    suffix = f" (dimensions 0–{shown - 1} of {matrix.shape[1]})" if shown < matrix.shape[1] else ""
    return signed_matrix(matrix[:, :shown], row_labels, title + suffix, value_name)


def side_by_side(matrices: dict[str, np.ndarray], row_labels: Sequence[str], title: str,
                 n_columns: int = WINDOW_DIMENSIONS, value_name: str = "value") -> go.Figure:
    """Several (T, N) tensors next to each other on one colour scale (e.g. token + position = sum,
    or Q, K, V), each cut to its first `n_columns` dimensions."""
    names = list(matrices)
    shown = {name: np.asarray(m[:, :n_columns], dtype=np.float32) for name, m in matrices.items()}
    bound = max(float(np.max(np.abs(m))) for m in shown.values())
    fig = make_subplots(1, len(names), subplot_titles=names, shared_yaxes=True, horizontal_spacing=0.02)
    for k, name in enumerate(names):
        trace = _signed_heatmap(shown[name], row_labels, range(shown[name].shape[1]), value_name,
                                showscale=k == len(names) - 1)
        trace.update(zmin=-bound, zmax=max(bound, 1e-9), hovertemplate=(
            f"{name}<br>%{{y}}, dimension %{{x}}<br>{value_name}: %{{z:.4f}}<extra></extra>"))
        fig.add_trace(trace, 1, k + 1)
    fig.update_layout(base_layout(title, matrix_height(len(row_labels), extra=170)))
    fig.update_yaxes(axis_ticks(row_labels), autorange="reversed")
    fig.update_xaxes(showgrid=False, title_text="dimension")
    return fig


def token_bars(series: dict[str, np.ndarray], row_labels: Sequence[str], title: str, y_title: str,
               percent: bool = False, height: int = 340) -> go.Figure:
    """One bar per token for each named (T,) series, grouped."""
    names = position_labels(row_labels)
    bars = []
    for k, (name, values) in enumerate(series.items()):
        bars.append(go.Bar(x=names, y=np.asarray(values, dtype=np.float32), name=name,
                             marker=dict(color=OKABE_ITO[k % len(OKABE_ITO)]),
                             hovertemplate=f"%{{x}}<br>{name}: %{{y:{'.1%' if percent else '.3f'}}}<extra></extra>"))
    layout = base_layout(title, height, barmode="group", bargap=0.2,
                         legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"),
                         xaxis=dict(axis_ticks(row_labels), tickangle=-60),
                         yaxis=dict(title=dict(text=y_title), tickformat=".0%" if percent else None))
    return go.Figure(bars, layout)


def weights_heatmap(weights: np.ndarray, row_labels: Sequence[str], title: str, height: int | None = None
                    ) -> go.Figure:
    """Attention weights (T, T): exact values, 0 to the largest weight."""
    return go.Figure(exact_heatmap(weights, row_labels, row_labels, color_scale=DEFAULT_COLOR_SCALE),
                     matrix_layout(row_labels, row_labels, title, height or matrix_height(len(row_labels), 170)))


def scores_heatmap(scores: np.ndarray, row_labels: Sequence[str], title: str) -> go.Figure:
    """Scaled scores (T, T): signed, white at 0, exact values on hover."""
    trace = _signed_heatmap(scores, row_labels, position_labels(row_labels), "score", "key")
    trace.update(hovertemplate="query %{y} → key %{x}<br>score: %{z:.3f}<extra></extra>")
    return go.Figure(trace, matrix_layout(row_labels, row_labels, title, matrix_height(len(row_labels), 170)))


def mask_heatmap(mask: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
                 y_title: str = "query", x_title: str = "key") -> go.Figure:
    """A 0/1 mask: dark = may attend (1), light = hidden (0)."""
    trace = go.Heatmap(z=np.asarray(mask, dtype=np.float32), x=position_labels(col_labels),
                       y=position_labels(row_labels), zmin=0, zmax=1, showscale=False,
                       colorscale=[[0, "#f2f2f2"], [1, "#2a4d69"]], xgap=1, ygap=1,
                       hovertemplate=f"{y_title} %{{y}} → {x_title} %{{x}}<br>mask: %{{z:.0f}}<extra></extra>")
    return go.Figure(trace, matrix_layout(row_labels, col_labels, title, matrix_height(len(row_labels), 170),
                                          x_title=x_title, y_title=y_title))


def padding_mask_strip(attention_mask: np.ndarray, tokens: Sequence[Sequence[str]]) -> go.Figure:
    """A padded batch's attention_mask (B, T): one row per text, one cell per position, labelled
    with its token (1 = a real token, 0 = [PAD]); `tokens` are the batch's, [PAD] included."""
    length = attention_mask.shape[1]
    text = [[_short(t) for t in row] for row in tokens]
    trace = go.Heatmap(z=attention_mask.astype(np.float32), x=list(range(length)),
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
