"""AppTests of the Embeddings page: it runs on any text and shows the run's own numbers."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app_test, array, figure_specs, messages

from encoder import geometry
from encoder.geometry import cosine_similarity

TEXT = "The cat chased the mouse, and then the dog chased the cat."


def titles(at) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in figure_specs(at)]


def chart(at, start: str) -> dict:
    (spec,) = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    return spec


def strings_in(value) -> list[str]:
    """Every string inside a parsed figure spec's data."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def test_page_shows_four_charts_with_the_runs_numbers(model):
    at = app_test("embeddings", text=TEXT)
    assert not at.exception
    assert len(figure_specs(at)) == 4
    run = model.run(TEXT)
    cosine = chart(at, "Cosine similarity")  # default depth: the embedding output
    np.testing.assert_allclose(array(cosine["data"][0]["z"]), cosine_similarity(run.hidden_states[0]),
                               atol=1e-6)
    norms = chart(at, "Length")
    np.testing.assert_allclose(array(norms["data"][0]["z"]), np.linalg.norm(run.hidden_states, axis=-1),
                               rtol=1e-5)
    assert len(at.caption) >= 5  # one under each chart, and the page's introduction


def test_depth_and_3d_and_centring_follow_the_widgets(model):
    at = app_test("embeddings", text=TEXT)
    at.select_slider(key="emb_depth").set_value("layer 6")
    at.radio(key="emb_dims").set_value("3-D")
    at.toggle(key="emb_centred").set_value(True)
    at.run()
    assert not at.exception
    run = model.run(TEXT)
    vectors = run.hidden_states[6]
    cosine = chart(at, "Centred cosine similarity of tokens at layer 6")
    np.testing.assert_allclose(array(cosine["data"][0]["z"]),
                               cosine_similarity(vectors - vectors.mean(axis=0)), atol=1e-5)
    scatter = chart(at, "Tokens at layer 6")
    assert {trace["type"] for trace in scatter["data"]} == {"scatter3d"}
    expected = geometry.pca(vectors, 3).coordinates
    for trace in scatter["data"]:
        positions = array(trace["customdata"]).astype(int)
        np.testing.assert_allclose(array(trace["z"]), expected[positions, 2], atol=1e-5)


def test_chosen_tokens_are_followed_and_a_new_text_resets_them(model):
    at = app_test("embeddings", text=TEXT)
    run = model.run(TEXT)
    assert at.multiselect(key="emb_tracks").value == geometry.spread_positions(run.special)
    at.multiselect(key="emb_tracks").set_value([2, 13]).run()
    paths = chart(at, "Paths through the layers")["data"][1:]
    assert [p["name"] for p in paths] == ["cat ·2", "cat ·13"]
    shared = geometry.shared_pca(run.hidden_states, 2).coordinates
    np.testing.assert_allclose(array(paths[1]["x"]), shared[:, 13, 0], atol=1e-5)
    at.session_state["text"] = "A much shorter one."
    at.run()
    assert not at.exception
    assert at.multiselect(key="emb_tracks").value == list(range(model.run("A much shorter one.").n_tokens))


def test_pair(model):
    at = app_test("embeddings", text="Where is the station?", pair="Two blocks north.")
    assert not at.exception
    names = [trace["name"] for trace in chart(at, "Tokens at")["data"]]
    assert names == ["text A", "text B", "special tokens"]
    assert "token + position + segment" in at.select_slider(key="emb_depth").options


@pytest.mark.parametrize("text", ["Café 😀 naïve — 東京は雨です。", "مرحبا بالعالم שלום עולם",
                                  "<b>bold</b> <script>alert('x')</script> &amp; <i>"],
                         ids=["emoji and CJK", "right to left", "html-looking"])
def test_unusual_text_runs_and_stays_literal(text):
    at = app_test("embeddings", text=text)
    assert not at.exception
    specs = figure_specs(at)
    assert len(specs) == 4
    for spec in specs:
        shown = [s for s in strings_in(spec["data"]) if "%{" not in s]  # hovertemplates are ours
        assert not any("<script" in s or "<b>" in s for s in shown)


def test_empty_text_shows_a_message_and_no_chart():
    at = app_test("embeddings", text="   ")
    assert not at.exception
    assert not figure_specs(at)
    assert "Type a sentence" in messages(at)


def test_512_tokens_stay_light(model):
    text = " ".join(["word"] * 600)
    at = app_test("embeddings", text=text)
    assert not at.exception
    assert "cut" in messages(at)
    cosine = chart(at, "Cosine similarity")
    assert cosine["data"][0]["type"] == "image"  # a PNG, not 512 x 512 numbers
    total = sum(len(chart.proto.spec) for chart in at.get("plotly_chart"))
    assert total < 800_000, total
