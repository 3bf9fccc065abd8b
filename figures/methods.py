"""Figures of the Methods page: several answers to "where does this token look?" for one head and one
token, on one colour scale, with the tokens each method ranks on top marked. Pure drawing: the rows
come prepared (and normalised to sum to 1) from the page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import axis_ticks, base_layout, colorscale, labelled_axis, plotly_text

TOP_MARK_COLOR = "white"
AGREED_COLOR = "#e4572e"  # outline of the tokens every method ranks in its top k


def methods_figure(rows: np.ndarray, methods: Sequence[str], labels: Sequence[str], top: np.ndarray,
                   agreed: np.ndarray, title: str, k: int, columns: Sequence[int] | None = None) -> go.Figure:
    """rows (M, T): each method's row, summing to 1; top (M, T) bool: the method's k largest;
    agreed (T,) bool: in every method's top k. One colour scale for all rows.

    columns: the key positions to draw (a window or the methods' top keys of a long text), each
    labelled by its text; the colour scale stays the whole rows' so a narrower view is not brighter.
    """
    columns = np.arange(len(labels)) if columns is None else np.asarray(columns, dtype=int)
    shown = [labels[c] for c in columns]
    x = [f"{plotly_text(labels[c])} ·{c}" for c in columns]
    y = [plotly_text(m) for m in methods]
    heatmap = go.Heatmap(
        z=np.asarray(rows, dtype=np.float32)[:, columns], x=x, y=y, zmin=0.0, zmax=float(np.max(rows)) or 1.0,
        colorscale=colorscale("Cividis"), xgap=1 if len(columns) <= 64 else 0, ygap=3,  # gaps: grey lines at 512
        colorbar=dict(thickness=12, len=0.9, title=dict(text="share", side="right")),
        hovertemplate="%{y}<br>key %{x}: %{z:.4f}<extra></extra>",
    )
    method_index, column_index = np.nonzero(np.asarray(top)[:, columns])
    marks = go.Scatter(
        x=[x[c] for c in column_index], y=[y[m] for m in method_index], mode="text", text=["●"] * len(column_index),
        textfont=dict(color=TOP_MARK_COLOR, size=11), hoverinfo="skip", showlegend=False,
    )
    shapes = [dict(type="rect", xref="x", yref="paper", x0=c - 0.5, x1=c + 0.5, y0=0, y1=1,
                   line=dict(color=AGREED_COLOR, width=3)) for c in np.flatnonzero(np.asarray(agreed)[columns])]
    xaxis = (dict(labelled_axis(x, shown, "key token", tickangle=-60)) if len(columns) <= 64
             else dict(axis_ticks(labels), tickangle=-60, title=dict(text="key token")))
    layout = base_layout(title, 170 + 62 * len(methods), shapes=shapes, xaxis=xaxis,
                         yaxis=dict(type="category", autorange="reversed", automargin=True, showgrid=False))
    fig = go.Figure([heatmap, marks], layout)
    fig.add_annotation(x=1, y=1.0, xref="paper", yref="paper", yanchor="bottom", xanchor="right", showarrow=False,
                       text=f"● = a method's top {k} · outlined = in every method's top {k}", font=dict(size=11))
    return fig


def pairwise_figure(matrix: np.ndarray, methods: Sequence[str], title: str, value_name: str,
                    signed: bool = True) -> go.Figure:
    """(M, M) agreement between the methods' rows, numbers written in the cells: Spearman ρ on −1…1
    (signed) or top-k overlap on 0…1."""
    names = [plotly_text(m) for m in methods]
    fig = go.Figure(go.Heatmap(
        z=np.asarray(matrix, dtype=np.float32), x=names, y=names, zmin=-1 if signed else 0, zmax=1,
        colorscale=colorscale("RdBu_r" if signed else "Blues"), text=np.round(matrix, 2), texttemplate="%{text}",
        # The bar's name above it: written sideways at its right, it was cut at the figure's edge.
        colorbar=dict(thickness=10, len=0.9, title=dict(text=plotly_text(value_name), side="top")),
        hovertemplate=f"%{{y}} vs %{{x}}<br>{plotly_text(value_name)} = %{{z:.3f}}<extra></extra>",
    ))
    # Beyond four methods, names turned 30° ran into each other under a half-page chart: they stand
    # upright, and the figure grows by their length so the cells keep their size.
    upright = len(methods) > 4
    longest = max((len(m) for m in methods), default=0)
    height = 300 + (int(6.5 * longest) if upright else 60)
    fig.update_layout(base_layout(title, height, yaxis=dict(autorange="reversed", automargin=True),
                                  xaxis=dict(automargin=True, tickangle=-90 if upright else -30)))
    return fig
