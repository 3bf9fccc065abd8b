"""Q·K walk-through: how one head turns one query token and the keys into a row of attention,
step by step, with a temperature that sharpens or flattens the softmax."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

import opening
import selection
import ui
from encoder import export
from encoder.analysis import qk_walkthrough
from encoder.analysis.qk import qk_unavailable
from encoder.attention_view import kept_positions, renormalize_rows
from figures import qk as figures
from figures.common import WINDOW_TOKENS, top_positions

TOP_KEYS = 24  # a long text's keys drawn: the 24 with most weight (at τ or in the model), and the query
NOT_HERE = {selection.MERGE: "each key is one token's own vector",
            selection.WINDOW: f"a long text shows the {TOP_KEYS} keys with most weight"}


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    opening.view_caption("Each token asks a question (its query vector q) and offers a label (its key vector k). A "
                         "head scores every key by the dot product q · k, divides by √d_head, and turns the scores "
                         "into weights that sum to 1 with a softmax (Vaswani et al. 2017, eq. 1). Here are the actual "
                         "numbers of one head.")

    model = opening.page_model()
    if (why := qk_unavailable(model)) is not None:  # said before the text is run
        st.info(ui.markdown_literal(why), icon=":material/info:")
        st.stop()
    run = opening.page_run(qkv=True)
    if run.queries is None:  # the adapter kept none: its recomputed scores missed the captured attention
        st.info(ui.markdown_literal(getattr(run, "qkv_unavailable", None) or f"{model.name} gave no queries and keys."),
                icon=":material/info:")
        st.stop()
    labels = run.tokenized.labels

    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        layer, head = selection.layer_and_head_sliders(run, mean=False)
        # The token every page follows is the query (the same content word every page opens on).
        query = selection.follow_picker(run, "Query token")
        options = selection.view_options_control(NOT_HERE)
        temperature = st.slider("Temperature τ", 0.1, 5.0, 1.0, 0.1, key="qk_temperature", width=300,
                                help="Divides the scaled scores once more. Below 1 the softmax sharpens toward the "
                                     "highest score; above 1 it flattens toward uniform. The model uses τ = 1.")
    walk = qk_walkthrough(run, layer, head, query, temperature)
    model_row = run.attentions[layer, head, query]
    # Hidden special tokens leave the keys drawn; renormalising rescales the weight rows (the softmax at
    # τ and the model's) over the keys left. The scores are logits, not shares: never rescaled.
    try:
        _, kept = kept_positions(run, options)
    except ValueError as error:
        ui.show_problem("info", str(error))
        return
    visible = np.zeros(run.n_tokens)
    visible[kept] = 1.0
    if options.renormalizes:
        walk = replace(walk, softmax=renormalize_rows(walk.softmax * visible))
        model_row = renormalize_rows(model_row * visible)
    notes = [note] if (note := selection.not_applied(NOT_HERE, run.n_tokens)) else []
    if options.hide_special:
        notes.append("Special tokens are hidden as keys" + (" and the weight rows renormalised over the keys left"
                     if options.renormalizes else "") + "; the scores q · k are logits, not shares, so they are "
                     "never renormalised.")
    if run.special[query] and options.hide_special:
        notes.append("The query is a special token: it stays the query, hidden only as a key.")
    if notes:
        st.caption(" ".join(notes))

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
    shown = None
    if run.n_tokens > WINDOW_TOKENS:
        shown = [p for p in top_positions(np.stack([walk.softmax, model_row]) * visible, TOP_KEYS, keep=[query])
                 if visible[p] or p == query]
    elif len(kept) < run.n_tokens:
        shown = sorted({*kept, query})
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
