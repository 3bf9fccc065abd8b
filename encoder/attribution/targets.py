"""Targets: the one number an attribution explains, each a differentiable function of the encoder's output.

A `Target` maps a batched pass (`Forwarded`: hidden states (B, T, D), mask, target positions) to
(B,) numbers. Each one names the model it belongs to, the position it reads (None: the whole text,
pooled), and how the attention methods should read a row of attention for it (`readout`).

    out = class_probability(default_sentence_classifier(model), "positive")
    out = tag_probability(tagger, "B-PER", position=3)
    out = model_tag_probability(rampart, "B-GIVENNAME", position=3)
    out = similarity(model, "A cat sat on the mat.")     # cosine of the text with this one
    out = next_token_probability(smollm2, " Paris")
    out = lab_output(result.model, position=2)            # the Lab's class probability at one position
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .backend import Forwarded, Prepared

TargetFunction = Callable[[Forwarded], torch.Tensor]  # (B,) numbers, differentiable


@dataclass(frozen=True, eq=False)
class Target:
    """One output of one model. position: the token whose output is explained (None: the whole text,
    pooled; -1: the last token, as a decoder's next-token prediction reads it)."""

    name: str  # for a table or a caption: "P(positive)", "P(B-PER) at token 3"
    model: object  # the Model / TaskModel / TransformersModel the target reads
    function: TargetFunction
    position: int | None = None
    pooling: str = "mean"  # with position None: how the output pools tokens (the attention readout follows it)
    unit: str = "probability"  # what the number is, for captions
    binder: Callable[[Prepared], Target] | None = None  # a target that depends on the text: made per text

    def bind(self, prepared: Prepared) -> Target:
        """The target for one text (itself, unless it depends on the text)."""
        return self if self.binder is None else self.binder(prepared)

    def __call__(self, forwarded: Forwarded) -> torch.Tensor:
        return self.function(forwarded)

    def readout(self, mask: np.ndarray) -> np.ndarray:
        """(T,) weights over query rows: which rows of an attention map speak for this target (mean pooling:
        every real token alike; [CLS] pooling: row 0; a token target: its row; a next token: the last)."""
        n = len(mask)
        row = np.zeros(n)
        if self.position is None:
            if self.pooling == "cls":
                row[0] = 1.0
            else:
                row[:] = 1.0 / n
        else:
            row[self.position % n] = 1.0
        return row

    def resolve_position(self, n_tokens: int) -> int | None:
        """The target's position in an n-token text; ValueError if it lies outside."""
        if self.position is None:
            return None
        if not -n_tokens <= self.position < n_tokens:
            raise ValueError(f"{self.name} reads token {self.position}, but the text has {n_tokens} tokens.")
        return self.position % n_tokens


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, D)


def _at(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B,) -> (B, D): each row's hidden state at its target position."""
    return hidden[torch.arange(hidden.shape[0]), positions]


def _label_index(labels, label: str, what: str) -> int:
    if label not in labels:
        raise ValueError(f"{label!r} is not one of the {what}'s labels: {', '.join(labels)}.")
    return list(labels).index(label)


def class_probability(classifier, label: str) -> Target:
    """The sentence classifier's probability for `label` (softmax of its linear layer on the mean-pooled
    hidden state it reads): `encoder.heads.SentenceClassifier`."""
    index = _label_index(classifier.labels, label, "classifier")
    layer, linear = classifier.layer, classifier.linear

    def function(f: Forwarded) -> torch.Tensor:
        logits = linear(_mean_pool(f.hidden_states[layer], f.mask))  # (B, C)
        return torch.softmax(logits, dim=-1)[:, index]

    return Target(f"P({label})", classifier.model, function)


def tag_probability(tagger, label: str, position: int) -> Target:
    """The token tagger's probability for `label` at token `position` (`encoder.heads.TokenTagger`)."""
    index = _label_index(tagger.labels, label, "tagger")
    layer, linear = tagger.layer, tagger.linear

    def function(f: Forwarded) -> torch.Tensor:
        return torch.softmax(linear(_at(f.hidden_states[layer], f.positions)), dim=-1)[:, index]

    return Target(f"P({label}) at token {position}", tagger.model, function, position=position)


def model_tag_probability(model, label: str, position: int) -> Target:
    """A token-classification model's own head (Rampart's): P(label) at token `position`."""
    if getattr(model, "token_classifier", None) is None:
        raise ValueError(f"{model.name} has no token-classification head.")
    index = _label_index(model.id2label, label, model.name)
    head = model.token_classifier

    def function(f: Forwarded) -> torch.Tensor:
        return torch.softmax(head(_at(f.hidden_states[-1], f.positions)), dim=-1)[:, index]

    return Target(f"P({label}) at token {position}", model, function, position=position)


def similarity(model, text_b: str) -> Target:
    """The cosine between the explained text's sentence embedding and `text_b`'s (held fixed): which
    tokens of the explained text make the two alike. Pooled as the model's sentence-transformers
    pipeline says (`encoder.analysis.sentence_config`); `text_b` is cut at the model's positions."""
    from ..analysis.sentence import sentence_config, sentence_embedding

    config = sentence_config(model.name)
    if config is None:
        raise ValueError(f"{model.name} is not a sentence-embedding model: it has no sentence embedding.")
    other = torch.from_numpy(sentence_embedding(model.run(text_b, qkv=False), model)).float()  # (D,)
    other = other / other.norm()

    def function(f: Forwarded) -> torch.Tensor:
        hidden = f.hidden_states[-1]
        pooled = hidden[:, 0] if config.pooling == "cls" else _mean_pool(hidden, f.mask)  # (B, D)
        return (pooled @ other) / pooled.norm(dim=-1).clamp_min(1e-12)

    return Target("cosine with text B", model, function, pooling=config.pooling, unit="cosine")


def next_token_probability(model, token: str | int) -> Target:
    """A decoder's probability that the next token (after the text's last) is `token` (a piece of its
    vocabulary, or an id): softmax of its output layer at the last position."""
    hf = getattr(model, "model", None)
    if hf is None or not callable(getattr(hf, "get_output_embeddings", None)):
        raise ValueError(f"{model.name} is not a decoder run through transformers: it predicts no next token.")
    head = hf.get_output_embeddings()
    if head is None:
        raise ValueError(f"{model.name} has no output layer to read a next-token probability from.")
    if isinstance(token, int):
        index, shown = token, model.tokenizer.decode([token])
    else:
        ids = model.tokenizer.encode(token).ids
        pieces = [i for i, s in zip(ids, model.tokenizer.encode(token).special, strict=True) if not s]
        if len(pieces) != 1:
            raise ValueError(f"{token!r} is {len(pieces)} tokens for {model.name}; give one token.")
        index, shown = pieces[0], token

    def function(f: Forwarded) -> torch.Tensor:
        return torch.softmax(head(_at(f.hidden_states[-1], f.positions)), dim=-1)[:, index]

    return Target(f"P(next = {shown!r})", model, function, position=-1)


def lab_output(task_model, position: int, symbol: str | None = None) -> Target:
    """A Lab model's probability for output `symbol` at `position`; None: the symbol the model itself
    predicts there for each text, chosen on the unperturbed input and held fixed (`Target.bind`)."""
    classifier = task_model.classifier
    symbols = task_model.task.output_symbols
    if symbol is None:
        def bind(prepared: Prepared) -> Target:
            with torch.no_grad():
                predicted = int(task_model(prepared.ids)[0, position % prepared.n_tokens].argmax())
            return lab_output(task_model, position, symbols[predicted])

        return Target(f"P(predicted output) at position {position}", task_model, _unbound, position=position,
                      binder=bind)
    index = _label_index(symbols, symbol, "task")

    def function(f: Forwarded) -> torch.Tensor:
        return torch.softmax(classifier(_at(f.hidden_states[-1], f.positions)), dim=-1)[:, index]

    return Target(f"P({symbol}) at position {position}", task_model, function, position=position)


def _unbound(f: Forwarded) -> torch.Tensor:
    raise ValueError("This target depends on the text: bind it first (Target.bind).")


TARGET_KINDS = {
    "classifier": "the sentiment classifier's probability for a label",
    "tagger": "the NER tagger's probability for a tag at a token",
    "model_tags": "the model's own tag probability at a token",
    "similarity": "the cosine with text B (sentence embedding)",
    "next_token": "the probability of the next token",
}


def available_targets(model) -> dict[str, str | None]:
    """Each target kind of `TARGET_KINDS` -> None where `model` offers it, else why not (one sentence)."""
    from ..heads.features import features_unavailable
    from ..run import Model

    native = isinstance(model, Model)
    decoder = not native and callable(getattr(getattr(model, "model", None), "get_output_embeddings", None)) \
        and not getattr(model.config, "encoder_decoder", False)
    reasons: dict[str, str | None] = {}
    reasons["classifier"] = features_unavailable(model) if (native or decoder) else "it reads no text features"
    reasons["tagger"] = None if native else "the tagger is trained on native encoders only"
    reasons["model_tags"] = None if native and model.token_classifier is not None else \
        "it has no token-classification head"
    if native:
        from ..analysis.sentence import sentence_config

        reasons["similarity"] = None if sentence_config(model.name) is not None else "it makes no sentence embedding"
    else:
        reasons["similarity"] = "it makes no sentence embedding"
    reasons["next_token"] = None if decoder else "it is not a decoder: it predicts no next token"
    return reasons


def most_probable_next_token(model, text: str) -> tuple[str, float]:
    """A decoder's most probable next token after `text` and its probability (to preselect a target)."""
    ids = torch.tensor([model.tokenizer.encode(text).ids])  # (1, T)
    with torch.inference_mode():
        logits = model.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0, -1]
        probabilities = torch.softmax(logits, dim=-1)
    index = int(probabilities.argmax())
    return model.tokenizer.decode([index]), float(probabilities[index])
