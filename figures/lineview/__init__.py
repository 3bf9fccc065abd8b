"""BertViz's line view (Vig 2019, "A Multiscale Visualization of Attention in the Transformer Model"),
drawn in the browser: two columns of tokens, a line from each query (left) to each key (right), its
opacity the attention weight, one colour per head; heads are overlaid and toggled, and hovering a
token keeps only its lines, all without a rerun.

`payload` prepares what the browser draws from a run's attention (pure numpy, JSON-safe), within a
byte budget: at most `TOP_KEYS` lines per query and head, and on a long text only the readable
window around the followed token. `lineview.js` draws it (host-neutral), `streamlit.js` is the app's
component, and `standalone_html` is the offline file (the same JS, the payload inlined).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent
TOP_KEYS = 6  # lines kept per query and head: the largest weights (and only those above MIN_WEIGHT)
MIN_WEIGHT = 0.01  # a line below 1 % is invisible at its opacity anyway
WINDOW = 48  # a longer text shows this many tokens around the followed one, on both sides
BUDGET_BYTES = 3_000_000  # the explorer's budget at 512 tokens, for the JSON too
# Paul Tol's "muted" and "bright" qualitative sets: distinguishable with the common colour-vision
# deficiencies (Tol 2021, "Colour Schemes"), twelve colours for twelve heads before they repeat.
HEAD_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                "#AA4499", "#4477AA", "#EE6677", "#BBBBBB")


def window_of(n_tokens: int, followed: int, size: int = WINDOW) -> tuple[int, int]:
    """[start, stop) of the tokens drawn: all of a short text, else `size` around the followed one."""
    if n_tokens <= size:
        return 0, n_tokens
    start = min(max(followed - size // 2, 0), n_tokens - size)
    return start, start + size


def payload(attentions: np.ndarray, labels: Sequence[str], layer: int, *, heads_on: Sequence[int] = (0,),
            followed: int = 0, title: str = "", font_px: int = 13) -> dict:
    """What the browser draws for one layer: attentions (H, T, T) of that layer, rows queries.

    Returns a JSON-safe dict: the drawn tokens' labels and positions, and per head its lines as
    [query, key, weight] (indices into the drawn tokens, weights rounded to 4 decimals), at most
    TOP_KEYS per query, each at least MIN_WEIGHT. heads_on: the heads shown at first (0-based)."""
    attentions = np.asarray(attentions, dtype=np.float64)
    n_heads, n_tokens, _ = attentions.shape
    start, stop = window_of(n_tokens, followed)
    window = attentions[:, start:stop, start:stop]  # (H, W, W)
    k = min(TOP_KEYS, stop - start)
    top = np.argsort(-window, axis=-1, kind="stable")[..., :k]  # (H, W, k)
    heads = []
    for head in range(n_heads):
        lines = [[int(query), int(key), round(float(window[head, query, key]), 4)]
                 for query in range(stop - start) for key in top[head, query]
                 if window[head, query, key] >= MIN_WEIGHT]
        heads.append({"head": head, "colour": HEAD_COLOURS[head % len(HEAD_COLOURS)], "lines": lines})
    return {"title": title, "layer": int(layer), "labels": [str(label) for label in labels[start:stop]],
            "positions": list(range(start, stop)), "n_tokens": int(n_tokens), "heads": heads,
            "on": sorted({int(h) for h in heads_on if 0 <= h < n_heads}), "font_px": int(font_px),
            "note": "" if (start, stop) == (0, n_tokens) else
            f"Tokens {start}–{stop - 1} of {n_tokens}, around the followed token; lines within them."}


def payload_bytes(data: dict) -> int:
    return len(json.dumps(data, separators=(",", ":")).encode("utf-8"))


def module_js(host: str = "streamlit") -> str:
    """The line view as one ES module: the host-neutral drawing, then the host's adapter."""
    return "\n".join((FOLDER / name).read_text(encoding="utf-8") for name in ("lineview.js", f"{host}.js"))


def standalone_html(data: dict) -> str:
    """One offline HTML file: the same drawing code and the payload inlined (every label is set as
    text by the script, never parsed as HTML; '</' is escaped so no label can close the script)."""
    script = (FOLDER / "lineview.js").read_text(encoding="utf-8")
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Headlight line view</title></head>"
            "<body style='font-family:sans-serif;margin:16px'><div id='hl-lines'></div>"
            f"<script id='hl-lines-data' type='application/json'>{blob}</script>"
            f"<script>{script}\n"
            "drawLines(document.getElementById('hl-lines'),"
            " JSON.parse(document.getElementById('hl-lines-data').textContent));</script></body></html>")
