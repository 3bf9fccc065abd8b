"""Figures of the Models and Compare pages: one head's attention with a decoder's masked cells drawn as
masked (grey, no hover), not as weights of zero, and two models' token clouds side by side. Pure drawing:
the matrices come from `encoder.compare` (masked cells are NaN there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import DEFAULT_COLOR_SCALE, axis_ticks, exact_heatmap, matrix_layout, plotly_text

MASKED_COLOR = "#d0d0d0"  # the plot background shows through NaN cells: a decoder's future keys
ROW_PX = 20


def attention_heatmap(matrix: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str,
                      causal: bool = False, height: int | None = None,
                      color_scale: str = DEFAULT_COLOR_SCALE) -> go.Figure:
    """(Q, K) weights, NaN where a causal model cannot look; rows are queries, top to bottom.

    Plotly leaves NaN cells empty, so the grey plot background marks them; `hoverongaps=False` keeps them
    from reporting a weight they do not have."""
    finite = matrix[np.isfinite(matrix)]
    trace = exact_heatmap(matrix, query_labels, key_labels, color_scale=color_scale,
                          zmax=float(finite.max()) if finite.size else 1.0)
    trace.update(hoverongaps=False)
    n = len(query_labels)
    layout = matrix_layout(query_labels, key_labels, title, height or int(np.clip(140 + ROW_PX * n, 360, 820)))
    layout["xaxis"].update(axis_ticks(key_labels, 48), tickangle=-90)
    layout["yaxis"].update(axis_ticks(query_labels, 48))
    layout["plot_bgcolor"] = MASKED_COLOR if causal else "white"
    if causal:  # a legend entry for the grey, so nobody reads it as a low weight
        layout["annotations"] = [dict(text="grey = masked: later tokens",
                                      xref="paper", yref="paper", x=1, y=1.0, xanchor="right", yanchor="bottom",
                                      showarrow=False, font=dict(size=11, color="#555555"))]
    return go.Figure(trace, layout)


def tags_figure(labels: Sequence[str], tags: Sequence[str], title: str) -> go.Figure:
    """A token-classification model's tag per token: tokens across, one coloured cell per token, the
    tag written in it (O cells pale); hover gives token and tag."""
    kinds = [tag.partition("-")[2] or tag for tag in tags]
    names = sorted({kind for kind in kinds if kind != "O"})
    codes = np.array([[0 if kind == "O" else 1 + names.index(kind) for kind in kinds]], dtype=np.float32)  # (1, T)
    palette = ["#f2f2f2", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
    steps = max(len(names), 1)
    scale = [[0.0, palette[0]], [0.5 / (steps + 1), palette[0]]]
    for i in range(steps):  # one flat band per entity type (cycling the palette past eight types)
        low, high = (i + 0.5) / (steps + 1), (i + 1.5) / (steps + 1)
        scale += [[low, palette[1 + i % 8]], [high, palette[1 + i % 8]]]
    scale[-1][0] = 1.0
    x = [f"{plotly_text(label)} ·{i}" for i, label in enumerate(labels)]
    trace = go.Heatmap(z=codes, x=x, y=["tag"], zmin=0, zmax=steps, colorscale=scale, showscale=False, xgap=2,
                       text=[[plotly_text(tag) if tag != "O" else "" for tag in tags]], texttemplate="%{text}",
                       textfont=dict(size=10), customdata=[[plotly_text(tag) for tag in tags]],
                       hovertemplate="%{x}: %{customdata}<extra></extra>")
    layout = dict(title=dict(text=plotly_text(title), x=0, font=dict(size=15)), height=190,
                  margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                  xaxis=dict(axis_ticks(labels, 96), tickangle=-60), yaxis=dict(visible=False))
    return go.Figure(trace, layout)
