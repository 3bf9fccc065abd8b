"""Figures of the Models and Compare pages: one head's attention with a decoder's masked cells drawn as
masked (grey, no hover), not as weights of zero, and two models' token clouds side by side. Pure drawing:
the matrices come from `encoder.compare` (masked cells are NaN there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import DEFAULT_COLOR_SCALE, axis_ticks, base_layout, exact_heatmap, matrix_layout, plotly_text

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


TAG_PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")  # Okabe & Ito
OUTSIDE_COLOR = "#f2f2f2"  # O: no entity


def tags_figure(labels: Sequence[str], tags: Sequence[str], title: str) -> go.Figure:
    """A token-classification model's tag per token: tokens across, one cell per token coloured by its
    entity type, with B or I written in it (a whole tag such as B-GIVEN_NAME ran over its neighbours);
    a legend names the types, and hover gives token and tag."""
    kinds = [tag.partition("-")[2] or tag for tag in tags]
    names = sorted({kind for kind in kinds if kind != "O"})
    colors = [TAG_PALETTE[i % len(TAG_PALETTE)] for i in range(len(names))]  # past eight types, colours repeat
    codes = np.array([[0 if kind == "O" else 1 + names.index(kind) for kind in kinds]], dtype=np.float32)  # (1, T)
    bands = [OUTSIDE_COLOR, *colors]  # code c is drawn flat in band [c, c + 1) / len(bands)
    scale = [[min((c + edge) / len(bands), 1.0), color] for c, color in enumerate(bands) for edge in (0, 1)]
    x = [f"{plotly_text(label)} ·{i}" for i, label in enumerate(labels)]
    letters = [tag.partition("-")[0] if "-" in tag and tag != "O" else "" for tag in tags]  # B or I
    trace = go.Heatmap(z=codes, x=x, y=["tag"], zmin=-0.5, zmax=len(bands) - 0.5, colorscale=scale, showscale=False,
                       xgap=2, text=[[plotly_text(letter) for letter in letters]], texttemplate="%{text}",
                       textfont=dict(size=12, color="#111111"), customdata=[[plotly_text(tag) for tag in tags]],
                       hovertemplate="%{x}: %{customdata}<extra></extra>")
    legend = [go.Scatter(x=[None], y=[None], mode="markers", name=plotly_text(name), showlegend=True, hoverinfo="skip",
                         marker=dict(symbol="square", size=14, color=color))
              for name, color in zip(names, colors, strict=True)]
    layout = base_layout(title, 220, plot_bgcolor="white", showlegend=bool(names),
                         legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom"),
                         xaxis=dict(axis_ticks(labels, 96), tickangle=-60), yaxis=dict(visible=False))
    return go.Figure([trace, *legend], layout)
