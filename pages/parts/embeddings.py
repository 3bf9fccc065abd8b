"""Embeddings: where each token's vector sits at a chosen depth, how it moves through the layers,
how alike the vectors are and how long they grow."""

from __future__ import annotations

import streamlit as st

import opening
import session
import ui
from encoder import export, geometry
from figures import embeddings as figures
from pages.parts import compare, corpus_contexts

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
            format_func=lambda i: f"{run.tokenized.labels[i]} ·{i}",
            placeholder="Choose tokens…", help=f"Up to {MAX_TRACKS} tokens; the number is the position.")


    opening.view_caption("Every token is a vector of a few hundred numbers. Here they are squeezed to 2 or 3 "
                         "dimensions, compared with each other and measured, from the raw token table to the last "
                         "layer.")

    run = opening.page_run()
    depths = geometry.depth_names(run)
    session.keep_valid("emb_depth", depths, geometry.EMBEDDING_OUTPUT)
    session.keep_valid("emb_dims", ["2-D", "3-D"], "2-D")
    controls = st.columns([2.7, 1, 1.4], vertical_alignment="bottom")
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
    with st.container(horizontal=True):
        compare.open_button("cmpbtn_from_embeddings")
        corpus_contexts.open_button("ctxbtn_from_embeddings")

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
    with left:
        ui.chart(scatter, "emb_scatter", scatter_caption)
    with right:
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
