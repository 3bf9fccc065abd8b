"""Rollout: how much of each input token reaches each position, layer after layer (Abnar & Zuidema
2020), with attention flow, its max-flow sibling, for short texts."""

from __future__ import annotations

import numpy as np
import streamlit as st

import components
import opening
import selection
import session
import state
import ui
from encoder import export
from encoder.analysis import HEAD_FUSIONS, MAX_FLOW_TOKENS, normalize_rows, rollout
from encoder.attention_view import map_view, row_of_position
from figures import rollout as figures
from figures.common import token_name, top_positions
from figures.shaded_text import message, run_texts, view

FLOW_AUTO_TOKENS = 32  # flow is computed without asking up to here (about 2 s); above, on request
LOG_FROM_TOKENS = 64  # the Attention page's automatic log colour starts here
TOP_BARS = 12  # a long text's bars: each mixture's largest input tokens, every one labelled


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    run = opening.open_view("Attention in one layer mixes the mixtures made below it. Rollout multiplies the layers' "
                            "attention (averaged over heads, plus the residual connection) to estimate how much of "
                            "each *input* token ends up in each position. Abnar & Zuidema 2020.")
    session.keep_valid("roll_fusion", list(HEAD_FUSIONS), "mean")
    selection.clamp(run.n_layers, run.n_heads)
    # As on the Attention page, a long text opens in log colour: beside [CLS]'s column and the diagonal,
    # linear colour leaves the shares a reader looks for black.
    st.session_state.setdefault("roll_log", run.n_tokens >= LOG_FROM_TOKENS)
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        fusion = st.segmented_control("Head fusion", HEAD_FUSIONS, key="roll_fusion",
                                      help="How a layer's heads become one map before the product: their mean, "
                                           "or the largest or smallest weight of any head (rows renormalised)."
                                      ) or "mean"
        residual = st.slider("Residual weight", 0.0, 1.0, 0.5, 0.05, key="roll_residual", width=260,
                             help="Each layer's map is residual·I + (1 − residual)·A: how much a position keeps "
                                  "of itself through the skip connection. 0.5 is the paper's (A + I) / 2.")
        layer = st.select_slider("Through layer", range(1, run.n_layers + 1), key="layer", width=260,
                                 help="Rollout of layers 1 to this one (the layer every page shows).")
        followed = selection.follow_picker(run, "Chosen token", width=260)
        selection.view_options_control()
        log = st.toggle("Log colour", key="roll_log", help="Colours follow log10(share), so small shares beside a "
                                                           "dominant column show. Hover gives exact numbers.")

    chosen = selection.read(run)
    rolled = rollout(run.attentions, fusion, residual)  # (L, T, T)
    try:  # rollout's rows are shares of the input tokens: the view options apply as to attention
        view = map_view(run, rolled, chosen.options)  # (L, Q, K)
    except ValueError as error:
        ui.show_problem("info", str(error))
        return
    labels, positions = view.query_labels, [group[0] for group in view.query_positions]
    token = row_of_position(view.query_positions, followed)
    if token is None:
        ui.show_problem("info", selection.hidden_note(run, followed), f"Followed: {run.tokens[followed]} ·{followed}")
        token = 0
    matrix = view.weights[layer - 1]
    setting = f"{fusion} of heads, residual {residual:g}"
    span = chosen.span(len(labels), token)
    heatmap = show_shares(matrix, labels, positions, token, span, f"Rollout through layer {layer} ({setting})", log,
                          f"Each input token's share, through layer {layer}", "chart_rollout",
                          "Row = a position after the layers, columns = the input tokens it is made of (each row "
                          "sums to 1). A bright diagonal means positions still mostly hold their own token; a "
                          "bright column means one input token has spread everywhere.",
                          "Grey: what the first position ([CLS]), which a classifier reads, is made of. Blue: the "
                          "chosen token. Shares far from the token itself show what the layers have mixed in.")
    show_shaded(run, rolled[layer - 1, followed],
                f"The text, shaded by each token's share in {token_name(run.tokenized.labels[followed], followed)}")
    ui.export_buttons("rollout", lambda: export.attention_long_csv(view.weights, labels, view.key_labels), heatmap,
                      {"": run})

    st.subheader("Attention flow")
    st.caption(f"Flow treats the layers as a network of pipes with the same capacities and asks how much can flow "
               f"from each position down to each input token (maximum flow). A path counts only as much as its "
               f"narrowest pipe, so flow spreads credit more evenly than rollout. One max-flow per pair of tokens: "
               f"limited to {MAX_FLOW_TOKENS} tokens.")
    if run.n_tokens > MAX_FLOW_TOKENS:
        ui.show_problem("info", f"Attention flow is limited to {MAX_FLOW_TOKENS} tokens; this text has "
                                f"{run.n_tokens}. Shorten it to see the flow.")
        return
    if run.n_tokens > FLOW_AUTO_TOKENS and not st.toggle(
            "Compute attention flow", key="roll_flow",
            help=f"{run.n_tokens}² max-flows: this takes several seconds, and again after each change above."):
        st.caption(f"This text has {run.n_tokens} tokens: switch flow on when you want it.")
        return
    with st.spinner("Computing the maximum flows…", show_time=True):
        flow = normalize_rows(state.get_attention_flow(run, layer, fusion, residual))  # (T, T)
    flow = map_view(run, flow, chosen.options).weights  # (Q, K), as the rollout above
    flow_heatmap = show_shares(flow, labels, positions, token, span,
                               f"Attention flow through layer {layer} ({setting}), rows normalised", log,
                               f"Each input token's share by flow, through layer {layer}", "chart_flow",
                               "Same layout as the rollout above: each row rescaled to sum to 1 so the two "
                               "compare.",
                               "Compare with the rollout bars above: where they agree, the estimate does not hinge "
                               "on the method.")
    ui.export_buttons("attention-flow",
                      lambda: export.attention_long_csv(flow, labels, view.key_labels, layers=[layer - 1],
                                                        heads=[None]), flow_heatmap, {"": run})


def shares_view(lines: list[tuple[str | None, int]], vector: str, shares: np.ndarray, title: str,
                note: str = "full colour = the largest share") -> dict:
    """A view of the run's text (`figures.shaded_text.run_texts`' lines: each sentence of a pair on its
    line) shaded by the vector `vector`, the `shares` (or any non-negative score): one scale for
    both lines, so they compare, the largest share at full colour."""
    return view(title, [(label, index, vector) for label, index in lines], scale=float(np.max(shares)) or 1.0,
                signed=False, note=note)


def show_shaded(run, shares, title: str, scale_note: str = "full colour = the largest share") -> None:
    """The running text itself (each sentence of a pair on its line), every token's characters shaded
    by its share (or any non-negative score), readable at any length; special tokens have no characters
    to shade. Drawn in the browser (figures/shaded)."""
    texts, lines = run_texts(run)
    components.shaded_text(message(texts, {"shares": shares}, {"": shares_view(lines, "shares", shares, title,
                                                                               scale_note)},
                                   names=run.tokenized.labels),
                           key="hl_shaded_rollout")


def show_shares(matrix: np.ndarray, labels: list[str], positions: list[int], token: int,
                span: tuple[int, int] | None, title: str, log: bool, bars_title: str, key: str, map_caption: str,
                bars_caption: str):
    """A share map (rows and columns: `labels`, standing for the run's token `positions`) and the bars of
    the first row's and the chosen row's mixtures: the whole map for a short text; for a long one a
    labelled window around the token, the whole map as an overview beside it and bars of each mixture's
    largest input tokens. Returns the map (what the export saves)."""
    names = [f"in {token_name(labels[0], positions[0])}", f"in {token_name(labels[token], positions[token])}"]
    if span is None:
        heatmap = figures.share_heatmap(matrix, labels, title, log=log)
        left, right = st.columns([3, 2])
        with left:
            ui.chart(heatmap, key, map_caption)
        with right:
            ui.chart(figures.share_bars([matrix[0], matrix[token]], names, labels, bars_title), f"{key}_bars",
                     bars_caption)
        return heatmap
    heatmap = figures.share_window(matrix, labels, span, span, f"{title}: tokens {span[0]}–{span[1] - 1}", log=log)
    positions = top_positions(np.stack([matrix[0], matrix[token]]), TOP_BARS, keep=[token])
    # The window takes the page's width: 48 upright labels need about 16 px a column.
    ui.chart(heatmap, key, f"{map_caption} The window holds the {span[1] - span[0]} rows around "
                           f"{token_name(labels[token], positions[token])}, coloured against its own largest share.")
    left, right = st.columns(2)
    with left:
        ui.chart(figures.share_overview(matrix, f"The whole map, {len(labels)} tokens", (span, span), log=log),
                 f"{key}_overview", "The outline is the window above. Choose “off” as the window for the whole "
                                    "map, labelled every few tokens.")
    with right:
        ui.chart(figures.share_bars([matrix[0], matrix[token]], names, labels,
                                    bars_title.replace("Each input token's share", f"The {TOP_BARS} largest shares"),
                                    positions=positions),
                 f"{key}_bars", bars_caption)
    return heatmap

