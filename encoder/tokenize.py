"""Text to token ids with Hugging Face `tokenizers`, keeping what the views need to explain tokens.

Also readable labels for tokens (`display_token`, `display_tokens`). Each tokenizer family marks
word boundaries its own way, and a label keeps that marking visible rather than hiding it:

- WordPiece (BERT) marks a piece that continues a word: "##ing" is shown "‿ing" (U+203F, undertie:
  "tied to the piece before"). Not "-ing": BERT splits numbers into pieces too, and "2024" ->
  "202", "##4" would read "202 -4", minus four; and "-" is itself a token.
- Byte-level BPE (GPT-2, RoBERTa) and SentencePiece (ALBERT, XLM-R, T5) mark a piece that starts
  after a space: "Ġword" and "▁word" are shown "␣word" (U+2423, the typesetter's visible space).
  So "␣" means "a space before this piece" and "‿" means "no space before this piece".
- Byte-level pieces are bytes: "Ċ" is a newline, shown "⏎"; "Ã©" is the two UTF-8 bytes of "é",
  shown "é". Bytes that do not make a whole character in this piece (a character split across
  pieces) are shown as hex, "⟨e4 bd⟩", which is what the model actually reads. SentencePiece's
  byte-fallback pieces "<0xE4>" are shown the same way.
- Whitespace and invisible characters become visible: "⏎" newline, "⇥" tab, "␍" carriage return,
  other control or format characters as "⟨U+200D⟩".
Special tokens ([CLS], <s>, ...) are shown as they are.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tokenizers import Encoding, Tokenizer

TokenScheme = Literal["wordpiece", "byte_level", "sentencepiece"]

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
    scheme: TokenScheme | None = None  # how the tokenizer marks pieces; None: guessed from the tokens

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property  # read once per token by the views: computed once
    def labels(self) -> list[str]:
        """The tokens as readable labels (see `display_tokens`), special tokens unchanged."""
        return display_tokens(self.tokens, self.scheme, self.special)


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
        self.scheme = scheme_of(tokenizer)

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
        cleaned = clean_text(text_a)
        if not cleaned.strip() and text_a.strip():
            raise ValueError(
                "The text holds only control characters, which the model cannot read. "
                "Type a sentence to see its attention."
            )
        text_a = cleaned
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
        return _tokenized(text_a, text_b, encoding, truncated, n_full, self.scheme)


def _tokenized(
    text_a: str, text_b: str | None, encoding: Encoding, truncated: bool, n_full: int,
    scheme: TokenScheme | None = None,
) -> Tokenized:
    special = list(map(bool, encoding.special_tokens_mask))
    if all(special):
        raise ValueError(
            "The text has no characters this model can read (only spaces or control characters)."
        )
    # Each of the encoding's getters hands back a new list (offsets already of tuples): no copies.
    return Tokenized(
        text_a=text_a,
        text_b=text_b,
        tokens=encoding.tokens,
        ids=encoding.ids,
        segment_ids=encoding.type_ids,
        word_ids=encoding.word_ids,
        offsets=encoding.offsets,
        special=special,
        truncated=truncated,
        n_tokens_before_truncation=n_full,
        scheme=scheme,
    )


# ---- Readable token labels ---------------------------------------------------------------------

SPACE_MARK = "\u2423"  # ␣ a space before this piece (byte-level Ġ, SentencePiece ▁)
JOIN_MARK = "\u203f"  # ‿ this piece continues the word before it (WordPiece ##)
_VISIBLE = {" ": SPACE_MARK, "\n": "\u23ce", "\t": "\u21e5", "\r": "\u240d"}  # ␣ ⏎ ⇥ ␍
_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")  # SentencePiece's piece for one raw byte


def byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> character table (Radford et al. 2019, `bytes_to_unicode` in encoder.py).

    Printable Latin-1 bytes stand for themselves; the other 68 (controls, space, DEL, NBSP, soft
    hyphen) are moved up to U+0100.., in byte order, so that every byte is a visible character:
    space (0x20) becomes "Ġ" (U+0120) and newline (0x0A) "Ċ" (U+010A).
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, moved = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + moved)
            moved += 1
    return table


_BYTE_OF_CHAR = {char: byte for byte, char in byte_level_alphabet().items()}
_MOVED_CHARS = frozenset(char for char in _BYTE_OF_CHAR if ord(char) >= 256)  # only byte-level uses these


def _visible(char: str) -> str:
    """A character as a label shows it: whitespace and invisible characters made visible."""
    if char in _VISIBLE:
        return _VISIBLE[char]
    if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return f"\u27e8U+{ord(char):04X}\u27e9"  # ⟨U+200D⟩
    return char


def _hex_bytes(data: Sequence[int]) -> str:
    return "\u27e8" + " ".join(f"{b:02x}" for b in data) + "\u27e9"  # ⟨e4 bd⟩


def _utf8_length(lead: int) -> int:
    """How many bytes the UTF-8 sequence starting with `lead` has; 0 if it cannot start one."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0  # a continuation byte or an invalid lead


def decode_bytes(data: bytes) -> str:
    """UTF-8 bytes as a label: whole characters decoded, stray bytes (a character that another
    piece completes, or invalid UTF-8) as hex, e.g. b"\\xe4\\xbd" -> "⟨e4 bd⟩"."""
    out: list[str] = []
    stray: list[int] = []
    i = 0
    while i < len(data):
        n = _utf8_length(data[i])
        try:
            char = data[i: i + n].decode("utf-8") if n and i + n <= len(data) else None
        except UnicodeDecodeError:
            char = None
        if char is None:
            stray.append(data[i])
            i += 1
            continue
        if stray:
            out.append(_hex_bytes(stray))
            stray = []
        out.append(_visible(char))
        i += n
    if stray:
        out.append(_hex_bytes(stray))
    return "".join(out)


def display_token(token: str, scheme: TokenScheme | None = None) -> str:
    """One token as a readable label (module docstring): "##ing" -> "‿ing", "Ġword" -> "␣word",
    "Ċ" -> "⏎", "Ã©" -> "é", "▁word" -> "␣word". scheme None guesses it from the token alone;
    pass the tokenizer's (`scheme_of`) when it is known, since "é" alone is a WordPiece token
    but, byte-level, a lone byte 0xE9."""
    scheme = scheme or guess_scheme([token])
    if scheme == "wordpiece":
        if token.startswith("##") and len(token) > 2:
            return JOIN_MARK + "".join(_visible(c) for c in token[2:])
        return "".join(_visible(c) for c in token)
    if scheme == "byte_level" and token and all(c in _BYTE_OF_CHAR for c in token):
        return decode_bytes(bytes(_BYTE_OF_CHAR[c] for c in token))
    if scheme == "sentencepiece":
        fallback = _BYTE_FALLBACK.match(token)
        if fallback:
            return _hex_bytes([int(fallback.group(1), 16)])
        token = token.replace("\u2581", " ")  # ▁ stands for a space
    return "".join(_visible(c) for c in token)


def display_tokens(
    tokens: Sequence[str], scheme: TokenScheme | None = None, special: Sequence[bool] | None = None
) -> list[str]:
    """`display_token` for a sequence, guessing the scheme once from all its ordinary tokens;
    tokens flagged `special` ([CLS], <s>, ...) are kept as they are."""
    special = list(special) if special is not None else [False] * len(tokens)
    if scheme is None:
        scheme = guess_scheme([t for t, s in zip(tokens, special, strict=True) if not s])
    return [t if s else display_token(t, scheme) for t, s in zip(tokens, special, strict=True)]


def guess_scheme(tokens: Sequence[str]) -> TokenScheme | None:
    """The marking a list of tokens shows: "##" pieces, "▁" pieces, or byte-level characters.

    Byte-level when every character is one of the 256 byte stand-ins and, read as bytes, they
    make plausible UTF-8 text (no control characters but tab and newline; a character may be cut
    at either end), with a moved byte (Ġ, Ċ, ...) or two or more non-ASCII bytes ("Ã©" is "é").
    So "café" from a WordPiece vocabulary stays as it is. None when nothing tells.
    """
    if any(t.startswith("##") and len(t) > 2 for t in tokens):
        return "wordpiece"
    if any("\u2581" in t or _BYTE_FALLBACK.match(t) for t in tokens):
        return "sentencepiece"
    joined = "".join(tokens)
    if not joined or not all(c in _BYTE_OF_CHAR for c in joined):
        return None
    data = bytes(_BYTE_OF_CHAR[c] for c in joined)
    moved = any(c in _MOVED_CHARS for c in joined)
    if (moved or sum(b >= 0x80 for b in data) >= 2) and _plausible_utf8(data):
        return "byte_level"
    return None


def _plausible_utf8(data: bytes) -> bool:
    """UTF-8 text, allowing a character cut off at either end (it continues in another piece)."""
    start = 0
    while start < min(3, len(data)) and 0x80 <= data[start] <= 0xBF:
        start += 1  # the tail of a character that began in an earlier piece
    end = len(data)
    for lead in range(len(data) - 1, max(start, len(data) - 3) - 1, -1):
        if data[lead] >= 0xC0:  # the last lead byte: is its character complete?
            if lead + _utf8_length(data[lead]) > len(data):
                end = lead
            break
    try:
        text = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)


def scheme_of(tokenizer: Tokenizer) -> TokenScheme | None:
    """How a tokenizer.json marks pieces: its model (WordPiece, Unigram) or its ByteLevel /
    Metaspace pre-tokenizer or decoder. None for anything else (labels then guess per text)."""
    spec = json.loads(tokenizer.to_str())
    model = (spec.get("model") or {}).get("type")
    parts = json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
    if model == "WordPiece":
        return "wordpiece"
    if '"ByteLevel"' in parts:
        return "byte_level"
    if '"Metaspace"' in parts or model == "Unigram":
        return "sentencepiece"
    return None
