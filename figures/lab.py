"""Figures of the Lab page: the training curves, every head's attention on one sequence (with the
keys the task needs marked), the task's expected pattern under an optional causal mask, and the
held-out accuracy at each position."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import DEFAULT_COLOR_SCALE, FONT, base_layout, colorscale, plotly_text, position_labels
from .compose import compose

MASKED_COLOR = "#c8c8c8"  # cells a causal mask hides (a key after its query)
EXPECTED_MARKER = dict(symbol="square-open", color="#e8432e", line=dict(width=2.5))
LOSS_COLOR, TRAIN_COLOR, HELD_OUT_COLOR = "#0072B2", "#E69F00", "#009E73"  # Okabe & Ito
LEGEND_BAND_PX = 100  # under the curves: the step axis, and the legend on up to two lines (a 400 px chart)


def training_curves(steps: Sequence[int], loss: Sequence[float], token_accuracy: Sequence[float],
                    eval_steps: Sequence[int], sequence_accuracy: Sequence[float], total_steps: int,
                    title: str, height: int = 330) -> go.Figure:
    """Loss (left) and accuracy (right) against the step; the x axis spans the whole run, so a
    live curve grows from the left."""
    fig = make_subplots(1, 2, subplot_titles=("Training loss (cross-entropy)", "Accuracy"), horizontal_spacing=0.08)
    fig.add_trace(go.Scatter(x=list(steps), y=list(loss), mode="lines+markers", name="training loss",
                             line=dict(color=LOSS_COLOR, width=3), marker=dict(size=5), showlegend=False,
                             hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Scatter(x=list(steps), y=list(token_accuracy), mode="lines", name="training symbols right",
                             line=dict(color=TRAIN_COLOR, width=3),
                             hovertemplate="step %{x}<br>training symbols right %{y:.1%}<extra></extra>"), 1, 2)
    fig.add_trace(go.Scatter(x=list(eval_steps), y=list(sequence_accuracy), mode="lines+markers",
                             name="held-out sequences right", line=dict(color=HELD_OUT_COLOR, width=3),
                             marker=dict(size=7),
                             hovertemplate="step %{x}<br>held-out sequences right %{y:.1%}<extra></extra>"), 1, 2)
    # The legend goes under the plots (right-aligned, under the accuracy it names), in a band of its own:
    # inside the accuracy panel it covered a curve that starts high (a task learned in a few steps), and
    # at 400 px it covered both.
    layout = base_layout(title, height + LEGEND_BAND_PX, legend=dict(
        orientation="h", yref="container", y=0, yanchor="bottom", x=1, xanchor="right", font=dict(size=13)))
    layout["margin"] = dict(layout["margin"], b=LEGEND_BAND_PX)
    fig.update_layout(layout)
    fig.update_xaxes(range=[0, max(total_steps, 1) * 1.02], title_text="step")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.04], tickformat=".0%", row=1, col=2)
    return fig


def sequence_ticks(labels: Sequence[str]) -> dict:
    """Category axis ticks for a short sequence: each symbol with its position as a subscript
    (the tasks speak of positions: "query i attends to key T-1-i")."""
    return dict(type="category", tickmode="array", tickvals=position_labels(labels), showgrid=False,
                ticktext=[f"{plotly_text(symbol)}<sub>{i}</sub>" for i, symbol in enumerate(labels)])


def _hidden_by_mask(matrix: np.ndarray, causal: bool) -> np.ndarray:
    """A (T, T) matrix as float32 with the cells a causal mask hides set to NaN (drawn empty)."""
    out = np.array(matrix, dtype=np.float32)
    if causal:
        out[np.triu_indices(out.shape[0], k=1)] = np.nan
    return out


def _masked_cells(n_tokens: int, names: Sequence[str]) -> go.Heatmap:
    """Grey over the cells a causal mask hides (keys after the query); NaN elsewhere lets the weights show."""
    hidden = np.full((n_tokens, n_tokens), np.nan, dtype=np.float32)
    hidden[np.triu_indices(n_tokens, k=1)] = 1.0
    return go.Heatmap(z=hidden, x=names, y=names, name="masked", colorscale=[[0, MASKED_COLOR], [1, MASKED_COLOR]],
                      showscale=False, hovertemplate="query %{y} → key %{x}<br>masked<extra></extra>")


def attention_grid(attention: np.ndarray, labels: Sequence[str], title: str, *, expected: np.ndarray | None = None,
                   causal: bool = False, shares: np.ndarray | None = None, width_px: int = 900) -> go.Figure:
    """Every head's attention (L, H, T, T) on one sequence, a grid with a layer per row, all on
    one 0..1 colour scale. `expected` (T, T) bool marks the keys the task needs with red squares;
    `shares` (L, H) titles each head with the share of its weight on those keys; with `causal`
    the masked cells (keys after the query) are drawn grey. `width_px` is the width the figure is
    expected to get: the height follows from it, so that square heatmaps leave no empty bands."""
    n_layers, n_heads, n_tokens = attention.shape[:3]
    titles = _head_titles(n_layers, n_heads, shares)
    fig = make_subplots(n_layers, n_heads, subplot_titles=titles, horizontal_spacing=0.35 / max(n_heads, 1),
                        vertical_spacing=0.45 / max(n_layers, 1) if n_layers > 1 else 0.0)
    names = position_labels(labels)
    scale = colorscale(DEFAULT_COLOR_SCALE)
    side = min(0.7 * (width_px - 120) / n_heads, 40 * n_tokens)  # px of one square heatmap
    if expected is not None:
        rows, cols = np.nonzero(expected)
    for layer in range(n_layers):
        for head in range(n_heads):
            fig.add_trace(go.Heatmap(
                z=_hidden_by_mask(attention[layer, head], causal), x=names, y=names, zmin=0.0, zmax=1.0,
                name="attention", colorscale=scale, showscale=layer == 0 and head == 0,
                colorbar=dict(thickness=14, len=0.7, title=dict(text="weight", side="right")),
                hovertemplate=f"L{layer + 1} H{head + 1}<br>query %{{y}} → key %{{x}}<br>weight %{{z:.3f}}"
                              "<extra></extra>",
            ), layer + 1, head + 1)
            if causal:
                fig.add_trace(_masked_cells(n_tokens, names), layer + 1, head + 1)
            if expected is not None:
                fig.add_trace(go.Scatter(
                    x=[names[c] for c in cols], y=[names[r] for r in rows], mode="markers", name="key the task needs",
                    marker=dict(EXPECTED_MARKER, size=max(side / n_tokens * 0.55, 5)), hoverinfo="skip"),
                    layer + 1, head + 1)
    height = int(n_layers * (side + 60) + 100)
    fig.update_layout(base_layout(_grid_title(title, expected is not None), height, plot_bgcolor="white",
                                  showlegend=False))
    ticks = sequence_ticks(labels)
    # Explicit ranges: the marker trace would otherwise pad the axes around the heatmap.
    fig.update_xaxes(ticks, range=[-0.5, n_tokens - 0.5], tickangle=0, tickfont=dict(size=14), constrain="domain")
    fig.update_yaxes(ticks, range=[n_tokens - 0.5, -0.5], tickfont=dict(size=14), constrain="domain")
    for index in range(1, n_layers * n_heads + 1):  # square cells: each y axis keeps its x axis's scale
        suffix = "" if index == 1 else str(index)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    for annotation in fig.layout.annotations:
        annotation.font = dict(FONT, size=14)
    return fig


def update_attention_grid(fig: go.Figure, attention: np.ndarray, title: str, *, expected: bool = False,
                          causal: bool = False, shares: np.ndarray | None = None) -> go.Figure:
    """Put new weights (L, H, T, T), head titles and title into a figure `attention_grid` made with
    the same shape, labels and options, in place. A live redraw costs about 10 ms this way against
    0.5-0.9 s for a new figure (plotly validates every trace and axis it builds), and that time
    is the server's, shared with every other visitor."""
    n_layers, n_heads = attention.shape[:2]
    heatmaps = [trace for trace in fig.data if trace.name == "attention"]
    with fig.batch_update():
        for index, trace in enumerate(heatmaps):
            trace.z = _hidden_by_mask(attention[index // n_heads, index % n_heads], causal)
        for annotation, text in zip(fig.layout.annotations, _head_titles(n_layers, n_heads, shares), strict=False):
            annotation.text = text
        fig.layout.title.text = plotly_text(_grid_title(title, expected))
    return fig


def _head_titles(n_layers: int, n_heads: int, shares: np.ndarray | None) -> list[str]:
    return [f"L{layer + 1} H{head + 1}" + ("" if shares is None else f" · {shares[layer, head]:.0%} on target")
            for layer in range(n_layers) for head in range(n_heads)]


def _grid_title(title: str, expected: bool) -> str:
    return title + (" · red squares: the keys the task needs" if expected else "")


# Cell kinds of the expected-pattern figure, in colourscale order.
FREE, NEEDED, MASKED, NEEDED_BUT_MASKED = 0, 1, 2, 3
PATTERN_COLORS = ("#ffffff", "#1f4e79", MASKED_COLOR, "#e8432e")
PATTERN_NAMES = ("not needed", "needed", "masked", "needed but masked")


def expected_pattern(expected: np.ndarray, labels: Sequence[str], title: str, causal: bool = False,
                     height: int = 400) -> go.Figure:
    """Where the right answer lives, (T, T) bool: dark blue = the key output i needs. With a causal
    mask, grey cells are hidden and red ones are needed but hidden: those outputs can only guess."""
    n = expected.shape[0]
    masked = np.triu(np.ones((n, n), dtype=bool), k=1) if causal else np.zeros((n, n), dtype=bool)
    kinds = np.where(expected, np.where(masked, NEEDED_BUT_MASKED, NEEDED), np.where(masked, MASKED, FREE))
    steps = len(PATTERN_COLORS)
    scale = [[edge, color] for k, color in enumerate(PATTERN_COLORS) for edge in (k / steps, (k + 1) / steps)]
    names = position_labels(labels)
    trace = go.Heatmap(z=kinds.astype(np.float32), x=names, y=names, zmin=-0.5, zmax=steps - 0.5, colorscale=scale,
                       xgap=1, ygap=1, customdata=np.array(PATTERN_NAMES, dtype=object)[kinds],
                       showscale=False, hovertemplate="query %{y} → key %{x}<br>%{customdata}<extra></extra>")
    # A legend of the kinds present, under the matrix: a colour bar would squeeze it in a narrow column.
    keys = [go.Scatter(x=[None], y=[None], mode="markers", name=PATTERN_NAMES[kind],
                       marker=dict(symbol="square", size=14, color=PATTERN_COLORS[kind],
                                   line=dict(width=1, color="#999999")))
            for kind in (NEEDED, NEEDED_BUT_MASKED, MASKED, FREE) if (kinds == kind).any()]
    layout = base_layout(title, height, plot_bgcolor="white", showlegend=True,
                         legend=dict(orientation="h", yanchor="top", y=-0.24, x=0, font=dict(size=13)),
                         xaxis=dict(sequence_ticks(labels), title=dict(text="key"), tickangle=0, tickfont=dict(size=14),
                                    constrain="domain"),
                         yaxis=dict(sequence_ticks(labels), title=dict(text="query"), autorange="reversed",
                                    tickfont=dict(size=14),
                                    scaleanchor="x", constrain="domain"))
    return go.Figure([trace, *keys], layout)


def position_accuracy(accuracy: np.ndarray, blind: np.ndarray, chance: float, title: str,
                      height: int = 320) -> go.Figure:
    """Held-out accuracy (T,) at each output position; red bars are positions whose answer can lie
    after them (`blind`), which a causal mask hides; the dashed line is guessing."""
    positions = [f"{i}" for i in range(len(accuracy))]
    colors = np.where(blind, "#e8432e", HELD_OUT_COLOR).tolist()
    bar = go.Bar(x=positions, y=np.asarray(accuracy, dtype=np.float32), marker=dict(color=colors),
                 text=[f"{a:.0%}" for a in accuracy], textposition="outside", cliponaxis=False,
                 hovertemplate="position %{x}: %{y:.1%} right<extra></extra>")
    layout = base_layout(title, height, xaxis=dict(title=dict(text="output position"), type="category"),
                         yaxis=dict(range=[0, 1.12], tickformat=".0%", title=dict(text="held-out right")),
                         shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=chance, y1=chance,
                                      line=dict(dash="dash", color="#555555", width=2))],
                         annotations=[dict(xref="paper", x=1.0, y=chance, xanchor="left", font=dict(size=13),
                                           text=plotly_text(f" guessing: {chance:.0%}"), showarrow=False)])
    layout["margin"] = dict(layout["margin"], r=110)  # room for the guessing label right of the bars
    return go.Figure(bar, layout)


def results_figure(curves: go.Figure, grid: go.Figure, expected: go.Figure, accuracy: go.Figure,
                   title: str) -> go.Figure:
    """The trained run's figures as one, for the export: the curves, every head's attention on the
    held-out example, then the expected pattern beside the accuracy at each position."""
    return compose([[curves], [grid], [expected, accuracy]], title)
