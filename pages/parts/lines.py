"""The Attention page's line view (BertViz's head view, Vig 2019): the layer's heads as lines from
each query to its keys, drawn in the browser (figures/lineview), which applies the view options
itself; and the running text shaded by attention."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import components
import opening
import registry
import selection
import session
import state
import ui
import url
from encoder import export
from encoder.analysis import rollout_row, token_statistic_arrays
from encoder.attention_view import (
    MEAN_HEAD,
    ViewOptions,
    head_name,
    head_or_mean,
    kept_positions,
    map_view,
    row_of_position,
)
from figures import lineview
from figures.shaded_text import message, run_texts, view_key
from pages.parts.rollout import shares_view

SHADES = ("The chosen head", "Mean of the layer's heads", "Rollout through this layer", "A head statistic")
# Per-token statistics of the chosen head (encoder.analysis.token_statistic_arrays): what Head patterns
# averages over a head's rows, shown token by token.
TOKEN_SHADES = {
    "entropy": ("How broadly each token looks", "the entropy of its attention, in nats (ln T: evenly over all)"),
    "distance": ("How far each token looks", "its attention-weighted distance to the keys, in tokens"),
    "received": ("How much attention each token gets", "its column's sum over the queries, / T"),
}


NOT_HERE = {selection.WINDOW: "the line view always draws the 48 tokens around the followed token"}


def shade_by_attention(run, run_key: tuple, layer: int, head: int, followed: int) -> None:
    """The running text shaded by where the followed token looks (Inspectus-style): by the chosen
    head, the mean of the layer's heads, or rollout through the layer (Abnar & Zuidema 2020); or by a
    statistic of the chosen head, token by token. The browser holds every choice's scores
    (`shading_message`) and draws a click on these controls at once (figures/shaded); the
    fragment's rerun keeps the link in step. The message is built once per run (`run_key`), layer,
    head and followed token, and shared (state.get_prepared): a view option's click reruns the
    fragment, and at 512 tokens the statistics and the rollout row take 30-60 ms to build."""
    session.keep_valid("att_shade", list(SHADES), SHADES[0])
    session.keep_valid("att_shade_stat", list(TOKEN_SHADES), "entropy")
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        by = st.segmented_control("Shade the text by", SHADES, key="att_shade", required=True) or SHADES[0]
        if by == SHADES[3]:
            st.segmented_control("Statistic", list(TOKEN_SHADES), key="att_shade_stat", required=True,
                                 format_func=lambda key: TOKEN_SHADES[key][0])
    shown = {"att_shade": by, "att_shade_stat": st.session_state.get("att_shade_stat") or "entropy"}
    prepared = state.get_prepared(("line shading", *run_key, layer, head, followed),
                                  lambda: shading_message(run, layer, head, followed, SHOWN_FIRST))
    components.shaded_text({**prepared, "shown": shown}, key="hl_shaded_lines")  # every `shown` has its view


SHOWN_FIRST = {"att_shade": SHADES[0], "att_shade_stat": "entropy"}


def shading_message(run, layer: int, head: int, followed: int, shown: dict) -> dict:
    """Every view "Shade the text by" and "Statistic" can choose, for this layer, head and followed
    token: the followed token's row in the chosen head, the mean of the layer's heads and rollout, and
    the chosen head's per-token statistics (for the mean, averaged over the layer's heads: the
    statistic of a mean map would be another quantity). The text is shaded token by token: its
    special tokens have no characters, and a row rescaled to sum to 1 shades alike (the shading is
    relative to its largest value). `shown`: the two controls' values."""
    texts, lines = run_texts(run)
    rows = run.attentions[:, :, followed]  # (L, H, T): every head's row of the followed token
    statistics = token_statistic_arrays(run.attentions[layer] if head == MEAN_HEAD else run.attentions[layer, head])
    vectors = {SHADES[0]: head_or_mean(rows, layer, head), SHADES[1]: head_or_mean(rows, layer, MEAN_HEAD),
               SHADES[2]: rollout_row(run.attentions, layer, followed),
               **{name: values.mean(axis=0) if head == MEAN_HEAD else values for name, values in statistics.items()}}
    token = f"{run.tokenized.labels[followed]} ·{followed}"
    views = {}
    for statistic, (title, meaning) in TOKEN_SHADES.items():
        for by in SHADES[:3]:
            views[view_key([by, statistic])] = shares_view(lines, by, vectors[by],
                                                           f"{by}: where {token} looks, layer {layer + 1}")
        values = vectors[statistic]
        views[view_key([SHADES[3], statistic])] = shares_view(
            lines, statistic, values, f"{title}, layer {layer + 1}, {head_name(head)}: {meaning}",
            f"full colour = the largest, {values.max():.2f}")
    controls = [("att_shade", {by: by for by in SHADES}),
                ("att_shade_stat", {title: statistic for statistic, (title, _) in TOKEN_SHADES.items()})]
    return message(texts, vectors, views, names=run.tokenized.labels, controls=controls, shown=shown)


# The View options whose clicks the browser draws at once (figures/lineview/streamlit.js reads them).
CONTROLS = {"hide": selection.HIDE, "renormalize": selection.RENORMALIZE, "merge": selection.MERGE}
TEXTS = {"hidden": selection.HIDDEN_NOTES["special"], "nothing": "Nothing is left once the special tokens are hidden."}


def render() -> None:
    """The view: the layer's heads, the selected one shown first, on the followed token's window,
    under the shared view options."""
    opening.page_run()  # says why there is none, and stops
    opening.view_caption("Each line joins a query (left) to a key (right); the darker, the more weight. One colour per "
                         "head: click the heads to overlay them. Hover a token to keep only its lines, click it to "
                         "keep them. A long text shows the 48 tokens around the followed token; each query keeps its "
                         f"{lineview.TOP_KEYS} strongest lines.")
    current = session.current_input()
    line_view((current.source, current.text_a, current.text_b))


@st.fragment
def line_view(key: tuple) -> None:
    """The layer, the view options, the lines and the shaded text, for the run `key` names (source,
    text A, text B). A layer or view option changed here reruns only this fragment; the browser has
    drawn a view option already, from the layer's attention it holds (figures/lineview), and the
    rerun keeps the link and the other pages in step. Its argument finds the run in the shared
    caches (state.get_run) and is not the run: Streamlit keeps a fragment's arguments for the
    session (pages/attention.py `explorer` says why that matters)."""
    run = state.get_run(*key)
    followed = selection.read(run).follow
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.select_slider("Layer", options=range(1, run.n_layers + 1), key="layer", width=300)
        options = selection.view_options_control(NOT_HERE)
    layer, head = selection.layer_and_head()
    if (note := selection.not_applied(NOT_HERE, run.n_tokens)) is not None:
        st.caption(note)
    drawing = {"heads_on": list(range(run.n_heads)) if head == MEAN_HEAD else [head],
               "title": f"Layer {layer + 1}: {run.model_name}", "font_px": 18 if ui.presenting() else 13}
    shown = {"hide": options.hide_special, "renormalize": options.renormalize, "merge": options.merge_subwords,
             "follow": followed}
    components.line_view(lineview.message(run, layer, shown, controls=CONTROLS, texts=TEXTS, **drawing),
                         key="hl_line_view")
    shade_by_attention(run, key, layer, head, followed)
    url.write_link(session.current_input(), registry.by_title("Attention"), st.session_state)  # a fragment's run too
    try:
        kept_positions(run, options)
    except ValueError:  # the line view says so; there is nothing to download
        return
    download_lines(key, layer, options, followed, drawing)


def lines_payload(key: tuple, layer: int, options: ViewOptions, followed: int, drawing: dict) -> dict:
    """The lines drawn, prepared in Python (`lineview.payload` on `map_view`): what the browser draws
    from the same options, for the downloads."""
    run = state.get_run(*key)
    view = map_view(run, run.attentions[layer], options)  # (H, Q, K)
    return lineview.payload(view.weights, view.query_labels, layer, positions=[g[0] for g in view.query_positions],
                            followed=row_of_position(view.query_positions, followed), hidden=TEXTS["hidden"],
                            **drawing)


def download_lines(key: tuple, layer: int, options: ViewOptions, followed: int, drawing: dict) -> None:
    """The lines as a CSV and as an offline HTML file, made when clicked (only names and choices are
    kept for the click, never the run)."""
    def numbers_csv() -> str:
        data = lines_payload(key, layer, options, followed, drawing)
        positions, labels = data["positions"], data["labels"]
        rows = [(layer, h["head"], positions[q], labels[q], positions[k], labels[k], w)
                for h in data["heads"] for q, k, w in h["lines"]]
        frame = pd.DataFrame(rows, columns=["layer", "head", "query", "query_token", "key", "key_token", "weight"])
        return export.screen_csv(frame)

    with st.container(horizontal=True, gap="small"):
        st.download_button("Lines (CSV)", numbers_csv, f"lines-layer-{layer + 1}.csv", "text/csv",
                           key="dl_lines_csv", on_click="ignore", icon=":material/table_view:",
                           help="Every line drawn: layer_from_1, head_from_1 (as on screen), query, key, weight.")
        st.download_button("Line view (HTML)",
                           lambda: lineview.standalone_html(lines_payload(key, layer, options, followed, drawing)),
                           f"lines-layer-{layer + 1}.html", "text/html", key="dl_lines_html", on_click="ignore",
                           icon=":material/code:", help="The same interactive view in one offline file. Its Save SVG "
                                                        "button (as here) saves the lines for print.")
