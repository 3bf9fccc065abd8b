"""The model's own output: the bundled sentence-embedding model's cosine similarity of two texts, and
the tokens that make it (each text run alone, mean-pooled and normalised, as sentence-transformers)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import state
import ui
from encoder import export
from encoder.analysis import sentence_similarity, similarity_contributions
from figures import similarity as figures

DEFAULT_B = "The dog was too exhausted to walk across the road."

st.header(":material/join_inner: Sentence similarity")
st.caption("What the bundled model is *for*: all-MiniLM-L6-v2 turns a text into one vector, the mean of its "
           "last layer's token vectors scaled to length 1, and two texts are alike when their vectors point the "
           "same way (cosine). Because the mean is linear, the cosine splits exactly into one share per token.")

current = state.current_input()
if current.source != state.DEFAULT_SOURCE:
    ui.show_problem("info", "This view shows the bundled sentence-embedding model's own output; choose the "
                            "bundled model in the sidebar to see it.")
    st.stop()
if not current.text_a.strip():
    ui.show_problem("info", "Type a sentence in the sidebar (or pick an example) to compare it.")
    st.stop()
st.session_state.setdefault("sim_text_b", DEFAULT_B)
if current.text_b:
    text_b = current.text_b
    st.caption("Text B is the sidebar's second sentence (clear it to type one here).")
else:
    text_b = st.text_input("Text B (text A is the sidebar's text)", key="sim_text_b", max_chars=2000)
if not text_b.strip():
    ui.show_problem("info", "Type a second text to compare with.")
    st.stop()
try:
    run_a = state.get_run(current.source, current.text_a, None)
    run_b = state.get_run(current.source, text_b, None)
except ValueError as error:
    ui.show_problem("warning", "These texts cannot be compared.", str(error))
    st.stop()
for run in (run_a, run_b):
    if run.truncated:
        ui.show_problem("warning", "A text is longer than the model reads.", run.truncation_message())

cosine = sentence_similarity(run_a, run_b)
share_a, share_b = similarity_contributions(run_a, run_b)
st.metric("Cosine similarity of A and B", f"{cosine:.4f}",
          help="1 = the same direction, 0 = unrelated. sentence-transformers' encode() gives the same number.")
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
    return pd.concat(frames, ignore_index=True).to_csv(index=False)


ui.export_buttons("similarity", numbers_csv, bars, {"A": run_a, "B": run_b})
