"""The Gradients & faithfulness section (pages/parts/faithfulness.render), run by AppTest from a tiny
script in a temporary folder until a page mounts it: it draws the shaded texts, the agreement and the
faithfulness table for the sidebar's text."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.apptest import ROOT, TIMEOUT

SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
st.session_state.setdefault("_from_url_done", True)  # app.py's entry run, which this script stands in for
from pages.parts import faithfulness
faithfulness.render()
"""


def test_section_draws_shaded_texts_agreement_and_table(tmp_path):
    script = tmp_path / "section.py"
    script.write_text(SCRIPT, encoding="utf-8")
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT)
    at.session_state["text"] = "The plot was dull but the <b>acting</b> was superb."
    at.session_state["attr_methods"] = ["integrated_gradients", "occlusion", "raw_attention"]
    at.run()
    assert not at.exception
    assert "can't offer" in " ".join(c.value for c in at.caption)  # what this model lacks, said before running
    assert not at.get("bidi_component")  # nothing computed before the button
    at.button(key="attrbtn_go").click().run()
    assert not at.exception
    (shaded,) = at.get("bidi_component")  # drawn in the browser, which sets the text as text
    data = json.loads(shaded.proto.json)
    assert len(data["views"][""]["lines"]) == 3  # one line per method
    assert data["texts"][0]["text"] == "The plot was dull but the <b>acting</b> was superb."
    titles = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert any("Spearman" in t for t in titles) and any("overlap" in t for t in titles)
    assert any("Deletion curves" in t for t in titles)
    (table,) = at.dataframe
    assert {"integrated gradients", "occlusion (leave one out)", "random (floor)"} <= set(table.value["method"])
    assert list(table.value["rank"]) == list(range(1, len(table.value) + 1))


def test_faithfulness_runs_over_sentences_of_ones_own(tmp_path):
    """Issue 19 §4: the set of texts is the held-out sentiment sentences or the person's own (pasted, a
    file or the example corpus, as on the Corpus page); the table says how many texts it averaged."""
    script = tmp_path / "section.py"
    script.write_text(SCRIPT, encoding="utf-8")
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT)
    at.session_state["text"] = "The plot was dull but the acting was superb."
    at.session_state["attr_methods"] = ["occlusion", "raw_attention"]
    at.run()
    at.radio(key="attr_set").set_value("Sentences of your own").run()
    at.radio(key="attr_set_source").set_value("Paste sentences").run()
    at.text_area(key="attr_set_paste").set_value("A fine film.\nA dull, dreary mess.\n\nIt was fine, I suppose.").run()
    assert not at.exception
    assert at.button(key="attrbtn_corpus_go").label == "Measure over 3 sentences"
    at.button(key="attrbtn_corpus_go").click().run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert set(table["n_texts"]) == {3}  # the blank line is no sentence


def test_attention_x_gradient_is_drawn_head_by_head(tmp_path, model):
    """Issue 19 §2: attention × gradient per head and layer (Chefer et al. 2021), drawn as a layer × head
    map of each head's (∇A ⊙ A)⁺ at the target's rows, summed over the keys."""
    import json

    import numpy as np

    from encoder import attribution
    from encoder.heads import default_sentence_classifier

    text = "The plot was dull but the acting was superb."
    script = tmp_path / "section.py"
    script.write_text(SCRIPT, encoding="utf-8")
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT)
    at.session_state["text"] = text
    at.session_state["attr_methods"] = ["attention_x_gradient"]
    at.session_state["attr_target"] = "classifier"
    at.session_state["attr_label"] = "positive"
    at.run()
    at.button(key="attrbtn_go").click().run()
    assert not at.exception
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    (spec,) = [s for s in specs if s["layout"]["title"]["text"].startswith("Attention × gradient, head by head")]
    shown = np.array([float(v) for v in spec["data"][1]["text"]]).reshape(model.config.n_layers, model.config.n_heads)
    target = attribution.class_probability(default_sentence_classifier(model, seed=0), "positive")
    expected = attribution.attribute(model, text, target, method="attention_x_gradient").per_head.sum(axis=-1)
    np.testing.assert_allclose(shown, expected, atol=1e-4)
    assert expected.shape == (6, 12) and (expected >= 0).all() and expected.max() > 0
