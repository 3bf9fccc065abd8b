"""The explorer as a notebook widget (anywidget): the notebook host of the same JavaScript the app's
Attention page runs (`module_js("widget")`), fed by the same packer.

Everything travels through the widget's comm (PROTOCOL.md, "The widget's comm"): payloads and
plotly.js (read from the installed plotly package) as binary buffers, so it draws with no network
and no server route, in any front end anywidget supports. Where no kernel is live (nbconvert, a
saved notebook), the MIME bundle's text/html is the offline HTML of `encoder.export.save_html`.

`show` is the notebook's one entry (re-exported as `headlight.show`). Like a page, it picks what to
compute: the engine's analyses (rollout, head statistics) come from `encoder.analysis`, the figures
from this folder's siblings; the widget only carries them.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

import anywidget
import numpy as np
import plotly
import plotly.graph_objects as go
import traitlets

from encoder import analysis, export
from encoder.attention_view import AS_CAPTURED, content_word_position

from .. import attention as figs
from .. import heads as head_figures
from .. import rollout as rollout_figures
from ..common import COLOR_SCALES
from . import css, holdings, module_js
from .packer import Explorer, ExplorerOptions, Shown

VIEWS = ("attention", "rollout", "heads")
COLOUR_MODES = ("auto", "linear", "log")
AUTO_LOG_FROM = 64  # as the Attention page: from here "auto" colours by log10(weight)
WINDOW_FROM, WINDOW = 96, 48  # long texts get a labelled window around the followed token
# The static fallback embeds every head while their weights stay this small; else the shown head only.
FALLBACK_ALL_HEADS_BYTES = 2_000_000
TEXTS = {
    "heads": "Every head of this layer, coloured by the weight itself. Click one to open it.",
    "means": "The mean over heads, layer by layer. Click one to open it.",
    "overview": "Rows are layers, columns heads. Look for diagonals, vertical stripes and blocks.",
    "window": f"{WINDOW} tokens around the followed token, every one labelled.",
    "token": "Where the followed token looks in each head of layer {layer}.",
    "colour": f"auto: linear below {AUTO_LOG_FROM} tokens, log from there on.",
    "hidden": {"special": "The followed token is a special token, hidden in this view.",
               "block": "The block {block} leaves out the followed token."},
    "nothing": "Nothing is left in this view.",
    "rows": {"one": "Rows are queries, columns keys; each row sums to 1. Hover for exact weights.",
             "other": "Rows are queries, columns keys; here rows sum to {low}–{high}{reason}. Hover for exact weights.",
             "hidden": "special tokens are hidden and rows are not renormalised",
             "block": "block {block} shows only the attention to sentence {sentence}",
             "b_note": ""},
}


@functools.cache
def plotly_js() -> bytes:
    """plotly.js from the installed plotly package: what the app serves, sent once per page."""
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def fallback_html(run, layer: int, head: int) -> str:
    """The offline HTML of `save_html` (plotly.js inside), in an iframe so that its page and script
    stay apart from the notebook's: every head when the file stays small, else the shown one."""
    everything = run.attentions.nbytes <= FALLBACK_ALL_HEADS_BYTES
    layers, heads = (None, None) if everything else ([layer], [max(head, 0)])
    figure = export.attention_figure(run, layers, heads)
    page = export.figure_html(figure)
    height = int(figure.layout.height or 700) + 40
    return (f'<iframe class="headlight-static" title="Attention (static)" style="width:100%;height:{height}px;'
            f'border:0" srcdoc="{html.escape(page, quote=True)}"></iframe>')


class Widget(anywidget.AnyWidget):
    """One run in a notebook. Traitlets (0-based, as the engine counts): `layer`; `head` (-1 is the
    mean of the layer's heads); `colour` ({"scale", "mode"}); `token`, the followed token's position.
    The person's choices in the widget land here; setting them from Python redraws."""

    _esm = traitlets.Unicode(module_js("widget")).tag(sync=True)
    _css = traitlets.Unicode(css()).tag(sync=True)
    view = traitlets.Unicode("attention").tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    colour = traitlets.Dict({"scale": COLOR_SCALES[0], "mode": "auto"}).tag(sync=True)
    token = traitlets.Int(0).tag(sync=True)

    def __init__(self, run, view: str = "attention", layer: int = 0, head: int = 0, statistic: str = "entropy"):
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
        if statistic not in head_figures.STATISTIC_NAMES:
            raise ValueError(f"statistic must be one of {tuple(head_figures.STATISTIC_NAMES)}, not {statistic!r}")
        self._run, self._statistic = run, statistic
        self._explorer = Explorer(run, ExplorerOptions(sizes=figs.NORMAL, texts=TEXTS, auto_log_from=AUTO_LOG_FROM,
                                                       causal=bool(run.causal)), plotly_url="") \
            if view == "attention" else None
        self._report: dict = {}  # what the browser last said it holds
        self._delivered: dict | None = None  # what the messages carried since (holdings)
        self._quiet = False  # set while the browser's own choice is written into the traitlets
        self._statistics = None
        follow = content_word_position(run.tokens, run.special, run.word_ids)
        super().__init__(view=view, layer=layer, head=head, token=follow)
        self.on_msg(self._on_message)

    # ------------------------------------------------------------ validation

    @traitlets.validate("layer")
    def _valid_layer(self, proposal):
        if not 0 <= proposal["value"] < self._run.n_layers:
            raise traitlets.TraitError(f"layer is 0-based, below {self._run.n_layers}")
        return proposal["value"]

    @traitlets.validate("head")
    def _valid_head(self, proposal):
        if not -1 <= proposal["value"] < self._run.n_heads:
            raise traitlets.TraitError(f"head is 0-based, below {self._run.n_heads}, or -1 for the mean")
        return proposal["value"]

    @traitlets.validate("colour")
    def _valid_colour(self, proposal):
        colour = {"scale": COLOR_SCALES[0], "mode": "auto"} | dict(proposal["value"])
        if colour["scale"] not in COLOR_SCALES or colour["mode"] not in COLOUR_MODES or len(colour) != 2:
            raise traitlets.TraitError(f"colour is {{'scale': one of {COLOR_SCALES}, 'mode': one of {COLOUR_MODES}}}")
        return colour

    @traitlets.validate("token")
    def _valid_token(self, proposal):
        if not 0 <= proposal["value"] < self._run.n_tokens:
            raise traitlets.TraitError(f"token is a position below {self._run.n_tokens}")
        return proposal["value"]

    @traitlets.observe("layer", "head", "colour", "token")
    def _redraw(self, change):
        if not self._quiet:
            self._push()

    # ------------------------------------------------------------ the attention explorer

    def payload(self, held: dict | None = None) -> bytes:
        """The message the browser gets for the current selection (PROTOCOL.md)."""
        window = WINDOW if self._run.n_tokens >= WINDOW_FROM else 0
        shown = Shown(AS_CAPTURED, follow=self.token, window=window)
        return self._explorer.payload(self.layer, self.head, shown, held=held, colour=dict(self.colour))

    # ------------------------------------------------------------ the other views

    def figure(self) -> go.Figure:
        """The figure of a "rollout" or "heads" view for the current selection."""
        run = self._run
        if self.view == "rollout":
            shares = analysis.rollout(run.attentions)[self.layer]  # (T, T) after layer `layer`
            labels = run.tokenized.labels
            log = self.colour["mode"] == "log" or (self.colour["mode"] == "auto" and run.n_tokens >= AUTO_LOG_FROM)
            return rollout_figures.share_heatmap(shares, labels, f"Attention rollout through layer {self.layer + 1}",
                                                 log=log)
        if self._statistics is None:
            stats = analysis.head_statistics(run)
            self._statistics = {name: stats[name].to_numpy().reshape(run.n_layers, run.n_heads)  # (L, H)
                                for name in analysis.STATISTICS}
        title, unit = head_figures.STATISTIC_NAMES[self._statistic]
        figure = head_figures.statistic_map(self._statistics[self._statistic], title, unit, self.colour["scale"],
                                            low_is_bright=self._statistic in head_figures.FOCUSED_WHEN_LOW)
        figure.update_layout(height=max(240, 40 * run.n_layers + 60))
        if self.head >= 0:  # the chosen head, outlined
            figure.add_shape(type="rect", x0=self.head + 0.5, x1=self.head + 1.5, y0=self.layer + 0.5,
                             y1=self.layer + 1.5, line=dict(color="black", width=2))
        return figure

    # ------------------------------------------------------------ the comm

    def _push(self, whole: bool = False) -> None:
        if self.view == "attention":
            if whole:  # a view rendered anew holds nothing yet
                self._report, self._delivered = {}, None
            payload = self.payload(holdings.held_now(self._report, self._delivered))
            self._delivered = holdings.delivered_after(self._report, self._delivered, payload)
            self.send({"type": "payload"}, [payload])
        else:
            self.send({"type": "figure", "figure": self.figure().to_json()})

    def _on_message(self, _widget, content, _buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "plotly":
            self.send({"type": "plotly"}, [plotly_js()])
        elif kind == "hello":
            self._push(whole=True)
        elif kind == "selection":
            self._report = {"have": content.get("have"), "layers": content.get("layers"), "asked": content.get("asked")}
            self._choose(content)
            self._push()
        elif kind == "click":
            self._choose(content)
            self._push()

    def _choose(self, content: dict) -> None:
        """The browser's choice, written into the traitlets without echoing each one back."""
        chosen = {}
        if isinstance(content.get("layer"), int) and 0 <= content["layer"] < self._run.n_layers:
            chosen["layer"] = content["layer"]
        if isinstance(content.get("head"), int) and -1 <= content["head"] < self._run.n_heads:
            chosen["head"] = content["head"]
        if content.get("scale") in COLOR_SCALES and content.get("mode") in COLOUR_MODES:
            chosen["colour"] = {"scale": content["scale"], "mode": content["mode"]}
        follow = content.get("follow")
        if isinstance(follow, int) and not isinstance(follow, bool) and 0 <= follow < self._run.n_tokens:
            chosen["token"] = follow
        self._quiet = True
        try:
            with self.hold_trait_notifications():
                for name, value in chosen.items():
                    setattr(self, name, value)
        finally:
            self._quiet = False

    # ------------------------------------------------------------ static renderers

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, and for renderers without a kernel the offline HTML of `save_html`."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data["text/html"] = fallback_html(self._run, self.layer, self.head)
        return data, metadata


def show(run_or_model, text: str | None = None, pair: str | None = None, *, view: str = "attention",
         layer: int = 0, head: int = 0, statistic: str = "entropy") -> Widget:
    """A widget for a run: `show(run)`, or `show(model, text, pair=None)` to run the model first.

    view: "attention" (the Attention page's explorer), "rollout" (attention rollout, layer by layer)
    or "heads" (a head statistic over layers × heads; click a head to choose it). layer and head
    are 0-based, head -1 the mean."""
    if text is None:
        if pair is not None:
            raise TypeError("show(model, text, pair): a pair needs a text")
        run = run_or_model
        if not isinstance(getattr(run, "attentions", None), np.ndarray):
            raise TypeError("show(run) takes a Run (model.run(text)), or show(model, text)")
    else:
        run = run_or_model.run(text) if pair is None else run_or_model.run(text, pair)
    return Widget(run, view=view, layer=layer, head=head, statistic=statistic)
