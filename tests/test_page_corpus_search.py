"""AppTests of the Corpus page's other views: similar contexts are the engine's nearest_contexts with links to
the Attention page, the query–key map is the engine's joint map, and the label split is compare_labels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import streamlit
from apptest import app_test, array, figure_specs, messages, shaded_message

from encoder.analysis.joint_qk import head_queries_keys, joint_qk_map
from encoder.corpus import build_context_index, nearest_contexts
from encoder.corpus.context_index import nearest_to_run
from encoder.corpus.label_split import compare_labels, read_labelled, split_by_label

SENTENCES = ["The cat sat on the mat.", "Where did you park the car?", "A cat <b>slept</b> on the sofa.",
             "It rained all week, so the picnic was moved indoors.", "The dog sat by the door."]


@pytest.fixture(scope="module")
def contexts():
    at = app_test("corpus", corp_section="Similar contexts", corp_ctx_source="Paste sentences",
                  corp_ctx_paste="\n".join(SENTENCES))
    at.button(key="corpbtn_ctx_build").click().run()
    assert not at.exception
    return at


def test_similar_contexts_are_the_engines(contexts, model):
    index = build_context_index(model, SENTENCES)
    contexts.selectbox(key="corp_ctx_sentence").set_value(0).run()
    contexts.selectbox(key="corp_ctx_token").set_value(2).run()  # "cat"
    contexts.select_slider(key="corp_ctx_layer").set_value(4).run()
    assert not contexts.exception
    table = contexts.dataframe[0].value
    expected = nearest_contexts(index, 0, 2, 4, k=10)
    assert table["token"].tolist()[0] == "cat" and table["cosine"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert table["sentence"].tolist() == (expected["sentence_index"] + 1).tolist()
    np.testing.assert_allclose(table["cosine"], expected["cosine"], atol=2e-3)
    assert table["open"].iloc[0].startswith("attention?text=The+cat+sat") and "att_follow=2" in table["open"].iloc[0]
    # The shaded list: each hit's sentence verbatim (the browser sets it as text: a hostile-looking
    # sentence stays text), its matched token's span, its cosine, one scale from 0 to 1.
    shaded = shaded_message(contexts, "any")
    lines = shaded["views"][""]["lines"]
    assert [shaded["texts"][line["text"]]["text"] for line in lines] == table["sentence"].map(
        lambda number: SENTENCES[number - 1]).tolist()
    assert all(line["scale"] == 1.0 for line in lines) and shaded["views"][""]["signed"] is False
    first = shaded["texts"][lines[0]["text"]]
    (start, end, token), = first["spans"]
    assert first["text"][start:end] == "cat"
    assert shaded["vectors"][lines[0]["vector"]][token] == pytest.approx(1.0, abs=1e-4)
    assert any("<b>slept</b>" in part["text"] for part in shaded["texts"])


def test_the_attention_mode_searches_signatures(contexts):
    contexts.radio(key="corp_ctx_mode").set_value("Attention behaviour").run()
    assert not contexts.exception
    table = contexts.dataframe[0].value
    assert table["rank"].iloc[0] == 1 and table["cosine"].iloc[0] == pytest.approx(1.0, abs=1e-4)


def test_a_token_of_the_sidebars_text_searches_the_corpus(contexts, model):
    contexts.session_state["text"] = "A small cat slept under the table."
    contexts.radio(key="corp_ctx_mode").set_value("Hidden states (context)").run()
    contexts.radio(key="corp_ctx_query").set_value("The Attention page's text").run()
    contexts.selectbox(key="att_follow").set_value(3).run()  # "cat"
    assert not contexts.exception
    table = contexts.dataframe[0].value
    expected = nearest_to_run(build_context_index(model, SENTENCES), model.run("A small cat slept under the table."),
                              3, int(contexts.select_slider(key="corp_ctx_layer").value), k=10)
    assert table["sentence"].tolist() == (expected["sentence_index"] + 1).tolist()
    assert table["token"].iloc[0] == "cat" and table["cosine"].iloc[0] < 0.9999


def test_the_query_key_map_is_the_engines(model):
    at = app_test("corpus", corp_section="Query–key map", corp_qk_source="Paste sentences",
                  corp_qk_paste="\n".join(SENTENCES), corp_qk_layer=2, corp_qk_head=4)
    at.button(key="corpbtn_qk_draw").click().run()
    assert not at.exception
    (spec,) = figure_specs(at)
    expected = joint_qk_map(head_queries_keys(model, SENTENCES, 1, 3), "pca")
    n = len(expected.sample.tokens)
    points = {}
    for trace in spec["data"]:
        for d, x, y in zip(trace["customdata"], array(trace["x"]), array(trace["y"]), strict=True):
            points[(int(d[0]), int(d[1]), d[3])] = (x, y)
    assert len(points) == 2 * n
    for row in (0, 5, n - 1):
        s, p = int(expected.sample.sentence[row]), int(expected.sample.position[row])
        np.testing.assert_allclose(points[(s, p, "query")], expected.xy[row], atol=1e-4)
        np.testing.assert_allclose(points[(s, p, "key")], expected.xy[n + row], atol=1e-4)
    at.radio(key="corp_qk_color").set_value("token").run()
    assert not at.exception and len(figure_specs(at)[0]["data"]) > 2


def test_the_label_split_is_compare_labels(monkeypatch, model):
    rows = [("Yes.", "short"), ("No way.", "short"), ("Fine.", "short"), ("Stop.", "short"),
            *((s, "long") for s in SENTENCES[1:]), ("=cmd|' /C calc'!A0", "")]
    data = pd.DataFrame(rows, columns=["text", "kind"]).to_csv(index=False).encode()
    upload = io.BytesIO(data)
    upload.name = "labelled.csv"
    monkeypatch.setattr(streamlit, "file_uploader", lambda *args, **kwargs: upload)
    at = app_test("corpus", corp_section="By label", corp_lab_source="Upload a CSV", corp_lab_column="kind",
                  corp_lab_perm=200)
    at.button(key="corpbtn_lab_run").click().run()
    assert not at.exception
    labelled = read_labelled(io.BytesIO(data), "kind")
    expected = compare_labels(split_by_label(model, labelled.texts, labelled.labels), "long", "short", 200)
    (spec,) = figure_specs(at)
    z = array(spec["data"][0]["z"])
    entropy = expected[expected["statistic"] == "entropy"]
    np.testing.assert_allclose(z, entropy["difference"].to_numpy().reshape(6, 12), atol=1e-6)
    stars = np.asarray(spec["data"][0]["text"]) == "★"
    np.testing.assert_array_equal(stars, entropy["significant"].to_numpy().reshape(6, 12))


def test_the_sections_ask_before_running():
    for section, words in (("Similar contexts", "Build the index"), ("Query–key map", "Draw the map"),
                           ("By label", "Split by label")):
        at = app_test("corpus", corp_section=section)
        assert not at.exception
        assert words in messages(at)


@pytest.mark.parametrize("data, words", [(b"\x00\x01\x02\x03binary", "cannot be read"),
                                         (b"text,stars\nA fine sentence.,5\n", "no column named")])
def test_a_bad_labelled_file_is_a_sentence_not_a_traceback(monkeypatch, data, words):
    upload = io.BytesIO(data)
    upload.name = "hostile.csv"
    monkeypatch.setattr(streamlit, "file_uploader", lambda *args, **kwargs: upload)
    at = app_test("corpus", corp_section="By label", corp_lab_source="Upload a CSV", corp_lab_column="kind")
    at.button(key="corpbtn_lab_run").click().run()
    assert not at.exception
    shown = messages(at) + " ".join(str(t.value) for t in at.text)
    assert words in shown and "Traceback" not in shown and "/work" not in shown


@pytest.mark.parametrize("page", ["embeddings", None], ids=["embeddings", "attention"])
def test_a_token_followed_on_attention_or_embeddings_starts_a_corpus_search(page):
    """Issue 20 §3: the query can start from the token being looked at. The button opens Corpus › Similar
    contexts with the sidebar's text as the query's source and the followed token as the query."""
    at = app_test(page, text="A small cat slept under the table.")
    at.session_state["att_follow"] = 3  # the person follows "cat" (the page opened on its first content word)
    at.run()
    assert not at.exception
    at.button(key="ctxbtn_from_embeddings" if page else "ctxbtn_from_attention").click().run()
    assert not at.exception
    assert [h.value for h in at.header] == [":material/library_books: Corpus"]
    assert at.session_state["corp_section"] == "Similar contexts"
    assert at.session_state["corp_ctx_query"] == "The Attention page's text"
    assert at.session_state["att_follow"] == 3  # "cat": the same token, not a default
