"""Helpers for Streamlit AppTests: start the app on a page, read back the Plotly figures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds: the first run loads the model


def app_test(page: str | None = None, text: str | None = None, pair: str | None = None,
             **state) -> AppTest:
    """The whole app (sidebar included), optionally on pages/<page>.py, run once."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if text is not None:
        at.session_state["text"] = text
    if pair is not None:
        at.session_state["pair"] = pair
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        # After a first run st.navigation has registered the pages, so the switch runs app.py
        # and then the page, as a click in the browser does. (AppTest then lists only the
        # page's elements, not the sidebar's: set inputs through session_state.)
        at.switch_page(f"pages/{page}.py").run()
    return at

def figure_specs(at: AppTest) -> list[dict]:
    """The Plotly figures the page shows, as dicts: those the Attention page's explorer draws in the
    browser (`explorer_shows`), then Streamlit's own charts, parsed from the element protos."""
    drawn = explorer_shows(at)["figures"] if at.get("bidi_component") else []
    return drawn + [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def explorer_shows(at: AppTest) -> dict:
    """What the Attention page's explorer draws in the browser, rebuilt from the payload it was sent
    as figures/explorer.js does: its figures in page order (main, window, the heads of the layer,
    the layer means, the overview, the followed token), with numbers and titles filled in; its
    captions; the selection; and the reason for an automatic choice. On long texts z holds the
    quantized weights and customdata what hover reads."""
    import zlib

    from figures.explorer import dequantize_heads, unpack

    header, blobs = unpack(at.get("bidi_component")[0].proto.bytes)
    view = header["view"]  # a test's session never told the page it holds a view: always sent whole
    _, n_heads, n_rows, n_cols = view["shape"]
    layer, head = header["selection"]["layer"], header["selection"]["head"]
    slot = n_heads if head < 0 else head
    layers = {}
    for entry in header["layers"]:
        data = blobs[entry["blob"]]
        if entry["deflated"]:
            codes = np.frombuffer(zlib.decompress(data), np.uint8).reshape(n_heads, n_rows, n_cols)
            layers[entry["layer"]] = dequantize_heads(codes, np.asarray(entry["maxima"], np.float32))
        else:
            layers[entry["layer"]] = np.frombuffer(data, "<f4").reshape(n_heads, n_rows, n_cols)
    matrix = layers[layer][head] if head >= 0 else layers[layer].mean(0)
    hover = token_hover = None  # what hover reads, when z holds quantized weights

    def counts(entry: dict | None, shape: tuple) -> np.ndarray | None:
        if entry is None:
            return None
        data = np.frombuffer(zlib.decompress(blobs[entry["blob"]]), "<u2")
        return (data / entry["scale"]).reshape(shape)

    hover = counts(header["exact"], (n_rows, n_cols))
    token_hover = counts(header["token_hover"], (len(view["titles"]), n_heads, n_cols))

    def filled(template: str, z, title: str | None = None, shapes=None, customdata=None) -> dict:
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

    def outline(template: str, index: int | None) -> list:
        return [] if index is None else [json.loads(template)["layout"]["meta"]["outlines"][index]]

    colours, chosen = view["colours"], header["colour"]
    mode = "log" if chosen["mode"] == "log" or (chosen["mode"] == "auto" and colours["auto_log"]) else "linear"

    def coloured(figure: dict) -> dict:
        """The colours the browser applies: the chosen scale and mode (explorer.js colourNow)."""
        trace = figure["data"][0]
        if trace.get("type") == "heatmap":
            trace["colorscale"] = colours["colorscale"][chosen["scale"]][mode]
            trace["colorbar"]["title"]["text"] = colours["legend"][mode]
        return figure

    figures = [filled(view["main"], matrix, view["titles"][layer][slot], customdata=hover)]
    captions = [view["captions"][layer][slot]]
    if view["window"]:
        (r0, r1), (c0, c1) = view["window"]["rows"], view["window"]["cols"]
        figures.append(filled(view["window"]["figure"], matrix[r0:r1, c0:c1],
                              customdata=None if hover is None else hover[r0:r1, c0:c1]))
        captions.append(view["texts"]["window"])
    heads = filled(view["heads_grid"], None, view["heads_titles"][layer], outline(view["heads_grid"],
                                                                                   None if head < 0 else head))
    heads["data"][0]["source"] = next(entry["image"] for entry in header["layers"] if entry["layer"] == layer)
    figures += [heads, filled(view["means"], None, shapes=outline(view["means"], layer if head < 0 else None)),
                filled(view["overview"], None, shapes=outline(view["overview"],
                                                              None if head < 0 else layer * n_heads + head))]
    captions += [view["texts"]["heads"], view["texts"]["means"], view["texts"]["overview"]]
    if view["token"] and layer in layers:
        row = view["follow"]["row"]
        figures.append(filled(view["token"], layers[layer][:, row, :], view["token_titles"][layer],
                              customdata=None if token_hover is None else token_hover[layer]))
        captions.append(view["texts"]["token"].replace("{layer}", str(layer + 1)))
    auto = header["auto"]
    figures = [coloured(figure) for figure in figures]
    return {"figures": figures, "colour": (chosen["scale"], mode), "captions": captions, "selection": (layer, head),
            "view": view,
            "auto": auto["reason"] if auto and (auto["layer"], auto["head"]) == (layer, head) else None,
            "bytes": len(at.get("bidi_component")[0].proto.bytes)}


def drawn_text(at: AppTest, page: str) -> list[str]:
    """Switch to pages/<page>.py and return, per figure, the text it draws (data, annotations and
    title), after checking the page ran and drew something."""
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, page
    specs = figure_specs(at)
    assert specs, page
    return [str(spec["data"]) + str(spec["layout"].get("annotations", "")) + spec["layout"]["title"]["text"]
            for spec in specs]


def array(value) -> np.ndarray:
    """A Plotly data array as numpy: plain lists, or {'dtype', 'bdata', 'shape'} typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            data = data.reshape([int(s) for s in str(shape).split(",")])
        return data
    return np.asarray(value, dtype=float)


def messages(at: AppTest) -> str:
    """All error, warning and info texts on the page, with the plain-text details shown under
    them, joined (for asserting on messages)."""
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "text") for e in at.get(kind))


MARKDOWN_KINDS = ("markdown", "caption", "header", "subheader", "title", "error", "warning", "info", "success")


def markdown_bodies(at: AppTest) -> list[str]:
    """The bodies of every element Streamlit renders as Markdown (captions, headers, message
    boxes...). Tests that user text never reaches Markdown assert this list is not empty first,
    so they cannot pass because a page showed nothing."""
    return [str(e.value) for kind in MARKDOWN_KINDS for e in at.get(kind)]
