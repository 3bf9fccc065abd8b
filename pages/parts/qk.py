"""Q·K walk-through: how one head turns one query token and the keys into a row of attention,
step by step, with a temperature that sharpens or flattens the softmax."""

from __future__ import annotations

import numpy as np
import streamlit as st

import state
import ui
from encoder import export
from encoder.analysis import qk_walkthrough
from encoder.analysis.qk import qk_unavailable
from figures import qk as figures
from figures.common import WINDOW_TOKENS, top_positions

TOP_KEYS = 24  # a long text's keys drawn: the 24 with most weight (at τ or in the model), and the query


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    state.view_caption("Each token asks a question (its query vector q) and offers a label (its key vector k). A head "
                      "scores every key by the dot product q · k, divides by √d_head, and turns the scores "
                      "into weights "
                      "that sum to 1 with a softmax (Vaswani et al. 2017, eq. 1). Here are the actual numbers "
                      "of one head.")

    model = state.page_model()
    if (why := qk_unavailable(model)) is not None:  # said before the text is run
        st.info(ui.markdown_literal(why), icon=":material/info:")
        st.stop()
    run = state.page_run(qkv=True)
    if run.queries is None:  # the adapter kept none: its recomputed scores missed the captured attention
        st.info(ui.markdown_literal(getattr(run, "qkv_unavailable", None) or f"{model.name} gave no queries and keys."),
                icon=":material/info:")
        st.stop()
    labels = run.tokenized.labels

    ui.single_head(run.n_layers, run.n_heads)
    # Default: the token the Attention page follows (the same content word every page opens on).
    ui.keep_valid("qk_query", list(range(run.n_tokens)), ui.followed_token(run))
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.select_slider("Layer", options=range(1, run.n_layers + 1), key="layer", width=240)
        st.select_slider("Head", options=range(1, run.n_heads + 1), key="head", width=300)
        query = st.selectbox("Query token", range(run.n_tokens), key="qk_query", width=240,
                             format_func=lambda i: f"{labels[i]} ·{i}")
        temperature = st.slider("Temperature τ", 0.1, 5.0, 1.0, 0.1, key="qk_temperature", width=300,
                                help="Divides the scaled scores once more. Below 1 the softmax sharpens toward the "
                                     "highest score; above 1 it flattens toward uniform. The model uses τ = 1.")
    layer, head = ui.layer_and_head()
    walk = qk_walkthrough(run, layer, head, query, temperature)
    model_row = run.attentions[layer, head, query]

    d_head = walk.query.shape[0]
    entropy = float(-(walk.softmax[walk.softmax > 0] * np.log(walk.softmax[walk.softmax > 0])).sum())
    top = int(np.argmax(walk.softmax))
    with st.container(horizontal=True):
        st.metric("d_head", d_head, help="Dimensions per head: the model's width divided by its heads.")
        st.metric("√d_head", f"{np.sqrt(d_head):.2f}", help="Scores are divided by this so their spread, and the "
                                                            "softmax's sharpness, do not grow with d_head.")
        change = f"{walk.softmax[top] - model_row[top]:+.3f} vs τ = 1" if temperature != 1 else None
        st.metric("Largest weight", f"{walk.softmax[top]:.3f}", change, delta_color="off",
                  help=f"On {ui.markdown_literal(labels[top])} ·{top}.")
        st.metric("Entropy of the row", f"{entropy:.2f} nats",
                  help=f"0 = all weight on one key; ln {run.n_tokens} = {np.log(run.n_tokens):.2f} = uniform.")

    # A long text draws the keys that matter (and the query itself), each labelled; the CSV has every key.
    shown = None if run.n_tokens <= WINDOW_TOKENS else top_positions(
        np.stack([walk.softmax, model_row]), TOP_KEYS, keep=[query])
    vectors = figures.vectors_figure(walk, labels, shown)
    ui.chart(vectors, "chart_qk_vectors",
             "Left: the query (top strip) and each token's key, dimension by dimension (red positive, blue negative). "
             "Middle: their products; where q and k share a sign the product is red and pushes the score up. "
             "Right: each row's sum, the raw score.")
    softmax = figures.softmax_figure(walk, labels, model_row, shown)
    ui.chart(softmax, "chart_qk_softmax",
             "The softmax exponentiates the scaled scores and rescales them to sum to 1, so a lead of a few units "
             "becomes most of the weight. Move τ: small τ sharpens the row toward the top key, large τ spreads it. "
             "At τ = 1 the bars match the model's weights (diamonds).")

    def numbers_csv() -> str:
        frame = export.long_format(walk.softmax[None, :], [run.tokens[query]], run.tokens, layers=[layer], heads=[head])
        frame["query"] = query  # the query's position in the run, not 0 in a one-row matrix
        return export.screen_csv(frame.assign(score=walk.scores, scaled_score=walk.scaled_scores,
                                              temperature=temperature))

    ui.export_buttons("qk-walkthrough", numbers_csv, softmax, {"": run})
