"""The explorer's payload read back in Python, the way payload.js and explorer.js read it: the one
reader the tests share (AppTests of the Attention page, the packer's tests, the notebook widget's).

`read` decodes a message (PROTOCOL.md); `shows` rebuilds what the browser draws from it: the main
map, the window and the followed token's chart in the view the message's options ask for, with
numbers, labels and titles filled in, plus the thumbnails' titles, the captions, the selection and
the colour. The view options are applied with the engine's own functions (encoder.attention_view)
on the token table the message carries, as transform.js applies them in the browser; the e2e tests
(tests/e2e/test_explorer_transforms.py) check the real JavaScript against the same functions in
Chromium.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np

from encoder.attention_view import (
    MEAN_HEAD,
    AttentionView,
    ViewOptions,
    groups_of,
    kept_positions,
    row_of_position,
    view_weights,
    window_span,
)

from .. import attention as figs
from ..common import plotly_text
from .packer import Shown, dequantize_heads, unpack


@dataclass(frozen=True)
class Message:
    """One decoded payload: its header, the view (None when the browser was told it holds it), and
    every layer sent as float32 (decoded as payload.js `decodeLayer` and `rowReader` do)."""

    header: dict
    view: dict | None
    layers: dict  # layer -> (H, T, T) float32, as captured
    hover: np.ndarray | None  # (Q', K') the shown head as hover prints it, on long texts
    token_hover: np.ndarray | None  # (L, H, K') the followed token's rows as hover prints them
    size: int  # bytes


@dataclass(frozen=True)
class TokenTable:
    """The message's token table, with the names encoder.attention_view reads from a Run."""

    labels: list[str]
    special: list[bool]
    segment_ids: list[int]
    word_ids: list[int | None]
    words: dict

    @classmethod
    def of(cls, tokens: dict) -> TokenTable:
        return cls(tokens["labels"], [bool(s) for s in tokens["special"]], tokens["segment"],
                   [None if w < 0 else w for w in tokens["word"]], tokens["words"])

    @property
    def n_tokens(self) -> int:
        return len(self.labels)

    @property
    def is_pair(self) -> bool:
        return 1 in self.segment_ids

    def label(self, group: list[int]) -> str:
        """transform.js `groupLabel`."""
        return self.labels[group[0]] if len(group) == 1 else self.words.get(
            str(group[0]), "".join(self.labels[p] for p in group))


def _counts(blobs: list[bytes], entry: dict | None) -> np.ndarray | None:
    """payload.js `hoverValues`: deflated uint16 counts of 1 / scale (flat)."""
    if entry is None:
        return None
    return np.frombuffer(zlib.decompress(blobs[entry["blob"]]), "<u2") / entry["scale"]


def read(payload: bytes, view: dict | None = None) -> Message:
    """Decode one message. `view`: the view the browser holds, for messages that leave it out."""
    header, blobs = unpack(payload)
    view = header.get("view", view)
    layers = {}
    if view is not None:
        _, n_heads, n_tokens, _ = view["shape"]
        special = [p for p, s in enumerate(view["tokens"]["special"]) if s]
        for entry in header["layers"]:
            data = blobs[entry["blob"]]
            if entry["deflated"]:
                codes = np.frombuffer(zlib.decompress(data), np.uint8).reshape(n_heads, n_tokens, n_tokens)
                scales = np.frombuffer(blobs[entry["scales"]], "<f4")
                maxima = scales[:n_heads * n_tokens].reshape(n_heads, n_tokens)
                specials = scales[n_heads * n_tokens:].reshape(n_heads, n_tokens, len(special))
                layers[entry["layer"]] = dequantize_heads(codes, maxima, specials, special)
            else:
                layers[entry["layer"]] = np.frombuffer(data, "<f4").reshape(n_heads, n_tokens, n_tokens)
    return Message(header, view, layers, _counts(blobs, header["exact"]), _counts(blobs, header["token_hover"]),
                   len(payload))


def options_of(shown: dict) -> ViewOptions:
    return ViewOptions(shown["hide"], shown["renormalize"], shown["merge"], shown["block"])


def transform(tokens: TokenTable, heads: np.ndarray, shown: dict) -> tuple[np.ndarray, list, list]:
    """(..., T, T) as captured -> ((..., Q', K') in the view shown, query groups, key groups), as
    transform.js `viewLayout` and `transformLayer` compute them."""
    options = options_of(shown)
    queries, keys = kept_positions(tokens, options)
    query_groups, key_groups = groups_of(tokens, queries, options.merge_subwords), groups_of(tokens, keys,
                                                                                             options.merge_subwords)
    return (view_weights(tokens, heads, queries, query_groups, key_groups, options.renormalizes, True),
            query_groups, key_groups)


def _as_drawn(figure, template: str, z, title: str | None = None, customdata=None) -> dict:
    """A Python figure of the view shown as the browser draws it from the packer's template (charts.js
    sets the same labels, sizes and titles: tests/e2e/test_explorer_transforms.py): the template's
    hover and background, the browser's title, and what hover reads."""
    drawn, built = json.loads(figure.to_json()), json.loads(template)
    drawn["data"][0]["z"] = np.asarray(z).tolist()
    drawn["data"][0]["hovertemplate"] = built["data"][0]["hovertemplate"]
    if "plot_bgcolor" in built["layout"]:
        drawn["layout"]["plot_bgcolor"] = built["layout"]["plot_bgcolor"]
    if title is not None:
        drawn["layout"]["title"]["text"] = title
    if customdata is not None:
        drawn["data"][0]["customdata"] = np.asarray(customdata).tolist()
    return drawn


def shows(payload: bytes) -> dict:
    """What the explorer draws from a message that carries its view: {"figures" (main, window when
    shown, the followed token's chart when its token is in the view), "grids" (the thumbnails'
    titles), "colour" (scale, "linear"|"log"), "captions", "note", "selection" (layer, head),
    "shown" (the view options), "labels" (rows, columns), "view", "auto", "bytes"}. On long texts z
    holds the quantized weights and customdata what hover reads, once the server sent it for this
    head and view."""
    message = read(payload)
    header, view = message.header, message.view
    if view is None:
        raise ValueError("this message leaves the view out: the browser already holds it")
    n_heads = view["shape"][1]
    layer, head = header["selection"]["layer"], header["selection"]["head"]
    shown = header["shown"]
    tokens = TokenTable.of(view["tokens"])
    sizes = figs.PRESENTATION if view["present"] else figs.NORMAL
    colours, chosen = view["colours"], header["colour"]
    try:
        heads, query_groups, key_groups = transform(tokens, message.layers[layer], shown)  # (H, Q', K')
    except ValueError:  # hiding left nothing: the browser says so and draws nothing
        return {"figures": [], "grids": {}, "captions": [], "note": view["texts"]["nothing"], "shown": shown,
                "selection": (layer, head), "view": view, "auto": None, "labels": ([], []), "bytes": message.size,
                "colour": (chosen["scale"], chosen["mode"])}
    view_shown = AttentionView(heads[None], [tokens.label(g) for g in query_groups],
                               [tokens.label(g) for g in key_groups], query_groups, key_groups)
    query_labels, key_labels = view_shown.query_labels, view_shown.key_labels
    matrix = heads.mean(axis=0) if head == MEAN_HEAD else heads[head]  # explorer.js `matrix`
    exact = header["exact"]
    hover = None
    if message.hover is not None and exact["key"] == _key(shown):
        hover = message.hover.reshape(matrix.shape)
    auto_log = len(query_labels) >= view["auto_log_from"]
    mode = "log" if chosen["mode"] == "log" or (chosen["mode"] == "auto" and auto_log) else "linear"

    def coloured(figure: dict) -> dict:
        trace = figure["data"][0]
        trace["colorscale"] = colours["colorscale"][chosen["scale"]][mode]
        trace["colorbar"]["title"]["text"] = colours["legend"][mode]
        return figure

    title = view["titles"][layer][n_heads if head == MEAN_HEAD else head]
    if shown["block"] != "all":
        title += plotly_text(view["formats"]["block_title"].format(block=shown["block"]))
    b_start = _b_start(tokens, query_groups, shown)
    figures = [_as_drawn(figs.head_heatmap(view_shown, 0, head, block=shown["block"], b_start=b_start, sizes=sizes),
                         view["main"], matrix, title, hover)]
    sums = matrix.sum(axis=-1, dtype=np.float64)
    exact_rows = exact["rows"] if hover is not None else [float(sums.min()), float(sums.max())]
    tolerance = 1e-3 if view["encoding"] == "f32" or hover is not None else 0.03
    captions = [_rows_caption(view["texts"]["rows"], exact_rows, shown, b_start, tolerance)]
    follow_row = row_of_position(query_groups, shown["follow"])
    n_rows = len(query_labels)
    if 0 < shown["window"] < n_rows:
        rows = window_span(n_rows, follow_row or 0, shown["window"])
        key_center = row_of_position(key_groups, shown["follow"])
        cols = window_span(len(key_labels), rows[0] + shown["window"] // 2 if key_center is None else key_center,
                           shown["window"])
        (r0, r1), (c0, c1) = rows, cols
        figures.append(_as_drawn(figs.window_heatmap(view_shown, 0, head, rows, cols, sizes=sizes), view["window"],
                                 matrix[r0:r1, c0:c1], customdata=None if hover is None else hover[r0:r1, c0:c1]))
        captions.append(view["texts"]["window"].replace("{window}", str(shown["window"])))
    note = ""
    if follow_row is None:
        hidden = view["texts"]["hidden"]
        note = hidden["special"] if shown["hide"] and tokens.special[shown["follow"]] else \
            hidden["block"].format(block=shown["block"])
    else:
        token_hover = None
        if message.token_hover is not None and header["token_hover"]["key"] == f"{_key(shown)}|{shown['follow']}":
            token_hover = message.token_hover.reshape(-1, n_heads, len(key_labels))[layer]
        token = figs.token_across_heads(view_shown, 0, follow_row, position=shown["follow"], sizes=sizes)
        token_title = plotly_text(figs.token_title(view_shown, layer, follow_row, shown["follow"]))
        figures.append(_as_drawn(token, view["token"], heads[:, follow_row, :], token_title, token_hover))
        captions.append(view["texts"]["token"].replace("{layer}", str(layer + 1)))
    grids = {"heads": view["formats"]["heads_title"].format(layer=layer + 1)}
    captions += [view["texts"]["heads"], view["texts"]["means"], view["texts"]["overview"]]
    auto = header["auto"]
    return {"figures": [coloured(figure) for figure in figures], "grids": grids, "colour": (chosen["scale"], mode),
            "captions": captions, "note": note, "selection": (layer, head), "shown": shown, "view": view,
            "auto": auto["reason"] if auto and (auto["layer"], auto["head"]) == (layer, head) else None,
            "labels": (query_labels, key_labels), "bytes": message.size}


def _key(shown: dict) -> str:
    """transform.js `optionsKey`, as the packer writes it (`Shown.key`)."""
    return Shown(options_of(shown)).key


def _b_start(tokens: TokenTable, query_groups: list, shown: dict) -> int | None:
    if not tokens.is_pair or shown["block"] != "all":
        return None
    return next((row for row, group in enumerate(query_groups) if tokens.segment_ids[group[0]] == 1), None)


def _rows_caption(texts: dict, sums: list[float], shown: dict, b_start: int | None, tolerance: float) -> str:
    """charts.js `rowsCaption`."""
    low, high = sums
    if abs(low - 1) < tolerance and abs(high - 1) < tolerance:
        caption = texts["one"]
    else:
        why = []
        if shown["hide"] and not shown["renormalize"]:
            why.append(texts["hidden"])
        if shown["block"] != "all":
            why.append(texts["block"].format(block=shown["block"], sentence=shown["block"][-1]))
        reason = f": {'; '.join(why)}" if why else ""
        caption = texts["other"].format(low=f"{low:.2f}", high=f"{high:.2f}", reason=reason)
    return caption if b_start is None else caption + texts["b_note"].format(row=b_start + 1)
