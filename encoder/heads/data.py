"""The task heads' data: `assets/sentiment.csv` and `assets/ner.tsv`, both written for Headlight.

sentiment.csv: columns `text,label`, label `positive` or `negative`, standard CSV quoting.
ner.tsv: CoNLL style, one `word<TAB>tag` a line, a blank line between sentences, BIO tags over
PER, LOC and ORG; a line `# split: train` or `# split: test` starts each split's block; other lines
starting with `#` are comments. Words are split the way BERT's pre-tokenizer splits them, so
joining them with spaces and tokenizing gives back the same words.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SENTIMENT_FILE = ASSETS / "sentiment.csv"
NER_FILE = ASSETS / "ner.tsv"

SENTIMENT_LABELS = ("negative", "positive")  # class index order of the classifier's outputs
ENTITY_TYPES = ("PER", "LOC", "ORG")
NER_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")  # class index order of the tagger
HELD_OUT_EVERY = 5  # every 5th row of sentiment.csv (rows 4, 9, 14, ...) is the fixed 20% held out


@dataclass(frozen=True)
class LabelledTexts:
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class TaggedSentence:
    words: tuple[str, ...]
    tags: tuple[str, ...]  # one BIO tag per word

    @property
    def text(self) -> str:
        """The sentence the tagger reads: words joined by single spaces."""
        return " ".join(self.words)


def read_sentiment(path: str | Path = SENTIMENT_FILE) -> LabelledTexts:
    """All rows of a `text,label` CSV, in file order. Raises ValueError for an unknown label."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as file:
        for line_no, row in enumerate(csv.DictReader(file), start=2):
            if row["label"] not in SENTIMENT_LABELS:
                raise ValueError(f"{path}:{line_no}: label {row['label']!r} is not one of {SENTIMENT_LABELS}.")
            texts.append(row["text"])
            labels.append(row["label"])
    return LabelledTexts(tuple(texts), tuple(labels))


def split_sentiment(data: LabelledTexts) -> tuple[LabelledTexts, LabelledTexts]:
    """(train, held out): every HELD_OUT_EVERY-th row is held out. The file is stored shuffled, so
    this fixed rule gives both labels in both parts and never depends on a seed."""
    held_out = [i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 for i in range(len(data))]
    pick = lambda keep: LabelledTexts(
        tuple(t for t, h in zip(data.texts, held_out, strict=True) if h == keep),
        tuple(label for label, h in zip(data.labels, held_out, strict=True) if h == keep),
    )
    return pick(False), pick(True)


def read_ner(path: str | Path = NER_FILE) -> dict[str, list[TaggedSentence]]:
    """Sentences by split name ("train", "test"), in file order.

    Raises ValueError (with the line number) for a line that is not `word<TAB>tag`, an unknown
    tag, or a sentence before any `# split:` line.
    """
    splits: dict[str, list[TaggedSentence]] = {}
    split: str | None = None
    words: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        if words:
            splits[split].append(TaggedSentence(tuple(words), tuple(tags)))
            words.clear()
            tags.clear()

    with open(path, encoding="utf-8") as file:
        for line_no, line in enumerate(file, start=1):
            line = line.rstrip("\n")
            if line.startswith("#") and "\t" not in line:
                end_sentence()
                if line.startswith("# split:"):
                    split = line.removeprefix("# split:").strip()
                    splits.setdefault(split, [])
                continue
            if not line.strip():
                end_sentence()
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0]:
                raise ValueError(f"{path}:{line_no}: expected 'word<TAB>tag', got {line!r}.")
            if parts[1] not in NER_TAGS:
                raise ValueError(f"{path}:{line_no}: tag {parts[1]!r} is not one of {NER_TAGS}.")
            if split is None:
                raise ValueError(f"{path}:{line_no}: a sentence comes before any '# split:' line.")
            words.append(parts[0])
            tags.append(parts[1])
    end_sentence()
    return splits
