"""The positional figures hold the right numbers, escape user text and stay small."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from apptest import array
from PIL import Image

from encoder.geometry import cosine_similarity
from encoder.positional import (
    decompose_input,
    describe_similarity,
    similarity_by_offset,
    sinusoidal_table,
)
from figures import positional as figures
from figures.common import SIGNED_LEVELS, figure_bytes

MAX_BYTES = 500_000


def parts_of(run):
    return decompose_input(run.token_embeddings, run.position_embeddings, run.segment_embeddings)

def spec(fig) -> dict:
    return json.loads(fig.to_json())


def png_values(source: str) -> np.ndarray:
    """Decode a signed palette PNG back to values in -1..1 (to within one colour step)."""
    image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    assert image.mode == "P"
    indices = np.asarray(image, dtype=np.float64)  # (R, C)
    return indices / (SIGNED_LEVELS - 1) * 2 - 1


STEP = 2 / (SIGNED_LEVELS - 1)


def test_sinusoid_heatmap_splits_sines_and_cosines():
    table = sinusoidal_table(40, 10)
    data = spec(figures.sinusoid_heatmap(table))["data"]
    images = [t for t in data if t["type"] == "image"]
    assert len(images) == 2
    sines, cosines = (png_values(t["source"]) for t in images)
    assert sines.shape == cosines.shape == (40, 5)
    np.testing.assert_allclose(sines, table[:, 0::2], atol=STEP / 2 + 1e-6)
    np.testing.assert_allclose(cosines, table[:, 1::2], atol=STEP / 2 + 1e-6)
    assert (images[0]["x0"], images[0]["dx"], images[1]["x0"], images[1]["dx"]) == (0, 2, 1, 2)
    bar = next(t for t in data if t["type"] == "scatter")["marker"]
    assert (bar["cmin"], bar["cmax"]) == (-1, 1)


def test_sinusoid_waves_hold_the_columns():
    table = sinusoidal_table(100, 384)
    fig = figures.sinusoid_waves(table, [4, 5])
    traces = spec(fig)["data"]
    assert [t["name"] for t in traces] == ["dim 4 (sin, wavelength ≈ 6.9)", "dim 5 (cos, wavelength ≈ 6.9)"]
    for trace, dim in zip(traces, (4, 5), strict=True):
        np.testing.assert_allclose(array(trace["y"]), table[:, dim], atol=1e-7)
        np.testing.assert_array_equal(array(trace["x"]), np.arange(100))
    assert spec(figures.sinusoid_waves(table, []))["data"] == []


def test_small_similarity_matrix_is_exact():
    sim = cosine_similarity(sinusoidal_table(30, 16))
    figure = spec(figures.similarity_figure(sim, "<b>x</b>"))
    trace = figure["data"][0]
    assert trace["type"] == "heatmap" and (trace["zmin"], trace["zmax"]) == (-1, 1)
    np.testing.assert_array_equal(array(trace["z"]), sim)
    assert figure["layout"]["title"]["text"] == "&lt;b&gt;x&lt;/b&gt;"


def test_large_similarity_matrix_is_an_image_on_the_same_scale(model):
    table = model.learned_position_table()  # (512, 384)
    sim = cosine_similarity(table)
    fig = figures.similarity_figure(sim, "learned")
    image = spec(fig)["data"][0]
    assert image["type"] == "image"
    np.testing.assert_allclose(png_values(image["source"]), sim, atol=STEP / 2 + 1e-6)
    assert figure_bytes(fig) < MAX_BYTES


def test_figure_sizes_at_full_length(model):
    table = sinusoidal_table(512, 384)
    sim = cosine_similarity(table)
    run = model.run("word " * 600)  # truncated to 512 tokens
    assert run.n_tokens == 512
    for fig in (figures.sinusoid_heatmap(table), figures.sinusoid_waves(table, range(8)),
                figures.similarity_figure(sim, "s"), figures.input_parts_figure(run, parts_of(run)),
                figures.similarity_by_distance_figure({"a": similarity_by_offset(sim)})):
        assert figure_bytes(fig) < MAX_BYTES


def test_similarity_by_distance_curves_and_escaped_names():
    sim = cosine_similarity(sinusoidal_table(50, 16))
    traces = spec(figures.similarity_by_distance_figure({"<i>model</i>": similarity_by_offset(sim)}))["data"]
    assert traces[0]["name"] == "&lt;i&gt;model&lt;/i&gt;"
    np.testing.assert_allclose(array(traces[0]["y"]), similarity_by_offset(sim), atol=1e-7)


def test_comparison_sentence_says_what_the_numbers_say(model):
    sinusoid = cosine_similarity(sinusoidal_table(512, 384))
    learned = cosine_similarity(model.learned_position_table())
    text = describe_similarity(similarity_by_offset(sinusoid), similarity_by_offset(learned))
    assert f"1 apart: {similarity_by_offset(sinusoid)[1]:.2f}" in text and "banded too" in text
    noise = cosine_similarity(np.random.default_rng(0).standard_normal((200, 384)))
    sin_curve, noise_curve = similarity_by_offset(sinusoid[:200, :200]), similarity_by_offset(noise)
    assert "no clear band" in describe_similarity(sin_curve, noise_curve)
    assert "1 apart" in describe_similarity(sin_curve[:2], noise_curve[:2])


def test_input_parts_keep_repeated_tokens_apart_and_escape_them(model):
    run = model.run("<b>the</b> the the", "and <i>the</i>")
    fig = figures.input_parts_figure(run, parts_of(run))
    traces = spec(fig)["data"]
    assert [t["name"] for t in traces] == ["token embedding", "position embedding", "segment embedding"]
    expected = parts_of(run)
    for k, trace in enumerate(traces):
        assert len(set(trace["x"])) == run.n_tokens  # one bar per position, even for equal tokens
        np.testing.assert_allclose(array(trace["y"]), expected.shares[:, k], atol=1e-7)
        np.testing.assert_allclose(array(trace["customdata"]).reshape(-1, 2)[:, 1], expected.cosines[:, k],
                                   atol=1e-7)
    labels = " ".join(traces[0]["x"]) + " ".join(spec(fig)["layout"]["xaxis"]["ticktext"])
    assert "<" not in labels and "&lt;" in labels
    np.testing.assert_allclose(sum(array(t["y"]) for t in traces), 1, rtol=1e-5)


@pytest.mark.parametrize("dims", [[0], [383], [10, 11, 200]])
def test_wave_labels_name_sin_or_cos(dims):
    names = [t["name"] for t in spec(figures.sinusoid_waves(sinusoidal_table(20, 384), dims))["data"]]
    for name, dim in zip(names, dims, strict=True):
        assert name.startswith(f"dim {dim} ({'sin' if dim % 2 == 0 else 'cos'}, wavelength ≈ ")
