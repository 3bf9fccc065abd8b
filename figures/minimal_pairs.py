"""Figures of the Minimal pairs page: how one head's attention changes between two texts that differ
in a word or two, on one word-aligned axis. Pure drawing: the aligned matrices come prepared in a
`MinimalPair` (`encoder.analysis.minimal_pair`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import SIGNED_COLOR_SCALE, axis_ticks, base_layout, colorscale, matrix_layout, position_labels

A_COLOR = "#9e9e9e"
B_COLOR = "#1f5fa8"


def difference_heatmap(difference: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """(W, W) attention of B minus A on the aligned words, white at 0; blank where a text has no word."""
    finite = difference[np.isfinite(difference)]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    trace = go.Heatmap(
        z=np.asarray(difference, dtype=np.float32), x=position_labels(labels), y=position_labels(labels),
        zmin=-(bound or 1.0), zmax=bound or 1.0, colorscale=colorscale(SIGNED_COLOR_SCALE), hoverongaps=False,
        colorbar=dict(thickness=12, len=0.8, title=dict(text="B − A", side="right")),
        hovertemplate="query %{y} → key %{x}<br>B − A: %{z:+.4f}<extra></extra>",
    )
    height = int(min(820, max(420, 190 + 22 * len(labels))))
    return go.Figure(trace, matrix_layout(labels, labels, title, height, x_title="key word", y_title="query word"))


def word_rows(row_a: np.ndarray, row_b: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """One query word's attention over the aligned words in A (grey) and B (blue); gaps where a text
    has no word."""
    x = position_labels(labels)
    traces = [
        go.Bar(x=x, y=row, name=name, marker_color=color,
               hovertemplate=f"{name}<br>key %{{x}}: %{{y:.4f}}<extra></extra>")
        for row, name, color in ((row_a, "text A", A_COLOR), (row_b, "text B", B_COLOR))
    ]
    layout = base_layout(title, 420, barmode="group", bargap=0.25,
                         legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, xanchor="left"),
                         xaxis=dict(axis_ticks(labels), tickangle=-60, title=dict(text="key word")),
                         yaxis=dict(title=dict(text="weight"), rangemode="tozero"))
    layout["margin"] = dict(layout["margin"], t=80)
    return go.Figure(traces, layout)
