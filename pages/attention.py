"""Attention: one head large, its layer beside it, every layer × head below, and one token's view."""

from __future__ import annotations

import functools

import streamlit as st

import registry
import sources
import state
import ui
import url
from encoder.analysis import clearest_head, head_sharpness
from encoder.attention_view import (
    PAIR_BLOCKS,
    AttentionView,
    attention_view,
    content_word_position,
    row_of_position,
    segment_b_start,
    window_span,
)
from encoder.compare import compared_attention, is_causal, layer_mapping
from encoder.unreadable import unreadable_spans
from figures import attention as figs
from figures import explorer as explorer_figs
from figures import models as model_figures
from figures.common import COLOR_SCALES
from pages.parts import lines, qk

COLOR_MODES = ("auto", "linear", "log")
# From this length a few [CLS]/[SEP] cells take the whole linear range and the rest of a map is
# near-black; "auto" then colours by log10(weight), which keeps a thousandfold range visible.
AUTO_LOG_FROM = 64
WINDOW_SIZES = (0, 24, 48, 96)  # 0: no window
ROWS_SUM_TO_ONE = 1e-3
EXPORT_CELLS = 500_000  # a CSV row a cell, ~40 bytes: the whole run, else the layer, else the head
# Presentation mode enlarges Streamlit's own controls and captions for a projector (the explorer's
# own controls and charts size themselves: figures/explorer.css, figures.attention.PRESENTATION).
PRESENT_CSS = """<style>
.st-key-att_controls label p, .st-key-att_controls [data-testid="stWidgetLabel"] p { font-size: 20px !important; }
.st-key-att_controls button p { font-size: 19px !important; }
</style>"""  # the page's own controls; text and headers everywhere are ui.PRESENT_CSS's
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
}


def open_on_a_clear_head(run) -> None:
    """Bug 10: unless the link or the person chose a head, open on the clearest one and follow a
    content word (`auto_choice` gives the reason while that choice stands)."""
    session = st.session_state
    text_key = (run.model_name, run.tokenized.text_a, run.tokenized.text_b)
    if "_att_auto" not in session:  # this page's first view in the session
        # The session starts at layer 1, head 1 (ui.init_session); anything else was chosen, and so
        # is a layer or head the link came with (recorded before any page wrote the URL).
        chosen = session.get("_link_chose_head", False) or (session.get("layer"), session.get("head")) != (1, 1)
        session._att_auto = None if chosen else {"text": None}
    auto_choice()  # forgets the automatic choice once the person moved away from it
    if session._att_auto is not None and session._att_auto["text"] != text_key:
        choice = clearest_head(head_sharpness(run.attentions, run.special))
        session._att_auto = {"text": text_key, "layer": choice.layer + 1, "head": choice.head + 1,
                             "reason": choice.reason}
        ui.select_layer_and_head(choice.layer, choice.head)
        session.att_follow = content_word_position(run.tokens, run.special, run.word_ids)


def rows_caption(low: float, high: float, hide_special: bool, renormalize: bool, block: str) -> str:
    """The main map's caption, for a head whose row sums run from `low` to `high`."""
    base = "Each row is a query token; its colours show how it splits its attention over the key tokens"
    if abs(low - 1) < ROWS_SUM_TO_ONE and abs(high - 1) < ROWS_SUM_TO_ONE:
        return base + " (each row sums to 1). Hover for exact weights."
    why = []
    if hide_special and not renormalize:
        why.append("special tokens are hidden and rows are not renormalised")
    if block != "all":
        why.append(f"block {block} shows only the share of attention that goes to sentence {block[-1]}")
    reason = f": {'; '.join(why)}" if why else ""
    return base + f". Here rows sum to {low:.2f}–{high:.2f}, not 1{reason}. Hover for exact weights."


def selection_changed(first_positions: tuple[int, ...]) -> None:
    """The person picked a layer, head or token in the explorer: keep it in the session (and so in
    the URL and on the other pages). `first_positions`: the view's rows' first token positions."""
    chosen = ui.explorer_said()
    if isinstance(chosen.get("layer"), int) and isinstance(chosen.get("head"), int):
        ui.select_layer_and_head(chosen["layer"], chosen["head"])
    if chosen.get("scale") in COLOR_SCALES:
        st.session_state.att_scale = chosen["scale"]
    if chosen.get("mode") in COLOR_MODES:
        st.session_state.att_log = chosen["mode"]
    row = chosen.get("follow")
    if isinstance(row, int) and 0 <= row < len(first_positions):
        st.session_state.att_follow = first_positions[row]


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
    source, text_a, text_b, hide_special, renormalize, merge, block = key[:7]
    return attention_view(state.get_run(source, text_a, text_b), hide_special, renormalize, merge, block)


def packed_explorer(key: tuple, options: explorer_figs.ExplorerOptions, view: AttentionView | None = None):
    """The shared packed explorer for `key` (state.get_explorer), built from `view` when given, else
    from the key: a fragment rerun after the explorer left the cache builds it again."""
    plotly_url = ui.plotly_js_url()
    return state.get_explorer(key, lambda: explorer_figs.Explorer(view or view_of(key), options, plotly_url))


@st.fragment
def explorer(options: explorer_figs.ExplorerOptions, key: tuple) -> None:
    """The charts, drawn in the browser. A layer or head picked there reruns only this fragment
    (to keep the URL, the other pages and the compared model in step); a new followed token needs
    the page (the window and the token chart are built around it).

    Streamlit keeps a fragment's arguments and a widget's callback for as long as the session
    lives, so neither holds the run or the view: only the key that finds them in the shared,
    byte-bounded caches. Holding them kept every visitor's 450-token run alive for the session
    (about 60 MB each), which no cache budget bounded."""
    if st.session_state.get("att_follow") != options.follow_position:
        st.rerun(scope="app")
    layer, head = ui.layer_and_head()
    packed = packed_explorer(key, options)
    colour = {"scale": st.session_state.att_scale, "mode": st.session_state.att_log}
    first_positions = tuple(group[0] for group in packed.view.query_positions)
    ui.attention_explorer(packed.payload(layer, head, auto_choice(), held=ui.explorer_said(), colour=colour),
                          on_change=functools.partial(selection_changed, first_positions))
    if st.session_state.get("att_compare") is not None:
        second_model_heatmap(state.get_run(*key[:3]), st.session_state.att_compare, layer, head)
    url.write_link(state.current_input(), registry.by_title("Attention"), st.session_state)


def export_view(source: str, text_a: str, text_b: str | None, view_options: tuple, layer: int, head: int) -> None:
    """The Attention view's downloads, as every page has them. Only names are kept for the click
    (the run is taken from the cache then), so the session holds no run (tests/test_session_memory.py).
    The CSV holds what the view shows (hidden tokens, merged words): the whole run when it is
    small, else the selected layer's heads, else the selected head."""
    from encoder import export

    def current_view():
        return attention_view(state.get_run(source, text_a, text_b), *view_options)

    def numbers() -> str:
        view = current_view()
        n_layers, n_heads, n_rows, n_cols = view.weights.shape
        if n_layers * n_heads * n_rows * n_cols <= EXPORT_CELLS:
            return export.attention_long_csv(view.weights, view.query_labels, view.key_labels)
        if n_heads * n_rows * n_cols <= EXPORT_CELLS:
            return export.attention_long_csv(view.weights[layer:layer + 1], view.query_labels, view.key_labels,
                                             layers=[layer])
        return export.attention_long_csv(figs.head_matrix(view, layer, head), view.query_labels, view.key_labels,
                                         layers=[layer], heads=[None if head < 0 else head])

    ui.export_buttons("attention", numbers, lambda: figs.head_heatmap(current_view(), layer, head),
                      {"": lambda: state.get_run(source, text_a, text_b)})
    st.caption("The CSV holds the view as shown: every layer and head of a short text, the selected layer's "
               "heads of a longer one, the selected head beyond that.")


def compare_choices(source_a: str) -> tuple[list, dict]:
    """The 'Compare with' options (None, then every installed named model but the sidebar's) and their infos."""
    infos = {info.name: info for info in state.model_infos()}
    others = [name for name in sources.bundled_names() if name != source_a and name in infos]
    ui.keep_valid("att_compare", [None, *others], None)
    return [None, *others], infos


def second_model_heatmap(run, source_b: str, layer: int, head: int) -> None:
    """Model B's attention at the layer proportionally mapped from A's (`encoder.compare`): the same head
    number when B has it, else the mean of B's heads (heads of two models are not matched anyway)."""
    run_b = state.second_run(source_b, "The model to compare with")
    if run_b is None:
        return
    compared = compared_attention(run, run_b, layer, head, head if head < run_b.n_heads else -1)
    head_b = "mean of the heads" if compared.head_b < 0 else f"head {compared.head_b + 1}"
    st.plotly_chart(model_figures.attention_heatmap(
        compared.matrix_b, run_b.tokenized.labels, run_b.tokenized.labels,
        f"B · {run_b.model_name} · layer {compared.layer_b + 1}, {head_b}", is_causal(run_b)),
        width="stretch", config=figs.HEATMAP_CONFIG, key="att_compare_heatmap")
    mapping = layer_mapping(run.n_layers, run_b.n_layers)
    st.caption(f"The same text through {ui.markdown_literal(run_b.model_name)}: layer {layer + 1} of "
               f"{run.n_layers} here faces layer {compared.layer_b + 1} of {run_b.n_layers} there"
               + ("." if run.n_layers == run_b.n_layers else
                  f" (proportional mapping: layers {', '.join(str(i + 1) for i in range(run.n_layers))} → "
                  f"{', '.join(str(m + 1) for m in mapping)}).")
               + " The models may cut the text into different tokens; the view options above apply to this "
                 "model only.")


def hidden_note(run, position: int, hide_special: bool, block: str) -> str:
    if hide_special and run.special[position]:
        return "Special tokens are hidden (View options), so the token you follow is not in this view."
    return f"The pair block {block} leaves out the token you follow (it is in the other sentence)."


def heatmaps() -> None:
    """The explorer. Its body is a function so that the run and the view are this function's locals:
    a page script's globals live as long as any fragment or callback defined in it (Streamlit keeps
    those for the session), and as globals they kept every visitor's run alive for the session."""
    run = state.page_run()
    compare_options, compare_infos = compare_choices(state.current_input().source)
    present = ui.presenting()
    if present:
        st.html(PRESENT_CSS)
    spans = unreadable_spans(run.tokenized)
    if spans:
        ui.show_problem("warning", "Parts of the text are unknown to this model: each became [UNK], one vector that "
                        "stands for anything the vocabulary lacks.", "\n".join(s.describe(run.is_pair) for s in spans))
    model_name = ui.markdown_literal(run.model_name)
    st.caption(f"{model_name} · {run.n_layers} layers × {run.n_heads} heads · {run.n_tokens} tokens. "
               "Pick a layer and head, or click any thumbnail below. A token written “it ·10” is the token at "
               "position 10, counted from 0 ([CLS] or the first token is ·0), as on every page.")
    ui.clamp_layer_and_head(run.n_layers, run.n_heads)
    open_on_a_clear_head(run)
    ui.keep_valid("att_log", list(COLOR_MODES), "auto")
    ui.keep_valid("att_scale", list(COLOR_SCALES), COLOR_SCALES[0])
    ui.keep_valid("att_window", list(WINDOW_SIZES), figs.WINDOW_DEFAULT)
    ui.keep_valid("att_block", list(PAIR_BLOCKS), "all")
    ui.followed_token(run)
    with st.container(horizontal=True, vertical_alignment="bottom", key="att_controls"):
        with st.popover("View options", icon=":material/tune:"):
            hide_special = st.toggle("Hide special tokens ([CLS], [SEP])", key="att_hide_special")
            renormalize = st.toggle("…and renormalise rows to sum to 1", value=True, key="att_renormalize",
                                    disabled=not hide_special)
            merge = st.toggle("Merge subwords into words", key="att_merge",
                              help="Attention to a word is the sum over its pieces; from a word, the mean.")
            st.selectbox("Readable window (tokens)", WINDOW_SIZES, key="att_window",
                         format_func=lambda n: "off" if n == 0 else f"{n} around the followed token",
                         help="On long texts, a span of the map beside it with every token labelled.")
            st.selectbox("Compare with", compare_options, key="att_compare",
                         format_func=lambda name: "None" if name is None else compare_infos[name].display_name,
                         help="A second model's attention on the same text, below the main map, at the layer "
                              "that has done the same share of its depth.")
        block = "all"
        if run.is_pair:
            block = st.segmented_control("Pair block (query → key)", PAIR_BLOCKS, key="att_block") or "all"

    try:
        view = attention_view(run, hide_special, renormalize, merge, block)
    except ValueError as error:
        st.warning(str(error))
        st.stop()
    followed = st.session_state.att_follow
    follow_row = row_of_position(view.query_positions, followed)
    window = st.session_state.att_window
    span = None
    if 0 < window < len(view.query_labels):
        rows = window_span(len(view.query_labels), follow_row or 0, window)
        key_center = row_of_position(view.key_positions, followed)
        span = (rows, window_span(len(view.key_labels), rows[0] + window // 2 if key_center is None else key_center,
                                  window))
    if follow_row is None:
        ui.show_problem("info", hidden_note(run, followed, hide_special, block),
                        f"Followed: {run.tokens[followed]} ·{followed}")
    current = state.current_input()
    b_start = segment_b_start(view.query_positions, run.segment_ids) if run.is_pair and block == "all" else None
    b_note = "" if b_start is None else f" Dotted lines: sentence B begins at row and column {b_start + 1}."
    options = explorer_figs.ExplorerOptions(
        auto_log=len(view.query_labels) >= AUTO_LOG_FROM, sizes=figs.PRESENTATION if present else figs.NORMAL,
        block=block, b_start=b_start,
        follow_row=follow_row, follow_position=followed, window=span,
        captions=explorer_figs.captions_for(
            view, lambda low, high: rows_caption(low, high, hide_special, renormalize, block) + b_note),
        texts=TEXTS | {"window": TEXTS["window"].replace("{window}", str(window))}, causal=bool(run.causal))
    key = (current.source, current.text_a, current.text_b, hide_special, renormalize, merge, block, present, span,
           followed)
    try:
        packed_explorer(key, options, view)  # from the view at hand; the fragment finds it in the cache
    except OSError as error:  # plotly.js could not be copied into the static folder (a read-only app folder)
        ui.show_problem("error", "The charts need plotly.js in the app's static folder, which could not be written.",
                        str(error))
        st.stop()
    explorer(options, key)
    export_view(current.source, current.text_a, current.text_b, (hide_special, renormalize, merge, block),
                *ui.layer_and_head())


state.page_header(":material/grid_on: Attention")
state.page_views("att_view", {"Heatmaps": heatmaps, "Lines": lines.render, "Q·K step by step": qk.render})
