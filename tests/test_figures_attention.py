"""Attention figures hold the run's numbers, keep repeated tokens apart and show text literally."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from apptest import array

from encoder.attention_view import attention_view
from figures import attention as figs
from figures.common import COLOR_SCALES, _rgb, code_fractions, colorscale, exact_heatmap, figure_bytes, position_labels


def spec(fig) -> dict:
    return json.loads(fig.to_json())


def test_head_heatmap_holds_exact_weights(model):
    run = model.run("The cat chased the other cat.")
    data = spec(figs.head_heatmap(attention_view(run), 2, 7))["data"][0]
    np.testing.assert_array_equal(array(data["z"]), run.attentions[2, 7])
    assert len(set(data["y"])) == run.n_tokens  # the two "the" and two "cat" stay apart
    assert "query %{y} → key %{x}" in data["hovertemplate"]


def test_mean_head(model):
    run = model.run("Averages of heads.")
    data = spec(figs.head_heatmap(attention_view(run), 1, -1))["data"][0]
    np.testing.assert_allclose(array(data["z"]), run.attentions[1].mean(0), atol=1e-7)


def test_token_across_heads(model):
    run = model.run("Where does it look?")
    data = spec(figs.token_across_heads(attention_view(run), 4, 3))["data"][0]
    np.testing.assert_array_equal(array(data["z"]), run.attentions[4, :, 3, :])
    assert data["y"] == [f"head {h}" for h in range(1, 13)]


def test_html_looking_tokens_are_escaped():
    labels = position_labels(["<b>", "&", "x"])
    assert labels == ["&lt;b&gt; ·0", "&amp; ·1", "x ·2"]


def test_grids_are_images_with_click_targets(model):
    run = model.run("One two three four.")
    view = attention_view(run)
    overview = spec(figs.overview_grid(view, 1, 2))
    image, targets = overview["data"]
    assert image["type"] == "image" and image["source"].startswith("data:image/png;base64,")
    assert len(targets["customdata"]) == 72 and targets["customdata"][14] == [1, 2]
    assert len(overview["layout"]["shapes"]) == 1  # the selected tile is outlined
    heads = spec(figs.layer_heads_grid(view, 3, -1))
    assert len(heads["data"][1]["customdata"]) == 12 and "shapes" not in heads["layout"]
    means = spec(figs.layer_means_grid(view, 3, -1))
    assert means["data"][1]["customdata"][3] == [3, -1] and len(means["layout"]["shapes"]) == 1


def test_log_colour_scale_is_monotonic():
    stops = colorscale("Cividis", log=True)
    positions = [s[0] for s in stops]
    assert positions == sorted(positions) and positions[0] == 0 and positions[-1] == 1


def test_payload_at_512_tokens_fits_the_budget(model):
    run = model.run(" ".join(["word", "play"] * 400))
    view = attention_view(run)
    assert run.n_tokens == 512
    figures = [figs.head_heatmap(view, 0, 0), figs.layer_heads_grid(view, 0, 0), figs.overview_grid(view, 0, 0),
               figs.layer_means_grid(view, 0, 0), figs.token_across_heads(view, 0, 1)]
    assert sum(figure_bytes(f) for f in figures) < 3_000_000


@pytest.mark.parametrize("name", COLOR_SCALES)
@pytest.mark.parametrize("log", [False, True])
def test_every_colour_scale_is_plotlys_own_and_survives_streamlit(name, log):
    """Every chart's colours are Plotly's named scale, and none is a hex colour Streamlit's
    frontend swaps for a theme colour (Magma's "#000004" became pink on the large heatmap)."""
    from plotly.colors import get_colorscale, sample_colorscale

    scale = colorscale(name, log)
    assert all(c.startswith("rgb(") for _, c in scale)
    if not log:
        expected = [[s, "rgb({}, {}, {})".format(*_rgb(c))] for s, c in get_colorscale(name)]
        assert scale == expected
    else:  # log spacing samples the same named scale
        for stop, color in scale[1:]:
            shade = (np.log10(stop) + 3) / 3
            assert _rgb(color) == _rgb(sample_colorscale(name, [shade])[0])
    heatmap = exact_heatmap(np.eye(3), ["a", "b", "c"], ["a", "b", "c"], color_scale=name, log=log)
    data = json.dumps(json.loads(go.Figure(heatmap).to_json())["data"])  # the layout's template is Streamlit's
    assert not re.search(r'"#00000[0-9a-fA-F]"', data)
    thumb = figs.tile_palette(name, log)  # the thumbnails' colours come from the same scale
    assert tuple(thumb[0]) == _rgb(scale[0][1]) and tuple(thumb[figs.TILE_CODES]) == _rgb(scale[-1][1])
    assert tuple(thumb[figs.BACKGROUND]) == (255, 255, 255)


def test_a_broad_head_looks_dim_and_a_sharp_one_bright_at_any_length():
    """Thumbnails colour the weight itself (1 at most), not each tile against its own maximum: at
    512 tokens a head that spreads its attention evenly (every weight 1/512) was painted as bright
    as one that looks at a single token (issue 17 §4)."""
    fractions = code_fractions(figs.TILE_CODES)
    for n in (16, 512):
        broad = np.full((n, n), 1.0 / n)
        sharp = np.eye(n)
        broad_codes, sharp_codes = figs._tile(np.stack([broad, sharp]), 64)
        assert fractions[broad_codes].max() <= 1.0 / n * 1.1  # as dim as its weights
        # A one-hot diagonal pooled into 64 cells still shows its full weight share per cell.
        assert fractions[sharp_codes].max() >= min(1.0, 64 / n) * 0.9
        assert fractions[sharp_codes].max() > 5 * fractions[broad_codes].max()


def test_thumbnail_codes_colour_linear_and_log_alike():
    """A tile's pixels are log codes of weight / max, whatever the colours: linear and log colour
    differ only in the palette, and each code's linear colour is the scale at its weight."""
    from plotly.colors import sample_colorscale

    matrix = np.array([[1.0, 0.5, 0.1], [0.01, 0.001, 0.0001], [0.0, 0.25, 0.75]])
    codes = figs._tile(matrix, 3)
    assert codes[0, 0] == figs.TILE_CODES and codes[2, 0] == 0 and codes[1, 2] == 0  # max; zero; under 0.001
    assert codes[1, 1] == 1  # exactly the floor
    linear, log = figs.tile_palette("Viridis", False), figs.tile_palette("Viridis", True)
    assert _rgb(sample_colorscale("Viridis", [0.5])[0]) == pytest.approx(tuple(int(c) for c in linear[codes[0, 1]]),
                                                                         abs=3)
    shade = (np.log10(0.5) + 3) / 3  # where log colour puts half the maximum
    assert _rgb(sample_colorscale("Viridis", [shade])[0]) == pytest.approx(tuple(int(c) for c in log[codes[0, 1]]),
                                                                           abs=3)
