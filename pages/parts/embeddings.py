"""Embeddings: where each token's vector sits at a chosen depth, how it moves through the layers,
how alike the vectors are and how long they grow."""

from __future__ import annotations

import streamlit as st

import sources
import state
import ui
from encoder import export, geometry
from encoder.compare import compared_embeddings
from figures import embeddings as figures
from figures.common import plotly_text

MAX_TRACKS = 12  # more paths than this turn the trajectory plot into a hairball


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    def chosen_tracks(run) -> list[int]:
        """Token positions to follow: a spread-out default for each new text, then the person's pick."""
        if st.session_state.get("emb_tracks_for") != run.tokens or "emb_tracks" not in st.session_state:
            st.session_state.emb_tracks = geometry.spread_positions(run.special)
            st.session_state.emb_tracks_for = run.tokens
        return st.multiselect(
            "Tokens to follow", list(range(run.n_tokens)), key="emb_tracks", max_selections=MAX_TRACKS,
            format_func=lambda i: f"{run.tokens[i]} ·{i}",
            placeholder="Choose tokens…", help=f"Up to {MAX_TRACKS} tokens; the number is the position.")


    def second_model(source_a: str) -> str | None:
        """The 'Compare with' picker: None, or an installed named model other than the sidebar's."""
        infos = {info.name: info for info in state.model_infos()}
        others = [name for name in sources.bundled_names() if name != source_a and name in infos]
        ui.keep_valid("emb_compare", [None, *others], None)
        return st.selectbox("Compare with", [None, *others], key="emb_compare",
                            format_func=lambda name: "None" if name is None else infos[name].display_name,
                            help="A second model's tokens at the matching depth: when the depths differ, "
                                 "layer l of this model faces the first layer of the other that has done at "
                                 "least the same share of its depth.")


    def second_projection(run_a, run_b, depth: str, dimensions: int):
        """B's depth name and projection matching A's `depth`: the two input stages by name, a hidden state at
        the proportional depth (`encoder.compare.compared_embeddings`, which fits without massive activations)."""
        stage = geometry.depth_names(run_a).index(depth)
        if stage < 2:  # the raw token table and the sum before LayerNorm have no layer to map
            depth_b = geometry.depth_names(run_b)[stage]
            return depth_b, geometry.depth_projection(run_b, depth_b, dimensions), ()
        compared = compared_embeddings(run_a, run_b, stage - 2, dimensions)
        return compared.name_b, compared.projection_b, compared.left_out_b


    state.view_caption("Every token is a vector of a few hundred numbers. Here they are squeezed to 2 or 3 "
                      "dimensions, compared with each other and measured, from the raw token table to the last layer.")

    run = state.page_run()
    depths = geometry.depth_names(run)
    ui.keep_valid("emb_depth", depths, geometry.EMBEDDING_OUTPUT)
    ui.keep_valid("emb_dims", ["2-D", "3-D"], "2-D")
    controls = st.columns([2.7, 1, 1.4, 1.3], vertical_alignment="bottom")
    with controls[0]:
        depth = st.select_slider("Depth", depths, key="emb_depth",
                                 help="From the raw token table, through the sum with positions and the "
                                      "embedding LayerNorm, to the output of each layer.")
    with controls[1]:
        dimensions = 3 if st.radio("Projection", ["2-D", "3-D"], key="emb_dims", horizontal=True) == "3-D" else 2
    with controls[2]:
        centred = st.toggle("Centred cosine", key="emb_centred",
                            help="Subtract the mean token vector first, removing the direction all "
                                 "tokens share (Ethayarajh 2019).")
    with controls[3]:
        source_b = second_model(state.current_input().source)

    run_b = None if source_b is None else state.second_run(source_b, "The second model")

    scatter_caption = (f"Each dot is one token's vector at this depth, squeezed from {run.hidden_states.shape[-1]} "
                       "numbers by PCA: close dots are similar vectors. Colour is position; red diamonds are special "
                       "tokens. Each depth gets its own axes.")
    cosine_caption = ("Cell (row, column) is the cosine of two tokens' vectors: red = same direction, white = "
                      "unrelated, blue = opposite. Deeper layers turn pink overall because all tokens share one "
                      "direction; *Centred cosine* removes it.")
    projection = geometry.depth_projection(run, depth, dimensions)
    scatter = figures.depth_scatter(run, projection, depth)
    cosine = figures.cosine_figure(run, geometry.token_cosines(geometry.vectors_at_depth(run, depth), centred),
                                   depth, centred)
    left, right = st.columns(2)
    if run_b is None:
        with left:
            ui.chart(scatter, "emb_scatter", scatter_caption)
        with right:
            ui.chart(cosine, "emb_cosine", cosine_caption)
    else:
        depth_b, projection_b, left_out_b = second_projection(run, run_b, depth, dimensions)
        scatter_b = figures.depth_scatter(run_b, projection_b, depth_b)
        scatter_b.update_layout(title_text=plotly_text(f"B · {run_b.model_name} · tokens after {depth_b}, "
                                                       f"PCA to {dimensions}-D"))
        scatter.update_layout(title_text=plotly_text(f"A · {run.model_name} · tokens after {depth}, "
                                                     f"PCA to {dimensions}-D"))
        with left:
            ui.chart(scatter, "emb_scatter", scatter_caption)
        with right:
            ui.chart(scatter_b, "emb_scatter_b",
                     f"The same for {ui.markdown_literal(run_b.model_name)} at the matching depth ({depth_b}), "
                     "on its own principal axes: two models' spaces have different bases, so only the shape of "
                     "each cloud compares."
                     + ("" if not left_out_b else " Its axes are fitted without "
                        + ui.markdown_literal(", ".join(f"“{run_b.labels[i]}” ({i})" for i in left_out_b))
                        + ", whose vector is a massive activation (Sun et al. 2024)."))
        ui.chart(cosine, "emb_cosine", cosine_caption)
    ui.export_buttons("embeddings", lambda: export.screen_csv(
        export.projection_frame(run.tokens, projection.coordinates, depth)), scatter, {"": run})

    st.subheader("Through the layers")
    positions = chosen_tracks(run)
    ui.chart(figures.trajectory_figure(run, geometry.shared_pca(run.hidden_states, dimensions), positions),
             "emb_trajectory",
          "Each line follows one token from the embedding output (small dot) to the last layer (big dot, "
          "labelled); grey dots are every token at every depth. The axes are shared by all depths, "
          "so a move is a real change of the vector.")
    ui.chart(figures.norm_figure(run, geometry.vector_norms(run.hidden_states)), "emb_norms",
          "Each column is a token, each row a depth; brighter = a longer vector. Stripes show tokens the "
          "model treats differently, such as [CLS], [SEP] or punctuation.")
