"""The explorer's packer: an attention view packed once for the browser (the Attention page's
explorer, the notebook widget), so that a layer or head change is drawn there, without a rerun.

A Streamlit rerun costs 0.25-0.7 s however little it draws (the issue's bare-page floor), so the
browser gets the attention itself plus Plotly templates of every chart (built here by
`figures.attention`, the same functions the figures always came from) and swaps in the chosen
head's numbers. What it is sent, as one binary message (`pack`):

- every layer, when all of them are small (float32 up to `EXACT_BYTES`, else quantized up to
  `ALL_LAYERS_BYTES`); on long texts only the chosen layer, the rest when chosen (the browser keeps
  what it was sent, keyed by `Explorer.id`);
- on long texts, the head on screen as hover shows it: weights to the four decimals of every
  hovertemplate (`hover_counts`), 0.2-0.5 MB at 512 tokens where float32 took 1 MB, which kept the
  message under 3 MB; the followed token's rows likewise, for every layer;
- quantized heads as 7-bit log10(weight / head max) over three decades (`quantize_heads`): the
  log colour scale floors at 0.001 x max (`figures.common.LOG_FLOOR`), so every colour shown is
  kept, with a relative error of at most 2.8 % (half a step of 10^(3/126)).

JavaScript (`payload.js`) decodes with the formulas of `dequantize_heads`; PROTOCOL.md has the layout
and every header key, and `reader.py` reads it back in Python for the tests.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from encoder.attention_view import AttentionView, row_sum_ranges

from .. import attention as figs
from ..common import COLOR_SCALES, DECADES, code_fractions, colorscale, log_codes, plotly_text

LEVELS = 127  # quantization steps above zero: 7 bits
EXACT_BYTES = 1_500_000  # every head as float32 while the whole run is at most this
ALL_LAYERS_BYTES = 2_000_000  # every layer quantized while that is at most this (before compression)
RESPONSIVE = {"responsive": True}  # charts follow their column's width, as st.plotly_chart's do
HOVER_SCALE = 10_000  # hover shows weights to 4 decimals (figures' "%{z:.4f}")
HEADER_LENGTH = struct.Struct("<I")  # the payload starts with the header's length in bytes


def quantize_heads(heads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, Q, K) weights -> ((H, Q, K) uint8 codes, (H,) float32 maxima): `log_codes` of each
    head against its maximum, LEVELS steps (code c stands for max x `code_fractions(LEVELS)[c]`)."""
    maxima = np.maximum(heads.max(axis=(-2, -1)), np.float32(1e-30)).astype(np.float32)  # (H,)
    return log_codes(heads, maxima[:, None, None], LEVELS), maxima


def dequantize_heads(codes: np.ndarray, maxima: np.ndarray) -> np.ndarray:
    """The inverse of `quantize_heads`, as explorer.js computes it (a table of the codes' values)."""
    return (code_fractions(LEVELS)[codes] * maxima[:, None, None]).astype(np.float32)


def hover_counts(weights: np.ndarray) -> bytes:
    """Weights (in [0, 1]) as hover prints them, "%{z:.4f}": deflated little-endian uint16 counts
    of 1 / HOVER_SCALE. Mostly small counts, so they deflate to a fraction of float32."""
    counts = np.rint(np.asarray(weights, dtype=np.float64) * HOVER_SCALE).astype("<u2")
    return zlib.compress(counts.tobytes(), 6)


def _hover_from_customdata(fig: go.Figure) -> go.Figure:
    """Hover reads customdata (sent exact) where the heatmap's z is the quantized weights."""
    fig.data[0].hovertemplate = fig.data[0].hovertemplate.replace("%{z:", "%{customdata:")
    return fig


def pack(header: dict, blobs: list[bytes], encoded: dict[str, str] | None = None) -> bytes:
    """[uint32 header length][header JSON][blob, blob, ...]; header["blobs"] gets each blob's
    offset and length, counted from the end of the header, each blob starting 4-byte aligned so
    the browser can view float32 data in place. `encoded`: header entries already in JSON (the
    view, the same on every rerun, is encoded once)."""
    offsets, position = [], 0
    for blob in blobs:
        offsets.append([position, len(blob)])
        position += len(blob) + (-len(blob) % 4)
    text = json.dumps(header | {"blobs": offsets}, separators=(",", ":"))
    if encoded:
        text = text[:-1] + "".join(f",{json.dumps(name)}:{value}" for name, value in encoded.items()) + "}"
    data = text.encode("utf-8")
    data += b" " * (-(len(data) + HEADER_LENGTH.size) % 4)
    parts = [HEADER_LENGTH.pack(len(data)), data]
    for blob in blobs:
        parts += [blob, b"\0" * (-len(blob) % 4)]
    return b"".join(parts)


def unpack(payload: bytes) -> tuple[dict, list[bytes]]:
    """The inverse of `pack` (reader.py builds on it; payload.js reads the same layout)."""
    (length,) = HEADER_LENGTH.unpack_from(payload)
    start = HEADER_LENGTH.size + length
    header = json.loads(payload[HEADER_LENGTH.size: start])
    return header, [payload[start + offset: start + offset + size] for offset, size in header["blobs"]]


@dataclass(frozen=True)
class ExplorerOptions:
    """What the explorer draws besides the selection: the page's view options, resolved."""

    auto_log: bool  # "auto" colour means log colour here (a long text)
    sizes: figs.Sizes
    block: str
    b_start: int | None
    follow_row: int | None  # the followed token's row, None when this view hides it
    follow_position: int
    window: tuple[tuple[int, int], tuple[int, int]] | None  # (rows, cols) of the readable window
    captions: tuple[str, ...]  # a caption per (layer, head) slot of `row_sum_ranges`, row-major
    texts: dict  # the captions of the other charts: heads, means, overview, window, token ("{layer}")
    causal: bool = False  # a decoder's view: keys after the query are masked, drawn grey, not as 0


MASKED_COLOUR = "#d9d9d9"  # where a causal mask hides a key: the plot's background shows through


def visible_columns(view: AttentionView) -> list[int]:
    """Per row of a causal view, how many columns it may see: keys whose first token is not after the
    row's last token (rows and columns run in text order, so the visible keys are a prefix)."""
    return [sum(1 for group in view.key_positions if min(group) <= max(row)) for row in view.query_positions]


def _masked_background(fig: go.Figure) -> go.Figure:
    fig.update_layout(plot_bgcolor=MASKED_COLOUR)
    return fig


def _template(fig: go.Figure, drop: str | None = "z", hover_from_customdata: bool = False) -> str:
    """A figure's JSON for the browser to fill, its first trace's `drop` left out: z (the numbers
    the browser computes from the heads it holds) or an image's source (sent with each layer)."""
    if drop:
        fig.data[0][drop] = None
    if hover_from_customdata:
        _hover_from_customdata(fig)
    return fig.to_json(validate=False)


class Explorer:
    """Everything about one view that does not depend on the selection, built once and shared by
    every session that shows it (state.get_explorer); `payload` adds the selection."""

    def __init__(self, view: AttentionView, options: ExplorerOptions, plotly_url: str):
        self.view, self.options = view, options
        n_layers, n_heads, n_rows, n_cols = view.weights.shape
        self.exact = view.weights.nbytes <= EXACT_BYTES
        self.all_layers = self.exact or view.weights.size <= ALL_LAYERS_BYTES
        # Colours are the browser's to choose (`colour_choices`): figures are built in the default
        # ones, and the thumbnails' pixels are codes whose palette the browser swaps.
        colors, sizes = figs.ColorOptions(), options.sizes
        follow = options.follow_row
        self.header = {
            "plotly": plotly_url,
            "shape": [n_layers, n_heads, n_rows, n_cols],
            "encoding": "f32" if self.exact else "q7log",
            "levels": LEVELS, "decades": float(DECADES),
            "present": sizes is figs.PRESENTATION,
            "colours": colour_choices(options.auto_log),
            # Titles go in as Plotly reads them (escaped); the browser never builds one from text.
            "titles": [[plotly_text(figs.head_title(layer, head, options.block)) for head in [*range(n_heads), -1]]
                       for layer in range(n_layers)],
            "captions": [list(options.captions[layer * (n_heads + 1): (layer + 1) * (n_heads + 1)])
                         for layer in range(n_layers)],
            "main": _template(self._masked(figs.head_heatmap(view, 0, 0, colors, block=options.block,
                                                             b_start=options.b_start, sizes=sizes)),
                              hover_from_customdata=not self.exact),
            "visible_cols": visible_columns(view) if options.causal else None,
            # Its image (the layer's heads) travels with each layer: `layer`.
            "heads_grid": _template(figs.layer_heads_grid(view, 0, -1, colors, sizes), drop="source"),
            "heads_titles": [plotly_text(figs.heads_title(layer)) for layer in range(n_layers)],
            "means": _template(figs.layer_means_grid(view, 0, 0, colors, sizes), drop=None),
            "overview": _template(figs.overview_grid(view, 0, 0, colors, sizes), drop=None),
            "follow": {"row": follow, "options": [f"{label} ·{group[0]}" for label, group in
                                                  zip(view.query_labels, view.query_positions, strict=True)]},
            "token": None if follow is None else _template(
                figs.token_across_heads(view, 0, follow, colors, position=options.follow_position, sizes=sizes),
                hover_from_customdata=not self.exact),
            "token_titles": None if follow is None else [
                plotly_text(figs.token_title(view, layer, follow, options.follow_position))
                for layer in range(n_layers)],
            "window": None,
            "texts": options.texts,
            "configs": {"heatmap": figs.HEATMAP_CONFIG | RESPONSIVE, "thumbnail": figs.THUMBNAIL_CONFIG | RESPONSIVE,
                        "token": figs.SAVE_ONLY_CONFIG | RESPONSIVE},
        }
        if options.window is not None:
            rows, cols = options.window
            self.header["window"] = {"rows": rows, "cols": cols, "figure": _template(
                self._masked(figs.window_heatmap(view, 0, 0, rows, cols, colors, sizes=sizes)),
                hover_from_customdata=not self.exact)}
        self.view_json = json.dumps(self.header, separators=(",", ":"))  # sent whole only to a browser without it
        self.id = hashlib.sha1(self.view_json.encode()).hexdigest()[:16]
        self._layers: dict[int, tuple[bytes, dict]] = {}
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The most it holds, for a cache's byte budget: its view's weights (maybe the run's own
        array, counted anyway), the view's JSON and every layer once encoded (codes take a byte a
        weight; exact layers, four)."""
        weights = self.view.weights
        return weights.nbytes + (weights.nbytes if self.exact else weights.size) + len(self.view_json)

    def layer(self, layer: int) -> tuple[bytes, dict]:
        """One layer for the browser, encoded once: its heads' bytes, and what reading them takes
        (per-head maxima, whether deflated) with the thumbnail image of its heads."""
        with self._lock:
            if layer not in self._layers:
                heads = self.view.weights[layer]  # (H, Q, K)
                image = figs.layer_heads_image(self.view, layer, sizes=self.options.sizes)
                entry = {"layer": layer, "image": image, "deflated": not self.exact}
                if self.exact:
                    self._layers[layer] = (np.ascontiguousarray(heads, dtype="<f4").tobytes(), entry | {"maxima": []})
                else:
                    codes, maxima = quantize_heads(heads)
                    self._layers[layer] = (zlib.compress(codes.tobytes(), 6), entry | {"maxima": maxima.tolist()})
            return self._layers[layer]

    def _masked(self, fig: go.Figure) -> go.Figure:
        return _masked_background(fig) if self.options.causal else fig

    def payload(self, layer: int, head: int, auto: dict | None = None, held: dict | None = None,
                colour: dict | None = None) -> bytes:
        """The message for one selection (0-based; head -1 is the mean). `held` is what the browser
        said it holds ({"have": view id, "layers": [...]}): the view and those layers are not sent
        again, so a rerun after a head change carries little more than the selection. The shown
        head goes exactly, unless the layers already are exact. `auto` says why the page opened on
        a head. `colour`: {"scale": one of COLOR_SCALES, "mode": "auto", "linear" or "log"}."""
        held = held or {}
        known = held.get("have") == self.id
        held_layers = set(held.get("layers") or []) if known else set()
        wanted = range(self.header["shape"][0]) if self.all_layers else [layer]
        blobs, sent, exact, token_hover = [], [], None, None
        if not self.exact:
            blobs.append(hover_counts(figs.head_matrix(self.view, layer, head)))  # (Q, K)
            exact = {"layer": layer, "head": head, "blob": 0, "scale": HOVER_SCALE}
            if not known and self.options.follow_row is not None:
                token_hover = {"blob": len(blobs), "scale": HOVER_SCALE}
                blobs.append(hover_counts(self.view.weights[:, :, self.options.follow_row, :]))  # (L, H, K)
        for index in wanted:
            if index not in held_layers:
                data, entry = self.layer(index)
                sent.append(entry | {"blob": len(blobs)})
                blobs.append(data)
        header = {"id": self.id, "selection": {"layer": layer, "head": head}, "exact": exact, "layers": sent,
                  "token_hover": token_hover, "auto": auto,
                  "colour": colour or {"scale": COLOR_SCALES[0], "mode": "auto"}}
        return pack(header, blobs, None if known else {"view": self.view_json})


@functools.cache
def colour_choices(auto_log: bool) -> dict:
    """Every colour the browser may switch to without asking the server: per scale the main
    heatmaps' Plotly colour scale and the thumbnails' palette (base64, 256 x RGB), linear and log;
    the colour bar titles; and what "auto" means here."""
    modes = {"linear": False, "log": True}
    return {
        "scales": list(COLOR_SCALES),
        "colorscale": {name: {mode: colorscale(name, log) for mode, log in modes.items()} for name in COLOR_SCALES},
        "palette": {name: {mode: base64.b64encode(figs.tile_palette(name, log).tobytes()).decode("ascii")
                           for mode, log in modes.items()} for name in COLOR_SCALES},
        "legend": {mode: figs.ColorOptions(log=log).legend for mode, log in modes.items()},
        "auto_log": auto_log,
    }


def captions_for(view: AttentionView, caption) -> tuple[str, ...]:
    """`caption(low, high)` for every (layer, head slot) of `row_sum_ranges`, row-major."""
    ranges = row_sum_ranges(view.weights)  # (L, H + 1, 2)
    return tuple(caption(float(low), float(high)) for low, high in ranges.reshape(-1, 2))
