"""Figures of the Similarity page: the bundled sentence-embedding model's own output, the cosine of
two texts, split exactly into each token's share. Pure drawing: the shares come from
`encoder.analysis.similarity_contributions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import base_layout, plotly_text

POSITIVE_COLOR = "#1f5fa8"
NEGATIVE_COLOR = "#d62728"


def contribution_bars(shares: Sequence[np.ndarray], labels: Sequence[Sequence[str]], names: Sequence[str],
                      title: str) -> go.Figure:
    """One panel per text: its tokens' shares of the cosine (each panel sums to it), largest on top;
    negative shares (pulling the texts apart) in red."""
    fig = make_subplots(rows=1, cols=len(shares), horizontal_spacing=0.12,
                        subplot_titles=[plotly_text(n) for n in names])
    for col, (share, token_labels) in enumerate(zip(shares, labels, strict=True), start=1):
        order = np.argsort(share)  # ascending: plotly draws the first bar at the bottom
        y = [f"{plotly_text(token_labels[i])} ·{i}" for i in order]
        fig.add_trace(go.Bar(
            x=np.asarray(share, dtype=np.float64)[order], y=y, orientation="h", showlegend=False,
            marker_color=[POSITIVE_COLOR if share[i] >= 0 else NEGATIVE_COLOR for i in order],
            hovertemplate="%{y}<br>share of the cosine: %{x:+.4f}<extra></extra>",
        ), row=1, col=col)
        fig.update_yaxes(type="category", automargin=True, row=1, col=col)
        fig.update_xaxes(title_text="share of the cosine", zeroline=True, row=1, col=col)
    longest = max(len(s) for s in shares)
    fig.update_layout(base_layout(title, int(min(900, max(380, 130 + 20 * longest))), bargap=0.2))
    fig.update_annotations(font_size=12)
    return fig
