"""Methods side by side: raw attention, rollout, attention flow and value-weighted attention for one
head and one token, on one colour scale, with the tokens they agree on marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import opening
import selection
import session
import state
import ui
from encoder import export
from encoder.analysis import MAX_FLOW_TOKENS, method_agreement, normalize_rows, rollout, value_weighted
from encoder.attention_view import row_of_position, score_view, window_span
from figures import methods as figures
from figures.common import WINDOW_TOKENS, token_name, top_positions

FLOW_AUTO_TOKENS = 32  # computed without asking up to here (about 2 s); above, on request
TOP_KEYS, WINDOW, ALL_KEYS = "Each method's top keys", "A window around the token", "All keys"
TOP_SHOWN = 12  # a long text's top-keys view: each method's 12 largest keys (at most 4 × 12), every one labelled
NOT_HERE = {selection.RENORMALIZE: "every method's row is rescaled to sum to 1 anyway, so that one colour scale "
                                   "fits all"}


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    opening.view_caption("Four answers to “what does this token draw on?”: the head's raw attention α, the whole "
                         "model's rollout and attention flow (Abnar & Zuidema 2020), and the head's value-weighted "
                         "attention (Kobayashi et al. 2020). Each row is rescaled to sum to 1, so one colour scale "
                         "fits all. Where they agree, trust the answer more: look for convergence across methods.")

    run = opening.page_run()
    labels = run.tokenized.labels
    long_text = run.n_tokens > WINDOW_TOKENS
    session.keep_valid("meth_keys", [TOP_KEYS, WINDOW, ALL_KEYS], TOP_KEYS if long_text else ALL_KEYS)
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        layer, head = selection.layer_and_head_sliders(
            run, mean=False, layer_help="Raw and value-weighted attention are this layer's; rollout and flow run "
                                        "through layers 1 to this one.")
        # The token every page follows (the same content word every page opens on).
        query = selection.follow_picker(run, "Token")
        k = st.number_input("Top k", 1, max(1, min(10, run.n_tokens)), min(3, run.n_tokens), key="meth_k", width=120,
                            help="How many of each method's largest keys count as its top.")
        keys_shown = ALL_KEYS
        if long_text:  # a short text's keys are all labelled already
            keys_shown = st.selectbox("Keys shown", [TOP_KEYS, WINDOW, ALL_KEYS], key="meth_keys", width=260,
                                      help=f"{run.n_tokens} keys are too many to label: show the keys any method "
                                           f"ranks in its top {TOP_SHOWN}, or the readable window (View options) "
                                           "around the token, every one labelled; or all of them.")
        selection.view_options_control(NOT_HERE)
    chosen = selection.read(run, one_head=True)

    methods = {
        f"raw α (head {head + 1})": run.attentions[layer, head, query],
        "rollout (all heads)": rollout(run.attentions[: layer + 1])[-1, query],
    }
    if run.n_tokens > MAX_FLOW_TOKENS:
        st.caption(f"Attention flow is left out: it is limited to {MAX_FLOW_TOKENS} tokens and this text has "
                   f"{run.n_tokens}.")
    elif run.n_tokens <= FLOW_AUTO_TOKENS or st.toggle("Include attention flow", key="meth_flow",
                                                       help=f"{run.n_tokens}² max-flows: several seconds."):
        with st.spinner("Computing the maximum flows…", show_time=True):
            methods["flow (all heads)"] = state.get_attention_flow(run, layer + 1)[query]
    methods[f"value-weighted (head {head + 1})"] = value_weighted(run)[layer, head, query]
    names = list(methods)
    # Keys under the view options: hidden special tokens dropped, a word's share the sum of its pieces'
    # (`encoder.attention_view.score_view`); then each row rescaled to sum to 1 over the keys left.
    try:
        keys = score_view(run, np.stack(list(methods.values())), chosen.options)  # (M, N)
    except ValueError as error:
        ui.show_problem("info", str(error))
        return
    labels, key_positions = keys.labels, [group[0] for group in keys.positions]
    query_column = row_of_position(keys.positions, query)  # None when the token is hidden as a key
    if query_column is None:
        ui.show_problem("info", "Special tokens are hidden (View options): the token you follow is still the query, "
                                "but not among the keys.", f"Followed: {run.tokens[query]} ·{query}")
    if (note := selection.not_applied(NOT_HERE)) is not None:
        st.caption(note)
    rows = normalize_rows(keys.scores)  # (M, N), each summing to 1
    agreement = method_agreement(rows, int(k))
    top, agreed, correlations, overlap = agreement.top, agreement.agreed, agreement.correlations, agreement.overlap

    where = f"layer {layer + 1}, head {head + 1}"
    title = f"Where {token_name(run.tokenized.labels[query], query)} draws from, {where}"
    itself = [] if query_column is None else [query_column]
    columns, shown = None, ""
    if keys_shown == TOP_KEYS:
        columns = top_positions(rows, max(TOP_SHOWN, int(k)), keep=itself)
        shown = (f" Shown: the {len(columns)} keys that are in some method's top {max(TOP_SHOWN, int(k))}, and the "
                 f"token itself, in text order; the other {len(labels) - len(columns)} keys are left out.")
        title += f": each method's top {max(TOP_SHOWN, int(k))} keys"
    elif keys_shown == WINDOW:
        start, stop = window_span(len(labels), query_column or 0, chosen.window or WINDOW_TOKENS)
        columns = np.arange(start, stop)
        shown = f" Shown: keys {start}–{stop - 1}, the {stop - start} around the token."
        title += f": keys {start}–{stop - 1}"
    figure = figures.methods_figure(rows, names, labels, top, agreed, title, int(k), columns=columns)
    ui.chart(figure, "chart_methods",
             "Rows are methods, columns the tokens; brighter = a larger share. Dots mark each method's top keys; an "
             "outlined column is a token every method puts on top. Raw α often favours [CLS]/[SEP]; value-weighted "
             "moves that weight to content words; rollout and flow add what earlier layers mixed in." + shown)

    left, right = st.columns(2)
    with left:
        ui.chart(figures.pairwise_figure(correlations, names, "Rank correlation between methods (Spearman ρ)", "ρ"),
                 "chart_methods_rank", "1 = the same order of keys, 0 = unrelated, negative = opposite.")
    with right:
        ui.chart(figures.pairwise_figure(overlap, names, f"Top-{int(k)} overlap between methods", "overlap",
                                         signed=False), "chart_methods_overlap",
                 f"The share of one method's top {int(k)} keys the other method also has in its top {int(k)}.")
    together = [token_name(labels[t], key_positions[t]) for t in np.flatnonzero(agreed)]
    st.text(f"In every method's top {int(k)}: {', '.join(together) if together else 'no token'}")

    def numbers_csv() -> str:
        frames = [export.long_format(row[None, :], [run.tokens[query]], labels, layers=[layer], heads=[head])
                  .assign(query=query, method=name) for name, row in zip(names, rows, strict=True)]
        return export.screen_csv(pd.concat(frames, ignore_index=True))

    ui.export_buttons("methods", numbers_csv, figure, {"": run})

