"""Figures of the Corpus page: one statistic over a corpus as a layers × heads map, and the heads placed
by Clark et al.'s (2019, §6) Jensen–Shannon distances with MDS, coloured by pattern. Pure drawing: the
numbers come from `encoder.corpus` and `encoder.analysis.head_patterns`.

Every cell and point carries (layer, head), 0-based, as customdata, so a click can open that head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import DEFAULT_COLOR_SCALE, base_layout, layer_head_map, plotly_text
from .labels import readable_labels

# One colour per pattern of encoder.analysis.PATTERNS (Okabe & Ito's colour-blind-safe set, then greys:
# "mixed", the heads with no pattern, recede).
PATTERN_COLORS = {
    "[CLS] sink": "#E69F00", "[SEP] sink": "#D55E00", "punctuation": "#CC79A7", "previous token": "#0072B2",
    "next token": "#56B4E9", "self": "#009E73", "broad": "#7f7f7f", "mixed": "#c8c8c8",
    "first-token sink": "#F0E442",  # a decoder's [CLS]: Okabe-Ito yellow, unused above
}
CELL_PX = 44  # height of a layer's row in the statistic map
HEAD_LABEL_PX = 9  # the head map's point labels
MAP_PLOT_PX = (560, 500)  # the head map's plot area on a 1280 px page (the legend takes the rest of the width)


def statistic_heatmap(values: np.ndarray, title: str, unit: str, n_sentences: int,
                      color_scale: str = DEFAULT_COLOR_SCALE) -> go.Figure:
    """(L, H) means of one statistic: layers down, heads across, the exact values in z (hover shows them)."""
    n_layers, n_heads = values.shape
    traces = layer_head_map(
        values, color_scale, CELL_PX * 0.7,
        heatmap=dict(customdata=np.stack(np.indices(values.shape), axis=-1).tolist(),  # (L, H, 2): [layer, head]
                     colorbar=dict(thickness=12, len=0.9, title=dict(text=plotly_text(unit), side="right")),
                     hovertemplate=f"layer %{{y}}, head %{{x}}<br>{plotly_text(title)}: %{{z:.3f}} "
                                   f"{plotly_text(unit)}<br>click to open this head on a sentence of the corpus"
                                   "<extra></extra>",
                     xgap=1, ygap=1),
        targets=dict(hoverinfo="skip"),
    )
    layout = base_layout(f"{title}, mean over {n_sentences:,} sentences", 90 + CELL_PX * n_layers,
                         clickmode="event+select", dragmode=False, plot_bgcolor="white",
                         xaxis=dict(title=dict(text="head"), tickvals=list(range(1, n_heads + 1)), showgrid=False,
                                    range=[0.5, n_heads + 0.5]),
                         yaxis=dict(title=dict(text="layer"), autorange="reversed", showgrid=False,
                                    tickvals=list(range(1, n_layers + 1))))
    return go.Figure(traces, layout)


def head_map_scatter(xy: np.ndarray, layers: np.ndarray, heads: np.ndarray, patterns: Sequence[str],
                     reasons: Sequence[str], n_sentences: int) -> go.Figure:
    """Every head as a point at its MDS coordinates (L·H, 2), one trace per pattern (a clickable legend),
    labelled L<layer>H<head> on hover; alike heads sit close together."""
    fig_traces = []
    patterns = np.asarray(patterns, dtype=object)
    names = [f"L{layer + 1}H{head + 1}" for layer, head in zip(layers, heads, strict=True)]
    # A label only where it cannot overlap another (hover names every head): 72 to 270 names made a blot.
    shown = readable_labels(xy, names, HEAD_LABEL_PX, plot_px=MAP_PLOT_PX, equal_scales=False)
    for pattern, color in PATTERN_COLORS.items():
        members = np.flatnonzero(patterns == pattern)
        if members.size == 0:
            continue
        fig_traces.append(go.Scatter(
            x=xy[members, 0], y=xy[members, 1], mode="markers+text", name=f"{pattern} ({members.size})",
            text=[names[k] if shown[k] else "" for k in members], hovertext=[names[k] for k in members],
            textposition="top center", textfont=dict(size=HEAD_LABEL_PX, color="#555555"),
            marker=dict(size=12, color=color, line=dict(width=1, color="white")),
            customdata=[[int(layers[k]), int(heads[k]), plotly_text(reasons[k])] for k in members],
            hovertemplate=f"<b>%{{hovertext}}</b> · {plotly_text(pattern)}<br>%{{customdata[2]}}"
                          "<br>click to open this head on a sentence of the corpus<extra></extra>",
        ))
    layout = base_layout(f"Heads placed by the Jensen–Shannon distance of their attention ({n_sentences} sentences, "
                         "MDS)", 620, clickmode="event+select", dragmode=False, plot_bgcolor="#fafafa",
                         legend=dict(title=dict(text="pattern (corpus means)"), itemclick="toggle"),
                         xaxis=dict(title=dict(text="MDS 1"), zeroline=False, showticklabels=False),
                         # No equal aspect: a few far heads would squeeze the crowd into a narrow column.
                         yaxis=dict(title=dict(text="MDS 2"), zeroline=False, showticklabels=False))
    return go.Figure(fig_traces, layout)
