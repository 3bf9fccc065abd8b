"""Figures of the Head ablation page: layers × heads grids you can click, and how the later layers'
attention changed. Pure drawing: the changes and effects come prepared from `encoder.ablation`
and `encoder.lesson`; tokens go through `plotly_text`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import SIGNED_COLOR_SCALE, base_layout, colorscale, downsample_mean, position_labels, scale_top

OFF_COLOR = "#d62728"  # red: outside the grids' scale, so switched-off heads stand out
THUMBNAIL_CELLS = 48  # a thumbnail pools a longer text's matrix to at most 48 × 48 cells


def head_grid(values: np.ndarray, title: str, value_name: str, off: Sequence[tuple[int, int]] = (),
              color_scale: str = "Blues", fmt: str = ".4f") -> go.Figure:
    """An (L, H) grid, layer 1 at the top; a ✕ on every switched-off head; each cell is a
    clickable point whose customdata is its 0-based [layer, head]. With nothing above 0 (no head
    off yet) the colour bar spans 0…1: both measures drawn here are at most 1."""
    n_layers, n_heads = values.shape
    heads, layers = np.meshgrid(np.arange(n_heads), np.arange(n_layers))  # (L, H) each
    finite = values[np.isfinite(values)]
    heat = go.Heatmap(z=np.asarray(values, dtype=np.float32), x=list(range(1, n_heads + 1)),
                      y=list(range(1, n_layers + 1)), colorscale=colorscale(color_scale), xgap=2, ygap=2,
                      zmin=0.0, zmax=scale_top(float(finite.max()) if finite.size else 0.0),
                      # tiny changes read 5×10⁻⁶ rather than Plotly's SI "5µ"
                      colorbar=dict(thickness=12, len=0.9, exponentformat="power",
                                    title=dict(text=value_name, side="right")),
                      hovertemplate=f"layer %{{y}} head %{{x}}<br>{value_name}: %{{z:{fmt}}}<extra></extra>")
    targets = go.Scatter(x=(heads + 1).ravel(), y=(layers + 1).ravel(), mode="markers",
                         customdata=np.stack([layers.ravel(), heads.ravel()], axis=1).tolist(),
                         marker=dict(size=26, symbol="square", opacity=0.01, color="white"),
                         hovertemplate="layer %{y} head %{x}<br>click to switch on/off<extra></extra>",
                         showlegend=False)
    traces = [heat, targets]
    if off:
        traces.append(go.Scatter(x=[h + 1 for _, h in off], y=[layer + 1 for layer, _ in off], mode="text",
                                 text=["✕"] * len(off), textfont=dict(size=20, color=OFF_COLOR),
                                 customdata=[list(pair) for pair in off], showlegend=False,
                                 hovertemplate="layer %{y} head %{x}: off<br>click to switch it back on"
                                               "<extra></extra>"))
    layout = base_layout(title, 120 + 44 * n_layers,
                         xaxis=dict(title=dict(text="head"), tickmode="linear", dtick=1, showgrid=False,
                                    range=[0.5, n_heads + 0.5], zeroline=False),
                         yaxis=dict(title=dict(text="layer"), tickmode="linear", dtick=1, showgrid=False,
                                    range=[n_layers + 0.5, 0.5], zeroline=False),
                         plot_bgcolor="white", clickmode="event+select", dragmode=False)
    return go.Figure(traces, layout)


def difference_thumbnails(differences: Sequence[np.ndarray], titles: Sequence[str], labels: Sequence[str],
                          title: str) -> go.Figure:
    """One small signed heatmap per layer: attention with the heads off minus attention intact
    (red = more weight now, blue = less), on one shared scale."""
    pooled = [downsample_mean(np.asarray(d, dtype=np.float32), THUMBNAIL_CELLS) for d in differences]
    bound = max(max(float(np.abs(p).max()) for p in pooled), 1e-6)
    exact = all(p.shape == d.shape for p, d in zip(pooled, differences, strict=True))
    names = position_labels(labels) if exact else None
    fig = make_subplots(1, len(pooled), subplot_titles=list(titles), horizontal_spacing=0.015)
    for k, matrix in enumerate(pooled):
        fig.add_trace(go.Heatmap(
            z=matrix, x=names, y=names, zmin=-bound, zmax=bound, zmid=0.0, colorscale=colorscale(SIGNED_COLOR_SCALE),
            showscale=k == len(pooled) - 1, colorbar=dict(thickness=12, len=0.9, title=dict(text="Δ weight")),
            hovertemplate="query %{y} → key %{x}<br>Δ weight: %{z:+.4f}<extra></extra>"), 1, k + 1)
    fig.update_layout(base_layout(title, 300))
    fig.update_annotations(font_size=12)  # the panels' titles: six fit a 400 px column
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, autorange="reversed")
    return fig
