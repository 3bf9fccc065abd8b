"""Text to token ids with Hugging Face `tokenizers`, keeping what the views need to explain tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Encoding, Tokenizer

# C0/C1 control characters other than tab, newline and carriage return. BERT's normaliser drops
# them silently; we drop them first so offsets point into the text that was actually read.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Tokenized:
    text_a: str  # the text as read: control characters removed
    text_b: str | None  # None for a single text
    tokens: list[str]
    ids: list[int]
    segment_ids: list[int]  # 0 for text A (and [CLS]), 1 for text B
    word_ids: list[int | None]  # index of the word within its own text; None for special tokens
    offsets: list[tuple[int, int]]  # character span in its own text; (0, 0) for special tokens
    special: list[bool]
    truncated: bool
    n_tokens_before_truncation: int  # how many tokens the full text would have made

    def __len__(self) -> int:
        return len(self.ids)


def clean_text(text: str) -> str:
    """The text the model reads: control characters removed, lone surrogates made '?'.

    Lone surrogates cannot be encoded as UTF-8, which `tokenizers` needs; each stays one
    character so offsets still line up.
    """
    if not isinstance(text, str):
        raise TypeError(f"Text must be a string, not {type(text).__name__}.")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", text)


class TextTokenizer:
    """A WordPiece/BPE tokenizer from a tokenizer.json, unpadded, truncating to the model's length.

    Thread-safe: the two underlying tokenizers are configured once and only read afterwards.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self.max_length = max_length
        self._full = tokenizer
        self._full.no_padding()  # the bundled tokenizer.json pads every input to 128
        self._full.no_truncation()
        self._truncating = Tokenizer.from_str(tokenizer.to_str())
        self._truncating.enable_truncation(max_length=max_length, strategy="longest_first")

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)), max_length)

    @property
    def vocab_size(self) -> int:
        return self._full.get_vocab_size(with_added_tokens=True)

    def decode(self, ids: list[int]) -> str:
        """Token ids back to text (special tokens dropped)."""
        return self._full.decode(ids)

    def encode(self, text_a: str, text_b: str | None = None) -> Tokenized:
        """Tokenize one text or a pair. Raises ValueError for text with nothing to read."""
        if not clean_text(text_a).strip() and text_a.strip():
            raise ValueError(
                "The text holds only control characters, which the model cannot read. "
                "Type a sentence to see its attention."
            )
        text_a = clean_text(text_a)
        text_b = clean_text(text_b) if text_b is not None else None
        if not text_a.strip():
            raise ValueError("The text is empty. Type a sentence to see its attention.")
        if text_b is not None and not text_b.strip():
            text_b = None  # an empty second sentence means "no pair"
        encoding = self._full.encode(text_a, text_b)
        n_full = len(encoding.ids)
        truncated = n_full > self.max_length
        if truncated:
            encoding = self._truncating.encode(text_a, text_b)
        return _tokenized(text_a, text_b, encoding, truncated, n_full)


def _tokenized(
    text_a: str, text_b: str | None, encoding: Encoding, truncated: bool, n_full: int
) -> Tokenized:
    special = [bool(s) for s in encoding.special_tokens_mask]
    if all(special):
        raise ValueError(
            "The text has no characters this model can read (only spaces or control characters)."
        )
    return Tokenized(
        text_a=text_a,
        text_b=text_b,
        tokens=list(encoding.tokens),
        ids=list(encoding.ids),
        segment_ids=list(encoding.type_ids),
        word_ids=list(encoding.word_ids),
        offsets=[tuple(o) for o in encoding.offsets],
        special=special,
        truncated=truncated,
        n_tokens_before_truncation=n_full,
    )
