"""AppTests of the Attention page: real model, numbers checked against the run."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import ROOT, TIMEOUT, app_test, array, figure_specs, messages
from streamlit.testing.v1 import AppTest

TEXT = "The cat chased the other cat."


def heatmap(at) -> dict:
    return figure_specs(at)[0]["data"][0]


def test_shows_the_chosen_head_exactly(model):
    at = app_test(None, text=TEXT, layer=3, head=5)
    assert not at.exception
    np.testing.assert_array_equal(array(heatmap(at)["z"]), model.run(TEXT).attentions[2, 4])
    assert len(figure_specs(at)) == 5


def test_moving_the_sliders_changes_the_heatmap(model):
    at = app_test(None, text=TEXT)
    at.select_slider(key="layer").set_value(6).run()
    at.select_slider(key="head").set_value(12).run()
    assert not at.exception
    np.testing.assert_array_equal(array(heatmap(at)["z"]), model.run(TEXT).attentions[5, 11])
    at.select_slider(key="head").set_value("mean").run()
    np.testing.assert_allclose(array(heatmap(at)["z"]), model.run(TEXT).attentions[5].mean(0), atol=1e-7)


def test_view_options(model):
    at = app_test(None, text="Tokenization is unbelievable", layer=2, head=2)
    at.toggle(key="att_hide_special").set_value(True).run()
    z = array(heatmap(at)["z"])
    assert z.shape == (len(model.run("Tokenization is unbelievable").tokens) - 2,) * 2
    np.testing.assert_allclose(z.sum(-1), 1, atol=1e-5)
    at.toggle(key="att_merge").set_value(True).run()
    assert array(heatmap(at)["z"]).shape == (3, 3)
    at.radio(key="att_log").set_value("log").run()
    at.selectbox(key="att_scale").set_value("Viridis").run()
    assert not at.exception


def test_pair_blocks(model):
    at = app_test(None, text="Where is it?", pair="Over there.", layer=1, head=1)
    run = model.run("Where is it?", "Over there.")
    at.get("button_group")[0].set_value("B→A").run()
    assert not at.exception
    b = [i for i, s in enumerate(run.segment_ids) if s == 1]
    a = [i for i, s in enumerate(run.segment_ids) if s == 0]
    np.testing.assert_array_equal(array(heatmap(at)["z"]), run.attentions[0, 0][np.ix_(b, a)])


def test_link_opens_the_same_view(model):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": "Shared links work.", "layer": "4", "head": "9"})
    at.run()
    assert not at.exception
    assert at.text_area(key="text").value == "Shared links work."
    np.testing.assert_array_equal(array(heatmap(at)["z"]), model.run("Shared links work.").attentions[3, 8])


def test_out_of_range_link_is_clamped():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": "Hi", "layer": "99", "head": "x"})
    at.run()
    assert not at.exception
    assert at.session_state["layer"] == 6 and at.session_state["head"] == 1


@pytest.mark.parametrize("text,message", [
    ("", "Type a sentence"),
    ("   \n ", "Type a sentence"),
    ("\x00\x01\x02", "control characters"),
    (" ".join(["word"] * 10_000), "tokens were cut"),
], ids=["empty", "whitespace", "control", "10k-words"])
def test_bad_input_gets_a_message(text, message):
    at = app_test(None, text=text)
    assert not at.exception
    assert message in messages(at)
    # ... and the next normal input works
    at.text_area(key="text").input("Back to normal.").run()
    assert not at.exception and figure_specs(at)


@pytest.mark.parametrize("text", ["👨‍👩‍👧 emoji", "東京は日本の首都です", "שלום עולם", "مرحبا بالعالم",
                                  "<script>alert('x')</script><b>bold</b>", "e\u0301te\u0301"])
def test_unusual_text_runs(text, model):
    at = app_test(None, text=text)
    assert not at.exception
    data = heatmap(at)
    np.testing.assert_array_equal(array(data["z"]), model.run(text).attentions[0, 0])
    assert all("<" not in label for label in data["y"])  # HTML in tokens arrives escaped


def test_broken_model_folder(tmp_path, monkeypatch):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{broken")
    monkeypatch.setenv("HEADLIGHT_MODELS_DIR", str(tmp_path))
    at = app_test(None, text="Hello", model_kind="Models folder", model_source="folder:broken")
    assert not at.exception
    assert "could not be loaded" in messages(at) and "config.json cannot be used" in messages(at)
    at.session_state["model_kind"] = "Bundled"
    at.session_state["model_source"] = "minilm-l6"
    at.run()
    assert not at.exception and figure_specs(at)
