"""Exports: any view's numbers as long-format CSV, a run as .npz, figures as offline HTML.

Every CSV Headlight writes goes through `csv_text`, which keeps a spreadsheet from reading a cell
as a formula (a token such as `=HYPERLINK(…)` would otherwise become a live link when the file is
opened): a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
single quote, as OWASP's "CSV Injection" page recommends. Numbers, negative ones included, stay
numbers; only text is changed, so a token "-" reads "'-" in the file.

This is the one engine module allowed to import plotly: `figure_html` and `save_html` write
Plotly figures to self-contained HTML (plotly.js embedded, nothing fetched from a CDN), so that
`encoder.export.save_html(run, path)` works from a notebook without the app. It builds its one
figure itself and never imports streamlit or `figures/`.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .run import Run

LONG_COLUMNS = ("layer", "head", "query", "query_token", "key", "key_token", "weight")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, with a ' in front; anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(frame: pd.DataFrame, **options) -> str:
    """`frame.to_csv(index=False, **options)` with every text cell made `spreadsheet_safe`, column names too,
    and rows ended by CRLF.

    The one function that writes CSV for a download. Columns of numbers are written as they are;
    in text columns (object, string or category) each distinct value is checked once, so
    a long-format table of 19 million rows and a few hundred tokens costs one hashing pass.
    """
    safe = frame.rename(columns=spreadsheet_safe)
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        codes, distinct = pd.factorize(values.astype(object), use_na_sentinel=False)
        escaped = np.array([spreadsheet_safe(value) for value in distinct], dtype=object)
        if any(a is not b for a, b in zip(escaped, distinct, strict=True)):
            safe.isetitem(position, pd.Series(escaped[codes], index=frame.index, dtype=object))
    # CRLF, as RFC 4180 has it: the csv writer quotes a cell holding any character of the line
    # terminator, so a lone CR inside a token is quoted too instead of ending the row early.
    return safe.to_csv(index=False, **{"lineterminator": "\r\n", **options})


def long_format(weights: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], *,
                layers: Sequence[int] | None = None, heads: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per cell: layer, head, query, query_token, key, key_token, weight.

    weights: (L, H, Q, K), (L, Q, K) (no head axis, e.g. rollout: `head` is empty) or (Q, K).
    `layers` / `heads` name the slices along those axes (0-based; default 0, 1, ...); for a
    (Q, K) matrix pass one layer and one head, or leave them empty. query / key are 0-based
    positions in the view, query_token / key_token their labels. Every cell is a row: all 72 heads
    of a 512-token run make 19 million, so export the heads a view shows.
    """
    weights = np.asarray(weights)
    if weights.ndim not in (2, 3, 4):
        raise ValueError(f"Expected weights of shape (L, H, Q, K), (L, Q, K) or (Q, K), got {weights.shape}.")
    n_queries, n_keys = weights.shape[-2:]
    if len(query_labels) != n_queries or len(key_labels) != n_keys:
        raise ValueError(f"{len(query_labels)} query and {len(key_labels)} key labels for a "
                         f"{n_queries} × {n_keys} matrix.")
    if weights.ndim == 4:
        grid = weights  # (L, H, Q, K)
    elif weights.ndim == 3:
        grid = weights[:, None]  # (L, 1, Q, K): the missing axis is heads
    else:
        grid = weights[None, None]  # (1, 1, Q, K)
    n_layers, n_heads = grid.shape[:2]
    layer_names = _axis_names(layers, n_layers, weights.ndim >= 3)
    head_names = _axis_names(heads, n_heads, weights.ndim == 4)
    layer, head, query, key = (index.ravel() for index in np.indices(grid.shape))  # each L·H·Q·K
    return pd.DataFrame({
        "layer": pd.array(np.asarray(layer_names, dtype=object)[layer], dtype="Int64"),
        "head": pd.array(np.asarray(head_names, dtype=object)[head], dtype="Int64"),
        "query": query,
        "query_token": np.asarray(list(query_labels), dtype=object)[query],
        "key": key,
        "key_token": np.asarray(list(key_labels), dtype=object)[key],
        "weight": grid.ravel(),
    })


def _axis_names(names: Sequence[int] | None, size: int, present: bool) -> list[int | None]:
    if names is None:
        return list(range(size)) if present else [None] * size
    if len(names) != size:
        raise ValueError(f"{len(names)} names for an axis of {size}.")
    return list(names)


def screen_numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """A 0-based frame (the Python API's numbering) as the app's screens number it: its `layer` and
    `head` columns become `layer_from_1` and `head_from_1`, so that a file's "layer_from_1 = 3" is the
    screen's "Layer 3" and the column's name says which numbering it is. Token positions (`query`,
    `key`) stay as the screens' "·N" write them, from 0 ([CLS] is ·0)."""
    renamed = {}
    for column in ("layer", "head"):
        if column in frame.columns:
            frame = frame.assign(**{column: frame[column] + 1})
            renamed[column] = f"{column}_from_1"
    return frame.rename(columns=renamed)


def screen_csv(frame: pd.DataFrame, **options) -> str:
    """A download's CSV: `screen_numbered`, then `csv_text`."""
    return csv_text(screen_numbered(frame), **options)


def grid_frame(values: np.ndarray, rows: Sequence, columns: Sequence, row_name: str, column_name: str,
                value_name: str = "value") -> pd.DataFrame:
    """A (R, C) grid in long format: one row per cell, named by its row and column labels."""
    values = np.asarray(values)
    if values.shape != (len(rows), len(columns)):
        raise ValueError(f"{len(rows)} row and {len(columns)} column labels for a {values.shape} grid.")
    row, column = (index.ravel() for index in np.indices(values.shape))
    return pd.DataFrame({row_name: np.asarray(list(rows), dtype=object)[row],
                         column_name: np.asarray(list(columns), dtype=object)[column], value_name: values.ravel()})


def projection_frame(tokens: Sequence[str], coordinates: np.ndarray, depth: str) -> pd.DataFrame:
    """Each token's coordinates on the principal axes: depth (as the screens name it), position (·N,
    from 0), token, pc1, pc2[, pc3]."""
    coordinates = np.asarray(coordinates)
    frame = pd.DataFrame({"depth": depth, "position": np.arange(len(tokens)), "token": list(tokens)})
    for axis in range(coordinates.shape[-1]):
        frame[f"pc{axis + 1}"] = coordinates[:, axis]
    return frame


def attention_long_csv(weights: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], *,
                       layers: Sequence[int] | None = None, heads: Sequence[int] | None = None) -> str:
    """`long_format` as a download's CSV (`screen_csv`: layers and heads from 1, tokens made
    `spreadsheet_safe`); `layers` and `heads` are 0-based, as everywhere in the Python API."""
    return screen_csv(long_format(weights, query_labels, key_labels, layers=layers, heads=heads))


def run_arrays(run: Run) -> dict[str, np.ndarray]:
    """A run as plain arrays (no object dtype, so `np.load(..., allow_pickle=False)` reads them)."""
    arrays = {
        "attentions": run.attentions,  # (L, H, T, T)
        "hidden_states": run.hidden_states,  # (L + 1, T, D)
        "value_output_norms": run.value_output_norms,  # (L, H, T)
        "token_embeddings": run.token_embeddings,
        "position_embeddings": run.position_embeddings,
        "tokens": np.array(run.tokens, dtype=str),
        "ids": np.array(run.ids, dtype=np.int64),
        "segment_ids": np.array(run.segment_ids, dtype=np.int64),
        "word_ids": np.array([-1 if w is None else w for w in run.word_ids], dtype=np.int64),  # −1: special
        "offsets": np.array(run.offsets, dtype=np.int64).reshape(-1, 2),  # (T, 2) character spans
        "special": np.array(run.special, dtype=bool),
        "model_name": np.array(run.model_name, dtype=str),
        "text_a": np.array(run.text_a, dtype=str),
    }
    optional = {"segment_embeddings": run.segment_embeddings, "queries": run.queries, "keys": run.keys,
                "values": run.values}
    arrays.update({name: array for name, array in optional.items() if array is not None})
    if run.text_b is not None:
        arrays["text_b"] = np.array(run.text_b, dtype=str)
    return arrays


def run_npz_bytes(run: Run) -> bytes:
    """The run's arrays and tokens as an uncompressed .npz file (numpy's own format, no pickle)."""
    buffer = io.BytesIO()
    np.savez(buffer, **run_arrays(run))
    return buffer.getvalue()


def figure_html(fig: go.Figure, config: dict | None = None) -> str:
    """A whole HTML page drawing `fig`, with plotly.js embedded: it opens offline, no CDN."""
    return pio.to_html(fig, include_plotlyjs=True, full_html=True, config=config or {"displaylogo": False})


def _escaped(text: str, limit: int | None = None) -> str:
    """User text shown literally: Plotly reads a subset of HTML in labels, so escape it."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)


def attention_figure(run: Run, layers: Sequence[int] | None = None,
                     heads: Sequence[int] | None = None) -> go.Figure:
    """One heatmap per (layer, head), one shown at a time, picked with a slider (no app needed).

    Each head's weights travel as a float32 typed array (4 bytes a cell), so the file grows as
    L·H·T²: about 6 MB at 128 tokens for 72 heads, besides plotly.js's 4.6 MB.
    """
    layers = list(range(run.n_layers)) if layers is None else list(layers)
    heads = list(range(run.n_heads)) if heads is None else list(heads)
    # Unique names, "token ·i", so that equal tokens do not merge into one row or column.
    names = [f"{_escaped(token)} ·{i}" for i, token in enumerate(run.tokens)]
    pairs = [(layer, head) for layer in layers for head in heads]
    fig = go.Figure([
        go.Heatmap(
            z=run.attentions[layer, head], x=names, y=names, colorscale="Cividis", zmin=0,
            visible=index == 0, name=f"Layer {layer + 1}, head {head + 1}",
            hovertemplate="%{y} → %{x}: %{z:.4f}<extra></extra>", colorbar=dict(title="weight"),
        )
        for index, (layer, head) in enumerate(pairs)
    ])
    heading = _escaped(run.text_a, 60)
    steps = [
        dict(method="update", label=f"L{layer + 1} H{head + 1}",
             args=[{"visible": [i == index for i in range(len(pairs))]},
                   {"title.text": f"{heading}<br>{_escaped(run.model_name)}, layer {layer + 1}, head {head + 1}"
                                  " (rows: queries, columns: keys)"}])
        for index, (layer, head) in enumerate(pairs)
    ]
    step = -(-len(names) // 64)  # label every token up to 64, then every k-th
    ticks = dict(type="category", tickmode="array", tickvals=names[::step], ticktext=names[::step], showgrid=False)
    side = min(4000, max(360, 18 * run.n_tokens))  # pixels for the matrix: 18 a token, within bounds
    fig.update_layout(
        title=dict(text=steps[0]["args"][1]["title.text"] if steps else heading, x=0.02, y=1, yanchor="top",
                   yref="container", pad=dict(t=16)),
        xaxis=dict(ticks, side="top", tickangle=-60),
        yaxis=dict(ticks, autorange="reversed"),
        sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="Layer and head: "), pad=dict(t=30))],
        margin=dict(t=200, l=140, b=120),  # the key labels sit on top, under the title
        height=side + 320, width=max(side + 260, 720),
        template="plotly_white",
    )
    return fig


def save_html(run: Run, path: str | Path, *, layers: Sequence[int] | None = None,
              heads: Sequence[int] | None = None) -> Path:
    """Write the run's attention, every head behind a slider, to one self-contained offline HTML file.

    `layers` / `heads` (0-based) keep the file small for long texts. Returns the path written.
    """
    path = Path(path)
    path.write_text(figure_html(attention_figure(run, layers, heads)), encoding="utf-8")
    return path
