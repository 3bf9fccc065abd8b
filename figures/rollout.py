"""Figures of the Rollout page: how much each input token reaches each position after some layers
(Abnar & Zuidema 2020). Pure drawing: rollout and flow matrices come from `encoder.analysis`.

Every token label goes through `plotly_text` (inside `exact_heatmap` / `position_labels`).
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
    overview_image,
    plotly_text,
    position_labels,
    window_height,
    window_names,
)

CLS_COLOR = "#9e9e9e"  # grey: [CLS]'s mixture is the baseline the chosen token is read against
TOKEN_COLOR = "#1f5fa8"


def _height(n_tokens: int) -> int:
    return int(min(820, max(420, 170 + 20 * n_tokens)))


def share_heatmap(matrix: np.ndarray, labels: Sequence[str], title: str, value_name: str = "share",
                  log: bool = False) -> go.Figure:
    """(T, T) rows of input-token shares: row = position after the layers, column = input token.

    log=True spaces the colours by log10(share), so the small shares beside a dominant [CLS]
    column show; hover still gives the exact numbers."""
    trace = exact_heatmap(matrix, labels, labels, row_title="position", col_title="input token",
                          value_name=value_name, log=log)
    layout = matrix_layout(labels, labels, title, _height(len(labels)), x_title="input token",
                           y_title="position after the layers")
    return go.Figure(trace, layout)


def share_window(matrix: np.ndarray, labels: Sequence[str], rows: tuple[int, int], cols: tuple[int, int], title: str,
                 value_name: str = "share", log: bool = False) -> go.Figure:
    """Rows [start, stop) and columns [start, stop) of a (T, T) share map, every token labelled by its
    text, coloured against the window's own maximum (the [CLS] column far away would leave it dark)."""
    window = matrix[rows[0]:rows[1], cols[0]:cols[1]]
    row_labels, col_labels = labels[rows[0]:rows[1]], labels[cols[0]:cols[1]]
    trace = exact_heatmap(window, row_labels, col_labels, row_title="position", col_title="input token",
                          value_name=value_name, log=log)
    trace.update(x=window_names(col_labels, cols[0]), y=window_names(row_labels, rows[0]))
    colorbar_on_top(trace)
    layout = base_layout(title, window_height(len(window)),
                         xaxis=labelled_axis(trace.x, col_labels, "input token", tickangle=-90),
                         yaxis=dict(labelled_axis(trace.y, row_labels, "position after the layers"),
                                    autorange="reversed"))
    return go.Figure(trace, layout)


def share_overview(matrix: np.ndarray, title: str, window: tuple[tuple[int, int], tuple[int, int]],
                   log: bool = False) -> go.Figure:
    """The whole (T, T) map, unlabelled, with the labelled window outlined."""
    return overview_image(matrix, title, window=window, log=log, value_name="share")


def share_bars(rows: Sequence[np.ndarray], names: Sequence[str], labels: Sequence[str], title: str,
               value_name: str = "share", positions: Sequence[int] | None = None) -> go.Figure:
    """Grouped bars, one group per input token: each row of `rows` (T,) is one position's mixture.

    `names` are the legend entries (already readable text; escaped here). positions: only these
    input tokens (a top-k view of a long text), each labelled by its text.
    """
    colors = (CLS_COLOR, TOKEN_COLOR, "#e69f00", "#009e73")
    if positions is not None:
        shown = [labels[p] for p in positions]
        x = [f"{plotly_text(labels[p])} ·{p}" for p in positions]
        rows = [np.asarray(row)[list(positions)] for row in rows]
        axis = labelled_axis(x, shown, "input token", tickangle=-60)
    else:
        x = position_labels(labels)
        axis = dict(axis_ticks(labels), tickangle=-60, title=dict(text="input token"))
    traces = [
        go.Bar(x=x, y=np.asarray(row, dtype=np.float64), name=plotly_text(name), marker_color=colors[i % len(colors)],
               hovertemplate=f"{plotly_text(name)}<br>input %{{x}}: %{{y:.4f}} {value_name}<extra></extra>")
        for i, (row, name) in enumerate(zip(rows, names, strict=True))
    ]
    layout = base_layout(title, 440, barmode="group", bargap=0.25,
                         # inside the plot's top right, one entry a line: above the plot, a row of entries
                         # wrapped in a narrow column (the page's 2:3 split at 1280 px) and ran into the title
                         legend=dict(orientation="v", y=1.0, yanchor="top", x=1.0, xanchor="right",
                                     bgcolor="rgba(255,255,255,0.85)"),
                         xaxis=axis, yaxis=dict(title=dict(text=value_name), rangemode="tozero"))
    return go.Figure(traces, layout)
