"""The loader: bundled default, local folders, key variants, and clear refusals."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from checkpoints import hf_config, random_bert_weights, write_checkpoint
from safetensors.torch import save_file
from tokenizers import Tokenizer

from encoder import ModelLoadError, bundled_model_dir, load_model
from encoder.loading import download_from_hub


def test_bundled_model_loads_without_arguments(model):
    assert model.name == "all-MiniLM-L6-v2"
    c = model.config
    assert (c.n_layers, c.n_heads, c.d_model, c.vocab_size) == (6, 12, 384, 30522)
    assert (bundled_model_dir() / "model.safetensors").is_file()


def test_bundled_tokenizer_is_not_padded(model):
    assert model.run("Hi.").tokens == ["[CLS]", "hi", ".", "[SEP]"]


@pytest.fixture
def tiny(tmp_path):
    return write_checkpoint(tmp_path / "tiny")


def test_local_folder_loads(tiny):
    model = load_model(tiny)
    assert model.name == "tiny"
    assert model.run("the cat sat").attentions.shape == (2, 4, 5, 5)
    assert load_model(str(tiny)).name == "tiny"


def test_pickle_only_folder_is_refused(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config()))

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ModelLoadError, match="never unpickles"):
        load_model(folder)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "tokenizer.json"])
def test_missing_file_is_named(tiny, missing):
    (tiny / missing).unlink()
    with pytest.raises(ModelLoadError, match=missing.split(".")[0]):
        load_model(tiny)


def test_vocab_txt_is_enough_without_tokenizer_json(tiny):
    vocab = json.loads((tiny / "tokenizer.json").read_text())["model"]["vocab"]
    (tiny / "vocab.txt").write_text("\n".join(sorted(vocab, key=vocab.get)))
    (tiny / "tokenizer.json").unlink()
    assert load_model(tiny).run("the cat").tokens == ["[CLS]", "the", "cat", "[SEP]"]


def test_truncated_safetensors_is_a_clear_error(tiny):
    data = (tiny / "model.safetensors").read_bytes()
    (tiny / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated or corrupted"):
        load_model(tiny)


def test_garbage_safetensors_is_a_clear_error(tiny):
    (tiny / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        load_model(tiny)


def test_config_that_does_not_fit_the_weights(tiny):
    (tiny / "config.json").write_text(json.dumps(hf_config(hidden_size=64)))
    with pytest.raises(ModelLoadError, match="wrong shapes.*config.json implies"):
        load_model(tiny)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    weights = random_bert_weights(hf_config())
    del weights["encoder.layer.1.output.dense.weight"]
    weights["encoder.layer.7.strange.weight"] = torch.zeros(2)
    folder = write_checkpoint(tmp_path / "odd", weights=weights)
    with pytest.raises(ModelLoadError) as info:
        load_model(folder)
    message = str(info.value)
    assert "missing encoder.layer.1.output.dense.weight" in message
    assert "unexpected encoder.layer.7.strange.weight" in message


def test_tokenizer_bigger_than_the_vocabulary(tiny):
    Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json")).save(str(tiny / "tokenizer.json"))
    with pytest.raises(ModelLoadError, match="do not belong together"):
        load_model(tiny)


def test_unsupported_model_type(tiny):
    (tiny / "config.json").write_text(json.dumps(hf_config(model_type="no-such-family")))
    with pytest.raises(ModelLoadError, match="model_type .no-such-family."):
        load_model(tiny)


def test_config_that_is_not_json(tiny):
    (tiny / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json cannot be used"):
        load_model(tiny)


def test_sharded_checkpoint(tmp_path):
    weights = random_bert_weights(hf_config())
    folder = write_checkpoint(tmp_path / "sharded", weights=weights)
    (folder / "model.safetensors").unlink()
    keys = sorted(weights)
    shards = {"a.safetensors": keys[: len(keys) // 2], "b.safetensors": keys[len(keys) // 2:]}
    for name, names in shards.items():
        save_file({k: weights[k] for k in names}, str(folder / name))
    index = {"weight_map": {k: name for name, names in shards.items() for k in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert load_model(folder).run("the dog").n_tokens == 4


@pytest.mark.parametrize("source", ["../../etc/passwd", "org/na me", "org/name/extra", "/no/such/dir",
                                    "http://example.com/x", "org/..", "-org/name", "org/a..b"])
def test_bad_sources_are_refused_before_any_request(source):
    with pytest.raises(ModelLoadError, match="neither an existing folder|No model folder|not a Hub id"):
        load_model(source)


def test_offline_hub_fetch_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="Could not fetch 'someone/some-bert'"):
        download_from_hub("someone/some-bert")
