"""Hostile models (issue 16, findings 1, 3 and 9): config files that promise giant models, weights
files that lie in their headers, and Hub repositories served by a fake Hub on loopback. Each is
refused with one ModelLoadError sentence that names the model, never a server path, before
anything large is allocated or downloaded."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from checkpoints import hf_config, write_checkpoint
from torch import nn

from encoder import ModelLoadError, load_model
from encoder.loading import LoadLimits, download_from_hub, load_folder
from encoder.modules import EncoderLayer

SHA = "0123456789abcdef0123456789abcdef01234567"  # the fake Hub's one commit
BIG = 1_000_000  # elements: a tensor this large outside the meta device is an allocation we should not make


# ---------------------------------------------------------------- spies


@pytest.fixture
def allocations(monkeypatch):
    """The shapes of every large weight created off the meta device while the test runs.

    torch's memory cannot be read off the process (RSS is shared by every test), so the spy
    watches where weights are made: `Encoder(config)` on the CPU creates its Linear and Embedding
    weights there, while building on the meta device creates none.
    """
    made: list[tuple[int, ...]] = []
    for cls in (nn.Linear, nn.Embedding):
        original = cls.__init__

        def spy(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            if not self.weight.is_meta and self.weight.numel() >= BIG:
                made.append(tuple(self.weight.shape))

        monkeypatch.setattr(cls, "__init__", spy)
    return made


@pytest.fixture
def layers_built(monkeypatch):
    """How many EncoderLayers are constructed (on any device); stops a runaway build after 200."""
    count = [0]
    original = EncoderLayer.__init__

    def spy(self, *args, **kwargs):
        count[0] += 1
        if count[0] > 200:
            raise AssertionError("more than 200 layers were being built")
        original(self, *args, **kwargs)

    monkeypatch.setattr(EncoderLayer, "__init__", spy)
    return count


def refusal(source, **kwargs) -> str:
    """The message load_model refuses `source` with (anything but a ModelLoadError fails the test)."""
    with pytest.raises(ModelLoadError) as caught:
        load_model(source, **kwargs)
    return str(caught.value)


def assert_no_path(message: str, *paths: Path) -> None:
    for path in paths:
        assert str(path) not in message, message
    assert "/tmp" not in message and "/srv" not in message, message


# ---------------------------------------------------------------- hostile folders


def folder_with(tmp_path: Path, config: dict | str, name: str = "hostile") -> Path:
    """A tiny valid checkpoint (config 32 wide, 2 layers) whose config.json is then replaced."""
    folder = write_checkpoint(tmp_path / name)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return folder


def test_a_wide_config_with_tiny_weights_is_refused_before_anything_is_allocated(tmp_path, allocations):
    folder = folder_with(tmp_path, hf_config(hidden_size=4096, num_attention_heads=64, intermediate_size=16384))
    message = refusal(folder)
    assert "do not match config.json" in message and "4096" in message
    assert allocations == [], "weights were allocated for the config's shapes before checking the file"
    assert_no_path(message, tmp_path)


def test_ten_thousand_layers_are_refused_before_any_layer_is_built(tmp_path, layers_built):
    folder = folder_with(tmp_path, hf_config(num_hidden_layers=10_000))
    message = refusal(folder)
    assert "10,000 layers" in message and "96" in message and message.startswith("hostile has")
    assert layers_built[0] == 0


@pytest.mark.parametrize("overrides,said", [
    ({"vocab_size": 400_000}, "400,000 tokens in its vocabulary"),
    ({"max_position_embeddings": 100_000}, "100,000 positions"),
    ({"hidden_size": 65536, "num_attention_heads": 64}, "65,536 as its width"),
    ({"intermediate_size": 100_000}, "100,000 as its feed-forward width"),
    ({"num_attention_heads": 256, "hidden_size": 1024}, "256 attention heads"),
])
def test_sizes_over_the_caps_are_refused_from_the_config_alone(tmp_path, allocations, overrides, said):
    message = refusal(folder_with(tmp_path, hf_config(**overrides)))
    assert said in message, message
    assert allocations == []
    assert_no_path(message, tmp_path)


def test_too_many_parameters_are_refused_even_within_each_cap(tmp_path, allocations):
    # 96 layers of 8192 × 32768 are each within their caps, but 96 × 0.8 billion parameters are not
    config = hf_config(num_hidden_layers=96, hidden_size=8192, num_attention_heads=64, intermediate_size=32768)
    message = refusal(folder_with(tmp_path, config))
    assert "billion parameters" in message and "GB as float32" in message
    assert allocations == []


def test_tighter_limits_from_the_caller(tmp_path):
    folder = write_checkpoint(tmp_path / "tiny")
    assert load_model(folder).config.n_layers == 2
    with pytest.raises(ModelLoadError, match="2 layers, more than the 1 Headlight loads"):
        load_folder(folder, limits=LoadLimits(max_layers=1))
    with pytest.raises(ModelLoadError, match=r"million parameters \(0 MB as float32\), more than the 0.0 million"):
        load_model(folder, limits=LoadLimits(max_parameters=1000))


@pytest.mark.parametrize("overrides,said", [
    ({"vocab_size": 10**30}, "about 10^30 tokens in its vocabulary"),  # a TypeError from torch's C++ before
    ({"num_hidden_layers": 10**5000}, "config.json cannot be used: Exceeds the limit"),  # json refuses 4300+ digits
    ({"num_hidden_layers": 10**100}, "about 10^100 layers"),
    ({"num_hidden_layers": True}, "num_hidden_layers must be a whole number"),
    ({"hidden_size": "32"}, "hidden_size must be a whole number"),
    ({"hidden_size": 32.5}, "hidden_size must be a whole number"),
    ({"num_hidden_layers": -2}, "num_hidden_layers must be at least 1"),
    ({"layer_norm_eps": float("nan")}, "layer_norm_eps must be a finite number"),
    ({"layer_norm_eps": float("inf")}, "layer_norm_eps must be a finite number"),
    ({"layer_norm_eps": 0}, "layer_norm_eps must be a finite number above 0"),
    ({"hidden_dropout_prob": 1e400}, "hidden_dropout_prob"),
    ({"hidden_act": ["gelu"]}, "hidden_act"),
])
def test_config_values_are_checked_as_numbers(tmp_path, overrides, said):
    config = hf_config(**overrides)
    text = json.dumps(config).replace("Infinity", "1e400") if overrides.get("hidden_dropout_prob") else None
    if "num_hidden_layers" in overrides and isinstance(overrides["num_hidden_layers"], int) \
            and overrides["num_hidden_layers"] > 10**100:
        # json.dumps would refuse to write it (int to str conversion limit): write the digits by hand
        text = json.dumps(hf_config(num_hidden_layers=0)).replace('"num_hidden_layers": 0',
                                                                  '"num_hidden_layers": 1' + "0" * 5000)
    message = refusal(folder_with(tmp_path, text or config))
    assert said in message, message
    assert len(message) < 400 and "\n" not in message
    assert_no_path(message, tmp_path)


def test_a_deeply_nested_config_is_refused(tmp_path):
    message = refusal(folder_with(tmp_path, '{"model_type": "bert", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert "nested too deeply" in message
    assert_no_path(message, tmp_path)


def test_a_giant_config_file_is_not_read(tmp_path):
    config = json.dumps(hf_config()).replace("{", '{"padding": "' + "x" * (5 * 1024 * 1024) + '", ', 1)
    message = refusal(folder_with(tmp_path, config))
    assert "larger than 4 MB" in message


def _header_file(path: Path, header: dict | bytes, length: int | None = None, data: bytes = b"") -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


def test_a_header_claiming_a_huge_tensor_is_refused_unread(tmp_path, allocations):
    folder = write_checkpoint(tmp_path / "liar")
    _header_file(folder / "model.safetensors",
                 {"embeddings.word_embeddings.weight": {"dtype": "F32", "shape": [1_000_000, 1_000_000],
                                                        "data_offsets": [0, 16]}}, data=b"\0" * 16)
    message = refusal(folder)
    assert "model.safetensors of liar is not a readable safetensors file" in message
    assert allocations == []
    assert_no_path(message, tmp_path)


@pytest.mark.parametrize("length,said", [(2**62, "more than the 16,777,216 allowed"),
                                         (1000, "but the file has")])
def test_an_absurd_header_length_is_refused_before_reading(tmp_path, length, said):
    folder = write_checkpoint(tmp_path / "liar")
    _header_file(folder / "model.safetensors", b"{}", length=length)
    message = refusal(folder)
    assert said in message and "liar" in message
    assert_no_path(message, tmp_path)


def test_weights_stored_as_integers_are_refused(tmp_path):
    from checkpoints import random_bert_weights
    from safetensors.torch import save_file

    weights = random_bert_weights(hf_config())
    weights["encoder.layer.0.output.dense.bias"] = weights["encoder.layer.0.output.dense.bias"].to(torch.int32)
    folder = write_checkpoint(tmp_path / "ints")
    save_file(weights, str(folder / "model.safetensors"))
    assert "stored as I32" in refusal(folder)


def test_the_pre_training_heads_of_a_checkpoint_are_never_read(tmp_path, monkeypatch):
    from checkpoints import random_bert_weights
    from safetensors.torch import save_file

    weights = random_bert_weights(hf_config())
    weights["cls.predictions.decoder.weight"] = torch.zeros(29, 32)
    folder = write_checkpoint(tmp_path / "with-heads", weights=weights)
    save_file(weights, str(folder / "model.safetensors"))
    import encoder.loading.checkpoint as checkpoint

    read: list[str] = []
    original = checkpoint.read_tensors
    monkeypatch.setattr(checkpoint, "read_tensors", lambda entries, keys, name: read.extend(keys) or original(
        entries, keys, name))
    import encoder.loading as loading

    monkeypatch.setattr(loading, "read_tensors", checkpoint.read_tensors)
    assert load_model(folder).run("the cat").n_tokens == 4
    assert read and not any(k.startswith("cls.") for k in read)


def test_messages_name_the_model_not_the_folders_path(tmp_path):
    folder = write_checkpoint(tmp_path / "srv" / "models" / "tagger")
    (folder / "tokenizer.json").write_text("{broken")
    message = refusal(folder)
    assert message.startswith("The tokenizer of tagger cannot be read"), message
    assert_no_path(message, tmp_path)
    (folder / "tokenizer.json").unlink()
    (folder / "model.safetensors").unlink()
    assert refusal(folder) == "tagger has no model.safetensors."
    assert refusal(tmp_path / "srv" / "nothing-here") == "No model folder named “nothing-here”."


def test_an_unexpected_failure_becomes_one_sentence_without_a_path(tmp_path, monkeypatch):
    import encoder.loading as loading

    folder = write_checkpoint(tmp_path / "boom")

    def explode(*args, **kwargs):
        raise RuntimeError(f"[enforce fail at alloc_cpu.cpp:117] could not allocate in {folder}/model.safetensors\n"
                           "frame #0: c10::alloc_cpu")

    monkeypatch.setattr(loading, "build_encoder", explode)
    message = refusal(folder)
    assert message.startswith("boom could not be loaded (RuntimeError: ")
    assert "\n" not in message
    assert_no_path(message, tmp_path)


# ---------------------------------------------------------------- the transformers adapter

transformers = pytest.importorskip("transformers", reason="decoders load through transformers")


def gpt2_folder(tmp_path: Path, **overrides) -> Path:
    """A tiny GPT-2 (2 layers, 32 wide) with its tokenizer, whose config.json then gets `overrides`."""
    from checkpoints import tiny_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path / "gpt"
    config = GPT2Config(vocab_size=tiny_tokenizer().get_vocab_size(), n_embd=32, n_layer=2, n_head=4, n_positions=40)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tiny_tokenizer().save(str(folder / "tokenizer.json"))
    data = json.loads((folder / "config.json").read_text())
    data.update(overrides)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("overrides,said", [
    ({"n_embd": 65536, "n_head": 64}, "65,536 as its width"),
    ({"n_layer": 10_000_000}, "10,000,000 layers"),
    ({"n_positions": 10**6}, "1,000,000 positions"),
    ({"vocab_size": 10**30}, "tokens in its vocabulary"),
    ({"n_layer": 90, "n_embd": 8192, "n_head": 64}, "billion parameters"),
])
def test_a_wide_gpt2_is_refused_before_transformers_builds_it(tmp_path, overrides, said, allocations):
    message = refusal(gpt2_folder(tmp_path, **overrides))
    assert said in message, message
    assert allocations == []
    assert_no_path(message, tmp_path)


def test_a_gpt2_still_loads(tmp_path):
    assert load_model(gpt2_folder(tmp_path)).run("the cat sat").attentions.shape[:2] == (2, 4)


# ---------------------------------------------------------------- a fake Hub on loopback


class FakeHub:
    """The three endpoints huggingface_hub 2.4 calls: the repository listing with sizes
    (GET /api/models/<repo>?blobs=True, for model_info(files_metadata=True)), and HEAD then GET
    /<repo>/resolve/<commit>/<file> (hf_hub_download). `listed` overrides a file's listed size."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.listed: dict[tuple[str, str], int] = {}
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_HEAD(self):
                hub.serve(self, body=False)

            def do_GET(self):
                hub.serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, repo: str, folder: Path, **listed: int) -> None:
        self.repos[repo] = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self.listed.update({(repo, name.replace("_", ".")): size for name, size in listed.items()})

    def fetched(self, repo: str) -> list[str]:
        """The files of `repo` whose contents were requested (GET), in order."""
        prefix = f"GET /{repo}/resolve/{SHA}/"
        return [r.removeprefix(prefix) for r in self.requests if r.startswith(prefix)]

    def serve(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = handler.path.split("?")[0]
        self.requests.append(f"{handler.command} {path}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) == 4:
            repo = "/".join(parts[2:])
            if repo not in self.repos:
                return self.reply(handler, 404, b'{"error": "Repository not found"}', body)
            siblings = [{"rfilename": name, "size": self.listed.get((repo, name), len(data)),
                         "blobId": hashlib.sha1(data).hexdigest()} for name, data in self.repos[repo].items()]
            listing = {"id": repo, "modelId": repo, "sha": SHA, "private": False, "siblings": siblings}
            return self.reply(handler, 200, json.dumps(listing).encode(), body)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, name = "/".join(parts[:2]), "/".join(parts[4:])
            data = self.repos.get(repo, {}).get(name)
            if data is None:
                return self.reply(handler, 404, b"", body)
            headers = {"X-Repo-Commit": SHA, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            return self.reply(handler, 200, data, body, headers)
        return self.reply(handler, 404, b"", body)

    @staticmethod
    def reply(handler, status: int, data: bytes, body: bool, headers: dict | None = None) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A fake Hub at HF_ENDPOINT, online mode for this test only, and the cache under tmp_path."""
    import huggingface_hub.constants

    fake = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read once, at import
    monkeypatch.setenv("HEADLIGHT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HEADLIGHT_HUB_MAX_MB", raising=False)
    monkeypatch.delenv("HEADLIGHT_HUB_CACHE_MB", raising=False)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_a_good_repository_loads_from_the_fake_hub(hub, tmp_path):
    hub.add("org/tiny", write_checkpoint(tmp_path / "src"))
    model = load_model("org/tiny")
    assert model.name == "org/tiny" and model.run("the cat").n_tokens == 4
    assert hub.fetched("org/tiny")[0] == "config.json"  # the config first, checked before the weights
    assert set(hub.fetched("org/tiny")) == {"config.json", "model.safetensors", "tokenizer.json"}
    assert (tmp_path / "cache" / "hub" / "models--org--tiny").is_dir()


@pytest.mark.parametrize("overrides,said", [
    ({"hidden_size": 65536, "num_attention_heads": 64}, "65,536 as its width"),
    ({"num_hidden_layers": 10_000_000}, "10,000,000 layers"),
    ({"vocab_size": 10**30}, "about 10^30 tokens"),
    ({"layer_norm_eps": float("nan")}, "layer_norm_eps"),
])
def test_a_hostile_config_on_the_hub_costs_only_its_config(hub, tmp_path, overrides, said, allocations):
    hub.add("evil/model", folder_with(tmp_path, hf_config(**overrides)))
    message = refusal("evil/model")
    assert said in message and "evil/model" in message, message
    assert hub.fetched("evil/model") == ["config.json"]  # never the weights
    assert allocations == []
    assert_no_path(message, tmp_path)


def test_a_nested_config_on_the_hub_is_refused(hub, tmp_path):
    hub.add("evil/nested", folder_with(tmp_path, '{"model_type": "bert", "x": ' + "[" * 50_000 + "]" * 50_000 + "}"))
    assert "nested too deeply" in refusal("evil/nested")
    assert hub.fetched("evil/nested") == ["config.json"]


def test_a_repository_over_the_byte_cap_is_refused_before_any_download(hub, tmp_path, monkeypatch):
    hub.add("big/model", write_checkpoint(tmp_path / "src"), model_safetensors=5 * 2**30)
    message = refusal("big/model")
    assert "5,120 MB" in message and "600 MB" in message, message
    assert hub.fetched("big/model") == []
    monkeypatch.setenv("HEADLIGHT_HUB_MAX_MB", "1")  # the operator's setting, read at each fetch
    hub.add("mid/model", write_checkpoint(tmp_path / "src2"), model_safetensors=2 * 2**20)
    assert "more than the 1 MB" in refusal("mid/model")
    with pytest.raises(ModelLoadError, match="more than the 0.00 MB"):
        download_from_hub("mid/model", max_bytes=100)
    assert hub.fetched("mid/model") == []


def test_a_listing_that_understates_the_sizes_keeps_nothing(hub, tmp_path):
    hub.add("sly/model", write_checkpoint(tmp_path / "src"), model_safetensors=10)
    with pytest.raises(ModelLoadError, match="sent .* more than its listing said"):
        download_from_hub("sly/model", max_bytes=20_000)
    assert not (tmp_path / "cache" / "hub" / "models--sly--model").exists()


def test_the_hub_cache_evicts_the_least_recently_used_repository(hub, tmp_path):
    for name in ("a", "b", "c"):
        hub.add(f"org/{name}", write_checkpoint(tmp_path / name, seed=ord(name)))
    cache = tmp_path / "hubcache"
    budget = int(2.5 * sum(len(data) for data in hub.repos["org/a"].values()))  # room for two repositories
    for name in ("a", "b", "a", "c"):  # a is used again after b, so b is the least recently used
        download_from_hub(f"org/{name}", cache_dir=cache, cache_budget=budget)
    kept = sorted(p.name for p in cache.glob("models--*"))
    assert kept == ["models--org--a", "models--org--c"]


def test_an_unknown_repository_is_a_clear_error(hub):
    assert "Could not fetch 'org/missing'" in refusal("org/missing")


# ---------------------------------------------------------------- the app


def test_the_hub_is_off_unless_the_operator_allows_it(monkeypatch):
    import sources

    monkeypatch.delenv("HEADLIGHT_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HEADLIGHT_HUB_MODELS", raising=False)
    assert not sources.hub_allowed()
    with pytest.raises(ModelLoadError, match="does not fetch models from the Hugging Face Hub"):
        sources.resolve_source("hub:org/name")
    monkeypatch.setenv("HEADLIGHT_HUB_MODELS", "org/listed, trusted/*")
    assert sources.hub_allowed()
    assert sources.resolve_source("hub:org/listed") == "org/listed"
    assert sources.resolve_source("hub:Trusted/anything") == "Trusted/anything"
    with pytest.raises(ModelLoadError, match="only the Hub models its operator listed"):
        sources.resolve_source("hub:org/other")
    monkeypatch.setenv("HEADLIGHT_ALLOW_HUB", "0")  # an offline server: the switch wins over the list
    assert not sources.hub_allowed()
    monkeypatch.setenv("HEADLIGHT_ALLOW_HUB", "1")
    monkeypatch.delenv("HEADLIGHT_HUB_MODELS")
    assert sources.resolve_source("hub:org/other") == "org/other"


def _open(model: str):
    from apptest import ROOT, TIMEOUT, messages
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"model": model})
    at.session_state["text"] = "Dogs bark."
    at.run()
    return at, messages(at).replace("\\", "")


def test_a_hub_link_on_a_server_without_the_hub(monkeypatch, hub):
    monkeypatch.delenv("HEADLIGHT_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HEADLIGHT_HUB_MODELS", raising=False)
    at, said = _open("hub:org/x")
    assert not at.exception, [e.message for e in at.exception]
    assert "Hugging Face Hub" in said and "Traceback" not in said
    assert hub.requests == []


def test_a_hostile_hub_repository_through_the_app(monkeypatch, hub, tmp_path):
    hub.add("evil/wide", folder_with(tmp_path, hf_config(hidden_size=65536, num_attention_heads=64)))
    monkeypatch.setenv("HEADLIGHT_ALLOW_HUB", "1")
    at, said = _open("hub:evil/wide")
    assert not at.exception, [e.message for e in at.exception]
    assert "evil/wide has 65,536 as its width, more than the 8,192 Headlight loads." in said, said
    assert_no_path(said, tmp_path)
    assert hub.fetched("evil/wide") == ["config.json"]
