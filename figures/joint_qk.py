"""AttentionViz's joint query–key map (Yeh et al. 2023) as a scatter: one head's queries and keys in one
plane, coloured by query/key, by position or by token. Pure drawing from prepared arrays
(`encoder.analysis.joint_qk`): nothing is computed here but labels.

Hover shows the token inside its sentence; every point carries [sentence index, position] as
customdata, so a click can open that sentence. All text is escaped (`plotly_text`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import base_layout, plotly_text

COLOR_BY = ("query / key", "position", "token")
QUERY_COLOR, KEY_COLOR = "#0072B2", "#E69F00"  # Okabe & Ito: blue and orange, colour-blind safe
# The most frequent tokens get these (Okabe & Ito, then Tableau's); the rest are grey.
TOKEN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
                "#8c564b", "#7f7f7f")
OTHER_COLOR = "#d0d0d0"
PLURAL = {"query": "queries", "key": "keys"}
SIDE_CHARS = 40  # characters of the sentence shown on each side of the token in the hover


def in_context(sentence: str, span: tuple[int, int], token: str) -> str:
    """'…left ⟦token⟧ right…' for the hover, escaped; a special token (no span) is named before the sentence."""
    start, end = int(span[0]), int(span[1])
    if end <= start:
        return plotly_text(f"⟦{token}⟧ {sentence[:2 * SIDE_CHARS]}" + ("…" if len(sentence) > 2 * SIDE_CHARS else ""))
    left, right = sentence[max(0, start - SIDE_CHARS):start], sentence[end:end + SIDE_CHARS]
    return plotly_text(("…" if start > SIDE_CHARS else "") + left + "⟦" + sentence[start:end] + "⟧" + right
                       + ("…" if end + SIDE_CHARS < len(sentence) else ""))


def joint_scatter(xy: np.ndarray, is_key: np.ndarray, tokens: Sequence[str], positions: np.ndarray,
                  sentence_index: np.ndarray, contexts: Sequence[str], *, color_by: str = COLOR_BY[0],
                  title: str = "") -> go.Figure:
    """The map: xy (2N, 2) with queries first; tokens, positions, sentence_index and contexts (hover text,
    already escaped: `in_context`) per point. Queries are circles, keys diamonds, whatever the colour."""
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by is one of {COLOR_BY}, not {color_by!r}.")
    xy, is_key = np.asarray(xy), np.asarray(is_key, dtype=bool)
    positions, sentence_index = np.asarray(positions), np.asarray(sentence_index)
    kinds = np.where(is_key, "key", "query")
    customdata = np.stack([sentence_index, positions, np.asarray(contexts, dtype=object), kinds], axis=1)
    hover = ("<b>%{customdata[3]}</b> · position %{customdata[1]} · sentence %{customdata[4]}<br>"
             "%{customdata[2]}<br>click to open the sentence<extra></extra>")
    customdata = np.concatenate([customdata, (sentence_index + 1)[:, None]], axis=1)

    def trace(members: np.ndarray, name: str, marker: dict, legend: bool = True) -> go.Scatter:
        return go.Scatter(x=xy[members, 0], y=xy[members, 1], mode="markers", name=name, showlegend=legend,
                          marker=dict(size=7, opacity=0.8, line=dict(width=0), **marker),
                          customdata=customdata[members].tolist(), hovertemplate=hover)

    symbols = {"query": "circle", "key": "diamond"}
    traces = []
    if color_by == COLOR_BY[0]:
        for kind, color in (("query", QUERY_COLOR), ("key", KEY_COLOR)):
            traces.append(trace(np.flatnonzero(kinds == kind), PLURAL[kind], dict(color=color, symbol=symbols[kind])))
    elif color_by == "position":
        top = float(max(positions.max(), 1))
        for kind in ("query", "key"):
            members = np.flatnonzero(kinds == kind)
            traces.append(trace(members, PLURAL[kind], dict(
                color=positions[members], colorscale="Viridis", cmin=0, cmax=top, symbol=symbols[kind],
                colorbar=dict(title=dict(text="position"), thickness=12) if kind == "query" else None)))
    else:
        frequent = [token for token, _ in Counter(tokens).most_common(len(TOKEN_COLORS))]
        names = np.asarray(tokens, dtype=object)
        for kind in ("query", "key"):
            for token, color in zip(frequent, TOKEN_COLORS, strict=False):
                members = np.flatnonzero((names == token) & (kinds == kind))
                traces.append(trace(members, f"{plotly_text(token)} ({kind})",
                                    dict(color=color, symbol=symbols[kind])))
            rest = np.flatnonzero(~np.isin(names, frequent) & (kinds == kind))
            traces.append(trace(rest, f"other tokens ({kind})", dict(color=OTHER_COLOR, symbol=symbols[kind])))
    layout = base_layout(title, 640, clickmode="event+select", dragmode="zoom", plot_bgcolor="#fafafa",
                         legend=dict(itemclick="toggle"),
                         xaxis=dict(zeroline=False, showticklabels=False, title=dict(text="")),
                         yaxis=dict(zeroline=False, showticklabels=False, title=dict(text=""),
                                    scaleanchor="x", scaleratio=1))
    return go.Figure(traces, layout)
