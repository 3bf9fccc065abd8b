"""AppTests of issue 12's leftovers: the Positional page says which positions a model uses and draws a
rotary model's frequencies (from the adapter's `rotary_frequencies()`), and the Embeddings page's "Compare
with" draws a second model's tokens at the proportionally mapped depth (`encoder.compare`).

A tiny random Llama (RoPE) goes to a temporary models folder (HEADLIGHT_MODELS_DIR); the comparison skips,
with the pip command, when paraphrase-minilm-l3 is not installed.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from apptest import app_test, array, figure_specs

from encoder import load_model
from encoder.compare import compared_embeddings
from encoder.loading import BUNDLED, available_models

TEXT = "the cat sat on the mat"


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("second-model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADLIGHT_MODELS_DIR", str(root))
        yield root
    shutil.rmtree(root, ignore_errors=True)


def _tiny_llama(folder):
    from checkpoints import tiny_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tiny_tokenizer().get_vocab_size(), hidden_size=32, intermediate_size=48,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64, rope_theta=500.0, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3)
    LlamaForCausalLM(config).save_pretrained(folder)
    tiny_tokenizer().save(str(folder / "tokenizer.json"))
    return folder


def chart(at, start: str) -> dict:
    found = [spec for spec in figure_specs(at) if spec["layout"]["title"]["text"].startswith(start)]
    assert len(found) == 1, [spec["layout"]["title"]["text"] for spec in figure_specs(at)]
    return found[0]


def page_text(at) -> str:
    return "\n".join(str(e.value) for kind in ("text", "subheader", "info") for e in at.get(kind))


def test_positional_page_names_rotary_positions_and_draws_the_models_frequencies(models_folder):
    pytest.importorskip("transformers", reason="decoders run through transformers")
    folder = _tiny_llama(models_folder / "rope-llama")  # a name no other test caches a model under
    at = app_test("positional", text=TEXT, model_source="folder:rope-llama", model_kind="Models folder",
                  pos_positions=40)
    assert not at.exception
    assert "What this model uses (rope-llama): rotary" in page_text(at)
    frequencies = load_model(folder).rotary_frequencies()  # (d_head / 2,) = (4,)
    assert frequencies.shape == (4,)
    spec = chart(at, "Rotary frequencies")
    wavelength, angles = spec["data"][0], spec["data"][1:]
    np.testing.assert_allclose(array(wavelength["customdata"]), frequencies, rtol=1e-12)
    np.testing.assert_allclose(array(wavelength["y"]), 2 * np.pi / frequencies, rtol=1e-12)
    # theta_0 = 1 rad per position: position 4 has turned 4 rad, wrapped to 4 - 2 pi
    np.testing.assert_allclose(array(angles[0]["y"])[4], 4 - 2 * np.pi, atol=1e-6)
    positions = array(angles[-1]["x"])
    np.testing.assert_allclose(array(angles[-1]["y"]), positions * frequencies[-1], atol=1e-6)  # slow: no wrap
    assert len(positions) == 40


def test_positional_page_says_a_native_model_uses_a_learned_table():
    at = app_test("positional", text=TEXT)
    assert not at.exception
    assert "What this model uses (all-MiniLM-L6-v2): learned" in page_text(at)
    assert not [spec for spec in figure_specs(at) if spec["layout"]["title"]["text"].startswith("Rotary")]


def test_embeddings_compare_with_draws_the_second_model_at_the_mapped_depth(model):
    if not any(info.name == "paraphrase-minilm-l3" and info.installed for info in available_models()):
        pytest.skip(f"paraphrase-minilm-l3 is not installed: {BUNDLED['paraphrase-minilm-l3'].install_command}")
    at = app_test("embeddings", text=TEXT, emb_depth="layer 4")
    assert not at.exception
    assert at.selectbox(key="emb_compare").value is None
    assert len(figure_specs(at)) == 4  # scatter, cosine, trajectories, norms: nothing of a second model
    at.selectbox(key="emb_compare").set_value("paraphrase-minilm-l3").run()
    assert not at.exception
    run_a, run_b = model.run(TEXT), load_model("paraphrase-minilm-l3").run(TEXT)
    expected = compared_embeddings(run_a, run_b, 4)  # layer 4 of 6 -> layer 2 of 3
    assert expected.depth_b == 2
    spec = chart(at, "B · paraphrase-MiniLM-L3-v2 · tokens after layer 2")
    drawn = np.concatenate([np.stack([array(t["x"]), array(t["y"])], axis=1) for t in spec["data"]])  # (T, 2)
    np.testing.assert_allclose(np.sort(drawn, axis=0), np.sort(expected.projection_b.coordinates, axis=0),
                               atol=1e-5)
    chart(at, "A · all-MiniLM-L6-v2 · tokens after layer 4")


def test_attention_compare_with_draws_the_second_models_head_at_the_mapped_layer(model):
    if not any(info.name == "paraphrase-minilm-l3" and info.installed for info in available_models()):
        pytest.skip(f"paraphrase-minilm-l3 is not installed: {BUNDLED['paraphrase-minilm-l3'].install_command}")
    at = app_test(None, text=TEXT, layer=5, head=7)
    assert not at.exception
    assert at.selectbox(key="att_compare").value is None
    assert not [spec for spec in figure_specs(at) if spec["layout"]["title"]["text"].startswith("B · ")]
    at.selectbox(key="att_compare").set_value("paraphrase-minilm-l3").run()
    assert not at.exception
    run_a, run_b = model.run(TEXT), load_model("paraphrase-minilm-l3").run(TEXT)
    np.testing.assert_array_equal(array(figure_specs(at)[0]["data"][0]["z"]), run_a.attentions[4, 6])  # A unchanged
    z = array(chart(at, "B · paraphrase-MiniLM-L3-v2 · layer 3, head 7")["data"][0]["z"])  # 5 of 6 -> 3 of 3
    np.testing.assert_allclose(z, run_b.attentions[2, 6], atol=1e-5)
    assert "layer 5 of 6 here faces layer 3 of 3 there" in " ".join(str(c.value) for c in at.caption)
