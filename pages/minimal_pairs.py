"""Minimal pairs: the same heads on two texts that differ in a word or two, aligned word by word;
which heads change, and where one word looks in each text."""

from __future__ import annotations

import numpy as np
import streamlit as st

import state
import ui
from encoder import export
from encoder.analysis import minimal_pair
from figures import minimal_pairs as figures

DEFAULT_A = "The trophy didn't fit in the suitcase because it was too big."
DEFAULT_B = "The trophy didn't fit in the suitcase because it was too small."
TYPED, SIDEBAR = "Typed here", "The sidebar's text and second sentence"


def open_selected_row() -> None:
    rows = st.session_state["tbl_mp_changes"].selection.rows
    if rows:
        ui.select_layer_and_head(*st.session_state["_mp_table_order"][rows[0]])


def main() -> None:
    """The page, as a function: its run and figures are locals, not globals that the callbacks
    defined here (kept by Streamlit for the session) would keep alive."""
    state.page_header(":material/difference: Minimal pairs",
                      "Change one word and watch the heads. In “The trophy didn't fit in the suitcase because it was "
                      "too big / small” the word “it” means the trophy, then the suitcase: do any heads follow? "
                      "Subwords are merged into words and the two texts aligned word by word.")

    source = state.current_input()
    st.session_state.setdefault("mp_text_a", DEFAULT_A)
    st.session_state.setdefault("mp_text_b", DEFAULT_B)
    has_pair = bool(source.text_b)
    ui.keep_valid("mp_source", [TYPED, SIDEBAR] if has_pair else [TYPED], TYPED)
    origin = st.radio("Texts", [TYPED, SIDEBAR], key="mp_source", horizontal=True,
                      captions=["", "" if has_pair else "type a second sentence in the sidebar first"],
                      help="The sidebar's pair is read here as two separate texts, each run alone.")
    if origin == SIDEBAR and has_pair:
        text_a, text_b = source.text_a, source.text_b or ""
        st.text(f"A: {text_a}\nB: {text_b}")
    else:
        left, right = st.columns(2)
        text_a = left.text_input("Text A", key="mp_text_a", max_chars=2000)
        text_b = right.text_input("Text B", key="mp_text_b", max_chars=2000)
    if not text_a.strip() or not text_b.strip():
        ui.show_problem("info", "Type two texts to compare.")
        st.stop()
    if state.current_model() is None:
        st.stop()
    try:
        run_a = state.get_run(source.source, text_a, None)
        run_b = state.get_run(source.source, text_b, None)
    except ValueError as error:
        ui.show_problem("warning", "These texts cannot be compared.", str(error))
        st.stop()
    pair = minimal_pair(run_a, run_b)
    labels = pair.labels

    ui.clamp_layer_and_head(run_a.n_layers, run_a.n_heads)
    ui.keep_valid("mp_word", list(range(len(labels))),
                  next((i for i, label in enumerate(labels) if label.lower() == "it"), min(1, len(labels) - 1)))
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.select_slider("Layer", options=range(1, run_a.n_layers + 1), key="layer", width=240)
        st.select_slider("Head", options=[ui.MEAN_HEAD, *range(1, run_a.n_heads + 1)], key="head", width=320,
                         help="“mean” averages the layer's heads.")
        word = st.selectbox("Word to follow", range(len(labels)), key="mp_word", width=260,
                            format_func=lambda i: f"{labels[i]} ·{i}")
    layer, head = ui.layer_and_head()


    def at_head(matrices: np.ndarray) -> np.ndarray:
        """(L, H, W, W) -> the selected head's (W, W), or the mean over the layer's heads."""
        return matrices[layer].mean(axis=0) if head < 0 else matrices[layer, head]


    where = f"layer {layer + 1}, " + ("mean of heads" if head < 0 else f"head {head + 1}")
    difference = figures.difference_heatmap(at_head(pair.difference), labels, f"Attention in B minus A, {where}")
    left, right = st.columns([3, 2])
    with left:
        ui.chart(difference, "chart_mp_difference",
                 "Red: B attends more than A; blue: less. Rows are query words, columns key words; a label "
                 "“big → small” marks the words that differ, ∅ a word only one text has (blank cells).")
    with right:
        changes = pair.head_changes.assign(layer=pair.head_changes["layer"] + 1, head=pair.head_changes["head"] + 1)
        st.session_state["_mp_table_order"] = list(zip(pair.head_changes["layer"], pair.head_changes["head"],
                                                       strict=True))
        st.markdown("**Heads that change most**")
        st.dataframe(changes, key="tbl_mp_changes", on_select=open_selected_row, selection_mode="single-row",
                     hide_index=True, height=440,
                     column_config={"js": st.column_config.ProgressColumn(
                         "Jensen–Shannon distance", min_value=0.0, max_value=float(changes["js"].max()) or 1.0,
                         format="%.3f")})
        st.caption("Mean over the shared words of the JS distance between a word's rows in A and B (0 = the same "
                   "rows; at most √ln 2 ≈ 0.83); bars are relative to the largest. Select a row to show that head.")

    ui.chart(figures.word_rows(at_head(pair.attention_a)[word], at_head(pair.attention_b)[word], labels,
                               f"Where “{labels[word]}” looks in A and in B, {where}"), "chart_mp_word",
             "The chosen word's attention in each text. For the trophy pair, compare the bars on “trophy” and "
             "“suitcase”.")
    ui.export_buttons("minimal-pair", lambda: export.attention_long_csv(pair.difference, labels, labels), difference,
                      {"A": run_a, "B": run_b})


main()
