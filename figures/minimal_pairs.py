"""Figures of the Minimal pairs page: how one head's attention changes between two texts that differ
in a word or two, on one word-aligned axis. Pure drawing: the aligned matrices come prepared in a
`MinimalPair` (`encoder.analysis.minimal_pair`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import (
    SIGNED_COLOR_SCALE,
    axis_ticks,
    base_layout,
    colorbar_on_top,
    colorscale,
    labelled_axis,
    matrix_layout,
    overview_image,
    position_labels,
    window_height,
    window_names,
)

A_COLOR = "#9e9e9e"
B_COLOR = "#1f5fa8"


def difference_heatmap(difference: np.ndarray, labels: Sequence[str], title: str,
                       span: tuple[int, int] | None = None) -> go.Figure:
    """(W, W) attention of B minus A on the aligned words, white at 0; blank where a text has no word.

    span: only the words [start, stop), rows and columns, every one labelled (a long text's window),
    coloured against the window's own largest change."""
    if span is not None:
        difference = difference[span[0]:span[1], span[0]:span[1]]
        labels = labels[span[0]:span[1]]
    names = position_labels(labels) if span is None else window_names(labels, span[0])
    finite = difference[np.isfinite(difference)]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    trace = go.Heatmap(
        z=np.asarray(difference, dtype=np.float32), x=names, y=names,
        zmin=-(bound or 1.0), zmax=bound or 1.0, colorscale=colorscale(SIGNED_COLOR_SCALE), hoverongaps=False,
        colorbar=dict(thickness=12, len=0.8, title=dict(text="B − A", side="right")),
        hovertemplate="query %{y} → key %{x}<br>B − A: %{z:+.4f}<extra></extra>",
    )
    if span is not None:
        colorbar_on_top(trace)
        layout = base_layout(title, window_height(len(labels)),
                             xaxis=labelled_axis(names, labels, "key word", tickangle=-90),
                             yaxis=dict(labelled_axis(names, labels, "query word"), autorange="reversed"))
        return go.Figure(trace, layout)
    height = int(min(820, max(420, 190 + 22 * len(labels))))
    return go.Figure(trace, matrix_layout(labels, labels, title, height, x_title="key word", y_title="query word"))


def difference_overview(difference: np.ndarray, title: str, span: tuple[int, int]) -> go.Figure:
    """The whole (W, W) difference, unlabelled, with the labelled window outlined."""
    return overview_image(difference, title, window=(span, span), value_name="B − A", signed=True)


def word_rows(row_a: np.ndarray, row_b: np.ndarray, labels: Sequence[str], title: str,
              positions: Sequence[int] | None = None) -> go.Figure:
    """One query word's attention over the aligned words in A (grey) and B (blue); gaps where a text
    has no word. positions: only these key words (a long text's top keys), each labelled."""
    if positions is None:
        x = position_labels(labels)
        axis = dict(axis_ticks(labels), tickangle=-60, title=dict(text="key word"))
    else:
        positions = list(positions)
        names = position_labels(labels)
        x = [names[p] for p in positions]
        axis = labelled_axis(x, [labels[p] for p in positions], "key word", tickangle=-60)
        row_a, row_b = np.asarray(row_a)[positions], np.asarray(row_b)[positions]
    traces = [
        go.Bar(x=x, y=row, name=name, marker_color=color,
               hovertemplate=f"{name}<br>key %{{x}}: %{{y:.4f}}<extra></extra>")
        for row, name, color in ((row_a, "text A", A_COLOR), (row_b, "text B", B_COLOR))
    ]
    layout = base_layout(title, 420, barmode="group", bargap=0.25,
                         legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, xanchor="left"),
                         xaxis=axis, yaxis=dict(title=dict(text="weight"), rangemode="tozero"))
    layout["margin"] = dict(layout["margin"], t=80)
    return go.Figure(traces, layout)
