"""The Embeddings figures hold the run's numbers, escape the text and keep repeated tokens apart."""

from __future__ import annotations

import base64
import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from encoder import geometry
from encoder.geometry import cosine_similarity
from figures import embeddings as figures
from figures.common import figure_bytes
from figures.labels import LABEL_EM_WIDTH, LABEL_LINE, NARROW_PLOT_PX, readable_labels

TEXT = "The cat sat on the mat because the mat was warm."


@pytest.fixture(scope="module")
def run(model):
    return model.run(TEXT)


@pytest.fixture(scope="module")
def pair(model):
    return model.run("Where is the station?", "Two blocks north.")


def scatter(run, depth, k=2, **options):
    return figures.depth_scatter(run, geometry.depth_projection(run, depth, k), depth, **options)


def path_figure(run, k_or_positions, positions=None):
    k, positions = (2, k_or_positions) if positions is None else (k_or_positions, positions)
    return figures.trajectory_figure(run, geometry.shared_pca(run.hidden_states, k), positions)


def cosine(run, depth, centred=False, **options):
    cosines = geometry.token_cosines(geometry.vectors_at_depth(run, depth), centred)
    return figures.cosine_figure(run, cosines, depth, centred, **options)


def norm_figure(run):
    return figures.norm_figure(run, geometry.vector_norms(run.hidden_states))


def traces_named(fig, name):
    return [trace for trace in fig.data if trace.name == name]


def all_strings(fig) -> list[str]:
    """Every text-like value the traces carry (labels, categories, names, hover data)."""
    found = []
    for trace in fig.data:
        for field in ("text", "x", "y", "customdata", "name"):
            value = getattr(trace, field, None)
            if isinstance(value, str):
                found.append(value)
            elif value is not None and not isinstance(value, np.ndarray):
                found.extend(v for v in value if isinstance(v, str))
    return found


# ---------------------------------------------------------------- (1) one depth, projected


@pytest.mark.parametrize("depth", ["token embedding", "embedding output", "layer 6"])
def test_scatter_points_are_the_pca_of_that_depth(run, depth):
    fig = scatter(run, depth)
    projection = geometry.pca(geometry.vectors_at_depth(run, depth), 2)
    for trace in fig.data:
        positions = list(trace.customdata)
        np.testing.assert_allclose(trace.x, projection.coordinates[positions, 0])
        np.testing.assert_allclose(trace.y, projection.coordinates[positions, 1])
    assert fig.layout.xaxis.title.text == f"PC1 ({projection.explained_ratio[0]:.0%} of variance)"
    assert fig.layout.yaxis.scaleanchor == "x"  # equal units: distances on screen are honest


def test_scatter_covers_every_token_once_and_marks_specials(run):
    fig = scatter(run, "layer 3")
    positions = sorted(p for trace in fig.data for p in trace.customdata)
    assert positions == list(range(run.n_tokens))
    (special,) = traces_named(fig, "special tokens")
    assert list(special.customdata) == [0, run.n_tokens - 1]
    assert special.marker.symbol == "diamond" and special.marker.color == figures.SPECIAL_COLOR
    (tokens,) = traces_named(fig, "tokens")
    assert list(tokens.hovertext) == run.tokens[1:-1]


def test_pair_text_b_gets_its_own_marker(pair):
    fig = scatter(pair, "embedding output")
    (b,) = traces_named(fig, "text B")
    assert all(pair.segment_ids[p] == 1 and not pair.special[p] for p in b.customdata)
    assert b.marker.symbol == "square"
    assert [t.name for t in fig.data] == ["text A", "text B", "special tokens"]


def test_scatter_in_3d(run):
    fig = scatter(run, "layer 1", 3)
    projection = geometry.pca(run.hidden_states[1], 3)
    assert {t.type for t in fig.data} == {"scatter3d"}
    for trace in fig.data:
        np.testing.assert_allclose(trace.z, projection.coordinates[list(trace.customdata), 2])
    assert fig.layout.scene.zaxis.title.text.startswith("PC3 (")


def written_labels(fig) -> list[tuple[float, float, str]]:
    """(x, y, label) of every label the scatter writes (the others live in the hover only)."""
    return [(x, y, text) for trace in fig.data for x, y, text in zip(trace.x, trace.y, trace.text, strict=True)
            if text]


def test_written_labels_never_overlap_in_a_400_px_chart_and_hover_names_every_point(model):
    run = model.run("The cat sat on the mat because the mat was warm, and the dog, which was cold, watched it "
                    "from the door for a long, long time before it walked over and lay down beside the cat.")
    fig = scatter(run, "token embedding")  # the raw table: repeated words share a point exactly
    written = written_labels(fig)
    assert 1 < len(written) < run.n_tokens  # some labels would overlap: those go to the hover
    hovered = sorted((p, h) for trace in fig.data for p, h in zip(trace.customdata, trace.hovertext, strict=True))
    assert hovered == list(enumerate(run.labels))
    xy = np.array([(x, y) for x, y, _ in written])
    span = np.ptp([(x, y) for trace in fig.data for x, y in zip(trace.x, trace.y, strict=True)], axis=0) * 1.1
    scale = min(NARROW_PLOT_PX[0] / span[0], NARROW_PLOT_PX[1] / span[1])  # px per unit in a 400 px chart
    widths = np.array([len(text) for _, _, text in written]) * figures.LABEL_PX * LABEL_EM_WIDTH
    for i in range(len(written)):
        for j in range(i):
            apart_x = abs(xy[i, 0] - xy[j, 0]) * scale * 2 >= widths[i] + widths[j]
            apart_y = abs(xy[i, 1] - xy[j, 1]) * scale >= figures.LABEL_PX * LABEL_LINE
            assert apart_x or apart_y, (written[i], written[j])


def test_words_are_labelled_before_special_tokens():
    xy = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])  # the first two would overlap
    shown = readable_labels(xy, ["[CLS]", "cat", "sat"], 10, order=[1, 2, 0])
    assert list(shown) == [False, True, True]
    assert list(readable_labels(xy, ["[CLS]", "cat", "sat"], 10)) == [True, False, True]


def test_a_long_text_still_labels_a_readable_few(model):
    run = model.run(" ".join(["word", "other", "thing"] * 200))
    assert run.n_tokens == 512
    assert 0 < len(written_labels(scatter(run, "layer 3"))) < 100


# ---------------------------------------------------------------- (2) paths


def test_paths_follow_the_shared_pca(run):
    positions = [0, 2, 5]
    fig = path_figure(run, positions)
    shared = geometry.shared_pca(run.hidden_states, 2).coordinates  # (L + 1, T, 2)
    background, *paths = fig.data
    assert len(background.x) == (run.n_layers + 1) * run.n_tokens
    assert [p.name for p in paths] == [f"{run.tokens[i]} ·{i}" for i in positions]
    for position, path in zip(positions, paths, strict=True):
        np.testing.assert_allclose(path.x, shared[:, position, 0])
        np.testing.assert_allclose(path.y, shared[:, position, 1])
        assert list(path.customdata) == geometry.hidden_depth_names(run.n_layers)
        assert path.text[-1] in (run.tokens[position], "") and not any(path.text[:-1])
    assert paths[0].text[-1] == run.tokens[0]  # the first path asked for is always labelled
    assert "all depths" in fig.layout.xaxis.title.text


def test_paths_ending_together_label_only_the_first_the_legend_names_both(run):
    shared = geometry.shared_pca(run.hidden_states, 2)
    coordinates = shared.coordinates.copy()
    coordinates[-1, 5] = coordinates[-1, 2]  # two paths end at one point: their labels would overlap
    fig = figures.trajectory_figure(run, dataclasses.replace(shared, coordinates=coordinates), [2, 5])
    first, second = fig.data[1:]
    assert (first.text[-1], second.text[-1]) == (run.tokens[2], "")
    assert (first.name, second.name) == (f"{run.tokens[2]} ·2", f"{run.tokens[5]} ·5")


def test_paths_in_3d_and_with_no_tokens(run):
    fig = path_figure(run, 3, [1])
    assert [t.type for t in fig.data] == ["scatter3d", "scatter3d"]
    assert len(path_figure(run, []).data) == 1  # the grey cloud alone


# ---------------------------------------------------------------- (3) cosine


@pytest.mark.parametrize("depth", ["token + position + segment", "layer 4"])
def test_cosine_heatmap_holds_the_exact_cosines(run, depth):
    fig = cosine(run, depth)
    (heatmap,) = fig.data
    expected = cosine_similarity(geometry.vectors_at_depth(run, depth))
    np.testing.assert_allclose(heatmap.z, expected, atol=1e-6)
    assert (heatmap.zmin, heatmap.zmax) == (-1.0, 1.0)
    assert "token %{y} → token %{x}" in heatmap.hovertemplate and "cosine" in heatmap.hovertemplate


def test_centred_cosine_removes_the_mean_token(run):
    (heatmap,) = cosine(run, "layer 6", centred=True).data
    vectors = run.hidden_states[6]
    np.testing.assert_allclose(heatmap.z, cosine_similarity(vectors - vectors.mean(axis=0)), atol=1e-5)


def test_repeated_tokens_stay_distinct(model):
    run = model.run("the the the the")
    (heatmap,) = cosine(run, "layer 2").data
    assert len(set(heatmap.x)) == len(set(heatmap.y)) == run.n_tokens == 6
    (norms,) = norm_figure(run).data
    assert len(set(norms.x)) == run.n_tokens
    paths = path_figure(run, [1, 2, 3]).data[1:]
    assert len({p.name for p in paths}) == 3


def test_large_matrices_are_sent_as_a_png(run):
    fig = cosine(run, "layer 2", exact_max_tokens=4)
    image = fig.data[0]
    assert image.type == "image" and image.source.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1])))
    assert png.size == (run.n_tokens, run.n_tokens)
    pixels = np.asarray(png.convert("RGB"))
    top = np.array([103, 0, 31])  # RdBu_r at +1: the diagonal (cos = 1)
    np.testing.assert_array_equal(pixels[3, 3], top)
    assert fig.data[1].marker.cmin == -1.0 and fig.data[1].marker.cmax == 1.0


# ---------------------------------------------------------------- (4) norms


def test_norm_heatmap_holds_every_length(run):
    (heatmap,) = norm_figure(run).data
    np.testing.assert_allclose(heatmap.z, np.linalg.norm(run.hidden_states, axis=-1), rtol=1e-6)
    assert list(heatmap.y) == ["embedding output"] + [f"layer {i}" for i in range(1, run.n_layers + 1)]


# ---------------------------------------------------------------- escaping and size


def test_html_looking_text_is_escaped_everywhere(model):
    run = model.run("<b>x</b> & <script>")
    assert "<" in run.tokens
    figs = [scatter(run, "layer 1"), path_figure(run, range(run.n_tokens)),
            cosine(run, "layer 1"), norm_figure(run)]
    for fig in figs:
        strings = all_strings(fig)
        assert any("&lt;" in s for s in strings)
        assert not any("<" in s or ">" in s for s in strings), strings
        ticks = list(fig.layout.xaxis.ticktext or [])
        assert not any("<" in t for t in ticks)


def test_figures_stay_small_at_512_tokens(model):
    run = model.run(" ".join(["word"] * 600))
    assert run.n_tokens == 512
    tracks = geometry.spread_positions(run.special)
    sizes = {
        "scatter": figure_bytes(scatter(run, "layer 3")),
        "scatter 3-D": figure_bytes(scatter(run, "layer 3", 3)),
        "paths": figure_bytes(path_figure(run, tracks)),
        "cosine": figure_bytes(cosine(run, "layer 3")),
        "norms": figure_bytes(norm_figure(run)),
    }
    assert sizes["cosine"] < 450_000, sizes
    assert all(size < 120_000 for name, size in sizes.items() if name != "cosine"), sizes
