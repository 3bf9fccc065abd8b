"""Minimal pairs: the same heads on two texts that differ in a word or two, aligned word by word;
which heads change, and where one word looks in each text."""

from __future__ import annotations

import numpy as np
import streamlit as st

import opening
import selection
import session
import state
import ui
from encoder import export
from encoder.analysis import minimal_pair
from encoder.attention_view import head_name, head_or_mean, kept_map
from figures import minimal_pairs as figures
from figures.common import token_name, top_positions

DEFAULT_A = "The trophy didn't fit in the suitcase because it was too big."
DEFAULT_B = "The trophy didn't fit in the suitcase because it was too small."
NOT_HERE = {selection.MERGE: "the two texts are always aligned word by word, subwords merged"}
TOP_BARS = 16  # a long text's bars: the words either text's followed word looks at most


def open_selected_row() -> None:
    rows = st.session_state["tbl_mp_changes"].selection.rows
    if rows:
        selection.choose(*st.session_state["_mp_table_order"][rows[0]])


def use_example_in_sidebar() -> None:
    """Copy the example pair into the sidebar (text and second sentence), where it can be edited:
    the app has one place to type text."""
    st.session_state["text"] = st.session_state.get("mp_text_a", DEFAULT_A)
    st.session_state["pair"] = st.session_state.get("mp_text_b", DEFAULT_B)


def changes_table(pair) -> None:
    """The heads ranked by how much they change; selecting a row shows that head."""
    changes = pair.head_changes.assign(layer=pair.head_changes["layer"] + 1, head=pair.head_changes["head"] + 1)
    st.session_state["_mp_table_order"] = list(zip(pair.head_changes["layer"], pair.head_changes["head"],
                                                   strict=True))
    st.markdown("**Heads that change most**")
    st.dataframe(changes, key="tbl_mp_changes", on_select=open_selected_row, selection_mode="single-row",
                 hide_index=True, height=380,
                 column_config={"js": st.column_config.ProgressColumn(
                     "Jensen–Shannon distance", min_value=0.0, max_value=float(changes["js"].max()) or 1.0,
                     format="%.3f")})
    st.caption("Mean over the shared words of the JS distance between a word's rows in A and B (0 = the same "
               "rows; at most √ln 2 ≈ 0.83); bars are relative to the largest. Select a row to show that head.")


def main() -> None:
    """The page, as a function: its run and figures are locals, not globals that the callbacks
    defined here (kept by Streamlit for the session) would keep alive."""
    opening.page_header(":material/difference: Minimal pairs",
                        "Change a word or two and watch the heads. The two texts run through the model separately; "
                        "their words (subwords merged) are aligned, and the heads ranked by how far each word's "
                        "attention moves between them.")

    source = session.current_input()
    kept = st.session_state
    if source.text_b:
        text_a, text_b = source.text_a, source.text_b
        st.caption("A is the sidebar's text, B its second sentence; each runs on its own here, not as one pair.")
    else:
        # Without a second sentence there is nothing of the person's to compare: show an example pair
        # (an old link's typed texts, else the trophy), and one click makes it theirs to edit.
        text_a, text_b = kept.setdefault("mp_text_a", DEFAULT_A), kept.setdefault("mp_text_b", DEFAULT_B)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.caption("The sidebar has no second sentence, so this is an example pair. To compare your own, type "
                       "A as the sidebar's text and B as its second sentence.")
            st.button("Edit this pair in the sidebar", key="mpbtn_use_example", on_click=use_example_in_sidebar,
                      width="content")
        st.text(f"A: {text_a}\nB: {text_b}")
    if not text_a.strip() or not text_b.strip():
        ui.show_problem("info", "Type two texts to compare: the sidebar's text and its second sentence.")
        return
    if opening.current_model() is None:
        return
    try:
        run_a = state.get_run(source.source, text_a, None)
        run_b = state.get_run(source.source, text_b, None)
    except ValueError as error:
        ui.show_problem("warning", "These texts cannot be compared.", str(error))
        return
    pair = minimal_pair(run_a, run_b)
    labels = pair.labels
    most = pair.head_changes.iloc[0]
    most_changed = int(most["layer"]), int(most["head"])

    selection.clamp(run_a.n_layers, run_a.n_heads)
    pair_key = (source.source, text_a, text_b)
    if kept.get("_mp_pair") != pair_key:
        # A new pair: what was followed may now be another word or a [SEP], and another head may
        # change most. Follow the first word that differs and open on that head; a link's own
        # choices hold on its first view.
        first_view = "_mp_pair" not in kept
        kept["_mp_pair"] = pair_key
        linked = kept.get("mp_word")
        if not (first_view and isinstance(linked, int) and 0 <= linked < len(labels) and not pair.special[linked]):
            kept["mp_word"] = pair.first_changed_word()
        if not (first_view and kept.get("_link_chose_head")):
            selection.choose(*most_changed)
    options = selection.view_options()
    # Hidden special tokens leave the map; rows of A and of B are renormalised over the words left, and
    # the difference is taken after. The texts are always aligned word by word (subwords merged).
    keep = [i for i in range(len(pair.labels)) if not (options.hide_special and pair.special[i])]
    labels = [pair.labels[i] for i in keep]
    attention_a, attention_b = (kept_map(maps, keep, options.renormalizes) for maps in (pair.attention_a,
                                                                                        pair.attention_b))
    difference = attention_b - attention_a  # (L, H, N, N)
    session.keep_valid("mp_word", keep, pair.first_changed_word())
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        layer, head = selection.layer_and_head_sliders(run_a)
        word = st.selectbox("Word to follow", keep, key="mp_word", width=260,
                            format_func=lambda i: f"{pair.labels[i]} ·{i}",
                            help="This page's own: the words of the two texts, aligned, not the sidebar text's "
                                 "tokens that other pages follow.")
        selection.view_options_control(NOT_HERE)
    chosen = selection.read(run_a)
    row = keep.index(word)
    notes = [note] if (note := selection.not_applied(NOT_HERE)) else []
    if (layer, head) == most_changed:
        notes.insert(0, f"Layer {layer + 1}, head {head + 1} is the head whose attention changes most between the "
                        "two texts (the table's first row). Pick another head above or in the table.")
    if notes:
        st.caption(" ".join(notes))

    def at_head(matrices: np.ndarray) -> np.ndarray:
        """(L, H, N, N) -> the selected head's (N, N), or the mean over the layer's heads."""
        return head_or_mean(matrices, layer, head)

    where = f"layer {layer + 1}, {head_name(head)}"
    span = chosen.span(len(labels), row)
    title = f"Attention in B minus A, {where}"
    difference_map = figures.difference_heatmap(at_head(difference), labels,
                                            title if span is None else f"{title}: words {span[0]}–{span[1] - 1}",
                                            span)
    caption = ("Red: B attends more than A; blue: less. Rows are query words, columns key words; a label “big → "
               "small” marks the words that differ, ∅ a word only one text has (blank cells).")
    if span is None:
        left, right = st.columns([3, 2])
        with left:
            ui.chart(difference_map, "chart_mp_difference", caption)
        with right:
            changes_table(pair)
    else:
        # The window takes the page's width: 48 upright labels need about 16 px a column.
        ui.chart(difference_map, "chart_mp_difference",
                 f"{caption} The window holds the {span[1] - span[0]} words around "
                 f"{token_name(pair.labels[word], word)}, "
                 "coloured against its own largest change.")
        left, right = st.columns(2)
        with left:
            changes_table(pair)
        with right:
            ui.chart(figures.difference_overview(at_head(difference), f"The whole map, {len(labels)} words",
                                                 span), "chart_mp_overview",
                     "The outline is the window above. Choose “off” as the window for the whole map, labelled every "
                     "few words.")

    row_a, row_b = at_head(attention_a)[row], at_head(attention_b)[row]
    positions = None if span is None else top_positions(np.stack([row_a, row_b]), TOP_BARS, keep=[row])
    word_title = f"Where “{pair.labels[word]}” looks in A and in B, {where}"
    if positions is not None:
        word_title += f": the {TOP_BARS} words it looks at most in each"
    default_pair = (text_a, text_b) == (DEFAULT_A, DEFAULT_B)
    ui.chart(figures.word_rows(row_a, row_b, labels, word_title, positions), "chart_mp_word",
             "The chosen word's attention in each text."
             + (" In the trophy pair “it” means the trophy in A and the suitcase in B: follow “it” and compare "
                "its bars on “trophy” and “suitcase”." if default_pair else ""))
    ui.export_buttons("minimal-pair", lambda: export.attention_long_csv(difference, labels, labels), difference_map,
                      {"A": run_a, "B": run_b})


main()
