"""The joint query–key map (AttentionViz, Yeh et al. 2023): one head's queries and keys over a corpus sample in
one plane. Maps are kept per head in this person's session (at most KEPT of them, each a few hundred KB), so
coming back to a head, or recolouring, costs nothing; a click on a point opens its sentence."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import streamlit as st

import opening
import selection
import session
import ui
from encoder.analysis.joint_qk import JointMap, head_queries_keys, joint_qk_map
from encoder.analysis.qk import qk_unavailable
from figures import joint_qk as figures
from pages.parts import corpus_sources

MAPS = "_corp_qk_maps"  # OrderedDict: key -> JointMap, most recent last
OPEN_FLAG = "_corp_open_head"  # the Corpus page switches to the Attention page when a callback set it
KEPT = 6
MOST, DEFAULT = 200, 40
SLOW_MOST = 40  # t-SNE and UMAP take tens of seconds on 2 cores beyond about 2,000 points
METHODS = {"PCA": "pca", "t-SNE": "tsne", "UMAP": "umap"}


def umap_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def open_point(chart_key: str, joint: JointMap, source: str) -> None:
    points = st.session_state[chart_key].selection.points
    if not points:
        return
    sentence, position = int(points[0]["customdata"][0]), int(points[0]["customdata"][1])
    st.session_state.text = joint.sample.sentences[sentence]
    st.session_state.pair = ""
    st.session_state.model_source = source
    st.session_state.att_follow = position
    selection.choose(joint.sample.layer, joint.sample.head)
    st.session_state[OPEN_FLAG] = True


def render() -> None:
    st.caption("One head's queries and keys over a sample of sentences, projected together (AttentionViz, Yeh et al. "
               "2023). Keys are first scaled so both kinds have the same mean length (queries × s, keys ÷ s), then "
               "moved so their centre is the queries' centre; neither changes any attention weight, since a "
               "softmax ignores a score added to every key. A query lands near the keys it matches.")
    model = opening.current_model()
    if model is None:
        return
    if (why := qk_unavailable(model)) is not None:  # said before anything runs
        st.info(ui.markdown_literal(why) + " The query–key map needs them.", icon=":material/info:")
        return
    config = model.config
    with st.container(border=True):
        source, upload, limit = corpus_sources.picker("corp_qk", DEFAULT, MOST)
        columns = st.columns(4, vertical_alignment="bottom")
        layer = columns[0].number_input("Layer", 1, config.n_layers, min(3, config.n_layers), key="corp_qk_layer")
        head = columns[1].number_input("Head", 1, config.n_heads, 1, key="corp_qk_head")
        names = [name for name in METHODS if name != "UMAP" or umap_installed()]
        session.keep_valid("corp_qk_method", names, names[0])
        method = columns[2].radio("Projection", names, key="corp_qk_method", horizontal=True,
                                  help="PCA is exact and instant; t-SNE and UMAP keep neighbourhoods and take "
                                       f"seconds (samples cut to {SLOW_MOST} sentences). UMAP's first use in a "
                                       "server compiles for about a minute.")
        clicked = columns[3].button("Draw the map", key="corpbtn_qk_draw", type="primary",
                                    icon=":material/scatter_plot:")
    maps: OrderedDict = st.session_state.setdefault(MAPS, OrderedDict())
    if clicked and (texts := corpus_sources.sentences("corp_qk", source, upload, limit)):
        if METHODS[method] != "pca":
            texts = texts[:SLOW_MOST]
        digest = hashlib.sha256("\n".join(texts).encode("utf-8", "replace")).hexdigest()[:16]
        key = (session.current_input().source, digest, int(layer) - 1, int(head) - 1, METHODS[method])
        if key not in maps:
            with st.spinner(f"Running {len(texts)} sentences and projecting layer {layer}, head {head}…"):
                try:
                    sample = head_queries_keys(model, texts, int(layer) - 1, int(head) - 1)
                    maps[key] = joint_qk_map(sample, METHODS[method])
                except ValueError as error:
                    ui.show_problem("warning", "This map cannot be drawn.", str(error))
                    return
        maps.move_to_end(key)
        while len(maps) > KEPT:
            maps.popitem(last=False)
        st.session_state["_corp_qk_shown"] = key
    key = st.session_state.get("_corp_qk_shown")
    joint: JointMap | None = maps.get(key)
    if joint is None:
        st.info("Choose a head and press **Draw the map**.", icon=":material/info:")
        return
    sample = joint.sample
    session.keep_valid("corp_qk_color", list(figures.COLOR_BY), figures.COLOR_BY[0])
    color_by = st.radio("Colour by", figures.COLOR_BY, key="corp_qk_color", horizontal=True)
    contexts = [figures.in_context(sample.sentences[s], span, token)
                for s, span, token in zip(sample.sentence, sample.offsets, sample.tokens, strict=True)] * 2
    tokens = list(sample.tokens) * 2
    method_name = {v: k for k, v in METHODS.items()}[joint.method]
    explained = (f", {100 * sum(joint.explained):.0f}% of the variance" if joint.explained else "")
    title = (f"Layer {sample.layer + 1}, head {sample.head + 1}: {len(sample.tokens):,} queries and keys from "
             f"{len(set(sample.sentence.tolist()))} sentences ({method_name}{explained})")
    fig = figures.joint_scatter(joint.xy, joint.is_key, tokens, list(sample.position) * 2, list(sample.sentence) * 2,
                                contexts, color_by=color_by, title=title)
    ui.chart(fig, "chart_corpus_qk", on_select=lambda: open_point("chart_corpus_qk", joint, key[0]),
             caption="Circles are queries, diamonds keys. Click a point to open its sentence on the Attention page, "
                     "at this head, following that token.")
