"""The explorer's payload read back in Python, the way payload.js and explorer.js read it: the one
reader the tests share (AppTests of the Attention page, the packer's tests, the notebook widget's).

`read` decodes a message (PROTOCOL.md); `shows` rebuilds what the browser draws from it: the figures
in page order (main, window, the heads of the layer, the layer means, the overview, the followed
token) with numbers and titles filled in, the captions, the selection and the colour. It follows
explorer.js's `matrix`, `draw` and `drawGrids` step by step; the e2e tests check the real JavaScript
in Chromium.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np

from encoder.attention_view import MEAN_HEAD

from .packer import dequantize_heads, unpack


@dataclass(frozen=True)
class Message:
    """One decoded payload: its header, the view (None when the browser was told it holds it), and
    every layer sent as float32 (decoded as payload.js `decodeLayer` does)."""

    header: dict
    view: dict | None
    layers: dict  # layer -> (H, Q, K) float32
    hover: np.ndarray | None  # (Q, K) the shown head as hover prints it, on long texts
    token_hover: np.ndarray | None  # (L, H, K) the followed token's rows as hover prints them
    size: int  # bytes


def _counts(blobs: list[bytes], entry: dict | None, shape: tuple) -> np.ndarray | None:
    """payload.js `hoverValues`: deflated uint16 counts of 1 / scale."""
    if entry is None:
        return None
    data = np.frombuffer(zlib.decompress(blobs[entry["blob"]]), "<u2")
    return (data / entry["scale"]).reshape(shape)


def read(payload: bytes, view: dict | None = None) -> Message:
    """Decode one message. `view`: the view the browser holds, for messages that leave it out."""
    header, blobs = unpack(payload)
    view = header.get("view", view)
    layers, hover, token_hover = {}, None, None
    if view is not None:
        _, n_heads, n_rows, n_cols = view["shape"]
        for entry in header["layers"]:
            data = blobs[entry["blob"]]
            if entry["deflated"]:
                codes = np.frombuffer(zlib.decompress(data), np.uint8).reshape(n_heads, n_rows, n_cols)
                layers[entry["layer"]] = dequantize_heads(codes, np.asarray(entry["maxima"], np.float32))
            else:
                layers[entry["layer"]] = np.frombuffer(data, "<f4").reshape(n_heads, n_rows, n_cols)
        hover = _counts(blobs, header["exact"], (n_rows, n_cols))
        token_hover = _counts(blobs, header["token_hover"], (len(view["titles"]), n_heads, n_cols))
    return Message(header, view, layers, hover, token_hover, len(payload))


def _filled(template: str, z, title: str | None = None, shapes=None, customdata=None) -> dict:
    figure = json.loads(template)
    if customdata is not None:
        figure["data"][0]["customdata"] = np.asarray(customdata).tolist()
    if z is not None:
        figure["data"][0]["z"] = np.asarray(z).tolist()
    if title is not None:
        figure["layout"]["title"]["text"] = title
    if shapes is not None:
        figure["layout"]["shapes"] = shapes
    return figure


def _outline(template: str, index: int | None) -> list:
    return [] if index is None else [json.loads(template)["layout"]["meta"]["outlines"][index]]


def shows(payload: bytes) -> dict:
    """What the explorer draws from a message that carries its view: {"figures", "colour" (scale,
    "linear"|"log"), "captions", "selection" (layer, head), "view", "auto", "bytes"}. On long texts
    z holds the quantized weights and customdata what hover reads."""
    message = read(payload)
    header, view, layers = message.header, message.view, message.layers
    if view is None:
        raise ValueError("this message leaves the view out: the browser already holds it")
    _, n_heads, _, _ = view["shape"]
    layer, head = header["selection"]["layer"], header["selection"]["head"]
    slot = n_heads if head == MEAN_HEAD else head
    matrix = layers[layer][head] if head >= 0 else layers[layer].mean(0)  # explorer.js `matrix`
    hover = message.hover

    colours, chosen = view["colours"], header["colour"]
    mode = "log" if chosen["mode"] == "log" or (chosen["mode"] == "auto" and colours["auto_log"]) else "linear"

    def coloured(figure: dict) -> dict:
        """The colours the browser applies: the chosen scale and mode (colours.js colourNow)."""
        trace = figure["data"][0]
        if trace.get("type") == "heatmap":
            trace["colorscale"] = colours["colorscale"][chosen["scale"]][mode]
            trace["colorbar"]["title"]["text"] = colours["legend"][mode]
        return figure

    figures = [_filled(view["main"], matrix, view["titles"][layer][slot], customdata=hover)]
    captions = [view["captions"][layer][slot]]
    if view["window"]:
        (r0, r1), (c0, c1) = view["window"]["rows"], view["window"]["cols"]
        figures.append(_filled(view["window"]["figure"], matrix[r0:r1, c0:c1],
                               customdata=None if hover is None else hover[r0:r1, c0:c1]))
        captions.append(view["texts"]["window"])
    heads = _filled(view["heads_grid"], None, view["heads_titles"][layer],
                    _outline(view["heads_grid"], None if head == MEAN_HEAD else head))
    heads["data"][0]["source"] = next(entry["image"] for entry in header["layers"] if entry["layer"] == layer)
    mean_layer = layer if head == MEAN_HEAD else None
    figures += [heads, _filled(view["means"], None, shapes=_outline(view["means"], mean_layer)),
                _filled(view["overview"], None, shapes=_outline(view["overview"],
                                                                None if head == MEAN_HEAD else layer * n_heads + head))]
    captions += [view["texts"]["heads"], view["texts"]["means"], view["texts"]["overview"]]
    if view["token"] and layer in layers:
        row = view["follow"]["row"]
        figures.append(_filled(view["token"], layers[layer][:, row, :], view["token_titles"][layer],
                               customdata=None if message.token_hover is None else message.token_hover[layer]))
        captions.append(view["texts"]["token"].replace("{layer}", str(layer + 1)))
    auto = header["auto"]
    return {"figures": [coloured(figure) for figure in figures], "colour": (chosen["scale"], mode),
            "captions": captions, "selection": (layer, head), "view": view,
            "auto": auto["reason"] if auto and (auto["layer"], auto["head"]) == (layer, head) else None,
            "bytes": message.size}
