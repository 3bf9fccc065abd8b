"""Attention: one head large, its layer beside it, every layer × head below, and one token's view."""

from __future__ import annotations

import streamlit as st

import state
import ui
from encoder.attention_view import PAIR_BLOCKS, attention_view
from figures import attention as figs
from figures.common import CHART_CONFIG, COLOR_SCALES


def open_clicked(chart_key: str) -> None:
    points = st.session_state[chart_key].selection.points
    if points:
        ui.select_layer_and_head(*points[0]["customdata"])


st.header(":material/grid_on: Attention")
run = state.current_run()
if run is None:
    st.stop()
model_name = ui.markdown_literal(run.model_name)
st.caption(f"{model_name} · {run.n_layers} layers × {run.n_heads} heads · {run.n_tokens} tokens. "
           "Pick a layer and head, or click any thumbnail below.")
ui.clamp_layer_and_head(run.n_layers, run.n_heads)
with st.container(horizontal=True, vertical_alignment="bottom"):
    st.select_slider("Layer", options=range(1, run.n_layers + 1), key="layer", width=260)
    st.select_slider("Head", options=[ui.MEAN_HEAD, *range(1, run.n_heads + 1)], key="head", width=340,
                     help="“mean” averages the layer's heads.")
    with st.popover("View options", icon=":material/tune:"):
        hide_special = st.toggle("Hide special tokens ([CLS], [SEP])", key="att_hide_special")
        renormalize = st.toggle("…and renormalise rows to sum to 1", value=True, key="att_renormalize",
                                disabled=not hide_special)
        merge = st.toggle("Merge subwords into words", key="att_merge",
                          help="Attention to a word is the sum over its pieces; from a word, the mean.")
        scale = st.selectbox("Colour scale", COLOR_SCALES, key="att_scale")
        log = st.radio("Colour", ["linear", "log"], horizontal=True, key="att_log") == "log"
    block = "all"
    if run.is_pair:
        block = st.segmented_control("Pair block (query → key)", PAIR_BLOCKS, default="all",
                                     key="att_block") or "all"
layer, head = ui.layer_and_head()

try:
    view = attention_view(run, hide_special, renormalize, merge, block)
except ValueError as error:
    st.warning(str(error))
    st.stop()
colors = figs.ColorOptions(scale, log)

left, right = st.columns([3, 2])
with left:
    st.plotly_chart(figs.head_heatmap(view, layer, head, colors), width="stretch", config=CHART_CONFIG)
    st.caption("Each row is a query token; its colours show how it splits its attention over the "
               "key tokens (rows sum to 1). Hover for exact weights.")
with right:
    st.plotly_chart(figs.layer_heads_grid(view, layer, head, colors), width="stretch", config=CHART_CONFIG,
                    key="heads_grid", on_select=lambda: open_clicked("heads_grid"), selection_mode="points")
    st.caption("Every head of this layer, each coloured against its own maximum. Click one to open it.")
    st.plotly_chart(figs.layer_means_grid(view, layer, head, colors), width="stretch", config=CHART_CONFIG,
                    key="layer_means", on_select=lambda: open_clicked("layer_means"), selection_mode="points")
    st.caption("The mean over heads, layer by layer. Click one to open it.")

st.plotly_chart(figs.overview_grid(view, layer, head, colors), width="stretch", config=CHART_CONFIG,
                key="overview", on_select=lambda: open_clicked("overview"), selection_mode="points")
st.caption("Rows are layers, columns heads. Look for diagonals (previous or next token), vertical "
           "stripes (every token attends to one token, often [SEP]) and blocks (within a word or a sentence).")

query = st.selectbox("Attention from token", range(len(view.query_labels)), key="att_query",
                     format_func=lambda i: f"{view.query_labels[i]} ·{i}",
                     index=min(1, len(view.query_labels) - 1))
st.plotly_chart(figs.token_across_heads(view, layer, query, colors), width="stretch", config=CHART_CONFIG)
st.caption(f"Where the chosen token looks in each head of layer {layer + 1}.")
