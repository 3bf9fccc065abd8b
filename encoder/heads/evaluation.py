"""Held-out scores for the task heads: accuracy for sentences, entity-level F1 for tags.

Entity-level scoring follows CoNLL-2003's conlleval (Tjong Kim Sang & De Meulder 2003), which
seqeval reimplements: an entity counts as found only when its type and its exact word span both
match. An I-X that does not continue an X entity starts a new one, as in conlleval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float  # share of predicted items that are right (0 when nothing was predicted)
    recall: float  # share of gold items found (0 when there are none)
    f1: float
    support: int  # gold items of this class


@dataclass(frozen=True)
class ClassifierEvaluation:
    labels: tuple[str, ...]
    accuracy: float
    n_test: int
    scores: tuple[ClassScore, ...]  # one per label
    confusion: tuple[tuple[int, ...], ...]  # [gold][predicted], in `labels` order

    def to_frame(self) -> pd.DataFrame:
        """Per-class precision, recall, F1 and support, one row per label."""
        return pd.DataFrame([asdict(s) for s in self.scores])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ClassifierEvaluation:
        return cls(
            labels=tuple(data["labels"]), accuracy=data["accuracy"], n_test=data["n_test"],
            scores=tuple(ClassScore(**s) for s in data["scores"]),
            confusion=tuple(tuple(row) for row in data["confusion"]),
        )


@dataclass(frozen=True)
class TaggerEvaluation:
    level: str  # "entity": exact span and type match (conlleval / seqeval default)
    n_sentences: int
    token_accuracy: float  # share of words whose tag is right, O included
    scores: tuple[ClassScore, ...]  # one per entity type
    micro: ClassScore  # all entity types pooled, label "all"

    def to_frame(self) -> pd.DataFrame:
        """Per-type precision, recall, F1 and support, then the pooled row "all"."""
        return pd.DataFrame([asdict(s) for s in (*self.scores, self.micro)])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TaggerEvaluation:
        return cls(
            level=data["level"], n_sentences=data["n_sentences"], token_accuracy=data["token_accuracy"],
            scores=tuple(ClassScore(**s) for s in data["scores"]), micro=ClassScore(**data["micro"]),
        )


def class_score(label: str, correct: int, predicted: int, gold: int) -> ClassScore:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClassScore(label, precision, recall, f1, gold)


def evaluate_labels(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> ClassifierEvaluation:
    """Accuracy, per-class scores and the confusion matrix of one label per item."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError("Need as many predictions as gold labels, and at least one.")
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        confusion[index[g]][index[p]] += 1
    scores = tuple(
        class_score(label, confusion[i][i], sum(row[i] for row in confusion), sum(confusion[i]))
        for i, label in enumerate(labels)
    )
    accuracy = sum(confusion[i][i] for i in range(len(labels))) / len(gold)
    return ClassifierEvaluation(tuple(labels), accuracy, len(gold), scores, tuple(map(tuple, confusion)))


def entity_spans(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Entities in a BIO sequence as (type, first word, one past the last word)."""
    spans: set[tuple[str, int, int]] = set()
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):  # the sentinel O closes an entity at the end
        prefix, _, tag_kind = tag.partition("-")
        continues = prefix == "I" and tag_kind == kind
        if kind is not None and not continues:
            spans.add((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not continues):
            kind, start = tag_kind, i
    return spans


def repair_bio(tags: Sequence[str]) -> list[str]:
    """Make a tag sequence valid BIO: an I-X that does not continue an X entity becomes B-X.

    This changes no entity span (`entity_spans` reads such an I-X as a start anyway); it only makes
    the displayed tags say what is meant.
    """
    out: list[str] = []
    for tag in tags:
        if tag.startswith("I-") and (not out or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def evaluate_entities(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], types: Sequence[str]
) -> TaggerEvaluation:
    """Entity-level precision, recall and F1 per type and pooled, over sentences of BIO tags."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError("Need as many predicted sentences as gold ones, and at least one.")
    counts = {t: [0, 0, 0] for t in types}  # correct, predicted, gold
    right_words = n_words = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError("A predicted sentence has a different number of tags than its gold one.")
        right_words += sum(g == p for g, p in zip(gold_tags, predicted_tags, strict=True))
        n_words += len(gold_tags)
        gold_spans, predicted_spans = entity_spans(gold_tags), entity_spans(predicted_tags)
        for kind, *_ in gold_spans & predicted_spans:
            counts[kind][0] += 1
        for kind, *_ in predicted_spans:
            counts[kind][1] += 1
        for kind, *_ in gold_spans:
            counts[kind][2] += 1
    scores = tuple(class_score(t, *counts[t]) for t in types)
    pooled = [sum(c[k] for c in counts.values()) for k in range(3)]
    return TaggerEvaluation("entity", len(gold), right_words / max(n_words, 1), scores, class_score("all", *pooled))
