"""Similar contexts (exBERT's corpus search, Hoover et al. 2020): index a corpus's tokens once, pick a token at
a layer, and see the k tokens whose hidden states (or attention signatures) are most alike, each in its
sentence with a link that opens it on the Attention page.

The index is this person's and lives in their session, within INDEX_BUDGET bytes: the sentences are cut,
before anything runs, where the index would pass it (its size is known from the token counts).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

import components
import opening
import registry
import selection
import session
import ui
import url
from encoder.adapters.transformers_adapter import TransformersModel
from encoder.corpus import ContextIndex, build_context_index, nearest_contexts
from encoder.corpus.context_index import SIGNATURE, nearest_to_run, spans
from encoder.run import Run
from figures import context_search as figures
from pages.parts import corpus_sources

INDEX = "_corp_ctx_index"  # this session's index (an Indexed)
INDEX_BUDGET = 96 * 1024 * 1024  # bytes one session's index may hold (float16 vectors)
MOST, DEFAULT = 2_000, 300
ATTENTION_PAGE = "pages/attention.py"
QUERIES = ("A sentence of the corpus", "The Attention page's text")
SECTION = ("corp_section", "Similar contexts")  # the Corpus page's setting that opens this view
MODES = {"Hidden states (context)": "hidden", "Attention behaviour": "attention"}


@dataclass(frozen=True)
class Indexed:
    source: str
    index: ContextIndex
    seconds: float
    cut: int  # sentences left out to keep within INDEX_BUDGET


def bytes_per_token(model) -> int:
    c = model.config
    return 2 * ((c.n_layers + 1) * c.d_model + c.n_layers * c.n_heads * len(SIGNATURE))


def within_budget(model, texts: list[str]) -> list[str]:
    """The first texts whose index fits INDEX_BUDGET (token counts from the tokenizer, no model run)."""
    per_token, total, kept = bytes_per_token(model), 0, []
    for text in texts:
        with contextlib.suppress(ValueError):  # unreadable: the build skips and names it
            total += per_token * len(model.tokenizer.encode(text))
        if total > INDEX_BUDGET:
            break
        kept.append(text)
    return kept


def build(texts: list[str]) -> None:
    model = opening.current_model()
    if model is None:
        return
    kept = within_budget(model, texts)
    started = time.perf_counter()
    bar, progress = ui.progress_bar("Indexing")
    try:
        index = build_context_index(model, kept, progress=progress)
    except ValueError as error:
        bar.empty()
        ui.show_problem("warning", "Nothing could be indexed.", str(error))
        return
    bar.empty()
    st.session_state[INDEX] = Indexed(session.current_input().source, index, time.perf_counter() - started,
                                      len(texts) - len(kept))


def attention_link(source: str, sentence: str, layer: int, token: int) -> str:
    """A relative link to the Attention page on `sentence`, at attention layer `layer` (0-based), following `token`
    (every page's link carries the followed token: registry.VIEW_LINK)."""
    page = next(p for p in registry.PAGES if p.script == ATTENTION_PAGE)
    params = {**url.text_params("text", sentence), "model": source, "layer": str(layer + 1),
              selection.FOLLOW: str(token)}
    return f"{page.url_path}?{urlencode(params)}"


def pick_in_corpus(index: ContextIndex) -> tuple[int, int, None] | None:
    """(sentence, token position, None) picked among the indexed sentences."""
    columns = st.columns([3, 2], vertical_alignment="bottom")
    n = len(index.sentences)
    with columns[0]:
        session.keep_valid("corp_ctx_sentence", list(range(n)), 0)
        sentence = st.selectbox("Sentence", range(n), key="corp_ctx_sentence",
                                format_func=lambda i: f"{i + 1}. {index.sentences[i][:90]}")
    begin, end = int(index.starts[sentence]), int(index.starts[sentence + 1])
    if begin == end:
        ui.show_problem("info", "This sentence could not be read; choose another.")
        return None
    positions = [int(p) for p in index.positions[begin:end]]
    with columns[1]:
        session.keep_valid("corp_ctx_token", positions, positions[len(positions) // 2])
        token = st.selectbox("Token", positions, key="corp_ctx_token",
                             format_func=lambda p: f"{index.tokens[begin + positions.index(p)]} ·{p}")
    return sentence, token, None


def pick_in_attention_text(index: ContextIndex) -> tuple[int, int, Run] | None:
    """(-1, token position, its run) for a token of the text the Attention page shows (the session's
    text): the token every page follows (selection.FOLLOW), so that a token chosen there is the query."""
    run = opening.current_run()
    if run is None:
        return None
    if run.model_name != index.model_name:
        ui.show_problem("info", "The model chosen now is not the one this index was built with: build it again.")
        return None
    if all(run.special):
        ui.show_problem("info", "The Attention page's text has no token to search with.")
        return None
    st.text(run.text_a[:300] + ("…" if len(run.text_a) > 300 else ""))  # plain text, never markup
    token = selection.follow_picker(run, "Token of the Attention page's text (followed on every page)", width=360)
    if run.special[token]:
        ui.show_problem("info", "Special tokens are not indexed: pick a word of the text.")
        return None
    return -1, token, run


def open_button(key: str) -> None:
    """A button that opens this view on the Corpus page with the followed token of the sidebar's text as
    the query (exBERT's search, started from the token being looked at)."""
    if st.button("Similar contexts in a corpus", key=key, icon=":material/travel_explore:",
                 help="Corpus › Similar contexts: the tokens of a corpus whose hidden states are most like the "
                      "followed token's, at a layer you choose."):
        st.session_state[SECTION[0]] = SECTION[1]
        st.session_state["corp_ctx_query"] = QUERIES[1]
        st.switch_page("pages/corpus.py")


def render() -> None:
    st.caption("Pick a token at a layer and find the tokens of a corpus whose contexts are most alike there "
               "(exBERT, Hoover et al. 2020): by the cosine of their hidden states, or by how alike they spread "
               "their attention (per head: entropy, mass on [CLS], [SEP], punctuation, the previous token, "
               "itself and the next, and the mean offset, each standardised over the corpus).")
    model = opening.current_model()
    if model is None:
        return
    if isinstance(model, TransformersModel):  # said before anything runs
        st.info(f"{ui.markdown_literal(model.name)} runs through transformers one sentence at a time, so indexing "
                f"is slower; each token keeps {model.config.n_layers + 1} × {model.config.d_model} numbers, so an "
                f"index holds fewer sentences within {INDEX_BUDGET // 2**20} MB.", icon=":material/info:")
    with st.container(border=True):
        source, upload, limit = corpus_sources.picker("corp_ctx", DEFAULT, MOST)
        clicked = st.button("Build the index", key="corpbtn_ctx_build", type="primary", icon=":material/search:")
    if clicked and (texts := corpus_sources.sentences("corp_ctx", source, upload, limit)):
        build(texts)
    held: Indexed | None = st.session_state.get(INDEX)
    if held is None:
        st.info("Choose the sentences and press **Build the index**.", icon=":material/info:")
        return
    index = held.index
    st.caption(f"{index.model_name} · {len(index.sentences):,} sentences · {index.n_tokens:,} tokens indexed at "
               f"{len(index.layers)} layers · {index.nbytes / 1e6:.1f} MB (float16, exact search by faiss) · "
               f"{held.seconds:.1f} s.")
    if held.cut:
        ui.show_problem("info", f"{held.cut:,} sentences were left out: an index here holds at most "
                                f"{INDEX_BUDGET // 2**20} MB.")
    if index.skipped:
        st.caption(f"{len(index.skipped):,} sentences could not be read and are not indexed.")
    session.keep_valid("corp_ctx_query", list(QUERIES), QUERIES[0])
    query = st.radio("Query token from", QUERIES, key="corp_ctx_query", horizontal=True)
    picked = pick_in_corpus(index) if query == QUERIES[0] else pick_in_attention_text(index)
    if picked is None:
        return
    sentence, token, run = picked
    columns = st.columns(3, vertical_alignment="bottom")
    with columns[0]:
        session.keep_valid("corp_ctx_mode", list(MODES), next(iter(MODES)))
        mode = MODES[st.radio("Alike by", list(MODES), key="corp_ctx_mode", horizontal=True)]
    layers = index.layers if mode == "hidden" else tuple(layer + 1 for layer in index.attention_layers)
    with columns[1]:
        session.keep_valid("corp_ctx_layer", list(layers), layers[-1])
        layer = st.select_slider("Layer (0 = the embeddings)" if mode == "hidden" else "Attention layer",
                                 layers, key="corp_ctx_layer")
    with columns[2]:
        k = st.number_input("Results", 1, 100, 10, key="corp_ctx_k")
    search_layer = int(layer) if mode == "hidden" else int(layer) - 1
    hits = (nearest_contexts(index, sentence, token, search_layer, int(k), mode=mode) if run is None
            else nearest_to_run(index, run, token, search_layer, int(k), mode=mode))
    marks = spans(index, hits)
    attention_layer = max(search_layer - 1, 0) if mode == "hidden" else search_layer
    links = [attention_link(held.source, s, attention_layer, int(t))
             for s, t in zip(hits["sentence"], hits["token_index"], strict=True)]
    st.dataframe(figures.results_table(hits, marks, links), hide_index=True, key="corp_ctx_table",
                 column_config={"open": st.column_config.LinkColumn("open", display_text="Attention page"),
                                "cosine": st.column_config.NumberColumn(format="%.4f")})
    components.shaded_text(figures.marked_sentences(hits, marks), key="corp_ctx_shaded")
    st.caption("A token of the corpus finds itself first (cosine 1). Each link opens the sentence on the Attention "
               "page at the layer that produced these states, following the matched token.")
