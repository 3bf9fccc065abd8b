"""Figures for the positional-encoding page: pure functions to go.Figure, no streamlit.

Position encodings and cosine similarities are signed, so they use a diverging scale with white
at 0 and the same -1..1 range everywhere (two matrices side by side then compare colour for
colour). RdBu is a ColorBrewer scheme that reads the same with red-green colour blindness
(Harrower & Brewer 2003), unlike red-green diverging scales.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from encoder import Run
from encoder.positional import InputDecomposition, sinusoid_kind, sinusoid_wavelength

from .common import (
    SIGNED_COLOR_SCALE,
    axis_ticks,
    base_layout,
    colorscale,
    plotly_text,
    position_labels,
    signed_image,
)

EXACT_LIMIT = 128  # up to 128 positions a matrix is sent exactly (≈ 87 KB), above as one PNG
# Okabe & Ito (2008): a qualitative palette that stays distinct under every common colour blindness.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
PART_LABELS = {"token": "token embedding", "position": "position embedding", "segment": "segment embedding"}


def _signed_heatmap(matrix: np.ndarray, value_name: str, hovertemplate: str) -> go.Heatmap:
    """A -1..1 matrix sent exactly (float32) on numeric position axes, for hover with values."""
    return go.Heatmap(
        z=np.asarray(matrix, dtype=np.float32), zmin=-1.0, zmax=1.0,
        colorscale=colorscale(SIGNED_COLOR_SCALE),
        colorbar=dict(thickness=12, len=0.8, title=dict(text=value_name, side="right")),
        hovertemplate=hovertemplate,
    )


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int) -> go.Figure:
    fig.update_layout(base_layout(title, height))
    fig.update_xaxes(title_text=x_title, showgrid=False)
    fig.update_yaxes(title_text=y_title, showgrid=False)
    return fig


def sinusoid_heatmap(table: np.ndarray) -> go.Figure:
    """(1) The sinusoidal table (P, D) as two images, positions down: sines, then cosines.

    In the table sines and cosines alternate column by column; drawn like that, a browser
    shrinking 384 columns into a few hundred pixels mixes neighbours into moiré. Split into even
    (sin) and odd (cos) dimensions, each panel's columns run smoothly from fast to slow. x is
    still the true dimension number (the sin image starts at 0, the cos image at 1, step 2).
    """
    n_positions, d_model = table.shape
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("sin: even dimensions", "cos: odd dimensions"))
    for col, first in ((1, 0), (2, 1)):
        image, bar = signed_image(table[:, first::2], "value",
                                   "position %{y}, dimension %{x}<extra></extra>")  # (P, D/2)
        image.update(x0=first, dx=2)
        fig.add_trace(image, row=1, col=col)
    fig.add_trace(bar, row=1, col=2)
    fig = _layout(fig, f"Sinusoidal encoding: {n_positions} positions by {d_model} dimensions",
                  "dimension", "", height=520)
    fig.update_yaxes(title_text="position", row=1, col=1)
    fig.update_yaxes(scaleanchor=False)  # fill the frame: cells need not be square
    fig.update_annotations(font=dict(size=12))
    return fig


def wave_label(dim: int, d_model: int) -> str:
    return f"dim {dim} ({sinusoid_kind(dim)}, wavelength ≈ {sinusoid_wavelength(dim, d_model):,.1f})"


def sinusoid_waves(table: np.ndarray, dims: Sequence[int]) -> go.Figure:
    """(2) Chosen columns of the table as curves over positions, one colour per dimension."""
    n_positions, d_model = table.shape
    positions = np.arange(n_positions, dtype=np.int32)  # (P,)
    mode = "lines+markers" if n_positions <= 64 else "lines"  # the model only sees integer positions
    fig = go.Figure()
    for i, dim in enumerate(dims):
        fig.add_trace(go.Scatter(
            x=positions, y=table[:, dim].astype(np.float32), mode=mode, name=wave_label(dim, d_model),
            line=dict(color=OKABE_ITO[i % len(OKABE_ITO)], width=2, dash="solid" if dim % 2 == 0 else "dot"),
            hovertemplate=f"dim {dim}, position %{{x}}: %{{y:.3f}}<extra></extra>",
        ))
    fig = _layout(fig, "Chosen dimensions over positions", "position", "value", height=520)
    fig.update_yaxes(range=[-1.1, 1.1])
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return fig


def similarity_figure(similarity: np.ndarray, title: str) -> go.Figure:
    """(3), (4) A position-by-position cosine-similarity matrix (P, P), on a fixed -1..1 scale."""
    n = similarity.shape[0]
    hover = "positions %{y} and %{x}"
    if n <= EXACT_LIMIT:
        fig = go.Figure(_signed_heatmap(similarity, "cosine", hover + "<br>cosine %{z:.3f}<extra></extra>"))
        fig.update_yaxes(autorange="reversed")
    else:
        fig = go.Figure(signed_image(similarity, "cosine", hover + "<extra></extra>"))
    fig = _layout(fig, title, "position", "position", height=480)
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", constrain="domain")
    return fig


def similarity_by_distance_figure(curves: dict[str, np.ndarray]) -> go.Figure:
    """Mean cosine similarity against distance |i - j|, one line per named (P,) curve
    (`positional.similarity_by_offset` of a similarity matrix)."""
    fig = go.Figure()
    for i, (name, curve) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(
            x=np.arange(curve.size, dtype=np.int32), y=curve, mode="lines", name=plotly_text(name),
            line=dict(color=OKABE_ITO[i % len(OKABE_ITO)], width=2),
            hovertemplate="distance %{x}: mean cosine %{y:.3f}<extra></extra>",
        ))
    fig = _layout(fig, "Similarity against distance", "distance |i - j| (positions)",
                  "mean cosine similarity", height=360)
    fig.update_yaxes(range=[-1.05, 1.05], zeroline=True)
    return fig


def input_parts_figure(run: Run, parts: InputDecomposition) -> go.Figure:
    """(5) For each token, the share of its input vector's squared norm from each embedding part
    (`positional.decompose_input`)."""
    names = position_labels(run.labels)  # unique per position, so repeated tokens stay distinct
    fig = go.Figure()
    for k, part in enumerate(parts.names):
        detail = np.stack([parts.norms[:, k], parts.cosines[:, k]], axis=1)  # (T, 2)
        fig.add_trace(go.Bar(
            x=names, y=parts.shares[:, k], name=PART_LABELS.get(part, part), customdata=detail,
            marker=dict(color=OKABE_ITO[k % len(OKABE_ITO)]),
            hovertemplate=(f"%{{x}}<br>{PART_LABELS.get(part, part)}: %{{y:.0%}} of the squared norms"
                           "<br>norm %{customdata[0]:.2f}, cosine with the sum %{customdata[1]:.2f}"
                           "<extra></extra>"),
        ))
    fig = _layout(fig, "Where each token's input vector comes from (before LayerNorm)", "token",
                  "share of squared norms", height=420)
    fig.update_xaxes(axis_ticks(run.labels), tickangle=-60)
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(barmode="stack", bargap=0.15,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right",
                                  traceorder="normal"))
    return fig


def rotary_figure(frequencies: np.ndarray, n_positions: int, pairs: Sequence[int]) -> go.Figure:
    """RoPE (Su et al. 2021, eq. 15): (left) each dimension pair's wavelength 2π/θ_i in positions, with θ_i
    in the hover; (right) the rotation angle p·θ_i of a few pairs against position p, wrapped to (−π, π]
    as the rotation itself is. `frequencies` is `rotary_frequencies()`, float (Dh/2,)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)  # (Dh/2,)
    pair_index = np.arange(frequencies.size, dtype=np.int32)  # (Dh/2,)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Wavelength of each dimension pair", "Rotation angle against position"))
    fig.add_trace(go.Scatter(
        x=pair_index, y=2 * np.pi / frequencies, customdata=frequencies, mode="lines+markers", name="wavelength",
        line=dict(color=OKABE_ITO[0], width=2), showlegend=False,
        hovertemplate="pair %{x}: θ = %{customdata:.3g} rad per position, wavelength %{y:,.1f}<extra></extra>",
    ), row=1, col=1)
    positions = np.arange(n_positions, dtype=np.float64)  # (P,)
    mode = "lines+markers" if n_positions <= 64 else "lines"  # the model only sees integer positions
    for i, pair in enumerate(pairs):
        angle = np.angle(np.exp(1j * positions * frequencies[pair]))  # (P,) wrapped to (−π, π]
        fig.add_trace(go.Scatter(
            x=positions.astype(np.int32), y=angle.astype(np.float32), mode=mode,
            name=f"pair {pair} (wavelength ≈ {2 * np.pi / frequencies[pair]:,.1f})",
            line=dict(color=OKABE_ITO[i % len(OKABE_ITO)], width=2),
            hovertemplate=f"pair {pair}, position %{{x}}: %{{y:.3f}} rad<extra></extra>",
        ), row=1, col=2)
    fig = _layout(fig, f"Rotary frequencies: {frequencies.size} dimension pairs per head", "", "", height=440)
    fig.update_xaxes(title_text="dimension pair i", row=1, col=1)
    fig.update_yaxes(title_text="wavelength (positions)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="position", row=1, col=2)
    fig.update_yaxes(title_text="angle (rad)", range=[-3.3, 3.3], row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0.55))
    fig.update_annotations(font=dict(size=12))
    return fig
