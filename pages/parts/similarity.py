"""The model's own output: a sentence-embedding model's cosine similarity of two texts, and the tokens
that make it (each text run alone, pooled, cut and normalised as the model's sentence-transformers
configuration says, so the number is encode()'s at any length)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import opening
import session
import state
import ui
from encoder import export
from encoder.analysis.sentence import sentence_config, sentence_run, sentence_similarity, similarity_contributions
from encoder.loading.bundled import bundled_model
from figures import similarity as figures

DEFAULT_B = "The dog was too exhausted to walk across the road."

def use_example_pair() -> None:
    """Before the sidebar is drawn again: its second-sentence box takes the example."""
    st.session_state.pair = DEFAULT_B


def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    opening.view_caption("What a sentence-embedding model is *for*: it turns a text into one vector, the mean of its "
                         "last layer's token vectors (scaled to length 1 where its configuration says so), and two "
                         "texts are alike when their vectors point the same way (cosine). Because the mean is linear, "
                         "the cosine splits exactly into one share per token.")

    current = session.current_input()
    config = sentence_config(current.source)  # a bundled model's own entry: known before anything loads or runs
    model = None
    if config is not None and not config.known:  # a folder or Hub model: its loaded config says whether it is a decoder
        model = opening.page_model()
        config = None if model.config.causal else config
    if config is None:  # said before anything runs: what this model cannot show, and why
        entry = bundled_model(current.source)
        name = entry.display_name if entry else model.name
        decoder = model.config.causal if model else "decoder" in entry.task
        ui.show_problem("info", f"{name} has no sentence similarity to show: it is not a sentence-embedding model ("
                                + ("a decoder that predicts the next token" if decoder else f"it does {entry.task}")
                                + "). Pick all-MiniLM-L6-v2 or paraphrase-MiniLM-L3-v2 in the sidebar.")
        st.stop()
    model = model or opening.page_model()
    if not current.text_a.strip():
        ui.show_problem("info", "Type a sentence in the sidebar (or pick an example) to compare it.")
        st.stop()
    if not current.text_b:  # text B is the sidebar's second sentence, as for every page that reads two texts
        ui.show_problem("info", "Type a second sentence in the sidebar to compare the two texts. Here the texts are "
                                "read one at a time, not as a pair.")
        st.button("Compare with an example sentence", icon=":material/add:", on_click=use_example_pair)
        st.stop()
    text_b = current.text_b
    try:
        full_a = state.get_run(current.source, current.text_a, None)
        full_b = state.get_run(current.source, text_b, None)
        run_a, run_b = sentence_run(model, full_a), sentence_run(model, full_b)  # cut to max_seq_length if longer
    except ValueError as error:
        ui.show_problem("warning", "These texts cannot be compared.", str(error))
        st.stop()
    limit = f"{config.max_seq_length} tokens" if config.max_seq_length else "no limit"
    st.caption(f"Pipeline: {config.pooling} pooling{', normalised' if config.normalize else ', not normalised'}, "
               f"reading at most {limit} ({config.source}).")
    if not config.known:
        ui.show_problem("info", f"Headlight has no sentence-transformers configuration for {model.name}: it shows "
                                "mean pooling with no truncation, which may not be how this model makes its vectors.")
    for name, run in (("A", run_a), ("B", run_b)):
        if run.truncated:
            ui.show_problem("warning", f"Text {name} was truncated to the model's configured length.",
                            run.truncation_message() + (f" sentence-transformers' encode() cuts it at "
                                                        f"max_seq_length {config.max_seq_length} too, so the cosine "
                                                        "below is encode()'s." if config.max_seq_length else ""))

    cosine = sentence_similarity(run_a, run_b)
    share_a, share_b = similarity_contributions(run_a, run_b)
    st.metric("Cosine similarity of A and B", f"{cosine:.4f}",
              help="1 = the same direction, 0 = unrelated. sentence-transformers' encode() gives the same number, "
                   "texts longer than the model's max_seq_length included (cut as it cuts them).")
    st.text(f"A: {run_a.text_a}\nB: {run_b.text_a}")
    labels_a, labels_b = run_a.tokenized.labels, run_b.tokenized.labels
    bars = figures.contribution_bars([share_a, share_b], [labels_a, labels_b], ["tokens of text A", "tokens of text B"],
                                     f"Each token's share of the cosine {cosine:.3f} (each panel sums to it)")
    ui.chart(bars, "chart_similarity",
             "A token's share is its last-layer vector, divided by the text's length, projected on the other text's "
             "embedding. Long blue bars are the tokens that make the texts alike; red bars pull them apart. "
             "[CLS] and [SEP] count too: the pooling averages every token.")


    def numbers_csv() -> str:
        """Long format: the query is the pair's cosine, the keys each text's tokens, the weight their share."""
        frames = [export.long_format(share[None, :], ["cosine"], run.tokens, layers=[run.n_layers - 1], heads=[None])
                  .assign(text=name) for name, share, run in (("A", share_a, run_a), ("B", share_b, run_b))]
        return export.screen_csv(pd.concat(frames, ignore_index=True))


    ui.export_buttons("similarity", numbers_csv, bars, {"A": run_a, "B": run_b})
