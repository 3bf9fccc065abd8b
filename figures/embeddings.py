"""Figures of the Embeddings page: token vectors in PCA space, their paths through the layers,
their cosine similarities and their lengths. Pure drawing: the projections, cosines and norms
come prepared from `encoder.geometry`; the Run only supplies the tokens' labels.

Every string that comes from the text (tokens) goes through `plotly_text`, because Plotly
reads a subset of HTML in labels, legends and hover boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from encoder import Run
from encoder.geometry import Projection, hidden_depth_names

from .common import (
    DEFAULT_COLOR_SCALE,
    FONT,
    SIGNED_COLOR_SCALE,
    axis_ticks,
    base_layout,
    exact_heatmap,
    matrix_layout,
    plotly_text,
    position_labels,
    signed_image,
    tick_step,
)
from .labels import readable_labels

LABEL_PX = 10  # point labels of the PCA scatter
PATH_LABEL_PX = 12  # a path's label at its last layer
# Exact float32 cells cost ~7.6 bytes each in Plotly's JSON (base64 plus its escaped "/"):
# 200 tokens ≈ 300 kB; 512 tokens would be 2 MB, so larger matrices go as one PNG (~0.2 MB).
EXACT_COSINE_MAX_TOKENS = 200
COSINE_COLOR_SCALE = SIGNED_COLOR_SCALE  # one signed scale across the app
SPECIAL_COLOR = "#d62728"  # red: outside Cividis (blue → yellow), so special tokens stand out
TRACK_COLORS = qualitative.Safe  # CARTOColors "Safe": made to stay distinct for colour-blind eyes
BACKGROUND_COLOR = "rgba(140, 140, 140, 0.35)"


@dataclass(frozen=True)
class PointGroup:
    """Tokens drawn alike: a legend entry, a marker symbol and the positions it covers."""

    name: str
    symbol: str
    positions: list[int]
    special: bool


def point_groups(run: Run) -> list[PointGroup]:
    """Text A, text B (pairs only) and special tokens, each with its own marker."""
    groups = []
    for segment, symbol in ((0, "circle"), (1, "square")):
        positions = [i for i in range(run.n_tokens) if not run.special[i] and run.segment_ids[i] == segment]
        if positions:
            name = ("text A" if segment == 0 else "text B") if run.is_pair else "tokens"
            groups.append(PointGroup(name, symbol, positions, special=False))
    specials = [i for i in range(run.n_tokens) if run.special[i]]
    if specials:
        groups.append(PointGroup("special tokens", "diamond", specials, special=True))
    return groups


def at_depth(depth: str) -> str:
    """'at the embedding output', 'at layer 3': depth names read inside a title."""
    return f"at {depth}" if depth.startswith("layer") or "+" in depth else f"at the {depth}"


def axis_title(index: int, ratio: float, suffix: str = "") -> str:
    """'PC1 (34% of variance)': which axis, and how much of the spread it shows."""
    return f"PC{index + 1} ({ratio:.0%} of variance{suffix})"


# ---------------------------------------------------------------- (1) one depth, projected


def depth_scatter(run: Run, projection: Projection, depth: str) -> go.Figure:
    """The token vectors at one depth, projected onto their own first 2 or 3 principal axes
    (`geometry.depth_projection`).

    Colour is the token's position; special tokens are red diamonds; in a pair, text B is
    drawn with squares. Labels are written where they do not overlap in a 400 px chart (words
    before special tokens, in text order); every point keeps its label in the hover.
    """
    dimensions = projection.n_components
    labels = [plotly_text(t) for t in run.labels]
    words_first = sorted(range(run.n_tokens), key=lambda i: (bool(run.special[i]), i))
    shown = readable_labels(projection.coordinates, run.labels, LABEL_PX, words_first)
    written = [label if show else "" for label, show in zip(labels, shown, strict=True)]
    fig = go.Figure()
    for group in point_groups(run):
        fig.add_trace(_group_trace(projection.coordinates, labels, written, group, depth, dimensions))
    fig.update_layout(coloraxis=dict(colorscale=DEFAULT_COLOR_SCALE, cmin=0, cmax=max(run.n_tokens - 1, 1),
                                     colorbar=dict(title=dict(text="position"), thickness=12, len=0.8)))
    title = f"Tokens {at_depth(depth)}, PCA to {dimensions}-D"
    return _projection_layout(fig, title, projection, dimensions)


def _group_trace(coordinates: np.ndarray, labels: list[str], written: list[str], group: PointGroup, depth: str,
                 dimensions: int) -> go.Scatter | go.Scatter3d:
    """One group's points: `written` labels drawn (blank where they would overlap), `labels` in the hover."""
    points = coordinates[group.positions]  # (n, k)
    marker = dict(symbol=group.symbol, size=11 if group.special else 8, line=dict(width=1, color="white"))
    if group.special:
        marker["color"] = SPECIAL_COLOR
    else:
        marker.update(color=np.asarray(group.positions, dtype=np.int32), coloraxis="coloraxis")
    common = dict(
        name=group.name,
        mode="markers+text",
        text=[written[i] for i in group.positions],
        hovertext=[labels[i] for i in group.positions],
        textposition="top center",
        textfont=dict(size=LABEL_PX),
        customdata=np.asarray(group.positions, dtype=np.int32),
        marker=marker,
        hovertemplate=f"%{{hovertext}} · position %{{customdata}}<br>{plotly_text(depth)}<extra></extra>",
    )
    if dimensions == 3:
        marker["size"] = marker["size"] * 0.6
        return go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], **common)
    # a label of a point at the plot's edge runs on into the margin rather than being cut
    return go.Scatter(x=points[:, 0], y=points[:, 1], cliponaxis=False, **common)


# ---------------------------------------------------------------- (2) paths through the layers


def trajectory_figure(run: Run, projection: Projection, positions: Sequence[int]) -> go.Figure:
    """Chosen tokens' paths from the embedding output through every layer, in ONE PCA space
    fitted on every token at every depth (`geometry.shared_pca(run.hidden_states)`, coordinates
    (L + 1, T, k)), so the axes do not change along the path.

    Every token at every depth is a faint grey dot behind; markers grow with depth and the
    token's label sits at its last layer, where it does not overlap another path's (the legend
    and the hover name every path).
    """
    dimensions = projection.n_components
    depths = hidden_depth_names(run.n_layers)
    fig = go.Figure(_background_trace(projection.coordinates, dimensions))
    names = position_labels(run.labels)
    positions = list(positions)
    shown = readable_labels(projection.coordinates[-1, positions], [run.labels[p] for p in positions], PATH_LABEL_PX,
                            extent=projection.coordinates)
    for rank, position in enumerate(positions):
        path = projection.coordinates[:, position]  # (L + 1, k)
        fig.add_trace(_path_trace(path, names[position], plotly_text(run.labels[position]) if shown[rank] else "",
                                  depths, TRACK_COLORS[rank % len(TRACK_COLORS)], dimensions))
    title = f"Paths through the layers, embedding output → layer {run.n_layers} (one PCA for all depths)"
    return _projection_layout(fig, title, projection, dimensions, suffix=", all depths")


def _background_trace(coordinates: np.ndarray, dimensions: int) -> go.Scatter | go.Scatter3d:
    flat = coordinates.reshape(-1, coordinates.shape[-1])  # (S·T, k)
    common = dict(mode="markers", name="every token, every depth", hoverinfo="skip",
                  marker=dict(size=4 if dimensions == 2 else 3, color=BACKGROUND_COLOR))
    if dimensions == 3:
        return go.Scatter3d(x=flat[:, 0], y=flat[:, 1], z=flat[:, 2], **common)
    return go.Scatter(x=flat[:, 0], y=flat[:, 1], **common)


def _path_trace(path: np.ndarray, name: str, label: str, depths: list[str], color: str,
                dimensions: int) -> go.Scatter | go.Scatter3d:
    n = path.shape[0]
    common = dict(
        name=name,
        mode="lines+markers+text",
        text=[""] * (n - 1) + [label],
        textposition="top center",
        textfont=dict(size=PATH_LABEL_PX),
        customdata=depths,
        hovertemplate="%{fullData.name}<br>%{customdata}<extra></extra>",
        line=dict(color=color, width=2),
        marker=dict(color=color, size=np.linspace(5, 12, n).round(1).tolist(), line=dict(width=0)),
    )
    if dimensions == 3:
        common["marker"]["size"] = np.linspace(3, 7, n).round(1).tolist()
        return go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], **common)
    return go.Scatter(x=path[:, 0], y=path[:, 1], **common)


def _projection_layout(fig: go.Figure, title: str, projection: Projection, dimensions: int,
                       suffix: str = "") -> go.Figure:
    """Axis titles with explained variance; equal scales so distances on screen are honest."""
    if dimensions == 3:  # 3-D axis titles turn with the scene: keep them short
        titles = [f"PC{i + 1} ({r:.0%})" for i, r in enumerate(projection.explained_ratio)]
        fig.update_layout(scene=dict(xaxis_title=titles[0], yaxis_title=titles[1], zaxis_title=titles[2],
                                     aspectmode="data"))
    else:
        titles = [axis_title(i, r, suffix) for i, r in enumerate(projection.explained_ratio)]
        fig.update_xaxes(title_text=titles[0], zeroline=False)
        fig.update_yaxes(title_text=titles[1], zeroline=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(base_layout(title, 560, legend=dict(orientation="h", y=-0.12), hoverlabel=dict(font=FONT)))
    return fig


# ---------------------------------------------------------------- (3) cosine similarity


def cosine_figure(run: Run, cosines: np.ndarray, depth: str, centred: bool = False,
                  exact_max_tokens: int = EXACT_COSINE_MAX_TOKENS) -> go.Figure:
    """Cosine similarity (T, T) of every pair of token vectors at one depth
    (`geometry.token_cosines`), on a fixed -1…1 scale.

    Up to `exact_max_tokens` the matrix is sent exactly (hover gives 'token → token: cosine');
    above, as one PNG (hover gives positions only) to keep the page light.
    """
    kind = "centred cosine" if centred else "cosine"
    title = f"{kind.capitalize()} similarity of tokens {at_depth(depth)}"
    if run.n_tokens > exact_max_tokens:
        return _image_cosine_figure(cosines, run.labels, title, kind)
    trace = exact_heatmap(cosines, run.labels, run.labels, color_scale=COSINE_COLOR_SCALE,
                          row_title="token", col_title="token", value_name=kind)
    trace.update(zmin=-1.0, zmax=1.0)  # fixed scale: colours mean the same at every depth
    return go.Figure(trace, matrix_layout(run.labels, run.labels, title, x_title="token", y_title="token"))


def _image_cosine_figure(cosines: np.ndarray, tokens: list[str], title: str, kind: str) -> go.Figure:
    """One PNG on the same -1…1 colours, token ticks on numeric axes."""
    fig = go.Figure(signed_image(cosines, kind, "position %{y} → position %{x}<extra></extra>"))
    step = tick_step(len(tokens), max_ticks=24)  # half-width chart: 64 labels would overlap
    ticks = dict(tickmode="array", tickvals=list(range(0, len(tokens), step)),
                 ticktext=[plotly_text(t) for t in tokens[::step]], showgrid=False, automargin=True)
    fig.update_xaxes(ticks, title_text="token (hover shows positions)", tickangle=-60)
    fig.update_yaxes(ticks, title_text="token")
    fig.update_layout(base_layout(title, 560))
    return fig


# ---------------------------------------------------------------- (4) vector lengths


def norm_figure(run: Run, norms: np.ndarray) -> go.Figure:
    """Length (L + 1, T) of every token vector at every depth (`geometry.vector_norms`): tokens
    across, depths down.

    A heatmap rather than one line per token: it stays readable at 512 tokens, and tokens the
    model treats unusually ([CLS], [SEP], punctuation) show up as stripes.
    """
    depths = hidden_depth_names(run.n_layers)
    fig = go.Figure(go.Heatmap(
        z=norms, x=position_labels(run.labels), y=depths, colorscale=DEFAULT_COLOR_SCALE,  # colour: min…max
        colorbar=dict(thickness=12, len=0.8, title=dict(text="length", side="right")),
        hovertemplate="token %{x}<br>%{y}<br>length: %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(axis_ticks(run.labels), title_text="token", tickangle=-60)
    fig.update_yaxes(type="category", autorange="reversed", title_text="depth", automargin=True)
    title = "Length (norm) of every token vector at every depth"  # fits a 400 px column
    fig.update_layout(base_layout(title, 160 + 28 * len(depths)))
    return fig
