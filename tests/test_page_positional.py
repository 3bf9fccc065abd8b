"""AppTests of the positional-encoding page: it runs on every kind of text and shows true numbers."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app_test, array, figure_specs, markdown_bodies, messages

from encoder.geometry import cosine_similarity
from encoder.positional import decompose_input, sinusoidal_table

GENERAL_TITLES = ["Sinusoidal encoding", "Chosen dimensions", "Sinusoidal: cosine", "Learned (",
                  "Similarity against"]


def titles(at) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in figure_specs(at)]


def chart_titled(at, start: str) -> dict:
    return next(spec for spec in figure_specs(at) if spec["layout"]["title"]["text"].startswith(start))


def assert_general_charts(at) -> None:
    shown = titles(at)
    for start in GENERAL_TITLES:
        assert any(title.startswith(start) for title in shown), (start, shown)


@pytest.mark.parametrize("text", [
    "The cat sat on the mat, and the cat slept.",
    "Café 🙂 naïve — 東京は晴れ。 مرحبا بالعالم שלום",
    "<b>bold</b> <script>alert(1)</script> **not markdown** $x$ &amp;",
])
def test_page_runs_on_any_text(text):
    at = app_test("positional", text=text)
    assert not at.exception
    assert_general_charts(at)
    assert any(title.startswith("Where each token") for title in titles(at))
    assert not at.error and not at.warning


def test_user_text_reaches_the_chart_escaped_and_nowhere_as_markdown():
    text = "<b>bold</b> <i>it</i>"
    at = app_test("positional", text=text)
    parts = figure_specs(at)[-1]
    labels = " ".join(parts["layout"]["xaxis"]["ticktext"]) + " ".join(parts["data"][0]["x"])
    assert "<b>" not in labels and "&lt;" in labels
    bodies = markdown_bodies(at)
    assert len(bodies) >= 3
    assert all("bold" not in body for body in bodies)


def test_pair_adds_a_segment_part():
    at = app_test("positional", text="Where is the station?", pair="Two blocks north.")
    assert not at.exception
    parts = figure_specs(at)[-1]
    assert [trace["name"] for trace in parts["data"]] == [
        "token embedding", "position embedding", "segment embedding"]


def test_empty_text_still_shows_the_general_charts():
    at = app_test("positional", text="   ")
    assert not at.exception
    assert_general_charts(at)
    assert len(figure_specs(at)) == len(GENERAL_TITLES)
    assert "Type a sentence" in messages(at)


def test_charts_hold_the_model_numbers(model):
    text = "Positions are learned vectors."
    at = app_test("positional", text=text, pos_positions=40)
    learned = chart_titled(at, "Learned (")
    expected = cosine_similarity(model.learned_position_table()[:40])
    np.testing.assert_allclose(array(learned["data"][0]["z"]), expected, atol=1e-6)
    sinusoid = chart_titled(at, "Sinusoidal: cosine")
    np.testing.assert_allclose(array(sinusoid["data"][0]["z"]), cosine_similarity(sinusoidal_table(40, 384)),
                               atol=1e-6)
    run = model.run(text)
    shares = decompose_input(run.token_embeddings, run.position_embeddings, run.segment_embeddings).shares
    parts = chart_titled(at, "Where each token")
    for k, trace in enumerate(parts["data"]):
        np.testing.assert_allclose(array(trace["y"]), shares[:, k], atol=1e-6)


def test_widget_values_out_of_range_are_clamped():
    at = app_test("positional", text="Short.", pos_positions=100_000, pos_dims=[2, 5000])
    assert not at.exception
    assert at.slider(key="pos_positions").value == 512
    assert at.multiselect(key="pos_dims").value == [2]
    waves = chart_titled(at, "Chosen")
    assert [trace["name"].split(" (")[0] for trace in waves["data"]] == ["dim 2"]


def test_full_length_uses_images_and_changing_the_slider_reruns():
    at = app_test("positional", text="Short.")
    at.slider(key="pos_positions").set_value(512).run()
    assert not at.exception
    assert chart_titled(at, "Learned (")["data"][0]["type"] == "image"


def test_a_model_that_fails_to_load_leaves_the_sinusoids(tmp_path, monkeypatch):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "bert"}')  # and no weights
    monkeypatch.setenv("HEADLIGHT_MODELS_DIR", str(tmp_path))
    at = app_test("positional", text="Hello.", model_source="folder:broken")
    assert not at.exception
    assert at.error
    shown = titles(at)
    assert len(shown) == 3 and all(title.startswith(("Sinusoidal", "Chosen")) for title in shown)
