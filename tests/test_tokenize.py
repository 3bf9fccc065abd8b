"""Tokenization: no padding, truncation that is flagged, offsets and word ids, pairs, odd text."""

from __future__ import annotations

import pytest

from encoder.tokenize import clean_text


def test_offsets_and_word_ids(model):
    run = model.run("Unbelievable cats")
    assert run.tokens[0] == "[CLS]" and run.tokens[-1] == "[SEP]"
    assert run.word_ids[0] is None and run.word_ids[-1] is None
    assert run.special[0] and run.special[-1] and not any(run.special[1:-1])
    for token, (start, end), word in zip(run.tokens[1:-1], run.offsets[1:-1], run.word_ids[1:-1],
                                         strict=True):
        piece = run.text_a[start:end].lower()
        assert piece == token.removeprefix("##")
        assert word in (0, 1)
    assert run.offsets[0] == (0, 0)


def test_long_text_is_truncated_and_flagged(model):
    run = model.run(" ".join(["word"] * 10_000))
    assert run.truncated
    assert run.n_tokens == 512 and run.tokens[-1] == "[SEP]"
    assert run.n_tokens_before_truncation == 10_002
    assert "9490 tokens were cut" in run.truncation_message()
    assert model.run("short").truncation_message() is None


def test_long_pair_is_truncated_longest_first(model):
    run = model.run(" ".join(["alpha"] * 600), "beta gamma")
    assert run.truncated and run.n_tokens == 512
    assert run.tokens.count("[SEP]") == 2 and "gamma" in run.tokens


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_a_clear_error(model, text):
    with pytest.raises(ValueError, match="empty"):
        model.run(text)


def test_only_control_characters(model):
    with pytest.raises(ValueError, match="control characters"):
        model.run("\x00\x01\x07")


def test_control_characters_are_dropped(model):
    run = model.run("a\x00b\x1bc")
    assert run.text_a == "abc"


def test_lone_surrogate_does_not_crash(model):
    run = model.run("ok \ud800 fine")
    assert run.text_a == "ok ? fine"


def test_empty_second_text_means_single(model):
    assert not model.run("one", "  ").is_pair
    assert model.run("one", "two").is_pair


@pytest.mark.parametrize("text", ["👨‍👩‍👧 family", "e\u0301te\u0301", "שלום עולם", "مرحبا بالعالم",
                                  "漢字とかな", "<script>alert('x')</script>", "**bold** [link](x)"])
def test_unusual_scripts_run(model, text):
    run = model.run(text)
    assert run.n_tokens >= 3
    assert run.attentions.sum(-1) == pytest.approx(1, abs=1e-5)


TOKENIZER_BATTERY = [
    "The cat sat on the mat.",
    "Café déjà vu, naïve façade, Ångström, Øresund, crème brûlée.",
    "东京是日本的首都。北京是中国的首都。",
    "Emoji 🎉🔥👩‍👩‍👧 and symbols ™ © ∑ √ ≠ in text.",
    "Control\x00characters\x07 in\x1b the\x7f middle.",
    "x" * 1000 + " then a normal ending.",
    "Hyphen-ated, don't, U.S.A., e-mail@example.com, https://example.org/a?b=c.",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines\r\nmixed.",
    "unbelievably transformationally overparameterised antidisestablishmentarianism",
]
PAIRS = [("Where is the station?", "Two blocks north."), ("东京", "Tokyo is big."),
         ("A " * 400, "B " * 400)]


@pytest.fixture(scope="module")
def reference_tokenizer():
    """transformers' own BertTokenizerFast on the bundled model's files: an independent reading."""
    from transformers import BertTokenizerFast

    from encoder import bundled_model_dir

    return BertTokenizerFast.from_pretrained(str(bundled_model_dir()))


def _reference(reference, text_a, text_b=None):
    encoded = reference(text_a, text_b, truncation="longest_first", max_length=512, padding=False,
                        return_offsets_mapping=True, return_special_tokens_mask=True)
    return encoded


@pytest.mark.parametrize("text", [*TOKENIZER_BATTERY, "The end. " * 300], ids=lambda t: t[:24])
def test_tokens_match_transformers(model, reference_tokenizer, text):
    ours = model.tokenizer.encode(text)
    theirs = _reference(reference_tokenizer, clean_text(text))
    assert ours.ids == theirs["input_ids"]
    assert ours.segment_ids == theirs["token_type_ids"]
    assert ours.special == [bool(s) for s in theirs["special_tokens_mask"]]
    assert ours.offsets == [tuple(o) for o in theirs["offset_mapping"]]
    assert ours.truncated == (len(reference_tokenizer(clean_text(text))["input_ids"]) > 512)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[0][:12])
def test_pairs_match_transformers(model, reference_tokenizer, pair):
    ours = model.tokenizer.encode(*pair)
    theirs = _reference(reference_tokenizer, *pair)
    assert ours.ids == theirs["input_ids"]
    assert ours.segment_ids == theirs["token_type_ids"]
    assert len(ours) <= 512
