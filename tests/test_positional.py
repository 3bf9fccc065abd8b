"""Known answers for the positional helpers: similarity, wavelengths, the input decomposition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from encoder.geometry import cosine_similarity
from encoder.positional import (
    decompose_input,
    similarity_by_offset,
    sinusoid_kind,
    sinusoid_wavelength,
    sinusoidal_table,
)


def test_sinusoid_similarity_depends_only_on_distance():
    sim = cosine_similarity(sinusoidal_table(64, 32))  # (64, 64)
    np.testing.assert_allclose(sim, sim.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(sim), 1, atol=1e-6)
    for k in (1, 5, 30):
        diagonal = np.diagonal(sim, k)
        np.testing.assert_allclose(diagonal, diagonal[0], atol=1e-5)  # a Toeplitz matrix
    # ⟨PE[i], PE[j]⟩ = Σ_f cos(ω_f (i - j)) and every row has norm² = d/2 (Vaswani et al. 2017, §3.5).
    rates = 10000.0 ** (-np.arange(0, 32, 2) / 32)
    assert sim[3, 10] == pytest.approx(np.cos(rates * 7).mean(), abs=1e-5)


def test_similarity_by_offset_averages_each_diagonal():
    matrix = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    np.testing.assert_allclose(similarity_by_offset(matrix), [5.0, 4.0, 3.0])
    sim = cosine_similarity(sinusoidal_table(20, 16))
    np.testing.assert_allclose(similarity_by_offset(sim), sim[0], atol=1e-5)


def test_wavelengths_follow_the_paper():
    assert sinusoid_wavelength(0, 384) == pytest.approx(2 * math.pi)
    assert sinusoid_wavelength(1, 384) == sinusoid_wavelength(0, 384)  # a sin/cos pair
    assert sinusoid_wavelength(192, 384) == pytest.approx(2 * math.pi * 100)
    assert (sinusoid_kind(4), sinusoid_kind(5)) == ("sin", "cos")
    with pytest.raises(ValueError):
        sinusoid_wavelength(384, 384)
    table = sinusoidal_table(200, 64)
    wavelength = sinusoid_wavelength(10, 64)  # PE[p, 2i] = sin(2π p / λ)
    assert table[0, 10] == 0 and abs(np.sin(2 * np.pi * 3 / wavelength) - table[3, 10]) < 1e-6


def test_decomposition_of_orthogonal_parts():
    token = np.array([[3.0, 0.0, 0.0]])
    position = np.array([[0.0, 4.0, 0.0]])
    parts = decompose_input(token, position)
    assert parts.names == ("token", "position")
    np.testing.assert_allclose(parts.shares, [[9 / 25, 16 / 25]], rtol=1e-6)
    np.testing.assert_allclose(parts.norms, [[3, 4]])
    np.testing.assert_allclose(parts.cosines, [[3 / 5, 4 / 5]], rtol=1e-6)  # x = (3, 4, 0)


def test_decomposition_with_segment_and_overlap():
    token = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    position = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    segment = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    parts = decompose_input(token, position, segment)
    assert parts.shares.shape == (3, 3) and parts.names[-1] == "segment"
    np.testing.assert_allclose(parts.shares[:2].sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(parts.shares[0], [1 / 3, 1 / 3, 1 / 3], rtol=1e-6)
    root5 = math.sqrt(5)  # x = (2, 1)
    np.testing.assert_allclose(parts.cosines[0], [2 / root5, 2 / root5, 1 / root5], rtol=1e-6)
    # Row 1: position points against the sum x = (1, 0): its cosine is -1, its share still positive.
    np.testing.assert_allclose(parts.shares[1], [4 / 5, 1 / 5, 0], rtol=1e-6)
    np.testing.assert_allclose(parts.cosines[1], [1, -1, 0], atol=1e-6)
    np.testing.assert_array_equal(parts.shares[2], 0)  # nothing at all: no shares, no NaN
    assert np.isfinite(parts.cosines).all()


def test_decomposition_of_a_real_run(model):
    run = model.run("Position matters.", "Yes it does.")
    parts = decompose_input(run.token_embeddings, run.position_embeddings, run.segment_embeddings)
    assert parts.shares.shape == (run.n_tokens, 3)
    np.testing.assert_allclose(parts.shares.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(parts.norms[:, 1], np.linalg.norm(run.position_embeddings, axis=1),
                               rtol=1e-5)


def test_learned_table_of_the_bundled_model(model):
    table = model.learned_position_table()
    assert table.shape == (512, 384) and table.dtype == np.float32
    np.testing.assert_array_equal(table, model.encoder.embeddings.position.weight.detach().numpy())
    table[0] = 0  # a copy: writing to it leaves the shared model alone
    assert torch.count_nonzero(model.encoder.embeddings.position.weight[0]) > 0
    run = model.run("Two words.")
    np.testing.assert_array_equal(run.position_embeddings, model.learned_position_table()[: run.n_tokens])


def test_no_learned_table_for_sinusoidal_models():
    from encoder import Encoder, EncoderConfig, Model

    config = EncoderConfig.paper(vocab_size=50, d_model=32, n_heads=4, d_ff=64, n_layers=1, max_positions=16)
    assert Model(Encoder(config), tokenizer=None, name="paper").learned_position_table() is None
