"""Figures of the Value-weighted page: a head's raw attention α beside ‖α_ij · v_j W_O‖, what each key
actually adds (Kobayashi et al. 2020). Pure drawing: the matrices and norms come from
`encoder.analysis.value_weighted` and the Run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import (
    axis_ticks,
    base_layout,
    colorbar_on_top,
    exact_heatmap,
    labelled_axis,
    matrix_layout,
    plotly_text,
    position_labels,
    window_height,
    window_names,
)

ALPHA_COLOR = "#9e9e9e"
WEIGHTED_COLOR = "#1f5fa8"
NORM_COLOR = "#009e73"


def weight_heatmap(matrix: np.ndarray, labels: Sequence[str], title: str, zmax: float,
                   value_name: str = "weight", span: tuple[int, int] | None = None) -> go.Figure:
    """(T, T) query × key weights on a given colour maximum, so two maps side by side compare.
    span: [start, stop) of a long text's readable window, rows and columns, every token labelled."""
    if span is not None:
        start, stop = span
        window, names = matrix[start:stop, start:stop], list(labels[start:stop])
        trace = exact_heatmap(window, names, names, zmax=zmax, value_name=value_name)
        trace.update(x=window_names(names, start), y=window_names(names, start))
        colorbar_on_top(trace)
        return go.Figure(trace, base_layout(title, window_height(len(window)),
                                            xaxis=labelled_axis(trace.x, names, "key", tickangle=-90),
                                            yaxis=dict(labelled_axis(trace.y, names, "query"), autorange="reversed")))
    trace = exact_heatmap(matrix, labels, labels, zmax=zmax, value_name=value_name)
    height = int(min(760, max(400, 170 + 20 * len(labels))))
    return go.Figure(trace, matrix_layout(labels, labels, title, height))


def received_bars(alpha: np.ndarray, weighted: np.ndarray, norms: np.ndarray, labels: Sequence[str],
                  title: str, positions: Sequence[int] | None = None) -> go.Figure:
    """Per key token: the share of attention it receives under α and under the value-weighted rows
    (both the mean over queries of row-normalised weights), and its value length ‖v_j W_O‖ on a
    second axis. positions: the keys drawn (a long text's largest), every key by default."""
    if positions is not None:
        shown = np.asarray(positions, dtype=int)
        alpha, weighted, norms = alpha[shown], weighted[shown], norms[shown]
        x = [position_labels(labels)[p] for p in shown]
        labels = [labels[p] for p in shown]
    else:
        x = position_labels(labels)
    traces = [
        go.Bar(x=x, y=alpha, name="share of α", marker_color=ALPHA_COLOR,
               hovertemplate="%{x}<br>share of α: %{y:.3f}<extra></extra>"),
        go.Bar(x=x, y=weighted, name="share of ‖α · v W_O‖", marker_color=WEIGHTED_COLOR,
               hovertemplate="%{x}<br>share of ‖α · v W_O‖: %{y:.3f}<extra></extra>"),
        go.Scatter(x=x, y=norms, name="‖v W_O‖ (right axis)", yaxis="y2", mode="markers+lines",
                   line=dict(color=NORM_COLOR, width=1, dash="dot"), marker=dict(color=NORM_COLOR, size=7),
                   hovertemplate="%{x}<br>‖v W_O‖ = %{y:.3f}<extra></extra>"),
    ]
    layout = base_layout(
        title, 420, barmode="group", bargap=0.25,
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, xanchor="left"),
        xaxis=dict(axis_ticks(labels) if positions is None else dict(
            type="category", tickmode="array", tickvals=x, ticktext=[plotly_text(label) for label in labels]),
            tickangle=-60, title=dict(text="key token")),
        yaxis=dict(title=dict(text="mean share received"), rangemode="tozero"),
        yaxis2=dict(title=dict(text="length of the value vector"), overlaying="y", side="right", rangemode="tozero",
                    showgrid=False, tickformat=".1f"),
    )
    layout["margin"] = dict(layout["margin"], t=80)
    return go.Figure(traces, layout)
