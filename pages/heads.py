"""Head patterns: Clark et al.'s (2019) statistics for every head on the typed text, a sortable
table, and a gallery of heads grouped by the pattern the statistics show. Clicks open a head on
the Attention page."""

from __future__ import annotations

import numpy as np
import streamlit as st

import opening
import selection
import session
import state
import ui
from encoder import analysis, export
from figures import heads as figures
from figures.heads import STATISTIC_NAMES

ATTENTION_PAGE = "pages/attention.py"
OPEN_FLAG = "_hs_open_head"  # set by a click's callback; the page then switches (not allowed in a callback)

PATTERN_RULES = {
    "[CLS] sink": f"mass on [CLS] ≥ {analysis.SINK_THRESHOLD}: most tokens park their attention on [CLS].",
    "[SEP] sink": f"mass on [SEP] ≥ {analysis.SINK_THRESHOLD}: most tokens park their attention on [SEP], often a "
                  "“no-op” (Clark et al. §3.3).",
    "first-token sink": f"mass on the first token ≥ {analysis.SINK_THRESHOLD} (Clark's sink threshold; decoders "
                        "only, in place of the [CLS] and [SEP] rules): most tokens park their attention on the "
                        "first token, the attention sink of causal models (Xiao et al. 2024).",
    "punctuation": f"mass on “.” and “,” ≥ {analysis.SINK_THRESHOLD} (Clark et al.'s punct, full stops and commas "
                   "only): attention goes to commas and full stops.",
    "previous token": f"mass on the previous token ≥ {analysis.OFFSET_THRESHOLD}: each token looks one step back.",
    "next token": f"mass on the next token ≥ {analysis.OFFSET_THRESHOLD}: each token looks one step ahead.",
    "self": f"mass on the token itself ≥ {analysis.OFFSET_THRESHOLD}.",
    "broad": f"no single target, and entropy ≥ {analysis.BROAD_FRACTION} · ln T: attention spread over many tokens "
             "(a bag-of-words summary).",
    "mixed": "no statistic reaches its threshold: read these heads one by one.",
}

def open_clicked(chart_key: str) -> None:
    points = st.session_state[chart_key].selection.points
    if points:
        selection.choose(*points[0]["customdata"])
        st.session_state[OPEN_FLAG] = True


def open_selected_row() -> None:
    rows = st.session_state["tbl_head_statistics"].selection.rows
    if rows:
        shown = st.session_state["_hs_table_order"]
        selection.choose(*shown[rows[0]])
        st.session_state[OPEN_FLAG] = True


if st.session_state.pop(OPEN_FLAG, False):
    st.switch_page(ATTENTION_PAGE)

run = opening.open_page(":material/category: Head patterns",
                        "What each head does on this text, in numbers (Clark et al. 2019, “What Does BERT Look At?”). "
                        "Click any cell, table row or thumbnail to open that head on the Attention page.")

stats = analysis.head_patterns(analysis.head_statistics(run))  # one row per (layer, head), 0-based
arrays = {name: stats[name].to_numpy().reshape(run.n_layers, run.n_heads)  # (L, H) each
          for name in analysis.STATISTICS}
# The model's own terms: a decoder has no [CLS] or [SEP] and never sees the next token (its maps would
# be all 0), but parks its weight on the first token; in an encoder the first token is [CLS] itself.
hidden_statistics = {"cls", "sep", "next"} if run.causal else {"first"}
hidden_patterns = {"[CLS] sink", "[SEP] sink", "next token"} if run.causal else {"first-token sink"}
shown_statistics = [name for name in analysis.STATISTICS if name not in hidden_statistics]

st.subheader("Statistics, layer by layer")
columns = st.columns(figures.MAPS_PER_ROW, gap="small")
statistic_maps = []  # every figure the page draws, for the export
for index, name in enumerate(shown_statistics):
    title, unit = STATISTIC_NAMES[name]
    with columns[index % figures.MAPS_PER_ROW]:
        key = f"chart_statistic_{name}"
        statistic_maps.append(figures.statistic_map(arrays[name], title, unit,
                                                    low_is_bright=name in figures.FOCUSED_WHEN_LOW))
        ui.chart(statistic_maps[-1], key, on_select=lambda key=key: open_clicked(key))
st.caption(f"Each map is layers (down) × heads (across), computed as Clark et al.'s own code does "
           f"(clarkkev/attention-analysis), so their thresholds apply: each mass is the weight on those keys summed "
           f"over all T = {run.n_tokens} rows and divided by T (the first token, with no previous one, counts 0 "
           "towards prev; the last, 0 towards next); punct counts “.” and “,” only, as theirs does, and "
           "punct_any (Headlight's broader variant, not used by the rules) every Unicode punctuation token. "
           "Entropy is in nats, each row smoothed to 0.9999·α + 0.0001/T as theirs is; a uniform row has ln T. "
           "Distance (Headlight's own) is the attention-weighted |i − j| in tokens. Look for bright single cells: "
           "heads with one job. Entropy is coloured the other way round (bright = low entropy, a focused head), "
           "so that a head spread over the whole text is never the bright one."
           + (f" {ui.markdown_literal(run.model_name)} is a decoder: its attention is causal, so there is no "
              "[CLS] or [SEP] and no next token to look at; the first token takes their place as the sink "
              "(first, summed over rows / T like the others: the first row can see only it, which adds 1/T)."
              if run.causal else ""))

st.subheader("Every head, sortable")
table = stats.assign(layer=stats["layer"] + 1, head=stats["head"] + 1).drop(columns=sorted(hidden_statistics))
st.session_state["_hs_table_order"] = list(zip(stats["layer"], stats["head"], strict=True))
st.dataframe(table, key="tbl_head_statistics", on_select=open_selected_row, selection_mode="single-row",
             hide_index=True, height=320,
             column_config={name: st.column_config.NumberColumn(format="%.3f") for name in shown_statistics}
             | {"reason": st.column_config.TextColumn("why this pattern", width="large")})
st.caption("Click a column header to sort (e.g. by prev to find previous-token heads); select a row to open "
           "that head. Layers and heads are counted from 1.")

st.subheader("Gallery by pattern")
st.caption("Each thumbnail is one head's attention on this text (rows = queries, columns = keys), every one on "
           "the same scale from weight 0 to 1 (on a long text each pixel shows the largest weight of the cells it "
           "covers), so a head spread over many tokens stays dark and a sharp one shows bright; under it, the "
           "statistic and threshold that placed it. A head goes to the pattern whose threshold it passes by the "
           "largest factor.")
importance = None
if st.toggle("Size tiles by importance", key="hs_importance",
             help="Importance = how far switching the head off alone moves this text's sentence embedding "
                  "(1 − cosine), as ranked on the Head ablation page; bigger tile = bigger effect (as Dodrio "
                  "sizes BERT's heads). Costs one extra forward pass per head, once per text."):
    with st.spinner("Switching each head off in turn…"):
        effects = state.get_head_effects(session.current_input().source, run.text_a, with_classifier=False).table
    importance = np.zeros((run.n_layers, run.n_heads))  # (L, H)
    importance[effects["layer"].to_numpy(), effects["head"].to_numpy()] = effects["embedding_shift"].to_numpy()
    importance = importance / (importance.max() or 1.0)  # one scale for every group's tiles
galleries = []
for pattern in analysis.PATTERNS:
    members = stats[stats["pattern"] == pattern]
    if members.empty:
        continue
    heads = list(zip(members["layer"], members["head"], strict=True))
    matrices = run.attentions[members["layer"].to_numpy(), members["head"].to_numpy()]  # (N, T, T)
    sizes = None if importance is None else importance[members["layer"].to_numpy(), members["head"].to_numpy()]
    key = f"chart_gallery_{analysis.PATTERNS.index(pattern)}"
    count = f"{len(heads)} head{'s' * (len(heads) != 1)}"
    title = f"{pattern[0].upper()}{pattern[1:]} · {count} · {PATTERN_RULES[pattern]}"
    galleries.append(figures.gallery(matrices, heads, members["reason"].tolist(), title, importance=sizes))
    ui.chart(galleries[-1], key, on_select=lambda key=key: open_clicked(key))
empty = [p for p in analysis.PATTERNS if p not in hidden_patterns and not (stats["pattern"] == p).any()]
if empty:
    st.caption(f"No head on this text: {', '.join(empty)}.")

ui.export_buttons("head-attention", lambda: export.attention_long_csv(run.attentions, run.tokens, run.tokens),
                  lambda: figures.page_figure(statistic_maps, galleries, f"Head patterns: {run.model_name}, "
                                                                         f"{run.n_tokens} tokens"), {"": run})
st.download_button("Statistics table (CSV)", lambda: export.screen_csv(stats.drop(columns=sorted(hidden_statistics))),
                   "head-statistics.csv", "text/csv", key="dl_head_statistics_table", on_click="ignore",
                   icon=":material/table_view:",
                   help="The table above, a row per head: layer_from_1 and head_from_1 count from 1, as on screen.")
