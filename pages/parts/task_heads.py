"""Task heads (issue 9 §2): the Transformer tutorial's sentence classifier (mean pooling, one linear
layer) and token tagger (one linear layer per token) on the frozen pretrained encoder, trained in the
app on this project's data; the typed text's sentiment next to its attention, its words with their
NER tags, and both heads' held-out scores."""

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
from encoder.heads.features import features_unavailable
from figures import task_heads as figures

VIEWS = ("One head's attention", "Mean-pooling weights")
MAX_WORD_ROWS = 12  # rows of the word table shown before it scrolls
# The tutorial named by what it teaches, as the README does: the one whose stages the Walk-through follows.
TUTORIAL_CAPTION = ("The Transformer-encoder tutorial Headlight implements, the one the Walk-through follows stage by "
                    "stage (embeddings × √d, sinusoidal positions, Q/K/V, scaled dot-product attention with a padding "
                    "mask, heads, feed-forward, residual + LayerNorm, stacked layers), ends with two task heads on top "
                    "of the encoder: a sentence classifier (the mean of the token vectors, then one linear layer) and "
                    "a token tagger (one linear layer on every token). Here the encoder is a pretrained one and stays "
                    "frozen; only the linear layers are trained, on assets/sentiment.csv and assets/ner.tsv.")

def render() -> None:
    """The view, as a function: its run and figures stay locals, which nothing kept for the session
    can hold on to."""
    opening.view_caption(TUTORIAL_CAPTION)
    model = opening.page_model()
    if (why := features_unavailable(model)) is not None:  # said before the text is run or anything trained
        st.info(ui.markdown_literal(why), icon=":material/info:")
        st.stop()
    run = opening.page_run()
    source = session.current_input().source
    n_layers = run.n_layers
    selection.clamp(run.n_layers, run.n_heads, one_head=True)
    session.keep_valid("task_layer", list(range(n_layers + 1)), n_layers)
    session.keep_valid("task_view", list(VIEWS), VIEWS[0])


    def layer_name(layer: int) -> str:
        return "embeddings" if layer == 0 else f"{layer} (last)" if layer == n_layers else str(layer)


    def score_columns(label: str, items: str) -> dict:
        """Column settings of a held-out score table (`evaluation.to_frame()`): a short count header ("n"), so
        the five columns fit the classifier's third of a 1280 px page (a "sentences" column ran off its edge)."""
        number = st.column_config.NumberColumn
        return {"label": label, "precision": number(format="%.2f"), "recall": number(format="%.2f"),
                "f1": number("F1", format="%.2f"), "support": number("n", help=f"{items.capitalize()} of the held-out "
                                                                               "split with this label")}


    st.select_slider(
        "Features from layer", options=list(range(n_layers + 1)), key="task_layer", format_func=layer_name, width=520,
        help="The hidden state both heads read. That tutorial puts its heads on the last layer; a middle layer often "
             "holds more of what sentiment and names need. Each layer's heads are trained once, then kept.")
    feature_layer = st.session_state.task_layer
    with st.spinner(f"Training both heads on the features of layer {layer_name(feature_layer)} "
                    "(once per model and layer, for every session)…", show_time=True):
        classifier, classifier_seconds = state.get_layer_classifier(source, feature_layer)
        tagger, tagger_seconds = state.get_tagger(source, feature_layer)
    text = run.tokenized.text_a
    probabilities = classifier.predict_proba([text])[0]  # (C,) in classifier.labels order
    predicted = int(np.argmax(probabilities))

    # ---------------------------------------------------------------- sentence classifier

    st.subheader("Sentence classifier: is the text positive or negative?")
    left, right = st.columns([3, 2], gap="large")
    with left:
        view = st.segmented_control("Show", VIEWS, key="task_view", required=True)
        if view == VIEWS[0]:
            with st.container(horizontal=True, gap="medium"):
                st.select_slider("Layer", options=range(1, n_layers + 1), key="layer", width=260)
                st.select_slider("Head", options=range(1, run.n_heads + 1), key="head", width=320)
            layer, head = selection.layer_and_head()
            ui.chart(figures.attention_heatmap(run.attentions[layer, head], run.tokenized.labels,
                                               f"Attention, layer {layer + 1} head {head + 1}"), "taskchart_attention",
                     "Each row is a token (query) and shows where it takes its information from. Attention "
                     "decides what "
                     "each token's vector holds; the classifier then reads the mean of the vectors.")
        else:
            n_tokens = run.n_tokens
            causal_note = (f" {model.name} is a decoder: each token's vector has seen only the tokens before it, "
                           "so the later tokens hold more of the sentence." if run.causal else "")
            ui.chart(figures.pooling_bars(np.full(n_tokens, 1.0 / n_tokens), run.tokenized.labels,
                                          f"Mean pooling: every token counts 1/{n_tokens}"), "taskchart_pooling",
                     "The sentence vector is the plain mean of the token vectors (special tokens included, padding "
                     "left out), so no token counts more than another here: what matters is what attention put into "
                     "each token's vector." + causal_note)
    with right:
        label = classifier.labels[predicted]
        st.metric("Prediction for this text", label, f"P({label}) = {probabilities[predicted]:.1%}", delta_color="off",
                  delta_arrow="off")
        ui.chart(figures.probability_bars(probabilities, classifier.labels, "The classifier's probabilities"),
                 "taskchart_probabilities")
        evaluation = classifier.evaluation
        st.metric("Held-out accuracy", f"{evaluation.accuracy:.1%}",
                  help=f"On the {evaluation.n_test} sentences of sentiment.csv (every fifth row) never used "
                       "in training.")
        st.dataframe(evaluation.to_frame(), hide_index=True, column_config=score_columns("class", "sentences"))
        st.caption(f"Trained on layer {layer_name(feature_layer)}'s features in {classifier_seconds:.1f} s "
                   "the first time "
                   "they were asked for; every later visit reuses it.")
    if run.is_pair:
        st.caption("The classifier and the tagger read the first text only; the attention shows the whole pair.")

    # ---------------------------------------------------------------- token tagger

    st.subheader("Token tagger: who, where, which organisation?")
    tagged = tagger.tag_text(text)
    if tagged.truncated:
        ui.show_problem("warning", "The text is longer than the model reads: the last words are not tagged.")
    ui.chart(figures.tagged_text(tagged.words, tagged.tags, tagged.confidence, "Your text, tagged word by word"),
             "taskchart_tags", "B- starts a person (PER), place (LOC) or organisation (ORG); I- continues it; "
                               "grey words "
                               "are O (no entity). A word split into pieces is tagged by its first piece. Hover for "
                               "the tagger's confidence.")
    def numbers_csv() -> str:
        """The classifier's probabilities, then the tagger's tag and confidence for each word."""
        frame = pd.concat([
            pd.DataFrame({"task_head": "classifier", "item": list(classifier.labels), "label": list(classifier.labels),
                          "score": probabilities}),
            pd.DataFrame({"task_head": "tagger", "item": list(tagged.words), "label": list(tagged.tags),
                          "score": list(tagged.confidence)})], ignore_index=True)
        return export.csv_text(frame)

    ui.export_buttons("task-heads", numbers_csv, lambda: figures.tagged_text(
        tagged.words, tagged.tags, tagged.confidence, "Your text, tagged word by word"), {"": run})
    words_column, scores_column = st.columns([2, 3], gap="large")
    with words_column:
        st.dataframe({"word": list(tagged.words), "tag": list(tagged.tags), "confidence": list(tagged.confidence)},
                     hide_index=True, height=min(len(tagged.words), MAX_WORD_ROWS) * 35 + 38,
                     column_config={"confidence": st.column_config.ProgressColumn(format="%.2f", min_value=0,
                                                                                  max_value=1)})
    with scores_column:
        scores = tagger.evaluation
        st.metric("Held-out F1, all entity types", f"{scores.micro.f1:.2f}",
                  help="An entity counts as found only when its type and all its words are right (CoNLL-2003 scoring).")
        st.dataframe(scores.to_frame(), hide_index=True, column_config=score_columns("entity type", "entities"))
        st.caption(f"On the {scores.n_sentences} held-out sentences of ner.tsv; {scores.token_accuracy:.1%} of their "
                   f"words get the right tag (O included). Trained on layer {layer_name(feature_layer)}'s features "
                   f"in {tagger_seconds:.1f} s the first time; every later visit reuses it.")
