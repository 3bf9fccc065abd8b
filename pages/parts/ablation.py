"""Head ablation (issue 9 §4): switch chosen heads off (zero their output) and re-run; see how later
layers' attention changes, how far the sentence embedding moves, what the sentiment classifier
now says, and every head ranked by its effect."""

from __future__ import annotations

import numpy as np
import streamlit as st

import opening
import session
import state
import ui
from encoder import ablation, export
from encoder.analysis import sentence_similarity
from encoder.heads.features import features_unavailable
from figures import ablation as figures

TOP_ROWS = 12  # rows of the ranking table shown (the grid shows every head)


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    def head_name(index: int) -> str:
        layer, head = divmod(index, n_heads)
        return f"layer {layer + 1} · head {head + 1}"


    def toggle_clicked(chart_key: str) -> None:
        """A click on a grid cell switches that head off, or back on."""
        points = st.session_state[chart_key].selection.points
        cell = points[0].get("customdata") if points else None
        if isinstance(cell, list) and len(cell) == 2:  # a click on the heatmap itself carries no cell: ignored
            layer, head = (int(v) for v in cell)
            index = layer * n_heads + head
            chosen = list(st.session_state.get("abl_off") or [])
            st.session_state.abl_off = sorted(set(chosen) ^ {index})


    def clear() -> None:
        st.session_state.abl_off = []


    opening.view_caption("Switch heads off (their output is set to zero before W_O, Michel et al. 2019) and run the "
                         "text again. Click cells of a grid, or pick heads in the list.")
    model = opening.page_model()
    if (why := ablation.ablation_unavailable(model) or features_unavailable(model)) is not None:  # before any run
        st.info(ui.markdown_literal(why), icon=":material/info:")
        st.stop()
    run = opening.page_run()
    source = session.current_input().source
    n_layers, n_heads = run.n_layers, run.n_heads
    all_heads = list(range(n_layers * n_heads))
    # Ranking every head alone costs L·H + 1 passes: on by default only where that is no longer than the
    # default model's at 512 tokens (SmolLM2's 271 passes of a long text would take minutes).
    ranking_cost = ablation.ranking_cost(model, run.n_tokens)
    st.session_state.setdefault("abl_rank", ranking_cost <= 1)

    with st.spinner("Training the sentiment classifier (once per model, for every session)…", show_time=True):
        classifier, training_seconds = state.get_sentence_classifier(source)
    effects = None
    if st.session_state.abl_rank:
        with st.spinner(f"Switching each of the {len(all_heads)} heads off in turn…", show_time=True):
            effects = state.get_head_effects(source, run.tokenized.text_a)
    if "abl_off" not in st.session_state:  # a first visit: the head that matters most, with layers after it to change
        candidates = [] if effects is None else effects.table[effects.table["layer"] < n_layers - 1]
        st.session_state.abl_off = [int(candidates.iloc[0]["layer"]) * n_heads + int(candidates.iloc[0]["head"])
                                    ] if len(candidates) else []
        st.session_state._abl_opened_on = list(st.session_state.abl_off)
    st.session_state.abl_off = sorted({i for i in st.session_state.abl_off or [] if i in all_heads})

    if st.session_state.abl_off and st.session_state.get("_abl_opened_on") == st.session_state.abl_off:
        st.caption(f"Opened with {head_name(st.session_state.abl_off[0])} switched off: of the heads with a layer "
                   "after them to change, it moves the classifier's answer for this text the most. Switch all back "
                   "on to start from the intact model.")
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.multiselect("Heads switched off", all_heads, key="abl_off", format_func=head_name, width=640,
                       placeholder="Choose heads…")
        st.button("Switch all back on", key="ablbtn_clear", on_click=clear, icon=":material/restart_alt:")
        cost_note = ("batched passes, a few seconds per text" if ranking_cost <= 1 else
                     f"off by default here: {len(all_heads) + 1} passes of {model.name} over {run.n_tokens} "
                     "tokens, about "
                     f"{ranking_cost:.0f} times the work of ranking all-MiniLM-L6-v2's heads on 512 tokens")
        st.toggle("Rank every head", key="abl_rank",
                  help=f"Switch each of the {len(all_heads)} heads off alone and measure what changes "
                       f"({cost_note}; kept for every session).")
    off = tuple(divmod(i, n_heads) for i in st.session_state.abl_off)
    ablated = state.get_ablated_run(source, run.tokenized.text_a, run.tokenized.text_b, off)

    before = ablation.class_probabilities(classifier, run.hidden_states[classifier.layer])  # (C,)
    after = ablation.class_probabilities(classifier, ablated.hidden_states[classifier.layer])
    label = int(np.argmax(before))
    change = ablation.attention_change(run.attentions, ablated.attentions)  # (L, H)
    with st.container(horizontal=True):
        st.metric("Heads off", f"{len(off)} of {len(all_heads)}")
        st.metric("Sentence embedding: cosine with the intact one", f"{sentence_similarity(run, ablated):.4f}",
                  help="The mean-pooled, normalised last hidden state (the model's sentence embedding), heads off "
                       "against all heads on: 1 = unchanged.")
        st.metric(f"P({classifier.labels[label]}) intact → heads off", f"{before[label]:.3f} → {after[label]:.3f}",
                  f"{after[label] - before[label]:+.3f}", delta_color="off",
                  delta_arrow="auto" if round(float(after[label] - before[label]), 3) else "off",  # no ↑ on +0.000
                  help="The sentiment classifier (mean pooling, then one linear layer) on the last hidden state.")
        st.metric("Predicted", f"{classifier.labels[label]} → {classifier.labels[int(np.argmax(after))]}")
    accuracy = classifier.evaluation.accuracy if classifier.evaluation is not None else float("nan")
    st.caption(f"The sentiment classifier was trained once for this model on assets/sentiment.csv in "
               f"{training_seconds:.1f} s (held-out accuracy {accuracy:.0%}); every session reuses it."
               + (" It reads the whole pair here; the ranking below is of the first text alone."
                  if run.is_pair else ""))

    left, right = st.columns(2)
    with left:
        ui.chart(figures.head_grid(change, "How much each head's attention changed", "change", off),
                 "ablgrid_change", "Mean over tokens of the total-variation distance between a head's attention row "
                 "before and after (0 = the same, 1 = nothing in common). "
                 + ("Layers up to the first ✕ cannot change." if off else
                    "Every head is on, so nothing has changed yet: click a cell to switch that head off."),
                 on_select=lambda: toggle_clicked("ablgrid_change"))
    with right:
        if effects is not None:
            measure = "probability_change" if "probability_change" in effects.table else "embedding_shift"
            grid = ablation.effect_grid(effects.table.assign(effect=effects.table[measure].abs()), "effect",
                                       n_layers, n_heads)
            ui.chart(figures.head_grid(grid, f"Each head switched off alone: |change in P({effects.label})|",
                                       "|Δ P|", off, color_scale="Reds"), "ablgrid_effect",
                     "The darker the cell, the more the classifier's probability moves when that head alone is off. "
                     "Click a cell to switch the head off.", on_select=lambda: toggle_clicked("ablgrid_effect"))
        else:
            st.info("Switch on *Rank every head* to see each head's effect alone.", icon=":material/info:")

    if off:
        first = min(layer for layer, _ in off)
        most = change.argmax(axis=1)  # (L,): the most changed head of each layer
        differences = [ablated.attentions[layer, h] - run.attentions[layer, h] for layer, h in enumerate(most)]
        # a layer that cannot change is a blank panel, named by its layer alone (six names fit a phone)
        titles = [f"L{layer + 1} H{h + 1}" if layer > first else f"L{layer + 1}" for layer, h in enumerate(most)]
        ui.chart(figures.difference_thumbnails(differences, titles, run.tokenized.labels,
                                               "Each layer's most changed head: heads off − intact"),
                 "ablchart_thumbnails", f"Red = more weight now, blue = less; hover for the tokens. Layers up to "
                                        f"{first + 1} read the same input as before, so their attention cannot change.")

    def numbers_csv() -> str:
        """Each head's attention change with the chosen heads off, and its effect alone (when ranked)."""
        frame = export.grid_frame(change, range(n_layers), range(n_heads), "layer", "head", "attention_change")
        if effects is not None:
            frame = frame.merge(effects.table, on=["layer", "head"], how="left")
        return export.screen_csv(frame)

    ui.export_buttons("ablation", numbers_csv, lambda: figures.head_grid(change, "How much each head's attention "
                                                                           "changed", "change", off),
                      {"intact": run, "ablated": ablated})

    if effects is not None:
        st.subheader("Every head ranked by its effect on this text")
        table = effects.table.assign(layer=effects.table["layer"] + 1, head=effects.table["head"] + 1)
        st.dataframe(table.head(TOP_ROWS), hide_index=True, height=36 * (TOP_ROWS + 1) + 4, column_config={
            "embedding_shift": st.column_config.NumberColumn("1 − cos (sentence embedding)", format="%.5f"),
            "probability": st.column_config.NumberColumn(f"P({effects.label}) with the head off", format="%.3f"),
            "probability_change": st.column_config.NumberColumn("change", format="%+.4f")})
        st.caption(f"The {TOP_ROWS} heads whose removal alone matters most, of {len(table)}; intact "
                   f"P({effects.label}) = {effects.probability:.3f}.")
