"""Readable token labels: ## (WordPiece), Ġ (byte-level BPE) and ▁ (SentencePiece) markings, and bytes."""

from __future__ import annotations

import pytest
from checkpoints import tiny_tokenizer
from family_checkpoints import byte_level_bpe, sentencepiece_unigram
from tokenizers import Tokenizer

from encoder import bundled_model_dir
from encoder.tokenize import (
    TextTokenizer,
    byte_level_alphabet,
    decode_bytes,
    display_token,
    display_tokens,
    guess_scheme,
    scheme_of,
)


@pytest.mark.parametrize("token,label", [
    ("##ing", "‿ing"),
    ("##4", "‿4"),  # not "-4": that would read as minus four
    ("playing", "playing"),
    ("-", "-"),
    ("café", "café"),  # a WordPiece token with an accent is not bytes
    ("##", "##"),
])
def test_wordpiece(token, label):
    assert display_token(token, "wordpiece") == label


@pytest.mark.parametrize("token,label", [
    # GPT-2 / RoBERTa pieces of "Hello café\n你好 🍕\tok"
    ("Hello", "Hello"),
    ("Ġcaf", "␣caf"),
    ("Ã©", "é"),  # the two UTF-8 bytes of é
    ("Ċ", "⏎"),
    ("ĊĊ", "⏎⏎"),
    ("ä½ł", "你"),  # three bytes, one character
    ("å¥½", "好"),
    ("ĠðŁį", "␣⟨f0 9f 8d⟩"),  # 🍕 is split: its first three bytes here ...
    ("ķ", "⟨95⟩"),  # ... and its last byte in the next piece
    ("ĉ", "⇥"),
    ("ĠĠĠ", "␣␣␣"),  # code indentation
    ("Âł", "⟨U+00A0⟩"),  # a no-break space, made visible
    ("<s>", "<s>"),
])
def test_byte_level(token, label):
    assert display_token(token, "byte_level") == label


@pytest.mark.parametrize("token,label", [
    ("▁The", "␣The"),
    ("▁", "␣"),
    ("s", "s"),
    ("<0xF0>", "⟨f0⟩"),  # byte fallback for a character outside the vocabulary
    ("▁東京", "␣東京"),
])
def test_sentencepiece(token, label):
    assert display_token(token, "sentencepiece") == label


def test_byte_table_matches_gpt2s():
    from transformers.convert_slow_tokenizer import bytes_to_unicode  # the reference implementation

    assert byte_level_alphabet() == bytes_to_unicode()
    assert byte_level_alphabet()[ord(" ")] == "Ġ" and byte_level_alphabet()[ord("\n")] == "Ċ"


def test_decode_bytes_keeps_stray_bytes_visible():
    assert decode_bytes("a é 你".encode()) == "a␣é␣你"
    assert decode_bytes(b"a\xe4\xbd") == "a⟨e4 bd⟩"  # a character cut off
    assert decode_bytes(b"\xff\xfeok") == "⟨ff fe⟩ok"  # never valid UTF-8
    assert decode_bytes("x\u200dy".encode()) == "x⟨U+200D⟩y"  # zero-width joiner


def test_guessing_the_scheme():
    assert guess_scheme(["the", "cat", "##s"]) == "wordpiece"
    assert guess_scheme(["▁the", "▁cat"]) == "sentencepiece"
    assert guess_scheme(["The", "Ġcat"]) == "byte_level"
    assert guess_scheme(["caf", "Ã©"]) == "byte_level"  # no Ġ, but valid UTF-8 as bytes
    assert guess_scheme(["naïve", "café"]) is None  # WordPiece-style words: as bytes, not UTF-8
    assert guess_scheme(["Łąka"]) is None  # Polish letters are byte stand-ins too, but make control bytes
    assert guess_scheme(["the", "cat"]) is None  # nothing tells, and nothing needs changing
    assert display_token("Ġword") == "␣word" and display_token("##ing") == "‿ing"


def test_list_keeps_special_tokens():
    tokens = ["[CLS]", "play", "##ing", "202", "##4", "[SEP]"]
    special = [True, False, False, False, False, True]
    assert display_tokens(tokens, special=special) == ["[CLS]", "play", "‿ing", "202", "‿4", "[SEP]"]
    assert display_tokens(["<s>", "Hi", "Ġthere", "</s>"], "byte_level", [True, False, False, True]) == [
        "<s>", "Hi", "␣there", "</s>"]


@pytest.mark.parametrize("make,scheme", [
    (tiny_tokenizer, "wordpiece"),
    (byte_level_bpe, "byte_level"),
    (sentencepiece_unigram, "sentencepiece"),
    (lambda: Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json")), "wordpiece"),
])
def test_scheme_of_tokenizer_json(make, scheme):
    assert scheme_of(make()) == scheme


def test_byte_level_labels_spell_the_text():
    """Whole characters in every piece: the labels, marks turned back, are the text itself."""
    text = "The cat sat on the mat.\nHello café"
    tokenized = TextTokenizer(byte_level_bpe(), 64).encode(text)
    assert tokenized.scheme == "byte_level"
    labels = [label for label, special in zip(tokenized.labels, tokenized.special, strict=True) if not special]
    assert "é" in labels or any("é" in label for label in labels)
    assert not any(c in "".join(labels) for c in "ĠĊÃ")
    assert "".join(labels).replace("␣", " ").replace("⏎", "\n") == text


def test_bundled_wordpiece_labels(model):
    tokenized = model.tokenizer.encode("Unbelievably, prices rose in 2024.")
    assert tokenized.scheme == "wordpiece"
    labels = tokenized.labels
    assert labels[0] == "[CLS]" and labels[-1] == "[SEP]"
    continued = [t for t in tokenized.tokens if t.startswith("##")]
    assert continued  # the text does split into pieces
    assert [label for label in labels if label.startswith("‿")] == ["‿" + t[2:] for t in continued]
    assert not any(label.startswith("##") for label in labels)
