"""Figures of the Q·K walk-through: one head, one query token, every step from the vectors to the
attention row (Vaswani et al. 2017, eq. 1). Pure drawing: the steps come prepared in a
`QKWalkthrough` (`encoder.analysis.qk_walkthrough`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from encoder.analysis import QKWalkthrough

from .common import SIGNED_COLOR_SCALE, base_layout, colorscale, plotly_text, position_labels

QUERY_COLOR = "#e4572e"
SCORE_COLOR = "#5b6c8f"
WEIGHT_COLOR = "#1f5fa8"
MODEL_COLOR = "#e69f00"


def _signed_heatmap(matrix: np.ndarray, x: Sequence, y: Sequence, name: str, hover: str,
                    showscale: bool = True) -> go.Heatmap:
    """A signed matrix on a white-at-zero scale, symmetric about 0."""
    bound = float(np.max(np.abs(matrix))) or 1.0
    return go.Heatmap(z=np.asarray(matrix, dtype=np.float32), x=list(x), y=list(y), zmin=-bound, zmax=bound,
                      colorscale=colorscale(SIGNED_COLOR_SCALE), showscale=showscale, hovertemplate=hover,
                      colorbar=dict(thickness=10, len=0.8, title=dict(text=name, side="right")))


def _height(n_tokens: int) -> int:
    return int(min(760, max(360, 150 + 22 * n_tokens)))


def _shown(labels: Sequence[str], positions: Sequence[int] | None) -> tuple[np.ndarray, list[str]]:
    """The keys drawn (all, or a long text's top keys, in text order) and their "token ·N" names."""
    shown = np.arange(len(labels)) if positions is None else np.asarray(positions, dtype=int)
    names = position_labels(labels)
    return shown, [names[p] for p in shown]


def _of_keys(n_shown: int, n_tokens: int) -> str:
    return "every key" if n_shown == n_tokens else f"the {n_shown} keys with most weight, of {n_tokens}"


def vectors_figure(walk: QKWalkthrough, labels: Sequence[str], positions: Sequence[int] | None = None) -> go.Figure:
    """The query q_i as one strip above the keys k_j, dimension by dimension, and beside them the
    products q_i ⊙ k_j with each row's sum, the score q_i · k_j, as a bar. positions: the keys to
    draw (a long text's top keys), every key by default."""
    shown, rows = _shown(labels, positions)
    query_name = position_labels(labels)[walk.position]
    dims = list(range(walk.query.shape[0]))
    fig = make_subplots(rows=2, cols=3, shared_xaxes="columns", shared_yaxes="rows", row_heights=[0.08, 0.92],
                        column_widths=[0.42, 0.42, 0.16], horizontal_spacing=0.035, vertical_spacing=0.02,
                        subplot_titles=("query q and keys k_j", "products q ⊙ k_j", "score q · k_j"))
    fig.add_trace(_signed_heatmap(walk.query[None, :], dims, [f"q: {query_name}"], "value",
                                  "q, dimension %{x}: %{z:.3f}<extra></extra>", showscale=False), row=1, col=1)
    fig.add_trace(_signed_heatmap(walk.keys[shown], dims, rows, "value",
                                  "k of %{y}, dimension %{x}: %{z:.3f}<extra></extra>", showscale=False), row=2, col=1)
    products = _signed_heatmap(walk.products[shown], dims, rows, "q·k part",
                               "%{y}, dimension %{x}: q·k part %{z:.3f}<extra></extra>")
    products.colorbar.update(x=1.01, len=0.75, y=0.45)
    fig.add_trace(products, row=2, col=2)
    fig.add_trace(go.Bar(x=walk.scores[shown], y=rows, orientation="h", marker_color=SCORE_COLOR, showlegend=False,
                         hovertemplate="%{y}<br>q · k = %{x:.3f}<extra></extra>"), row=2, col=3)
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False, automargin=True)
    fig.update_xaxes(showgrid=False)
    fig.update_xaxes(title_text="dimension of the head", row=2, col=1)
    fig.update_xaxes(title_text="dimension of the head", row=2, col=2)
    fig.update_xaxes(title_text="score", showgrid=True, zeroline=True, row=2, col=3)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    title = (f"Layer {walk.layer + 1}, head {walk.head + 1}: the query of {labels[walk.position]} ·{walk.position} "
             f"against {_of_keys(len(shown), len(labels))} ({walk.query.shape[0]} dimensions)")
    fig.update_layout(base_layout(title, _height(len(shown)) + 60))
    fig.update_annotations(font_size=12)
    return fig


def softmax_figure(walk: QKWalkthrough, labels: Sequence[str], model_row: np.ndarray,
                   positions: Sequence[int] | None = None) -> go.Figure:
    """Left: the scaled scores q·k_j / √d_head / τ. Right: their softmax at τ, with the model's own
    row (τ = 1) as markers. positions: the keys to draw, every key by default."""
    shown, x = _shown(labels, positions)
    root = np.sqrt(walk.query.shape[0])
    tau = walk.temperature
    fig = make_subplots(rows=1, cols=2, shared_xaxes=True, horizontal_spacing=0.07, subplot_titles=(
        f"scores / √{walk.query.shape[0]}" + (f" / τ (τ = {tau:g})" if tau != 1 else ""),
        f"softmax{f' at τ = {tau:g}' if tau != 1 else ''}: the attention row"))
    fig.add_trace(go.Bar(x=x, y=walk.scaled_scores[shown], marker_color=SCORE_COLOR, name="scaled score",
                         hovertemplate=f"%{{x}}<br>q·k / {root:.2f}" + (f" / {tau:g}" if tau != 1 else "")
                         + " = %{y:.3f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=walk.softmax[shown], marker_color=WEIGHT_COLOR, name=f"softmax at τ = {tau:g}",
                         hovertemplate="%{x}<br>weight %{y:.4f}<extra></extra>"), row=1, col=2)
    marker = dict(color=MODEL_COLOR, size=9, symbol="diamond", line=dict(width=1, color="white"))
    fig.add_trace(go.Scatter(x=x, y=np.asarray(model_row, dtype=np.float64)[shown], mode="markers",
                             name="the model (τ = 1)", marker=marker,
                             hovertemplate="%{x}<br>model's weight %{y:.4f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(type="category", tickangle=-60, showgrid=False, tickvals=x,
                     ticktext=[plotly_text(labels[p]) for p in shown])
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    title = f"From scores to weights: query {labels[walk.position]} ·{walk.position}" + (
        "" if len(shown) == len(labels) else f", {_of_keys(len(shown), len(labels))}")
    fig.update_layout(base_layout(title, 470, legend=dict(orientation="h", y=-0.3, yanchor="top", x=0.5,
                                                             xanchor="center"), bargap=0.25))
    fig.update_layout(margin=dict(t=70, b=40))
    fig.update_annotations(font_size=12)
    return fig
