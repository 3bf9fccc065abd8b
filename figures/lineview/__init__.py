"""BertViz's line view (Vig 2019, "A Multiscale Visualization of Attention in the Transformer Model"),
drawn in the browser: two columns of tokens, a line from each query (left) to each key (right), its
opacity the attention weight, one colour per head; heads are overlaid and toggled, and hovering a
token keeps only its lines, all without a rerun.

The app sends the layer's attention as captured (`message`): the tokens a window can show, in any
of the view options the line view offers, and the token table. The browser applies the view options
itself with the explorer's transforms (figures/explorer/transform.js, as `map_view`), so hiding
[CLS]/[SEP], renormalising and merging subwords are drawn at once (issue 18 §1); it then picks the
lines as `payload` does. `payload` is the same drawing's data prepared in Python (the offline file,
the CSV, and what the browser's lines are tested against): at most `TOP_KEYS` lines per query and
head, and on a long text only the `WINDOW` rows around the followed token. `lineview.js` draws
(host-neutral), `streamlit.js` is the app's component, `standalone_html` the offline file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from encoder.attention_view import ViewOptions, groups_of, kept_positions, row_of_position, window_span
from figures.explorer import FOLDER as EXPLORER_FOLDER
from figures.explorer.packer import pack, token_table

FOLDER = Path(__file__).resolve().parent
TOP_KEYS = 6  # lines kept per query and head: the largest weights (and only those above MIN_WEIGHT)
MIN_WEIGHT = 0.01  # a line below 1 % is invisible at its opacity anyway
WINDOW = 48  # a longer text shows this many rows (tokens, or words) around the followed token
BUDGET_BYTES = 3_000_000  # the explorer's budget at 512 tokens, for the JSON too
# Paul Tol's "muted" and "bright" qualitative sets: distinguishable with the common colour-vision
# deficiencies (Tol 2021, "Colour Schemes"), twelve colours for twelve heads before they repeat.
HEAD_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                "#AA4499", "#4477AA", "#EE6677", "#BBBBBB")
# The view options the line view offers, (hide [CLS]/[SEP], merge subwords): renormalising changes
# the numbers, not which tokens a window holds; a pair block is not offered (the columns are one list).
LAYOUTS = ((False, False), (True, False), (False, True), (True, True))
# The JavaScript the app's component runs: the explorer's reader and transforms (joined, not copied),
# then the drawing, then the host's adapter.
SHARED_JS = (EXPLORER_FOLDER / "payload.js", EXPLORER_FOLDER / "transform.js", FOLDER / "lineview.js")


def note_of(start: int, stop: int, n_rows: int) -> str:
    """What a window leaves out ("" when it shows everything)."""
    return "" if (start, stop) == (0, n_rows) else \
        f"The {stop - start} tokens around the followed token, of {n_rows}; lines within them."


def payload(attentions: np.ndarray, labels: Sequence[str], layer: int, *, positions: Sequence[int] | None = None,
            heads_on: Sequence[int] = (0,), followed: int | None = 0, title: str = "", font_px: int = 13,
            hidden: str = "") -> dict:
    """What the browser draws for one layer: attentions (H, R, R) of that layer in a view, rows
    queries, `labels` and `positions` (the run position each row starts at) per row.

    Returns a JSON-safe dict: the drawn rows' labels and positions, and per head its lines as
    [query, key, weight] (indices into the drawn rows, weights rounded to 4 decimals), at most
    TOP_KEYS per query, each at least MIN_WEIGHT; `followed` is a row (None: the view hides the
    followed token, and `hidden` says so). heads_on: the heads shown at first (0-based).
    lineview.js `linesOf` builds the same dict in the browser."""
    attentions = np.asarray(attentions, dtype=np.float64)
    n_heads, n_rows, _ = attentions.shape
    positions = list(range(n_rows)) if positions is None else [int(p) for p in positions]
    start, stop = window_span(n_rows, followed or 0, WINDOW)
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
            "positions": positions[start:stop], "n_tokens": int(n_rows), "heads": heads,
            "on": sorted({int(h) for h in heads_on if 0 <= h < n_heads}), "font_px": int(font_px),
            "note": note_of(start, stop, n_rows), "hidden": hidden if followed is None else ""}


def payload_bytes(data: dict | bytes) -> int:
    return len(data) if isinstance(data, bytes) else len(json.dumps(data, separators=(",", ":")).encode("utf-8"))


def window_tokens(run, followed: int, layouts: Sequence[tuple[bool, bool]] = LAYOUTS) -> list[int]:
    """The token positions whose rows and columns the window around `followed` holds in any of
    `layouts` ((hide, merge) pairs): a merged word's every piece, since its row is their mean and
    its column their sum. Sorted."""
    needed: set[int] = set()
    for hide, merge in layouts:
        try:
            queries, _ = kept_positions(run, ViewOptions(hide_special=hide, merge_subwords=merge))
        except ValueError:  # hiding leaves nothing: that view draws nothing
            continue
        groups = groups_of(run, queries, merge)
        start, stop = window_span(len(groups), row_of_position(groups, followed) or 0, WINDOW)
        needed.update(p for group in groups[start:stop] for p in group)
    return sorted(needed)


def message(run, layer: int, shown: dict, *, heads_on: Sequence[int], title: str, font_px: int = 13,
            controls: dict | None = None, texts: dict | None = None) -> bytes:
    """The line view for the app's component: layer `layer` of `run`'s attention as captured, on the
    tokens its window can hold in every (hide, merge) view that fits `BUDGET_BYTES` (the view in
    `shown` always), as one binary message in the explorer's layout (`figures.explorer.packer.pack`).

    `shown`: hide, renormalize, merge (bools) and follow (a run position). `controls` maps those
    options to the Streamlit widget keys whose clicks the browser reads (streamlit.js); `texts`: what
    it says when the followed token is hidden and when nothing is left. Blobs: the sent tokens'
    weights (H, n, n) float32, rows queries, and each sent row's weight on the tokens not sent
    (H, n) float32, which renormalising needs (a row is rescaled by its sum over every ordinary key).

    The header: `layer`, `title`, `font_px`, `on` (as `payload`); `shape` [H, T]; `tokens`
    (`token_table`); `sent` (the positions sent, sorted); `elsewhere` (a position not sent, where
    the browser holds a row's rest, or null); `layouts` (the [hide, merge] views it can draw);
    `shown` (hide, renormalize, merge, block "all", follow); `controls`; `texts`; `colours`;
    `top_keys`, `min_weight`, `window` (TOP_KEYS, MIN_WEIGHT, WINDOW); `blobs` (`pack`'s).
    """
    heads = run.attentions[layer]  # (H, T, T)
    n_heads, n_tokens, _ = heads.shape
    current = (bool(shown["hide"]), bool(shown["merge"]))
    special = {p for p in range(n_tokens) if run.special[p]}
    layouts, sent = [], []
    for layout in (current, *(other for other in LAYOUTS if other != current)):
        tokens = sorted(set(window_tokens(run, shown["follow"], [*layouts, layout])) | special)
        if layouts and n_heads * len(tokens) * (len(tokens) + 1) * 4 > BUDGET_BYTES:
            continue  # that view is drawn once the server has sent it
        layouts.append(layout)
        sent = tokens
    rows = heads[:, sent, :]  # (H, n, T)
    weights = np.ascontiguousarray(rows[:, :, sent], dtype="<f4")
    rest = (rows.sum(axis=-1, dtype=np.float64) - weights.sum(axis=-1, dtype=np.float64)).astype("<f4")
    # the rest is held on one token no window shows, where only the row sums read it
    elsewhere = next((p for p in sorted(set(range(n_tokens)) - set(sent))), None)
    header = {"layer": int(layer), "title": title, "font_px": int(font_px),
              "on": sorted({int(h) for h in heads_on if 0 <= h < n_heads}), "shape": [n_heads, n_tokens],
              "tokens": token_table(run), "sent": sent, "elsewhere": elsewhere,
              "layouts": [list(layout) for layout in layouts],
              "shown": {"hide": current[0], "renormalize": bool(shown["renormalize"]), "merge": current[1],
                        "block": "all", "follow": int(shown["follow"])},
              "controls": controls or {}, "texts": texts or {}, "colours": list(HEAD_COLOURS),
              "top_keys": TOP_KEYS, "min_weight": MIN_WEIGHT, "window": WINDOW}
    return pack(header, [weights.tobytes(), np.ascontiguousarray(rest).tobytes()])


def module_js(host: str = "streamlit") -> str:
    """The line view as one ES module: the explorer's reader and transforms, the host-neutral
    drawing, then the host's adapter."""
    return "\n".join(path.read_text(encoding="utf-8") for path in (*SHARED_JS, FOLDER / f"{host}.js"))


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
