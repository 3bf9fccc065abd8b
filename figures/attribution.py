"""Attribution figures: the deletion curves, the methods' agreement, and the text shaded by each method.

Pure builders on prepared arrays (the page computes nothing, these compute no analysis): the curves
come from `encoder.attribution.FaithfulnessReport.curves`, the agreement from
`encoder.analysis.method_agreement`, the shading from `figures.shaded_text`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import base_layout, layer_head_axes, layer_head_map, plotly_text
from .methods import pairwise_figure
from .shaded_text import lines_message

RANDOM_NAME = "random (floor)"


def head_relevance_map(values: np.ndarray, title: str, color_scale: str = "Cividis") -> go.Figure:
    """(L, H) attention × gradient per head: layers down, heads across, numbered from 1 as on screen;
    hover gives each head's value."""
    n_layers, n_heads = values.shape
    traces = layer_head_map(values, color_scale, 14, heatmap=dict(hoverinfo="skip", colorbar=dict(thickness=10)),
                            targets=dict(text=[f"{v:.4f}" for v in values.ravel()],
                                         hovertemplate="layer %{y}, head %{x}: %{text}<extra></extra>"))
    layout = base_layout(title, max(240, 80 + 16 * n_layers), plot_bgcolor="white", dragmode=False,
                         **layer_head_axes(n_layers, n_heads))
    return go.Figure(traces, layout)


def deletion_figure(percents: Sequence[float], curves: dict[str, np.ndarray], value: float | None, title: str,
                    y_title: str = "target with its top k% removed") -> go.Figure:
    """One line per method: the target after removing each method's top k% of tokens (the deletion
    curve). A faithful method's line falls fastest; the random ranking (dashed) is the floor; `value`
    (the target with nothing removed) is drawn at k = 0 when given."""
    fig = go.Figure()
    for name, values in curves.items():
        x, y = list(percents), list(np.asarray(values, dtype=np.float64))
        if value is not None:
            x, y = [0, *x], [value, *y]
        floor = name == RANDOM_NAME
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=plotly_text(name),
            line=dict(dash="dash", color="#888888") if floor else dict(),
            hovertemplate=f"{plotly_text(name)}<br>top %{{x}}% removed: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(base_layout(title, 380, xaxis=dict(title="tokens removed (% of the text, top first)",
                                                         ticksuffix="%"),
                                  yaxis=dict(title=plotly_text(y_title)), legend=dict(font=dict(size=11))))
    return fig


def agreement_figures(correlations: np.ndarray, overlap: np.ndarray, names: Sequence[str], k: int
                      ) -> tuple[go.Figure, go.Figure]:
    """(Spearman ρ between every pair of methods, top-k overlap), drawn as the Methods view draws them."""
    return (pairwise_figure(correlations, names, "Rank correlation between methods (Spearman ρ)", "ρ"),
            pairwise_figure(overlap, names, f"Top-{k} overlap between methods", "overlap", signed=False))


def faithfulness_bars(names: Sequence[str], comprehensiveness: Sequence[float], sufficiency: Sequence[float],
                      title: str) -> go.Figure:
    """Comprehensiveness (higher = more faithful) and sufficiency (lower = more faithful) per method."""
    shown = [plotly_text(n) for n in names]
    fig = go.Figure([
        go.Bar(x=shown, y=list(comprehensiveness), name="comprehensiveness (↑)",
               hovertemplate="%{x}<br>comprehensiveness %{y:.3f}<extra></extra>"),
        go.Bar(x=shown, y=list(sufficiency), name="sufficiency (↓)",
               hovertemplate="%{x}<br>sufficiency %{y:.3f}<extra></extra>"),
    ])
    fig.update_layout(base_layout(title, 340, barmode="group", xaxis=dict(tickangle=-30, automargin=True),
                                  yaxis=dict(title="AOPC")))
    return fig


def shaded_methods(text: str, offsets: Sequence[tuple[int, int]], rows: dict[str, np.ndarray],
                   names: Sequence[str] | None = None) -> dict:
    """The text once per method, shaded by that method's scores, each line on its own scale (a
    `figures.shaded_text` message for `components.shaded_text`)."""
    return lines_message(text, offsets, rows, names=names)
