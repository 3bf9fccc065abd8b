"""The browser-side attention explorer, in one folder: the packer (`packer.py`) that turns an
attention view into one binary message, the protocol it follows (`PROTOCOL.md`), the JavaScript
that draws it (`payload.js`, `colours.js`, `explorer.js`, host-neutral) with one small adapter per
host (`streamlit.js` for the app's component, `widget.js` for the notebook widget), its CSS, and
`reader.py`, the Python reader the tests share.

`from figures.explorer import Explorer, ...` keeps working: the packer's names are re-exported here.
The notebook widget (`widget.py`) is not imported here: it needs anywidget, which the app does not.
"""

from __future__ import annotations

import json
from pathlib import Path

from .packer import (
    ALL_LAYERS_BYTES,
    DECADES,
    EXACT_BYTES,
    HEADER_LENGTH,
    HOVER_SCALE,
    LEVELS,
    RESPONSIVE,
    STREAM_CODES_BYTES,
    STREAM_MESSAGE_BYTES,
    Explorer,
    ExplorerOptions,
    Shown,
    colour_choices,
    dequantize_heads,
    hover_counts,
    pack,
    quantize_heads,
    token_table,
    unpack,
)

FOLDER = Path(__file__).resolve().parent
# host-neutral: load plotly.js, read, apply the view options, colour, fill the charts, draw
CORE_JS = ("plotly_loader.js", "payload.js", "transform.js", "colours.js", "charts.js", "view.js", "grids.js",
           "explorer.js")
HOSTS = ("streamlit", "widget")
CSS = FOLDER / "explorer.css"

__all__ = [
    "ALL_LAYERS_BYTES", "CORE_JS", "CSS", "DECADES", "EXACT_BYTES", "FOLDER", "HEADER_LENGTH", "HOSTS",
    "HOVER_SCALE", "LEVELS", "RESPONSIVE", "STREAM_CODES_BYTES", "STREAM_MESSAGE_BYTES", "Explorer",
    "ExplorerOptions", "Shown", "colour_choices", "css", "dequantize_heads", "hover_counts", "module_js", "pack",
    "preload_js", "quantize_heads", "token_table", "unpack",
]


def module_js(host: str) -> str:
    """The explorer as one ES module for `host` ("streamlit" or "widget"): the shared files, then
    the host's adapter (its `export default`). Both hosts get the same code, joined, never copied."""
    if host not in HOSTS:
        raise ValueError(f"unknown explorer host {host!r}; one of {HOSTS}")
    return "\n".join((FOLDER / name).read_text(encoding="utf-8") for name in (*CORE_JS, f"{host}.js"))


def preload_js(plotly_url: str) -> str:
    """A classic script that starts loading plotly.js from `plotly_url` at once, with the explorer's
    own loader (plotly_loader.js, which shares the load through window): the Attention page puts
    it on the page before its run (components.preload_plotly)."""
    loader = (FOLDER / "plotly_loader.js").read_text(encoding="utf-8")
    url = json.dumps(plotly_url).replace("</", "<\\/")  # ours, but never a "</script>" inside the script
    return f"(() => {{\n{loader}\nloadPlotly({url}).catch(() => {{}});\n}})();"


def css() -> str:
    return CSS.read_text(encoding="utf-8")
