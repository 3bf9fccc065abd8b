"""Gradients & faithfulness (issue 19): the model's own output explained by gradient, perturbation and
attention methods side by side, and measured: which explanation does the model actually follow?

Computed on a button press (attributions take seconds), held in this session's state keyed by model,
text and target, a few at a time."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

import components
import opening
import session
import state
import ui
from encoder import attribution, export
from encoder.analysis import method_agreement
from encoder.heads import read_sentiment, split_sentiment
from figures import attribution as figures
from pages.parts import corpus_sources

KEPT = 4  # results held per session (each a few hundred kB at most)
RESULTS, CORPUS = "attr_results", "attr_corpus"


def _remember(slot: str, key: tuple, value) -> None:
    held = dict(st.session_state.get(slot) or {})
    held.pop(key, None)
    held[key] = value
    while len(held) > KEPT:
        held.pop(next(iter(held)))
    st.session_state[slot] = held


def _target_picker(model, run, source: str):
    """(a target key, a function making the target, a short name) or None when the model offers none."""
    reasons = attribution.available_targets(model)
    offered = [k for k, why in reasons.items() if why is None]
    missing = [f"{attribution.TARGET_KINDS[k]} ({why})" for k, why in reasons.items() if why is not None]
    if missing:
        st.caption(f"{model.name} can't offer: " + "; ".join(missing) + ".")
    if not offered:
        st.info(f"{model.name} offers no output to explain here.")
        return None
    session.keep_valid("attr_target", offered, offered[0])
    labels, tokens = run.tokenized.labels, list(range(run.n_tokens))
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        kind = st.selectbox("Explain", offered, key="attr_target", width=360,
                            format_func=lambda k: attribution.TARGET_KINDS[k])
        if kind == "classifier":
            classifier, _ = state.get_sentence_classifier(source)
            label = st.selectbox("Label", classifier.labels, key="attr_label", width=180)
            return (kind, label), lambda: attribution.class_probability(classifier, label), f"P({label})"
        if kind in ("tagger", "model_tags"):
            # open on a token worth explaining: the first the model tags as an entity, else the first word
            words = [i for i in tokens if not run.special[i]] or tokens
            tagged = [i for i in words if run.token_labels and run.token_labels[i] != "O"]
            session.keep_valid("attr_token", tokens, (tagged or words)[0])
            position = st.selectbox("Token", tokens, key="attr_token", width=200,
                                    format_func=lambda i: f"{labels[i]} ·{i}")
            if kind == "tagger":
                tagger, _ = state.get_tagger(source, model.config.n_layers)
                names = list(tagger.labels)
            else:
                names = list(model.id2label)
            default = run.token_labels[position] if kind == "model_tags" and run.token_labels else names[0]
            label = st.selectbox("Tag", names, index=names.index(default) if default in names else 0,
                                 key=f"attr_tag_{kind}_{position}", width=220)  # per token: its own default
            if kind == "tagger":
                return ((kind, label, position), lambda: attribution.tag_probability(tagger, label, position),
                        f"P({label}) at {labels[position]}")
            return ((kind, label, position), lambda: attribution.model_tag_probability(model, label, position),
                    f"P({label}) at {labels[position]}")
        if kind == "similarity":  # text B is the sidebar's second sentence, as on every page that reads two
            if not run.text_b:
                st.info("Type a second sentence in the sidebar: the cosine of the two texts is what gets explained.")
                return None
            other = run.text_b
            return (kind, other), lambda: attribution.similarity(model, other), "cosine with text B"
        token = st.text_input("Next token", key="attr_next", max_chars=40, width=200,
                              help="One token of the model's vocabulary; empty: its most probable next token.")
        if not token:
            token, _ = attribution.most_probable_next_token(model, run.text_a)
        return (kind, token), lambda: attribution.next_token_probability(model, token), f"P(next = {token!r})"


def _agreement(results: dict, special: np.ndarray) -> None:
    names = [attribution.METHOD_NAMES[m] for m in results]
    rows = np.stack([a.scores for a in results.values()])[:, ~special]  # (M, T'): the words only
    usable = np.isfinite(rows).all(axis=1)
    if usable.sum() < 2 or rows.shape[1] < 2:
        st.caption("Agreement needs two methods with scores and two tokens.")
        return
    k = st.number_input("Top k", 1, int(rows.shape[1]), min(3, int(rows.shape[1])), key="attr_k", width=120)
    agreement = method_agreement(rows[usable], int(k))
    rank, overlap = figures.agreement_figures(agreement.correlations, agreement.overlap,
                                              [n for n, u in zip(names, usable, strict=True) if u], int(k))
    left, right = st.columns(2)
    with left:
        ui.chart(rank, "chart_attr_rank", "Spearman ρ over the text's words (special tokens left out).")
    with right:
        ui.chart(overlap, "chart_attr_overlap", f"Share of one method's top {int(k)} words in the other's.")


def _faithfulness_table(report) -> pd.DataFrame:
    table = report.table.copy()
    table.insert(0, "rank", range(1, len(table) + 1))
    table["method"] = table["method"].map(lambda m: attribution.METHOD_NAMES.get(m, m))
    return table.drop(columns=["seconds"])


def _curves_figure(report, value: float | None, title: str):
    curves = {attribution.METHOD_NAMES.get(m, m): group["deletion"].to_numpy()
              for m, group in report.curves.groupby("method", sort=False)}
    percents = sorted(report.curves["percent"].unique())
    return figures.deletion_figure(percents, curves, value, title, f"{report.target}, top k% removed")


def render() -> None:
    """The section for the sidebar's text."""
    run = opening.current_run()
    if run is None:
        return
    model = opening.page_model()
    source = session.current_input().source
    if run.n_tokens > attribution.MAX_TOKENS:
        st.info(ui.markdown_literal(f"Attributions read at most {attribution.MAX_TOKENS} tokens (each method runs "
                                    f"{run.model_name} once per token and more); this text makes {run.n_tokens}. "
                                    "Shorten it in the sidebar."))
        return
    picked = _target_picker(model, run, source)
    if picked is None:
        return
    target_key, make_target, target_name = picked
    methods = st.multiselect("Methods", attribution.METHODS, default=list(attribution.METHODS), key="attr_methods",
                             format_func=lambda m: attribution.METHOD_NAMES[m])
    if not methods:
        st.info("Pick at least one method.")
        return
    key = (source, run.text_a, run.text_b, target_key, tuple(methods))
    held = (st.session_state.get(RESULTS) or {}).get(key)
    if st.button("Compute attributions", key="attrbtn_go", type="primary", icon=":material/calculate:"):
        with st.spinner("Attributing and removing tokens…", show_time=True):
            try:
                target = make_target()
                results, report = attribution.attribute_and_measure(model, run.text_a, target, methods)
            except ValueError as error:  # a target that cannot read this text says why, in words
                st.warning(str(error))
                return
        held = (results, report)
        _remember(RESULTS, key, held)
    if held is None:
        st.caption("Press the button to compute every chosen method's scores (integrated gradients at "
                   f"{attribution.IG_STEPS} batched steps) and their faithfulness on this text.")
    else:
        _show_text(run, held, target_name)
    _show_corpus(model, source, target_key, make_target, methods)


def _show_text(run, held, target_name: str) -> None:
    results, report = held
    first = next(iter(results.values()))
    special = np.asarray(first.special)
    notes = [f"{attribution.METHOD_NAMES[m]}: {a.note}" for m, a in results.items() if a.note]
    ig = results.get("integrated_gradients")
    lines = [f"{target_name} = {first.value:.3f} on this text. Removal: a token is {report.removal}; special "
             "tokens and the token a target reads are never removed."]
    if ig is not None:
        lines.append(f"Integrated gradients: baseline {ig.baseline}; completeness error "
                     f"{ig.completeness_error:.2%} (|Σ scores − (f(x) − f(baseline))| / |f(x) − f(baseline)|).")
    st.caption(" ".join(lines + notes))
    rows = {attribution.METHOD_NAMES[m]: a.scores for m, a in results.items()}
    components.shaded_text(figures.shaded_methods(first.text, first.offsets, rows, names=first.tokens),
                           key="hl_shaded_methods")
    st.caption("Red raises the target, blue lowers it (gradient and perturbation methods); attention methods are "
               "never negative. Hover a word for its score.")
    _agreement(results, special)
    chefer = results.get("attention_x_gradient")
    if chefer is not None and chefer.head_relevance is not None:
        ui.chart(figures.head_relevance_map(chefer.head_relevance, "Attention × gradient, head by head"),
                 "chart_attr_heads", "Each head's (∇A ⊙ A)⁺ at the rows the target reads, summed over the keys: "
                 "the heads whose attention the output's gradient credits (Chefer et al. 2021 average these maps "
                 "over the heads of each layer, then roll them out, for the method's scores above).")
    st.subheader("Faithfulness on this text", divider="gray")
    st.dataframe(_faithfulness_table(report), hide_index=True, width="stretch",
                 column_config={"comprehensiveness": st.column_config.NumberColumn(format="%.3f"),
                                "sufficiency": st.column_config.NumberColumn(format="%.3f")})
    st.caption("Measured, not assumed: comprehensiveness is how far the target falls when a method's top k% of "
               "tokens are removed (higher = the model needed them), sufficiency how far it falls when only they "
               "are kept (lower = they were enough), each averaged over k = 1, 5, 10, 20, 50% (AOPC, DeYoung et "
               "al. 2020). Above random means the model follows the method here; it does not mean the method "
               "explains language.")
    figure = _curves_figure(report, first.value, "Deletion curves on this text")
    ui.chart(figure, "chart_attr_deletion", "Each method's top tokens removed first: the faster its line falls, "
                                            "the more the model relied on what it ranks on top.")

    def numbers_csv() -> str:
        scores = pd.concat([pd.DataFrame({"measure": "score", "method": m, "position": range(len(a.tokens)),
                                          "token": a.tokens, "value": a.scores}) for m, a in results.items()])
        curves = report.per_text.melt(id_vars=["method", "percent"], value_vars=["comprehensiveness", "sufficiency",
                                                                                 "deletion"],
                                      var_name="measure", value_name="value")
        return export.csv_text(pd.concat([scores, curves], ignore_index=True))  # tokens made spreadsheet-safe

    ui.export_buttons("attribution", numbers_csv, figure, {"": run})


TEXT_SETS = ("The held-out sentiment sentences", "Sentences of your own")
OWN_TEXTS_MOST = 200  # about a second of CPU a text for every method: a few minutes at most


def _texts(text_set: str) -> list[str] | None:
    """The set's texts, or None after saying what is missing: the bundled held-out sentences, or
    sentences given as on the Corpus page (its example corpus, pasted lines or a file)."""
    if text_set == TEXT_SETS[0]:
        _, held_out = split_sentiment(read_sentiment())
        return list(held_out.texts)
    kind, upload, limit = corpus_sources.picker("attr_set", 48, OWN_TEXTS_MOST)
    return corpus_sources.sentences("attr_set", kind, upload, limit)


def _show_corpus(model, source: str, target_key: tuple, make_target, methods) -> None:
    st.subheader("Faithfulness over a set of texts", divider="gray")
    if target_key[0] in ("tagger", "model_tags"):
        st.caption("A target at one token of this text does not carry over to other texts: pick a sentence-level "
                   "target (the classifier, the similarity) or the next token to measure over a set of texts.")
        return
    session.keep_valid("attr_set", list(TEXT_SETS), TEXT_SETS[0])
    text_set = st.radio("Texts", TEXT_SETS, key="attr_set", horizontal=True)
    texts = _texts(text_set)
    if not texts:
        return
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()  # the set itself, not its name
    key = (source, target_key, tuple(methods), digest)
    report = (st.session_state.get(CORPUS) or {}).get(key)
    if st.button(f"Measure over {len(texts)} sentences", key="attrbtn_corpus_go", icon=":material/functions:"):
        bar, progress = ui.progress_bar("Measuring")
        try:
            report = attribution.faithfulness_report(model, texts, make_target(), methods, progress=progress)
        except ValueError as error:
            st.warning(str(error))
            return
        bar.empty()
        _remember(CORPUS, key, report)
    if report is None:
        held_out = ("The sentiment classifier never saw these sentences in training. " if text_set == TEXT_SETS[0]
                    else "")
        st.caption(held_out + "About a second a sentence on the bundled encoder (every method on every sentence), "
                   "much longer on a decoder.")
        return
    st.dataframe(_faithfulness_table(report), hide_index=True, width="stretch")
    if report.completeness:
        errors = np.asarray(report.completeness)
        st.caption(f"Integrated gradients ran at {attribution.FAITHFULNESS_STEPS} steps here: median completeness "
                   f"error {np.median(errors):.2%}, above 5% on {int((errors > 0.05).sum())} of {len(errors)} "
                   "sentences.")
    if report.skipped:
        st.caption(f"{len(report.skipped)} sentences left out: " + "; ".join(report.skipped[:3]))
    ui.chart(_curves_figure(report, None, f"Deletion curves, mean over {int(report.table['n_texts'].max())} "
                                          "sentences"), "chart_attr_corpus_deletion",
             "The random ranking (dashed) is the floor a method must beat to count as faithful on this model.")
