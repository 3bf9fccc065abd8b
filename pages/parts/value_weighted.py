"""Value-weighted attention: a head's raw weights α beside ‖α_ij · v_j W_O‖, the size of what each
key actually adds to the head's output (Kobayashi et al. 2020)."""

from __future__ import annotations

import numpy as np
import streamlit as st

import opening
import selection
import ui
from encoder import export
from encoder.analysis import normalize_rows, value_weighted
from encoder.attention_view import map_view, row_of_position
from figures import value_weighted as figures
from figures.common import WINDOW_TOKENS, top_positions

TOP_KEYS = 24  # a long text's bars: the keys that receive most, under α or value-weighted


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    run = opening.open_view("A head's output for a token is Σ_j α_j · v_j W_O: each weight α multiplies a vector, and "
                            "vectors differ in length. ‖α · v W_O‖ measures what each key really contributes "
                            "(Kobayashi et al. 2020, “Attention is Not Only a Weight”). Heavy attention to [CLS] or "
                            "[SEP] often carries little.")
    labels = run.tokenized.labels
    if np.isnan(run.value_output_norms).all():  # the transformers adapter found no value/output projections
        st.info(ui.markdown_literal(f"{run.model_name}'s attention layers have no value and output projections "
                                    "Headlight knows, so ‖v W_O‖ cannot be measured."), icon=":material/info:")
        st.stop()

    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        layer, head = selection.layer_and_head_sliders(run, mean=False)
        selection.view_options_control()
    chosen = selection.read(run, one_head=True)

    weighted_all = value_weighted(run)  # (L, H, T, T)
    alpha = run.attentions[layer, head].astype(np.float64)  # (T, T)
    weighted = normalize_rows(weighted_all[layer, head])  # (T, T), rows sum to 1 like α
    # The model's own sink: [CLS] and [SEP] in an encoder; in a decoder the first token, where most
    # heads park the weight a causal row has nowhere else to put.
    if run.causal:
        special = np.arange(run.n_tokens) == 0
        sink_name, sink_help = "the first token", f"the first token, {labels[0]} (a decoder's attention sink)"
    else:
        special = np.asarray(run.special)
        sink_name, sink_help = "special tokens", "[CLS] and [SEP]"
    on_special_alpha = float(alpha[:, special].sum(axis=1).mean())
    on_special_weighted = float(weighted[:, special].sum(axis=1).mean())

    with st.container(horizontal=True):
        st.metric(f"Attention on {sink_name} (α)", f"{on_special_alpha:.0%}",
                  help=ui.markdown_literal(f"Mean over query rows of the weight on {sink_help}."))
        change = (on_special_weighted - on_special_alpha) * 100
        # A signed number of points, with a true minus sign and no arrow: an arrow beside "-11" said it twice.
        st.metric("…of what is carried (value-weighted)", f"{on_special_weighted:.0%}",
                  f"{change:+.0f} points".replace("-", "−"), delta_color="off", delta_arrow="off",
                  help="The same share after weighting each key by the length of its vector, rows renormalised.")
    st.caption("These two shares count the model's own sink whatever the view options, which apply to the maps "
               "and bars below.")

    # The maps under the shared view options: both are rows of shares, so hiding, renormalising and
    # merging apply as to attention (`encoder.attention_view.map_view`).
    try:
        alpha_view, weighted_view = (map_view(run, matrix, chosen.options) for matrix in (alpha, weighted))
    except ValueError as error:
        ui.show_problem("info", str(error))
        return
    alpha, weighted, labels = alpha_view.weights, weighted_view.weights, alpha_view.query_labels
    norms = np.array([run.value_output_norms[layer, head][group].mean() for group in alpha_view.key_positions])
    zmax = float(max(alpha.max(), weighted.max()))
    where = f"layer {layer + 1}, head {head + 1}"
    # A long text: the readable window around the followed token, and the keys that receive most;
    # the CSV holds every cell.
    row = row_of_position(alpha_view.query_positions, chosen.follow)
    if row is None:
        ui.show_problem("info", selection.hidden_note(run, chosen.follow),
                        f"Followed: {run.tokens[chosen.follow]} ·{chosen.follow}")
    span = positions = None
    if len(labels) > WINDOW_TOKENS:
        span = chosen.span(len(labels), row)
        if span is not None:
            where += f", tokens {span[0]}–{span[1] - 1} around {run.tokenized.labels[chosen.follow]}"
        positions = top_positions(np.stack([alpha.mean(axis=0), weighted.mean(axis=0)]), TOP_KEYS)
    raw_figure = figures.weight_heatmap(alpha, labels, f"Raw attention α, {where}", zmax, span=span)
    weighted_figure = figures.weight_heatmap(weighted, labels, f"Value-weighted ‖α · v W_O‖, {where}, rows normalised",
                                             zmax, value_name="share", span=span)
    left, right = st.columns(2)
    with left:
        ui.chart(raw_figure, "chart_vw_raw", "What the softmax gave: rows sum to 1"
                 + (" over the tokens shown." if alpha_view.renormalized else
                    ", less here where special tokens are hidden." if chosen.options.hide_special else "."))
    with right:
        ui.chart(weighted_figure, "chart_vw_weighted",
                 "The same rows with each key's weight multiplied by the length of its value vector, rescaled to "
                 "sum to 1. Same colour scale as on the left: a column that fades here was weight without content.")
    ui.chart(figures.received_bars(alpha.mean(axis=0), weighted.mean(axis=0), norms, labels,
                                   f"What each token receives, layer {layer + 1}, head {head + 1}"
                               + ("" if positions is None else f": the {TOP_KEYS} keys that receive most"),
                               positions), "chart_vw_received",
             "Grey: the mean share of attention each key gets; blue: its share of what is actually carried. The green "
             "dots are the lengths of the keys' value vectors: short vectors ([SEP], often [CLS] and punctuation) "
             "turn large attention into a small contribution.")
    # The CSV: every layer and head's ‖α · v W_O‖ as computed, every token (not the view).
    ui.export_buttons("value-weighted", lambda: export.attention_long_csv(weighted_all, run.tokens, run.tokens),
                      weighted_figure, {"": run})
