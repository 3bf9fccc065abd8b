"""Figures of the Task heads page: one head's attention, the mean-pooling weights, the sentiment
classifier's probabilities and the typed text with its NER tags. Every label that may quote the
person's text goes through `plotly_text`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import FONT, axis_ticks, base_layout, exact_heatmap, matrix_layout, plotly_text, position_labels

# Okabe & Ito's colour-blind-safe palette: one colour per entity type, grey for O.
ENTITY_COLORS = {"PER": "#E69F00", "LOC": "#56B4E9", "ORG": "#009E73"}
OUTSIDE_COLOR = "#eeeeee"
LABEL_COLORS = {"negative": "#D55E00", "positive": "#0072B2"}
ROW_PX = 22
PERCENT_PX = 64  # "100.0%" at 18 px
# Characters of text per line of the tagged-text figure before it wraps. A line is as wide as the chart,
# so in a 400 px column 36 characters leave each ~10 px, what a WORD_PX word needs (60 ran words together).
CHIP_LINE_CHARS = 36
WORD_PX = 18


def _height(n_rows: int, extra: int = 170, low: int = 320, high: int = 720) -> int:
    return int(min(max(n_rows * ROW_PX + extra, low), high))


def attention_heatmap(weights: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """One head's attention (T, T), exact values on hover."""
    return go.Figure(exact_heatmap(weights, labels, labels), matrix_layout(labels, labels, title, _height(len(labels))))


def pooling_bars(weights: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """The weight (T,) mean pooling gives each token: 1/T for every real token."""
    bar = go.Bar(x=position_labels(labels), y=np.asarray(weights, dtype=np.float32), marker=dict(color="#0072B2"),
                 hovertemplate="%{x}<br>pooling weight: %{y:.4f}<extra></extra>")
    layout = base_layout(title, _height(len(labels)), xaxis=dict(axis_ticks(labels), tickangle=-60),
                         yaxis=dict(title=dict(text="weight in the sentence vector"), rangemode="tozero"))
    return go.Figure(bar, layout)


def probability_bars(probabilities: np.ndarray, labels: Sequence[str], title: str, height: int = 230) -> go.Figure:
    """The classifier's probability of each label (C,), as horizontal bars from 0 to 1."""
    values = np.asarray(probabilities, dtype=np.float64)
    bar = go.Bar(y=[plotly_text(label) for label in labels], x=values, orientation="h",
                 marker=dict(color=[LABEL_COLORS.get(label, "#666666") for label in labels]),
                 text=[f"{v:.1%}" for v in values], textposition="outside", cliponaxis=False,
                 textfont=dict(size=18), hovertemplate="%{y}: %{x:.4f}<extra></extra>")
    layout = base_layout(title, height, xaxis=dict(range=[0, 1.02], tickformat=".0%", title=dict(text="probability")),
                         yaxis=dict(tickfont=dict(size=16)), bargap=0.35)
    # the percentages sit right of their bars: a margin as wide as "100.0%" keeps them whole in a narrow column
    layout["margin"] = dict(layout["margin"], r=PERCENT_PX)
    return go.Figure(bar, layout)


def tagged_text(words: Sequence[str], tags: Sequence[str], confidence: Sequence[float], title: str) -> go.Figure:
    """The text's words as chips, wrapped into lines, coloured by entity type, with the tag above
    each entity word (B- starts an entity, I- continues it). Words are shown literally."""
    shapes, xs, ys, texts, hovers, tag_xs, tag_ys, tag_texts = [], [], [], [], [], [], [], []
    x, line = 0.0, 0
    for word, tag, p in zip(words, tags, confidence, strict=True):
        width = max(len(word), 1) + 1.2
        if x > 0 and x + width > CHIP_LINE_CHARS:
            x, line = 0.0, line + 1
        kind = tag.partition("-")[2]
        y = -line
        shapes.append(dict(type="rect", x0=x, x1=x + width - 0.3, y0=y - 0.22, y1=y + 0.22, layer="below",
                           fillcolor=ENTITY_COLORS.get(kind, OUTSIDE_COLOR), line=dict(width=0)))
        xs.append(x + (width - 0.3) / 2)
        ys.append(y)
        texts.append(plotly_text(word))
        hovers.append(f"{plotly_text(word)}<br>{tag} (p = {p:.2f})")
        if kind:
            tag_xs.append(x + (width - 0.3) / 2)
            tag_ys.append(y + 0.34)
            tag_texts.append(tag)
        x += width
    lines = line + 1
    words_trace = go.Scatter(x=xs, y=ys, mode="text", text=texts, textfont=dict(size=WORD_PX, color="#111111"),
                             hovertext=hovers, hoverinfo="text", showlegend=False)
    tags_trace = go.Scatter(x=tag_xs, y=tag_ys, mode="text", text=tag_texts, hoverinfo="skip", showlegend=False,
                            textfont=dict(size=13, color="#333333"))
    legend = [go.Scatter(x=[None], y=[None], mode="markers", name=kind, showlegend=True,
                         marker=dict(symbol="square", size=16, color=color)) for kind, color in ENTITY_COLORS.items()]
    layout = base_layout(
        title, 90 * lines + 90, shapes=shapes, showlegend=True,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left", font=dict(size=14)),
        xaxis=dict(visible=False, range=[-0.5, CHIP_LINE_CHARS + 0.5], fixedrange=True),
        yaxis=dict(visible=False, range=[-lines + 0.5, 0.6], fixedrange=True),
        plot_bgcolor="white", hoverlabel=dict(font=FONT),
    )
    return go.Figure([words_trace, tags_trace, *legend], layout)
