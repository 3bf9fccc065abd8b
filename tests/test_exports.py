"""Every view's export, read back (issue 17 §5): the numbers as long CSV, numbered as the screen
numbers layers and heads (from 1, in columns that say so), the run as .npz without pickle, and the
figure as offline HTML whose camera saves an SVG."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from apptest import app_test, array, captured_downloads, downloaded, figure_specs
from exported import annotation_texts, axes, html_figure, traces

TEXT = "Dogs bark loudly at night."
# view -> (session settings, what its CSV must hold: the screen's layer and head, or other columns)
VIEWS = {
    "attention": ({"layer": 2, "head": 3}, None),
    "rollout": ({}, None),
    "value_weighted": ({"layer": 4, "head": 5}, None),
    "methods": ({"layer": 3, "head": 2}, (3, 2)),
    "qk": ({"layer": 5, "head": 7}, (5, 7)),
    "heads": ({}, None),
    "walkthrough": ({"layer": 2, "head": 9}, (2, 9)),
    "minimal_pairs": ({}, None),
    "similarity": ({"pair": "Cats meow softly."}, None),
    "embeddings": ({}, ("depth", "position", "token", "pc1", "pc2")),
    "positional": ({}, ("position", "dimension", "value")),
    "ablation": ({"abl_off": [13]}, None),
    "compare": ({}, None),
    "task_heads": ({}, ("task_head", "item", "label", "score")),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_a_views_export_reads_back_numbered_as_on_screen(view):
    settings, expected = VIEWS[view]
    with captured_downloads() as found:
        at = app_test(view, text=TEXT, **settings)
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Numbers (CSV)" in labels and "Figure (HTML)" in labels, (view, labels)
    table = pd.read_csv(io.BytesIO(downloaded(at, found, "Numbers (CSV)")))
    assert len(table) > 0
    assert "layer" not in table.columns and "head" not in table.columns, "a 0-based column on a screen export"
    if isinstance(expected, tuple) and isinstance(expected[0], str):
        assert set(expected) <= set(table.columns), (view, list(table.columns))
    if "layer_from_1" in table.columns:
        layers = table["layer_from_1"].dropna()
        assert layers.min() >= 1, view
        if isinstance(expected, tuple) and isinstance(expected[0], int):  # one head's numbers, as on screen
            assert set(layers) == {expected[0]} and set(table["head_from_1"].dropna()) == {expected[1]}, view
    html = downloaded(at, found, "Figure (HTML)").decode("utf-8")
    assert '"format": "svg"' in html and "cdn.plot.ly" not in html.split("<body")[1][:2000]
    for label in [x for x in labels if x.endswith("(.npz)")]:
        arrays = np.load(io.BytesIO(downloaded(at, found, label)), allow_pickle=False)
        assert "attentions" in arrays.files, (view, label)


def test_the_attention_export_follows_the_screen_on_a_long_text():
    """Past the cell budget the CSV holds the selected layer's heads: numbered as the sliders."""
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 10)  # 92 tokens: 72 heads too many
    with captured_downloads() as found:
        at = app_test(None, text=long_text, layer=4, head=6)
    table = pd.read_csv(io.BytesIO(downloaded(at, found, "Numbers (CSV)")))
    assert set(table["layer_from_1"]) == {4} and set(table["head_from_1"]) == set(range(1, 13))
    np.testing.assert_allclose(table.groupby(["head_from_1", "query"])["weight"].sum(), 1.0, atol=1e-5)


def assert_holds_every_chart(at, figure: dict) -> None:
    """The exported figure holds every chart the page draws: each one's title, and as many traces of
    each kind (heatmaps, images, bars, scatters) as the page's charts together."""
    page = figure_specs(at)
    assert page
    titles = annotation_texts(figure)
    for spec in page:
        assert spec["layout"]["title"]["text"] in titles, spec["layout"]["title"]["text"]
    assert Counter(t.get("type") for s in page for t in s["data"]) == Counter(t.get("type") for t in figure["data"])


def test_head_patterns_figure_holds_every_map_and_gallery_numbered_from_1():
    with captured_downloads() as found:
        at = app_test("heads", text=TEXT)
    assert not at.exception
    figure = html_figure(downloaded(at, found, "Figure (HTML)").decode("utf-8"))
    assert_holds_every_chart(at, figure)
    maps = traces(figure, "heatmap")
    assert len(maps) == 9  # every statistic an encoder has (all but the decoders' first-token mass)
    layer_axes = [axis for name, axis in axes(figure).items() if name.startswith("y") and axis.get("ticktext")]
    assert len(layer_axes) == len(maps)
    assert all(axis["ticktext"][0] == "L1" and axis["tickvals"][0] == 1 for axis in layer_axes)
    assert all(array(trace["x"])[0] == 1 for trace in maps), "heads numbered from 1, as the screen does"
    statistics = pd.read_csv(io.BytesIO(downloaded(at, found, "Statistics table (CSV)")))
    assert (statistics["layer_from_1"].min(), statistics["layer_from_1"].max()) == (1, 6)
    assert (statistics["head_from_1"].min(), statistics["head_from_1"].max()) == (1, 12)
    tiles = [text for text in annotation_texts(figure) if text.startswith("<b>L")]
    assert len(tiles) == 72 and "<b>L1 H1</b>" in "".join(tiles)
    assert not any(" H0<" in text or "<b>L0 " in text for text in tiles)


def test_the_walkthrough_figure_holds_the_overview_and_every_stage():
    with captured_downloads() as found:
        at = app_test("walkthrough", text=TEXT, layer=2, head=9)
    assert not at.exception
    figure = html_figure(downloaded(at, found, "Figure (HTML)").decode("utf-8"))
    assert_holds_every_chart(at, figure)
    titles = annotation_texts(figure)
    assert "Attention, layer 2 head 9" in titles and "Attention weights, layer 2 head 9" in titles
    assert figure["layout"]["title"]["text"].startswith("Walk-through of layer 2, head 9")
