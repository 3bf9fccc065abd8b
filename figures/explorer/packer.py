"""The explorer's packer: a run's attention packed once for the browser (the Attention page's
explorer, the notebook widget), so that a change of layer, head, colour, followed token or view
option is drawn there, without a rerun before it shows.

A Streamlit rerun costs 0.25-0.7 s however little it draws (the issue's bare-page floor), so the
browser gets the attention as captured plus Plotly templates of every chart (built here by
`figures.attention`, the same functions the figures always came from) and applies the view options
itself (transform.js, as `encoder.attention_view.map_view`). What it is sent, as one binary message
(`pack`):

- every layer, when all of them are small (float32 up to `EXACT_BYTES`, else quantized up to
  `ALL_LAYERS_BYTES`); on long texts the chosen layer first, then, once the first view is drawn,
  the others nearest first (`STREAM_MESSAGE_BYTES` a message, while all fit `STREAM_CODES_BYTES`),
  or each when chosen beyond that (the browser keeps what it was sent, keyed by `Explorer.id`);
- on long texts, the head on screen in the view shown as hover prints it: weights to the four
  decimals of every hovertemplate (`hover_counts`), with its row sums; the followed token's rows
  likewise, for every layer;
- quantized layers as 7-bit log10(weight / the row's largest ordinary weight) over three decades
  (`quantize_heads`), the special tokens' columns exactly: the log colour scale floors at 0.001 x
  max (`figures.common.LOG_FLOOR`), so every colour shown is kept, with a relative error of at most
  2.8 % (half a step of 10^(3/126)), in any view.

JavaScript (`payload.js`) decodes with the formulas of `dequantize_heads`; PROTOCOL.md has the layout
and every header key, and `reader.py` reads it back in Python for the tests.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import struct
import threading
import zlib

import numpy as np
import plotly.graph_objects as go

from encoder.attention_view import (
    AS_CAPTURED,
    MEAN_HEAD,
    PAIR_BLOCKS,
    ViewOptions,
    attention_view,
    group_label,
    groups_of,
    kept_positions,
    map_view,
    view_row,
)
from encoder.view_tiles import view_tiles

from .. import attention as figs
from ..common import COLOR_SCALES, DECADES, code_fractions, colorscale, log_codes, plotly_text

LEVELS = 127  # quantization steps above zero: 7 bits
EXACT_BYTES = 1_500_000  # every head as float32 while the whole run is at most this
ALL_LAYERS_BYTES = 2_000_000  # every layer quantized while that is at most this (before compression)
RESPONSIVE = {"responsive": True}  # charts follow their column's width, as st.plotly_chart's do
HOVER_SCALE = 10_000  # hover shows weights to 4 decimals (figures' "%{z:.4f}")
# zlib's fastest level: at 512 tokens a layer's codes take 35 ms instead of 71 ms at level 6 (1.40 MB
# against 1.34 MB), the shown head's hover counts 5 ms instead of 36 ms (204 KB against 186 KB), on a
# view option's or a long text's first view's path
DEFLATE_LEVEL = 1
HEADER_LENGTH = struct.Struct("<I")  # the payload starts with the header's length in bytes


def reported_layers(held: dict) -> set[int]:
    """The layers a browser's report says it holds (PROTOCOL.md, `layers`): anyone's JSON, so only
    a list's ints count."""
    layers = held.get("layers")
    return {v for v in layers if isinstance(v, int) and not isinstance(v, bool)} if isinstance(layers, list) else set()


def quantize_heads(heads: np.ndarray, special: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, Q, K) weights -> ((H, Q, K) uint8 codes, (H, Q) float32 maxima, (H, Q, S) float32 special
    columns): every row's cells as `log_codes` against the row's largest weight on a token that is
    not special, LEVELS steps (code c stands for that maximum x `code_fractions(LEVELS)[c]`), and
    the `special` columns ([CLS], [SEP]) exactly, their codes 0.

    Rows, not heads, and without the special columns: hiding [CLS]/[SEP] and renormalising rescales
    each row by 1 / its share of the other tokens, often 100x and more on long texts (the special
    tokens hold most of the weight, Clark et al. 2019 §3). Codes against a head's maximum zeroed
    everything under a thousandth of it, which renormalisation then showed as black rows; against
    each row's own maximum every weight the log scale shows keeps its 2.8 % in any view."""
    ordinary = np.ones(heads.shape[-1], bool)
    ordinary[special] = False
    maxima = np.maximum(heads.max(axis=-1, where=ordinary, initial=0.0), np.float32(1e-30)).astype(np.float32)
    codes = log_codes(heads, maxima[..., None], LEVELS)
    codes[..., special] = 0
    return codes, maxima, np.ascontiguousarray(heads[..., special], dtype=np.float32)


def dequantize_heads(codes: np.ndarray, maxima: np.ndarray, specials: np.ndarray, special: list[int]) -> np.ndarray:
    """The inverse of `quantize_heads`, as payload.js `rowReader` computes it."""
    heads = (code_fractions(LEVELS)[codes] * maxima[..., None]).astype(np.float32)
    heads[..., special] = specials
    return heads


def hover_counts(weights: np.ndarray) -> bytes:
    """Weights (in [0, 1]) as hover prints them, "%{z:.4f}": deflated little-endian uint16 counts
    of 1 / HOVER_SCALE. Mostly small counts, so they deflate to a fraction of float32."""
    counts = np.rint(np.asarray(weights, dtype=np.float64) * HOVER_SCALE).astype("<u2")
    return zlib.compress(counts.tobytes(), DEFLATE_LEVEL)


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


def header_of(payload: bytes) -> dict:
    """A message's header alone (`pack`'s layout), without copying its blobs."""
    (length,) = HEADER_LENGTH.unpack_from(payload)
    return json.loads(bytes(memoryview(payload)[HEADER_LENGTH.size: HEADER_LENGTH.size + length]))


def unpack(payload: bytes) -> tuple[dict, list[bytes]]:
    """The inverse of `pack` (reader.py builds on it; payload.js reads the same layout)."""
    header = header_of(payload)
    start = HEADER_LENGTH.size + HEADER_LENGTH.unpack_from(payload)[0]
    return header, [payload[start + offset: start + offset + size] for offset, size in header["blobs"]]


@dataclasses.dataclass(frozen=True)
class ExplorerOptions:
    """What the explorer draws with besides the run and the selection: chosen once per page."""

    sizes: figs.Sizes
    texts: dict  # captions: heads, means, overview, window ("{window}"), token ("{layer}"), colour, hidden,
    # and rows: the main map's caption (PROTOCOL.md, texts), filled in the browser from its row sums
    auto_log_from: int = 64  # "auto" colour is log from this many rows (a long text)
    causal: bool = False  # a decoder's view: keys after the query are masked, drawn grey, not as 0
    # the host's own controls of the view options, by option (hide, renormalize, merge, block): the
    # Streamlit page's widget keys, whose clicks the browser reads to draw at once (streamlit.js)
    controls: dict | None = None


@dataclasses.dataclass(frozen=True)
class Shown:
    """What the host shows besides the layer and head: the view options, the followed token (a
    position of the run) and the readable window (tokens; 0 is off). The browser applies them to
    the attention it holds (transform.js); the server only reads them for the exact hover values."""

    options: ViewOptions = AS_CAPTURED
    follow: int = 0
    window: int = 0

    @property
    def key(self) -> str:
        """transform.js `optionsKey`: what a transform depends on."""
        o = self.options
        return f"{int(o.hide_special)}{int(o.renormalizes)}{int(o.merge_subwords)}{o.block}"

    def as_json(self) -> dict:
        o = self.options
        return {"hide": o.hide_special, "renormalize": o.renormalize, "merge": o.merge_subwords, "block": o.block,
                "follow": self.follow, "window": self.window}


MASKED_COLOUR = "#d9d9d9"  # where a causal mask hides a key: the plot's background shows through
STREAM_CODES_BYTES = 48_000_000  # long texts: every layer follows the first view while their codes fit here
STREAM_MESSAGE_BYTES = 3_000_000  # ...at most this many deflated bytes a message, nearest layers first


def _attention_only(run):
    """The run with its attention and tokens only: what the explorer reads. Holding the whole run
    kept its hidden states, queries, keys and values alive as long as the explorer's cache kept it."""
    if not dataclasses.is_dataclass(run):
        return run
    empty = np.zeros((0,), np.float32)
    return dataclasses.replace(run, hidden_states=empty, value_output_norms=empty, token_embeddings=empty,
                               position_embeddings=empty, segment_embeddings=None, queries=None, keys=None,
                               values=None)


def token_table(run) -> dict:
    """What the browser needs to apply the view options itself: per token its label, whether it is
    special, its segment and word (-1: none), and the label of every word of several pieces, by its
    first position (as `group_label` writes it)."""
    everything = list(range(run.n_tokens))
    return {
        "labels": list(run.tokenized.labels),
        "special": [int(bool(s)) for s in run.special],
        "segment": [int(s) for s in run.segment_ids],
        "word": [-1 if w is None else int(w) for w in run.word_ids],
        "words": {str(group[0]): group_label(run, group)
                  for group in groups_of(run, everything, True) if len(group) > 1},
    }


def _masked_background(fig: go.Figure) -> go.Figure:
    fig.update_layout(plot_bgcolor=MASKED_COLOUR)
    return fig


def _template(fig: go.Figure, drop: str | None = "z", hover_from_customdata: bool = False) -> str:
    """A figure's JSON for the browser to fill, its first trace's `drop` left out: z (the numbers
    the browser computes from the heads it holds) or an image's source (painted there)."""
    if drop:
        fig.data[0][drop] = None
    if hover_from_customdata:
        _hover_from_customdata(fig)
    return fig.to_json(validate=False)


class Explorer:
    """Everything about one run's attention that does not depend on the selection or the view
    options, built once and shared by every session that shows it (state.get_explorer); `payload`
    adds the selection. The browser gets the attention as captured and applies the view options
    itself (transform.js), so hiding, renormalising, merging, a pair block, the followed token and
    the window are drawn there without a server run."""

    def __init__(self, run, options: ExplorerOptions, plotly_url: str):
        self.run, self.options = _attention_only(run), options
        view = attention_view(run)  # as captured: a view of the run's own array, no copy
        # The thumbnails' templates keep their layout and drop the image, and every map fills a tile
        # whatever its size: built from 1 x 1 maps, they skip pooling and painting every head (at
        # 512 tokens most of the explorer's build, on the way to a new text's first view).
        tiles = dataclasses.replace(view, weights=np.zeros((*run.attentions.shape[:2], 1, 1), np.float32))
        n_layers, n_heads, n_tokens, _ = run.attentions.shape
        self.exact = run.attentions.nbytes <= EXACT_BYTES
        self.all_layers = self.exact or run.attentions.size <= ALL_LAYERS_BYTES
        self.stream = not self.all_layers and run.attentions.size <= STREAM_CODES_BYTES
        # Colours are the browser's to choose (`colour_choices`): figures are built in the default ones.
        colors, sizes = figs.ColorOptions(), options.sizes
        window = min(n_tokens, figs.WINDOW_DEFAULT)
        self.header = {
            "plotly": plotly_url,
            "shape": [n_layers, n_heads, n_tokens, n_tokens],
            "encoding": "f32" if self.exact else "q7log",
            "levels": LEVELS, "decades": float(DECADES),
            "tile": {"levels": figs.TILE_CODES, "background": figs.BACKGROUND},
            "stream": self.stream,
            "present": sizes is figs.PRESENTATION,
            "sizes": {name: getattr(sizes, name) for name in ("tick", "row_px", "min_height", "max_height",
                                                              "max_ticks")},
            "colours": colour_choices(),
            "auto_log_from": options.auto_log_from,
            "causal": options.causal,
            "controls": options.controls,
            "blocks": list(PAIR_BLOCKS),
            "tokens": token_table(run),
            # Titles go in as Plotly reads them (escaped); the browser only adds the block's name.
            "titles": [[plotly_text(figs.head_title(layer, head)) for head in [*range(n_heads), -1]]
                       for layer in range(n_layers)],
            "b_line": figs.SENTENCE_B_LINE,
            "formats": {"block_title": figs.BLOCK_TITLE, "window_title": figs.WINDOW_TITLE,
                        "token_title": figs.TOKEN_TITLE, "title_token_chars": figs.TITLE_TOKEN_CHARS,
                        "heads_title": figs.HEADS_TITLE},
            # Templates of every chart, built from the view as captured; the browser sets their numbers,
            # labels, sizes and titles for the view shown.
            "main": _template(self._masked(figs.head_heatmap(view, 0, 0, colors, sizes=sizes)),
                              hover_from_customdata=not self.exact),
            "window": _template(self._masked(figs.window_heatmap(view, 0, 0, (0, window), (0, window), colors,
                                                                 sizes=sizes)), hover_from_customdata=not self.exact),
            "token": _template(figs.token_across_heads(view, 0, 0, colors, sizes=sizes),
                               hover_from_customdata=not self.exact),
            "heads_grid": _template(figs.layer_heads_grid(tiles, 0, -1, colors, sizes), drop="source"),
            "means": _template(figs.layer_means_grid(tiles, 0, 0, colors, sizes), drop="source"),
            "overview": _template(figs.overview_grid(tiles, 0, 0, colors, sizes), drop="source"),
            "texts": options.texts,
            "configs": {"heatmap": figs.HEATMAP_CONFIG | RESPONSIVE, "thumbnail": figs.THUMBNAIL_CONFIG | RESPONSIVE,
                        "token": figs.SAVE_ONLY_CONFIG | RESPONSIVE},
        }
        self.view_json = json.dumps(self.header, separators=(",", ":"))  # sent whole only to a browser without it
        self.id = hashlib.sha1(self.view_json.encode()).hexdigest()[:16]
        self.special = [p for p in range(n_tokens) if run.special[p]]
        self._layers: dict[int, tuple[bytes, dict]] = {}
        self._grids: dict[str, dict] = {}  # options key -> the server's means and overview images
        self._last_hover: tuple | None = None  # (layer, head, options key, follow) -> `_hover`
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The most it holds, for a cache's byte budget: the run's attention (the run cache's own
        array, counted anyway: this keeps it alive), the view's JSON, and every layer once encoded
        (codes take a byte a weight; exact layers, four)."""
        weights = self.run.attentions
        encoded = weights.nbytes if self.exact else weights.size
        return weights.nbytes + encoded + len(self.view_json)

    def layer(self, layer: int) -> tuple[bytes, dict]:
        """One layer for the browser, encoded once: its heads' bytes, and what reading them takes
        (per-head maxima, whether deflated)."""
        with self._lock:
            if layer not in self._layers:
                heads = self.run.attentions[layer]  # (H, T, T)
                entry = {"layer": layer, "deflated": not self.exact}
                if self.exact:
                    self._layers[layer] = (np.ascontiguousarray(heads, dtype="<f4").tobytes(), entry | {"scales": None})
                else:
                    codes, maxima, specials = quantize_heads(heads, self.special)
                    self._layers[layer] = (zlib.compress(codes.tobytes(), DEFLATE_LEVEL), entry | {
                        "scales": np.concatenate([maxima.ravel(), specials.ravel()]).astype("<f4").tobytes()})
            return self._layers[layer]

    def _masked(self, fig: go.Figure) -> go.Figure:
        return _masked_background(fig) if self.options.causal else fig

    def _hover(self, layer: int, head: int, shown: Shown) -> tuple[bytes, list[float], bytes | None]:
        """A long text's exact values in the shown view, as hover prints them, kept for the next
        message (a class on one link asks for the same; a stream of layers repeats it): the head's
        (Q', K') counts, its smallest and largest row sum, and the followed token's (L, H, K') row."""
        key = (layer, head, shown.key, shown.follow)
        with self._lock:
            if self._last_hover is not None and self._last_hover[0] == key:
                return self._last_hover[1]
        # One head's view, not its layer's: a new text's first message waits for it (at 512 tokens with
        # merged words, the whole layer's view took 70-150 ms in the server).
        weights = self.run.attentions[layer]  # (H, T, T)
        if head == MEAN_HEAD:
            matrix = map_view(self.run, weights, shown.options).weights.mean(axis=0)  # (Q', K')
        else:
            matrix = map_view(self.run, weights[head], shown.options).weights
        sums = matrix.sum(axis=-1, dtype=np.float64)
        rows = view_row(self.run, self.run.attentions, shown.options, shown.follow)  # (L, H, K') or None
        made = (hover_counts(matrix), [float(sums.min()), float(sums.max())],
                None if rows is None else hover_counts(rows))
        with self._lock:
            self._last_hover = (key, made)
        return made

    def _grid_images(self, shown: Shown) -> dict:
        """The layer means' and the overview's images in the shown view, painted here for a browser
        that does not hold every layer (a long text's first view, or one too large to stream),
        pooled to their tiles without building the view (encoder.view_tiles): a decoder's 30 layers
        at 512 tokens would otherwise be copied whole (280 MB) for a few hundred kilobytes of tiles."""
        with self._lock:
            if shown.key not in self._grids:
                heads, means = view_tiles(self.run, self.run.attentions, shown.options, figs.OVERVIEW_TILE_PX,
                                          figs.MEANS_TILE_PX)  # (L, H, R, C), (L, R', C')
                if len(self._grids) >= 2:
                    self._grids.pop(next(iter(self._grids)))
                sizes = self.options.sizes
                self._grids[shown.key] = {"key": shown.key, "means": figs.means_image(means, sizes=sizes),
                                          "overview": figs.overview_grid_image(heads, sizes=sizes)}
            return self._grids[shown.key]

    def _layers_to_send(self, layer: int, held_layers: set[int], first: bool) -> list[int]:
        """Every layer (short texts); else the chosen one, and once the first view is drawn, the
        others nearest first, within STREAM_MESSAGE_BYTES a message (when they fit the stream)."""
        n_layers = self.header["shape"][0]
        if self.all_layers:
            return [index for index in range(n_layers) if index not in held_layers]
        wanted = [layer] if layer not in held_layers else []
        if self.stream and not first:
            budget = STREAM_MESSAGE_BYTES - sum(len(self.layer(index)[0]) for index in wanted)
            for index in sorted(set(range(n_layers)) - held_layers - {layer}, key=lambda i: (abs(i - layer), i)):
                size = len(self.layer(index)[0])
                if size > budget:
                    break
                wanted.append(index)
                budget -= size
        return wanted

    def payload(self, layer: int, head: int, shown: Shown = Shown(), auto: dict | None = None,
                held: dict | None = None, colour: dict | None = None) -> bytes:
        """The message for one selection (0-based; head -1 is the mean) in the `shown` view. `held`
        is what the browser said it holds ({"have": view id, "layers": [...]}): the view and those
        layers are not sent again, so a rerun after a head change carries little more than the
        selection. On long texts the shown head goes exactly, in the shown view, with its row sums,
        and the followed token's rows likewise. `auto` says why the page opened on a head.
        `colour`: {"scale": one of COLOR_SCALES, "mode": "auto", "linear" or "log"}."""
        held = held or {}
        known = held.get("have") == self.id
        held_layers = reported_layers(held) & set(range(self.header["shape"][0])) if known else set()
        blobs, sent, exact, token_hover, grids = [], [], None, None, None
        if not self.exact and self._keeps_something(shown):
            hover, rows, token_rows = self._hover(layer, head, shown)
            blobs.append(hover)
            exact = {"layer": layer, "head": head, "key": shown.key, "blob": 0, "scale": HOVER_SCALE, "rows": rows}
            if token_rows is not None:
                token_hover = {"blob": len(blobs), "scale": HOVER_SCALE, "key": f"{shown.key}|{shown.follow}"}
                blobs.append(token_rows)
        for index in self._layers_to_send(layer, held_layers, first=not known):
            data, entry = self.layer(index)
            scales = entry["scales"]
            sent.append(entry | {"blob": len(blobs), "scales": None if scales is None else len(blobs) + 1})
            blobs += [data] if scales is None else [data, scales]
        holds_all = len(held_layers) + len(sent) == self.header["shape"][0]
        if not holds_all and self._keeps_something(shown):
            grids = self._grid_images(shown)
        header = {"id": self.id, "selection": {"layer": layer, "head": head}, "shown": shown.as_json(),
                  "exact": exact, "token_hover": token_hover, "layers": sent, "grids": grids, "auto": auto,
                  "colour": colour or {"scale": COLOR_SCALES[0], "mode": "auto"}}
        return pack(header, blobs, None if known else {"view": self.view_json})

    def _keeps_something(self, shown: Shown) -> bool:
        """Whether the shown view has any row and column (hiding may leave none: the page says so)."""
        try:
            kept_positions(self.run, shown.options)
        except ValueError:
            return False
        return True


@functools.cache
def colour_choices() -> dict:
    """Every colour the browser may switch to without asking the server: per scale the main
    heatmaps' Plotly colour scale and the thumbnails' palette (base64, 256 x RGB), linear and log;
    and the colour bar titles. ("auto" is log from `auto_log_from` rows of the view shown.)"""
    modes = {"linear": False, "log": True}
    return {
        "scales": list(COLOR_SCALES),
        "colorscale": {name: {mode: colorscale(name, log) for mode, log in modes.items()} for name in COLOR_SCALES},
        "palette": {name: {mode: base64.b64encode(figs.tile_palette(name, log).tobytes()).decode("ascii")
                           for mode, log in modes.items()} for name in COLOR_SCALES},
        "legend": {mode: figs.ColorOptions(log=log).legend for mode, log in modes.items()},
    }
