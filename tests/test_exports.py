"""Every view's export, read back (issue 17 §5): the numbers as long CSV, numbered as the screen
numbers layers and heads (from 1, in columns that say so), the run as .npz without pickle, and the
figure as offline HTML whose camera saves an SVG."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from apptest import app_test, captured_downloads, downloaded

TEXT = "Dogs bark loudly at night."
# view -> (session settings, what its CSV must hold: the screen's layer and head, or other columns)
VIEWS = {
    "attention": ({"layer": 2, "head": 3}, None),
    "rollout": ({}, None),
    "value_weighted": ({"layer": 4, "head": 5}, None),
    "methods": ({"layer": 3, "head": 2}, (3, 2)),
    "qk": ({"layer": 5, "head": 7}, (5, 7)),
    "heads": ({}, None),
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
