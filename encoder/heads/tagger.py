"""The tutorial's token tagger (NER): one linear layer on every token's hidden state (the encoder's output).

A word split into several subwords is tagged by its first subword, the convention of BERT's own
NER experiments (Devlin et al. 2019, §5.3); the other subwords get target -100 and are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..run import Model
from ..tokenize import Tokenized
from .data import ENTITY_TYPES, NER_TAGS, TaggedSentence, read_ner
from .evaluation import TaggerEvaluation, evaluate_entities, repair_bio
from .features import first_subword_positions, token_features, word_spans
from .training import IGNORE, LinearHead, fit_linear

KIND = "token_tagger"
# The L2 strength on standardised features, chosen by 5-fold cross-validation on the train split of
# ner.tsv (0.001 to 1 tried): 0.01 was best at entity F1 0.62, 0.001 to 0.03 within 0.025 of it,
# stronger L2 loses entities. The test split played no part.
L2 = 0.01


@dataclass(frozen=True)
class TaggedText:
    """One text's words with their predicted tags."""

    text: str  # the text as read (control characters removed); spans index into it
    words: tuple[str, ...]  # as the tokenizer's pre-tokenizer splits them
    spans: tuple[tuple[int, int], ...]  # each word's character span in `text`
    tags: tuple[str, ...]  # valid BIO (an I-X that would start an entity is shown as B-X)
    confidence: tuple[float, ...]  # the probability of each word's chosen tag before repair
    truncated: bool  # True when the text was longer than the model reads: later words are missing


class TokenTagger(LinearHead):
    """Token -> BIO tag: one linear layer per token. Holds only the linear layer; the frozen
    encoder is `model`'s."""

    KIND = KIND
    EVALUATION = TaggerEvaluation

    def __init__(self, model: Model, tags: Sequence[str] = NER_TAGS, seed: int = 0, layer: int | None = None) -> None:
        super().__init__(model, tags, seed, layer)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.labels

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, D) at `self.layer` of the encoder -> tag logits (B, T, K) for every token."""
        return self.linear(hidden)

    def tag_text(self, text: str) -> TaggedText:
        """Tag every word of one text."""
        tokenized = self.model.tokenizer.encode(text)
        (hidden,) = token_features(self.model, [tokenized], layer=self.layer)  # (T, D)
        tags, confidence = self._tag_words(tokenized, hidden)
        spans = word_spans(tokenized)
        return TaggedText(
            text=tokenized.text_a, words=tuple(tokenized.text_a[a:b] for a, b in spans), spans=tuple(spans),
            tags=tuple(tags), confidence=tuple(confidence), truncated=tokenized.truncated,
        )

    def predict(self, text: str) -> list[tuple[str, str]]:
        """(word, tag) for every word of `text`, tags in B-/I-PER, LOC, ORG and O.

        Words are the tokenizer's pre-tokenizer words (punctuation is a word of its own), cut from
        the text itself, so case and accents are kept. Words past the model's length are left out.
        """
        tagged = self.tag_text(text)
        return list(zip(tagged.words, tagged.tags, strict=True))

    def _tag_words(self, tokenized: Tokenized, hidden: torch.Tensor) -> tuple[list[str], list[float]]:
        with torch.inference_mode():
            first = hidden[first_subword_positions(tokenized)]  # (n_words, D)
            probabilities = torch.softmax(self.linear(first), dim=-1)  # (n_words, K)
            best, index = probabilities.max(dim=-1)
        return repair_bio([self.tags[i] for i in index]), best.tolist()


def tokenize_sentences(model: Model, sentences: Sequence[TaggedSentence]) -> list[Tokenized]:
    """Tokenize tagged sentences, checking the tokenizer sees exactly their words."""
    tokenized = []
    for sentence in sentences:
        t = model.tokenizer.encode(sentence.text)
        if t.truncated or len(first_subword_positions(t)) != len(sentence.words):
            raise ValueError(f"The tokenizer does not split {sentence.text!r} into its {len(sentence.words)} words.")
        tokenized.append(t)
    return tokenized


def token_targets(tokenized: Tokenized, tags: Sequence[str], tag_index: dict[str, int]) -> torch.Tensor:
    """(T,) targets: each word's tag at its first subword, IGNORE everywhere else."""
    targets = torch.full((len(tokenized),), IGNORE, dtype=torch.long)  # (T,)
    targets[first_subword_positions(tokenized)] = torch.tensor([tag_index[t] for t in tags])
    return targets


def train_tagger(
    model: Model,
    sentences: Sequence[TaggedSentence],
    seed: int = 0,
    held_out: Sequence[TaggedSentence] = (),
    tags: Sequence[str] = NER_TAGS,
    layer: int | None = None,
) -> TokenTagger:
    """Fit a tagger on `sentences`; score it entity by entity on `held_out` if given.

    The encoder runs once over both sets (one set of length-sorted batches). `layer` picks the
    hidden state it reads (default: the last layer, as in the tutorial).
    """
    head = TokenTagger(model, tags, seed, layer)
    tag_index = {tag: i for i, tag in enumerate(head.tags)}
    tokenized = tokenize_sentences(model, [*sentences, *held_out])
    hidden = token_features(model, tokenized, layer=head.layer)  # (T_i, D) per sentence
    n = len(sentences)
    features = torch.cat(hidden[:n])  # (sum T_i, D)
    targets = torch.cat([token_targets(t, s.tags, tag_index) for t, s in zip(tokenized[:n], sentences, strict=True)])
    fit_linear(head.linear, features, targets, seed, l2=L2)
    if held_out:
        predicted = [head._tag_words(t, h)[0] for t, h in zip(tokenized[n:], hidden[n:], strict=True)]
        types = [t for t in ENTITY_TYPES if f"B-{t}" in head.tags]
        head.evaluation = evaluate_entities([s.tags for s in held_out], predicted, types)
    return head


def default_tagger(model: Model, seed: int = 0, layer: int | None = None) -> TokenTagger:
    """PER / LOC / ORG tagger trained on the train split of assets/ner.tsv, scored on its test split."""
    splits = read_ner()
    return train_tagger(model, splits["train"], seed, splits["test"], layer=layer)
