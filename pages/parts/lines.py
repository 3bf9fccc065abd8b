"""The Attention page's line view (BertViz's head view, Vig 2019): the layer's heads as lines from
each query to its keys, drawn in the browser (figures/lineview)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import components
import opening
import selection
import session
import ui
from encoder import export
from encoder.analysis import rollout, token_statistic_arrays
from encoder.attention_view import MEAN_HEAD, head_name, head_or_mean, map_view, row_of_position
from figures import lineview
from pages.parts.rollout import show_shaded

SHADES = ("The chosen head", "Mean of the layer's heads", "Rollout through this layer", "A head statistic")
# Per-token statistics of the chosen head (encoder.analysis.token_statistic_arrays): what Head patterns
# averages over a head's rows, shown token by token.
TOKEN_SHADES = {
    "entropy": ("How broadly each token looks", "the entropy of its attention, in nats (ln T: evenly over all)"),
    "distance": ("How far each token looks", "its attention-weighted distance to the keys, in tokens"),
    "received": ("How much attention each token gets", "its column's sum over the queries, / T"),
}


NOT_HERE = {selection.WINDOW: "the line view always draws the 48 tokens around the followed token"}


def shade_by_attention(run, layer: int, head: int, followed: int) -> None:
    """The running text shaded by where the followed token looks (Inspectus-style): by the chosen
    head, the mean of the layer's heads, or rollout through the layer (Abnar & Zuidema 2020); or by a
    statistic of the chosen head, token by token. The text is shaded token by token: its special tokens
    have no characters, and a row rescaled to sum to 1 shades alike (the shading is relative to its
    largest value)."""
    session.keep_valid("att_shade", list(SHADES), SHADES[0])
    by = st.segmented_control("Shade the text by", SHADES, key="att_shade", required=True) or SHADES[0]
    if by == SHADES[3]:
        shade_by_statistic(run, layer, head)
        return
    if by == SHADES[2]:
        weights = rollout(run.attentions, "mean", 0.5)[layer, followed]
    else:
        weights = head_or_mean(run.attentions[:, :, followed], layer, MEAN_HEAD if by == SHADES[1] else head)
    show_shaded(run, weights, f"{by}: where {run.tokenized.labels[followed]} ·{followed} looks, layer {layer + 1}")


def shade_by_statistic(run, layer: int, head: int) -> None:
    """The text shaded by a per-token statistic of the chosen head (for the mean, averaged over the
    layer's heads: the statistic of a mean map would be another quantity)."""
    session.keep_valid("att_shade_stat", list(TOKEN_SHADES), "entropy")
    name = st.selectbox("Statistic", list(TOKEN_SHADES), key="att_shade_stat", width=340,
                        format_func=lambda key: TOKEN_SHADES[key][0])
    values = token_statistic_arrays(run.attentions[layer])[name]  # (H, T)
    values = values.mean(axis=0) if head == MEAN_HEAD else values[head]
    title, meaning = TOKEN_SHADES[name]
    show_shaded(run, values, f"{title}, layer {layer + 1}, {head_name(head)}: {meaning}",
                scale_note=f"full colour = the largest, {values.max():.2f}")


def render() -> None:
    """The view: the layer's heads, the selected one shown first, on the followed token's window,
    under the shared view options."""
    run = opening.page_run()
    chosen = selection.read(run)
    followed = chosen.follow
    opening.view_caption("Each line joins a query (left) to a key (right); the darker, the more weight. One colour per "
                         "head: click the heads to overlay them. Hover a token to keep only its lines, click it to "
                         "keep them. A long text shows the 48 tokens around the followed token; each query keeps its "
                         f"{lineview.TOP_KEYS} strongest lines.")
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.select_slider("Layer", options=range(1, run.n_layers + 1), key="layer", width=300)
        options = selection.view_options_control(NOT_HERE)
    layer, head = selection.layer_and_head()
    try:
        view = map_view(run, run.attentions[layer], options)  # (H, Q, K)
    except ValueError as error:
        ui.show_problem("info", str(error))
        return
    row = row_of_position(view.query_positions, followed)
    if row is None:
        ui.show_problem("info", selection.hidden_note(run, followed), f"Followed: {run.tokens[followed]} ·{followed}")
    if (note := selection.not_applied(NOT_HERE, run.n_tokens)) is not None:
        st.caption(note)
    data = lineview.payload(view.weights, view.query_labels, layer,
                            heads_on=range(run.n_heads) if head == MEAN_HEAD else [head], followed=row or 0,
                            title=f"Layer {layer + 1}: {run.model_name}",
                            font_px=18 if ui.presenting() else 13)
    components.line_view(data, key="hl_line_view")
    shade_by_attention(run, layer, head, followed)
    first = [group[0] for group in view.query_positions]  # each row's first token position in the run

    def numbers_csv() -> str:
        rows = [(layer, h["head"], first[data["positions"][q]], data["labels"][q], first[data["positions"][k]],
                 data["labels"][k], w)
                for h in data["heads"] for q, k, w in h["lines"]]
        frame = pd.DataFrame(rows, columns=["layer", "head", "query", "query_token", "key", "key_token", "weight"])
        return export.screen_csv(frame)
    with st.container(horizontal=True, gap="small"):
        st.download_button("Lines (CSV)", numbers_csv, f"lines-layer-{layer + 1}.csv", "text/csv",
                           key="dl_lines_csv", on_click="ignore", icon=":material/table_view:",
                           help="Every line drawn: layer_from_1, head_from_1 (as on screen), query, key, weight.")
        st.download_button("Line view (HTML)", lambda: lineview.standalone_html(data), f"lines-layer-{layer + 1}.html",
                           "text/html", key="dl_lines_html", on_click="ignore", icon=":material/code:",
                           help="The same interactive view in one offline file. Its Save SVG button (as here) "
                                "saves the lines for print.")
