"""Figures of the Rollout page: how much each input token reaches each position after some layers
(Abnar & Zuidema 2020). Pure drawing: rollout and flow matrices come from `encoder.analysis`.

Every token label goes through `plotly_text` (inside `exact_heatmap` / `position_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import axis_ticks, base_layout, exact_heatmap, matrix_layout, plotly_text, position_labels

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


def share_bars(rows: Sequence[np.ndarray], names: Sequence[str], labels: Sequence[str], title: str,
               value_name: str = "share") -> go.Figure:
    """Grouped bars, one group per input token: each row of `rows` (T,) is one position's mixture.

    `names` are the legend entries (already readable text; escaped here).
    """
    colors = (CLS_COLOR, TOKEN_COLOR, "#e69f00", "#009e73")
    x = position_labels(labels)
    traces = [
        go.Bar(x=x, y=np.asarray(row, dtype=np.float64), name=plotly_text(name), marker_color=colors[i % len(colors)],
               hovertemplate=f"{plotly_text(name)}<br>input %{{x}}: %{{y:.4f}} {value_name}<extra></extra>")
        for i, (row, name) in enumerate(zip(rows, names, strict=True))
    ]
    layout = base_layout(title, 440, barmode="group", bargap=0.25,
                         legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, xanchor="left"),
                         xaxis=dict(axis_ticks(labels), tickangle=-60, title=dict(text="input token")),
                         yaxis=dict(title=dict(text=value_name), rangemode="tozero"))
    layout["margin"] = dict(layout["margin"], t=80)  # room for the legend under the title
    return go.Figure(traces, layout)
