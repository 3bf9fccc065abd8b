"""Attention: one head large, its layer beside it, every layer × head below, and one token's view."""

from __future__ import annotations

import contextlib
import functools

import streamlit as st

import components
import opening
import registry
import selection
import session
import state
import ui
import url
from encoder.analysis import clearest_head, head_sharpness
from encoder.attention_view import (
    MEAN_HEAD,
    PAIR_BLOCKS,
    AttentionView,
    ViewOptions,
    attention_view,
    content_word_position,
    kept_positions,
)
from encoder.unreadable import unreadable_spans
from figures import attention as figs
from figures import explorer as explorer_figs
from figures.common import COLOR_SCALES
from pages.parts import compare, corpus_contexts, lines, qk

COLOR_MODES = ("auto", "linear", "log")
# From this length a few [CLS]/[SEP] cells take the whole linear range and the rest of a map is
# near-black; "auto" then colours by log10(weight), which keeps a thousandfold range visible.
AUTO_LOG_FROM = 64
ROWS_SUM_TO_ONE = 1e-3
EXPORT_CELLS = 500_000  # a CSV row a cell, ~40 bytes: the whole run, else the layer, else the head
# Presentation mode enlarges Streamlit's own controls and captions for a projector (the explorer's
# own controls and charts size themselves: figures/explorer.css, figures.attention.PRESENTATION).
PRESENT_CSS = """<style>
.st-key-att_controls label p, .st-key-att_controls [data-testid="stWidgetLabel"] p { font-size: 20px !important; }
.st-key-att_controls button p { font-size: 19px !important; }
</style>"""  # the page's own controls; text and headers everywhere are ui.PRESENT_CSS's
ROWS = "Each row is a query token; its colours show how it splits its attention over the key tokens"
TEXTS = {
    "heads": "Every head of this layer, coloured by the weight itself (1 is the brightest): a head that spreads "
             "its attention thinly looks dim, one that picks a few tokens looks bright. Click one to open it.",
    "means": "The mean over heads, layer by layer. Click one to open it.",
    "overview": "Rows are layers, columns heads. Look for diagonals (previous or next token), vertical stripes "
                "(every token attends to one token, often [SEP]) and blocks (within a word or a sentence).",
    "window": "{window} tokens around the followed token (choose it below), every one labelled, coloured against the "
              "window's own maximum.",
    "token": "Where the chosen token looks in each head of layer {layer}.",
    "colour": f"auto: linear below {AUTO_LOG_FROM} tokens, log from there on, where a few cells would otherwise "
              "take the whole range.",
    "hidden": selection.HIDDEN_NOTES,
    "nothing": "Nothing is left once the special tokens are hidden.",
    # The main map's caption, filled in the browser from the shown head's row sums (PROTOCOL.md).
    "rows": {
        "one": ROWS + " (each row sums to 1). Hover for exact weights.",
        "other": ROWS + ". Here rows sum to {low}–{high}, not 1{reason}. Hover for exact weights.",
        "hidden": "special tokens are hidden and rows are not renormalised",
        "block": "block {block} shows only the share of attention that goes to sentence {sentence}",
        "b_note": " Dotted lines: sentence B begins at row and column {row}.",
    },
}


def open_on_a_clear_head(run) -> None:
    """Bug 10: unless the link or the person chose a head, open on the clearest one and follow a
    content word (`auto_choice` gives the reason while that choice stands)."""
    kept = st.session_state
    text_key = (run.model_name, run.tokenized.text_a, run.tokenized.text_b)
    if "_att_auto" not in kept:  # this page's first view in the session
        # The session starts at layer 1, head 1 (session.init_session); anything else was chosen, and so
        # is a layer or head the link came with (recorded before any page wrote the URL).
        chosen = kept.get("_link_chose_head", False) or (kept.get("layer"), kept.get("head")) != (1, 1)
        kept._att_auto = None if chosen else {"text": None}
    auto_choice()  # forgets the automatic choice once the person moved away from it
    if kept._att_auto is not None and kept._att_auto["text"] != text_key:
        choice = clearest_head(head_sharpness(run.attentions, run.special, causal=bool(run.causal)))
        kept._att_auto = {"text": text_key, "layer": choice.layer + 1, "head": choice.head + 1,
                             "reason": choice.reason}
        selection.choose(choice.layer, choice.head, content_word_position(run.tokens, run.special, run.word_ids))


def selection_changed(n_tokens: int) -> None:
    """The person picked a layer, head, colour or token in the explorer: keep it in the session (and
    so in the URL and on the other pages)."""
    chosen = components.explorer_said()
    if isinstance(chosen.get("layer"), int) and isinstance(chosen.get("head"), int):
        selection.choose(chosen["layer"], chosen["head"])
    if chosen.get("scale") in COLOR_SCALES:
        st.session_state.att_scale = chosen["scale"]
    if chosen.get("mode") in COLOR_MODES:
        st.session_state.att_log = chosen["mode"]
    position = chosen.get("follow")
    if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < n_tokens:
        st.session_state[selection.FOLLOW] = position


def auto_choice() -> dict | None:
    """The head the page opened on by itself, 0-based with its reason, while it is still shown."""
    auto = st.session_state.get("_att_auto")
    if not auto or auto["text"] is None:
        return None
    if (st.session_state.get("layer"), st.session_state.get("head")) != (auto["layer"], auto["head"]):
        st.session_state._att_auto = None  # the person moved away: their choice from now on
        return None
    return {"layer": auto["layer"] - 1, "head": auto["head"] - 1, "reason": auto["reason"]}


def view_of(key: tuple) -> AttentionView:
    """The view an explorer key names: (source, text A, text B, hide, renormalise, merge, block, ...)."""
    source, text_a, text_b, options = key[:4]
    return attention_view(state.get_run(source, text_a, text_b), options.hide_special, options.renormalize,
                          options.merge_subwords, options.block)


def packed_explorer(key: tuple, options: explorer_figs.ExplorerOptions):
    """The shared packed explorer for `key` (source, text A, text B, presenting): state.get_explorer
    builds it once from the cached run, for every session and every view option."""
    plotly_url = components.plotly_js_url()
    return state.get_explorer(key, lambda: explorer_figs.Explorer(state.get_run(*key[:3]), options, plotly_url))


@st.fragment
def explorer(options: explorer_figs.ExplorerOptions, key: tuple, is_pair: bool) -> None:
    """The view options and the charts, drawn in the browser. A layer, head, colour or token picked
    there, or a view option changed here, reruns only this fragment: the browser applies it to the
    attention it holds (figures/explorer/transform.js), and the server keeps the URL and the other
    pages in step and sends a long text's exact hover values.

    Streamlit keeps a fragment's arguments and a widget's callback for as long as the session
    lives, so neither holds the run: only the key that finds it in the shared, byte-bounded caches.
    Holding it kept every visitor's 450-token run alive for the session (about 60 MB each), which no
    cache budget bounded."""
    with st.container(horizontal=True, vertical_alignment="bottom", key="att_controls"):
        selection.view_options_control()
        block = "all"
        if is_pair:
            block = st.segmented_control("Pair block (query → key)", PAIR_BLOCKS, key="att_block") or "all"
        compare.open_button("cmpbtn_from_attention")
        corpus_contexts.open_button("ctxbtn_from_attention")
    explorer_charts(options, key, block)


@st.fragment
def explorer_charts(options: explorer_figs.ExplorerOptions, key: tuple, block: str) -> None:
    """The charts and what follows the selection: the link and the downloads. A fragment of its own
    inside `explorer`: a layer, head, colour or token picked in the browser reruns only this, and the
    browser then redraws these 7 elements, not the 17 with the controls above them (a 16-token head
    change, taking turns with the single fragment in one browser: 0.12 -> 0.07 s)."""
    packed = packed_explorer(key, options)
    run = packed.run
    chosen = selection.read(run, block=block)
    try:
        kept_positions(run, chosen.options)
    except ValueError as error:  # the explorer draws nothing and says why; the page says it too
        st.warning(str(error))
    layer, head = chosen.layer, chosen.head
    colour = {"scale": st.session_state.att_scale, "mode": st.session_state.att_log}
    shown = explorer_figs.Shown(chosen.options, chosen.follow, chosen.window)
    payload = packed.payload(layer, head, shown, auto_choice(), held=components.explorer_held(), colour=colour)
    components.attention_explorer(payload, on_change=functools.partial(selection_changed, run.n_tokens))
    url.write_link(session.current_input(), registry.by_title("Attention"), st.session_state)
    export_view(*key[:3], chosen.options, layer, head)


def export_view(source: str, text_a: str, text_b: str | None, view_options: ViewOptions, layer: int, head: int) -> None:
    """The Attention view's downloads, as every page has them. Only names are kept for the click
    (the run is taken from the cache then), so the session holds no run (tests/test_session_memory.py).
    The CSV holds what the view shows (hidden tokens, merged words): the whole run when it is
    small, else the selected layer's heads, else the selected head."""
    from encoder import export

    def current_view():
        return view_of((source, text_a, text_b, view_options))

    def numbers() -> str:
        view = current_view()
        n_layers, n_heads, n_rows, n_cols = view.weights.shape
        if n_layers * n_heads * n_rows * n_cols <= EXPORT_CELLS:
            return export.attention_long_csv(view.weights, view.query_labels, view.key_labels)
        if n_heads * n_rows * n_cols <= EXPORT_CELLS:
            return export.attention_long_csv(view.weights[layer:layer + 1], view.query_labels, view.key_labels,
                                             layers=[layer])
        return export.attention_long_csv(figs.head_matrix(view, layer, head), view.query_labels, view.key_labels,
                                         layers=[layer], heads=[None if head == MEAN_HEAD else head])

    ui.export_buttons("attention", numbers, lambda: figs.head_heatmap(current_view(), layer, head),
                      {"": lambda: state.get_run(source, text_a, text_b)})
    st.caption("The CSV holds the view as shown: every layer and head of a short text, the selected layer's "
               "heads of a longer one, the selected head beyond that.")


def heatmaps() -> None:
    """The explorer. Its body is a function so that the run and the view are this function's locals:
    a page script's globals live as long as any fragment or callback defined in it (Streamlit keeps
    those for the session), and as globals they kept every visitor's run alive for the session."""
    with contextlib.suppress(OSError):  # a read-only static folder: said below, where the charts would be
        components.preload_plotly()  # before the run: plotly.js compiles while the server runs the model
    run = opening.page_run()
    present = ui.presenting()
    if present:
        st.html(PRESENT_CSS)
    spans = unreadable_spans(run.tokenized)
    if spans:
        ui.show_problem("warning", "Parts of the text are unknown to this model: each became [UNK], one vector that "
                        "stands for anything the vocabulary lacks.", "\n".join(s.describe(run.is_pair) for s in spans))
    current = session.current_input()
    model_name = ui.markdown_literal(run.model_name)
    st.caption(f"{model_name} · {run.n_layers} layers × {run.n_heads} heads · {run.n_tokens} tokens. "
               "Pick a layer and head, or click any thumbnail below. A token written “it ·10” is the token at "
               "position 10, counted from 0 ([CLS] or the first token is ·0), as on every page.")
    selection.clamp(run.n_layers, run.n_heads)
    open_on_a_clear_head(run)
    session.keep_valid("att_log", list(COLOR_MODES), "auto")
    session.keep_valid("att_scale", list(COLOR_SCALES), COLOR_SCALES[0])
    session.keep_valid("att_block", list(PAIR_BLOCKS), "all")
    options = explorer_figs.ExplorerOptions(sizes=figs.PRESENTATION if present else figs.NORMAL, texts=TEXTS,
                                            auto_log_from=AUTO_LOG_FROM, causal=bool(run.causal), controls={
                                                "hide": selection.HIDE, "renormalize": selection.RENORMALIZE,
                                                "merge": selection.MERGE, "block": "att_block"})
    key = (current.source, current.text_a, current.text_b, present)
    try:
        packed_explorer(key, options)  # built here once; the fragment finds it in the cache
    except OSError as error:  # plotly.js could not be copied into the static folder (a read-only app folder)
        ui.show_problem("error", "The charts need plotly.js in the app's static folder, which could not be written.",
                        str(error))
        st.stop()
    explorer(options, key, run.is_pair)


opening.page_header(":material/grid_on: Attention")
opening.page_views("att_view", {"Heatmaps": heatmaps, "Lines": lines.render, "Q·K step by step": qk.render})
