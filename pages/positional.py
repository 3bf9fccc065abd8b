"""Positional encoding: the sinusoids of Vaswani et al. (2017, §3.5), the loaded model's learned
positions beside them, and how much of each token's input vector is position."""

from __future__ import annotations

import streamlit as st

import opening
import session
import state
import ui
from encoder import EncoderConfig, ModelLoadError, export
from encoder.geometry import cosine_similarity
from encoder.positional import decompose_input, describe_similarity, similarity_by_offset, sinusoidal_table
from figures import positional as figures

DEFAULT_POSITIONS = 128
DEFAULT_DIMS = (48, 49, 96, 160)  # a sin/cos pair, then slower and slower waves
POSITION_KINDS = {
    "sinusoidal": "fixed sinusoids added to each token's input (Vaswani et al. 2017, §3.5)",
    "learned": "a learned table of position vectors added to each token's input",
    "rotary": "rotary position embeddings (RoPE, Su et al. 2021): each head's queries and keys are rotated by "
              "an angle that grows with the position, and nothing is added to the input",
    "relative": "relative positions inside attention (a bias or table per distance); nothing is added to the input",
    "none": "no position information at all",
}


def rotary_pairs(n_pairs: int) -> list[int]:
    """A few dimension pairs to draw, fast to slow: the first, two in between and the last."""
    return sorted({0, n_pairs // 8, n_pairs // 4, n_pairs - 1})


def chosen_positions(max_positions: int) -> int:
    """The 'positions to show' slider, clamped when a smaller model is loaded."""
    value = st.session_state.setdefault("pos_positions", min(DEFAULT_POSITIONS, max_positions))
    st.session_state.pos_positions = min(max(int(value), 2), max_positions)
    return st.slider("Positions to show", 2, max_positions, key="pos_positions",
                     help=f"Up to {figures.EXACT_LIMIT} positions the matrices show exact values on hover.")


def chosen_dims(d_model: int) -> list[int]:
    """The 'dimensions to draw' picker, dropping dimensions the loaded model does not have."""
    value = st.session_state.setdefault("pos_dims", [d for d in DEFAULT_DIMS if d < d_model])
    st.session_state.pos_dims = [d for d in value if d < d_model]
    return st.multiselect("Dimensions to draw", list(range(d_model)), key="pos_dims", max_selections=8,
                          help="Even dimensions are sines, odd ones cosines; higher ones are slower.")


opening.page_header(":material/waves: Positional encoding",
                    "Attention alone ignores word order, so every token's input also gets a vector that says where it "
                    "stands: fixed sinusoids in the original Transformer, a learned table in BERT.")

current = session.current_input()
try:
    model = state.get_model(current.source)
except ModelLoadError as error:
    model = None
    st.error("The model could not be loaded, so this page shows only the sinusoids.",
             icon=":material/error:")
    st.text(str(error))  # plain text: the message may quote a path or id the person typed
config = model.config if model is not None else EncoderConfig()
if model is not None:
    positions_kind = getattr(config, "positions", "learned")
    st.text(f"What this model uses ({model.name}): {positions_kind}, "
            f"{POSITION_KINDS.get(positions_kind, 'a scheme this page does not describe')}.")

left, right = st.columns(2)
with left:
    n_positions = chosen_positions(config.max_positions)
with right:
    dims = chosen_dims(config.d_model)

sinusoids = sinusoidal_table(n_positions, config.d_model)  # (P, D)
st.subheader("The sinusoidal encoding (Vaswani et al. 2017, §3.5)")
left, right = st.columns(2)
with left:
    ui.chart(figures.sinusoid_heatmap(sinusoids), "pos_sinusoid_heatmap",
          "Row = position, column = dimension: fast waves on the left, slow ones on the right, "
          "so every row is a distinct pattern.")
with right:
    ui.chart(figures.sinusoid_waves(sinusoids, dims), "pos_sinusoid_waves",
          "Each dimension is one sine or cosine of the position; its wavelength grows geometrically "
          "from 2π to 10000·2π.")
ui.export_buttons("sinusoids", lambda: export.csv_text(export.grid_frame(
    sinusoids, range(n_positions), range(config.d_model), "position", "dimension")),
    figures.sinusoid_heatmap(sinusoids), {})

frequencies = model.rotary_frequencies() if model is not None and hasattr(model, "rotary_frequencies") else None
if frequencies is not None:
    st.subheader(f"This model's rotary frequencies ({model.name})")
    ui.chart(figures.rotary_figure(frequencies, n_positions, rotary_pairs(len(frequencies))), "pos_rotary",
             "RoPE rotates each pair of a head's query and key dimensions by position × θ_i, with θ_i = "
             "base^(−2i/d_head): the first pairs turn fast, the last ones barely, like the sinusoids above. "
             "A query and a key then meet at an angle that depends only on their distance.")

st.subheader("Which positions look alike")
table = model.learned_position_table() if model is not None else None  # (max_positions, D)
sinusoid_similarity = cosine_similarity(sinusoids)  # (P, P)
learned_similarity = None if table is None else cosine_similarity(table[:n_positions])  # (P, P)
left, right = st.columns(2)
with left:
    ui.chart(figures.similarity_figure(sinusoid_similarity, "Sinusoidal: cosine similarity"),
          "pos_sinusoid_similarity",
          "Cell (i, j) is the cosine of the encodings of positions i and j; it depends only on |i - j|.")
with right:
    if learned_similarity is None:
        st.info("This model has no learned position table (it uses "
                f"{getattr(config, 'positions', 'sinusoidal')} positions), so there is nothing to compare.",
                icon=":material/info:")
    else:
        ui.chart(figures.similarity_figure(learned_similarity, f"Learned ({model.name}): cosine similarity"),
              "pos_learned_similarity",
              "The same for the model's learned position embeddings, on the same colour scale.")
if learned_similarity is not None:
    curves = {"sinusoidal": similarity_by_offset(sinusoid_similarity),
              f"learned ({model.name})": similarity_by_offset(learned_similarity)}  # each (P,)
    st.text(describe_similarity(*curves.values()))
    ui.chart(figures.similarity_by_distance_figure(curves), "pos_similarity_by_distance",
          "Each point is the mean of one diagonal of a matrix above: how alike positions k apart are.")

st.subheader("Position in your text")
run = opening.current_run() if model is not None else None
if run is not None:
    parts = decompose_input(run.token_embeddings, run.position_embeddings, run.segment_embeddings)
    ui.chart(figures.input_parts_figure(run, parts), "pos_input_parts",
          "Each bar splits a token's input vector (before LayerNorm) by the squared length of its "
          "parts; hover for each part's cosine with the sum.")
