"""A sentence-embedding model's own output: its sentence embedding, and which tokens make two texts alike.

sentence-transformers turns a text into one vector with the pipeline in the model's modules.json:
Transformer → Pooling → (optionally) Normalize. all-MiniLM-L6-v2's is mean Pooling over every token,
[CLS] and [SEP] included (a single text has no padding), then Normalize; paraphrase-MiniLM-L3-v2's
is mean Pooling without Normalize. Its Transformer module reads at most `max_seq_length` tokens
(sentence_bert_config.json: 256 for all-MiniLM-L6-v2, 128 for paraphrase-MiniLM-L3-v2): a longer
text is cut to that many tokens, [CLS] and [SEP] included, BEFORE the forward pass. A Run reads up
to the model's positions (512), so for a longer text its hidden states are not the ones encode()
pools: `sentence_embedding` then runs the cut text again, and equals encode() at any length.

The pipeline is read from the package's own sentence-transformers files where it ships them, else
from its `BundledModel.sentence` entry; a model Headlight knows no pipeline for gets mean pooling,
normalised, with no truncation (`SentenceConfig.known` is False, and the page says so).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace

import numpy as np

from ..loading.bundled import BUNDLED, BundledModel, SentencePipeline, package_file
from ..loading.errors import ModelLoadError
from ..run import Model, Run


@dataclass(frozen=True)
class SentenceConfig:
    """How one model's sentence embedding is made, as sentence-transformers would make it."""

    pooling: str  # "mean" or "cls"
    normalize: bool
    max_seq_length: int | None  # None: no truncation known (the Run's own limit applies)
    source: str  # where this comes from, in words, for a caption
    known: bool = True  # False: a guess (mean, normalised, no truncation) for a model without a pipeline


UNKNOWN = SentenceConfig("mean", True, None, "no sentence-transformers configuration: mean pooling, normalised, "
                                             "no truncation", known=False)


def _bundled_by_name(model_name: str) -> BundledModel | None:
    """The bundled entry whose display name (what `Run.model_name` holds) or short name is `model_name`."""
    for entry in BUNDLED.values():
        if model_name in (entry.display_name, entry.name):
            return entry
    return None


def _read_files(entry: BundledModel, pipeline: SentencePipeline) -> SentenceConfig:
    """The pipeline from the package's own modules.json, 1_Pooling/config.json and sentence_bert_config.json."""
    folder = pipeline.files.rstrip("/")
    modules = json.loads(package_file(entry, f"{folder}/modules.json").read_text(encoding="utf-8"))
    types = [module["type"].rsplit(".", 1)[-1] for module in modules]
    pooling_path = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
    pooling_config = json.loads(package_file(entry, f"{folder}/{pooling_path}/config.json").read_text(encoding="utf-8"))
    modes = [mode for mode, flag in (("mean", "pooling_mode_mean_tokens"), ("cls", "pooling_mode_cls_token"))
             if pooling_config.get(flag)]
    if len(modes) != 1 or any(pooling_config.get(k) for k in pooling_config if k.startswith("pooling_mode_")
                              and k not in ("pooling_mode_mean_tokens", "pooling_mode_cls_token")):
        raise ValueError(f"{entry.display_name}'s pooling ({pooling_config}) is not one Headlight computes.")
    bert_config = json.loads(package_file(entry, f"{folder}/sentence_bert_config.json").read_text(encoding="utf-8"))
    return SentenceConfig(modes[0], "Normalize" in types, bert_config.get("max_seq_length"),
                          f"{entry.package}'s {folder}/sentence_bert_config.json and modules.json")


@functools.cache
def sentence_config(model_name: str) -> SentenceConfig | None:
    """The sentence-embedding pipeline of the model a Run names (`run.model_name`).

    None for a bundled model that is not a sentence-embedding model (a tagger, a decoder): it has
    no sentence embedding to show. `UNKNOWN` for a model Headlight has no entry for (a folder or a
    Hub id): mean pooling, normalised, no truncation, flagged `known=False`.
    """
    entry = _bundled_by_name(model_name)
    if entry is None:
        return UNKNOWN
    pipeline = entry.sentence
    if pipeline is None:
        return None
    if pipeline.files:
        try:
            return _read_files(entry, pipeline)
        except (ModelLoadError, OSError, KeyError, StopIteration, json.JSONDecodeError):
            pass  # the package is missing or damaged: fall back to the stated fields below
    return SentenceConfig(pipeline.pooling, pipeline.normalize, pipeline.max_seq_length,
                          pipeline.stated or f"{entry.display_name}'s entry in Headlight's model list")


def sentence_limit(run: Run) -> int | None:
    """How many tokens the sentence embedding reads for this run's text when that is fewer than the
    run holds (the model's configuration cuts it), else None."""
    config = sentence_config(run.model_name)
    if config is None or config.max_seq_length is None or run.n_tokens <= config.max_seq_length:
        return None
    return config.max_seq_length


def _truncated_tokens(run: Run, limit: int):
    """The run's tokens cut as sentence-transformers' tokenizer cuts them: the first limit − 1, then
    the closing separator (truncation "longest_first" on one text keeps [CLS] … [SEP])."""
    t = run.tokenized
    keep = [*range(limit - 1), len(t) - 1] if t.special[-1] else list(range(limit))

    def pick(values: list) -> list:
        return [values[i] for i in keep]

    return replace(t, tokens=pick(t.tokens), ids=pick(t.ids), segment_ids=pick(t.segment_ids),
                   word_ids=pick(t.word_ids), offsets=pick(t.offsets), special=pick(t.special), truncated=True,
                   n_tokens_before_truncation=max(t.n_tokens_before_truncation, len(t)))


def sentence_run(model: Model, run: Run) -> Run:
    """`run` itself when its text fits the model's sentence-transformers `max_seq_length`; else a Run of
    the text cut to that many tokens (a fresh forward pass: attention over the cut text differs),
    flagged `truncated`, whose `truncation_message()` names the limit."""
    limit = sentence_limit(run)
    if limit is None:
        return run
    if run.is_pair:
        raise ValueError("A sentence embedding reads one text, not a pair.")
    # The ids sentence-transformers reads, run as they are: re-tokenizing a text cut at a character
    # could split its last word differently. `_forward` is Model.run after tokenizing.
    return model._forward([_truncated_tokens(run, limit)], qkv=False)[0]


@functools.lru_cache(maxsize=2)
def _named_model(model_name: str) -> Model:
    from ..loading import load_model  # only when a too-long run comes without its model

    entry = _bundled_by_name(model_name)
    return load_model(entry.name if entry else model_name)


def _pool(run: Run, pooling: str) -> np.ndarray:
    hidden = run.hidden_states[-1].astype(np.float64)  # (T, D)
    return hidden[0] if pooling == "cls" else hidden.mean(axis=0)  # (D,)


def sentence_embedding(run: Run, model: Model | None = None) -> np.ndarray:
    """(D,) float64: the text's sentence embedding exactly as `SentenceTransformer.encode` makes it,
    at any length: pooled as the model's configuration says (mean, or [CLS]), normalised if it has a
    Normalize module, from a forward pass over at most `max_seq_length` tokens (see `sentence_run`;
    without `model`, the named bundled model is loaded to run the cut text).

    Raises ValueError for a model that makes no sentence embedding (a tagger, a decoder).
    """
    config = sentence_config(run.model_name)
    if config is None:
        raise ValueError(f"{run.model_name} is not a sentence-embedding model: it has no sentence embedding.")
    if sentence_limit(run) is not None:
        run = sentence_run(model or _named_model(run.model_name), run)
    pooled = _pool(run, config.pooling)
    return pooled / np.linalg.norm(pooled) if config.normalize else pooled


def sentence_similarity(run_a: Run, run_b: Run) -> float:
    """The cosine of the two runs' pooled last hidden states, as the runs are (pure: no forward pass).

    Pooled as the model's pipeline says (mean for a model without one); normalising does not change
    a cosine. For encode()'s number on texts longer than max_seq_length, pass `sentence_run`'s runs;
    the Head ablation page compares an intact and an ablated run of one text this way, for any model.
    """
    config = sentence_config(run_a.model_name)
    pooling = config.pooling if config is not None else "mean"
    a, b = _pool(run_a, pooling), _pool(run_b, pooling)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def similarity_contributions(run_a: Run, run_b: Run) -> tuple[np.ndarray, np.ndarray]:
    """Each token's share of the cosine: ((T_a,), (T_b,)) float64, each summing to the runs' cosine.

    Pass the runs the sentence embedding pools (`sentence_run`, for a text longer than the model's
    max_seq_length). With mean pooling, e_a = (1/T_a) Σ_i h_i and cos = e_a · ê_b / ‖e_a‖ =
    Σ_i (h_i / T_a) · ê_b / ‖e_a‖, so token i of A contributes (h_i / T_a) · ê_b / ‖e_a‖, and
    symmetrically for B. Mean pooling is linear, so this split is exact, not an approximation; a
    token with a negative share pulls the texts apart. Normalisation does not change the cosine.
    """
    pooled_a = run_a.hidden_states[-1].astype(np.float64).mean(axis=0)
    pooled_b = run_b.hidden_states[-1].astype(np.float64).mean(axis=0)
    unit_a, unit_b = pooled_a / np.linalg.norm(pooled_a), pooled_b / np.linalg.norm(pooled_b)
    hidden_a = run_a.hidden_states[-1].astype(np.float64)  # (T_a, D)
    hidden_b = run_b.hidden_states[-1].astype(np.float64)  # (T_b, D)
    share_a = hidden_a @ unit_b / (len(hidden_a) * np.linalg.norm(pooled_a))
    share_b = hidden_b @ unit_a / (len(hidden_b) * np.linalg.norm(pooled_b))
    return share_a, share_b
