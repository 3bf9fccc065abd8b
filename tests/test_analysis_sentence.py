"""The model's own output: sentence embedding parity with sentence-transformers, exact contributions."""

from __future__ import annotations

import numpy as np
import pytest

from encoder import bundled_model_dir
from encoder.analysis import sentence_embedding, sentence_similarity, similarity_contributions

TEXTS = ["The trophy didn't fit in the suitcase because it was too big.",
         "A suitcase too small for the trophy.",
         "Émile a mangé 3 croissants à Paris, unbelievably!"]


def test_embedding_matches_sentence_transformers(model):
    sentence_transformers = pytest.importorskip(
        "sentence_transformers", reason="sentence-transformers (the reference) is not installed")
    # bundled_model_dir() is the folder holding modules.json: Transformer → Pooling → Normalize
    reference = sentence_transformers.SentenceTransformer(str(bundled_model_dir()), device="cpu")
    expected = reference.encode(TEXTS, convert_to_numpy=True)  # (3, 384), unit length
    for text, vector in zip(TEXTS, expected, strict=True):
        np.testing.assert_allclose(sentence_embedding(model.run(text, qkv=False)), vector, atol=1e-5)


def test_contributions_sum_to_the_cosine(model):
    run_a, run_b = model.run(TEXTS[0], qkv=False), model.run(TEXTS[1], qkv=False)
    cosine = sentence_similarity(run_a, run_b)
    assert np.isclose(cosine, sentence_embedding(run_a) @ sentence_embedding(run_b))
    share_a, share_b = similarity_contributions(run_a, run_b)
    assert share_a.shape == (run_a.n_tokens,) and share_b.shape == (run_b.n_tokens,)
    assert np.isclose(share_a.sum(), cosine, atol=1e-12) and np.isclose(share_b.sum(), cosine, atol=1e-12)
    assert np.isclose(sentence_similarity(run_a, run_a), 1.0)


WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "bankers", "debate",
         "interest", "rates")
LONG_TEXT = " ".join((WORDS * 30)[:300])  # 302 tokens with [CLS] and [SEP]: beyond the configured 256


def test_embedding_matches_encode_beyond_max_seq_length(model):
    sentence_transformers = pytest.importorskip(
        "sentence_transformers", reason="sentence-transformers (the reference) is not installed")
    from encoder.analysis import sentence_config, sentence_run

    config = sentence_config(model.name)  # read from the package's own sentence_bert_config.json
    assert config.max_seq_length == 256 and config.pooling == "mean" and config.normalize
    other = "A market report on stocks and bonds. " * 40
    run, run_other = model.run(LONG_TEXT, qkv=False), model.run(other, qkv=False)
    assert run.n_tokens == 302 and not run.truncated  # the Run reads up to 512 positions
    reference = sentence_transformers.SentenceTransformer(str(bundled_model_dir()), device="cpu")
    expected = reference.encode([LONG_TEXT, other], convert_to_numpy=True)
    np.testing.assert_allclose(sentence_embedding(run, model), expected[0], atol=1e-5)
    np.testing.assert_allclose(sentence_embedding(run_other), expected[1], atol=1e-5)  # loads the named model
    cut = sentence_run(model, run)
    assert cut.n_tokens == 256 and cut.truncated and cut.tokens[-1] == "[SEP]" and cut.tokens[:255] == run.tokens[:255]
    assert "at most 256" in cut.truncation_message()
    cosine = sentence_similarity(cut, sentence_run(model, run_other))
    assert abs(cosine - float(expected[0] @ expected[1])) < 1e-5
    untruncated = sentence_similarity(run, run_other)  # what the page showed before: pooled over all 302 tokens
    assert abs(untruncated - cosine) > 1e-3


def test_paraphrase_minilm_l3_pipeline_and_non_sentence_models():
    from encoder.analysis import sentence_config

    l3 = sentence_config("paraphrase-MiniLM-L3-v2")  # stated in its BundledModel entry: the package ships none
    assert (l3.pooling, l3.normalize, l3.max_seq_length) == ("mean", False, 128) and l3.known
    assert sentence_config("paraphrase-minilm-l3") == l3  # the short name a link carries
    assert sentence_config("Rampart PII tagger") is None and sentence_config("smollm2") is None
    unknown = sentence_config("some-folder-model")
    assert not unknown.known and unknown.max_seq_length is None  # no truncation, and flagged as a guess


def test_paraphrase_minilm_l3_embedding_is_mean_pooled_and_cut_at_128():
    from encoder import load_model
    from encoder.loading import ModelLoadError

    try:
        l3 = load_model("paraphrase-minilm-l3")
    except ModelLoadError as error:
        pytest.skip(str(error))
    run = l3.run(LONG_TEXT, qkv=False)
    vector = sentence_embedding(run, l3)
    from encoder.analysis import sentence_run

    cut = sentence_run(l3, run)
    assert cut.n_tokens == 128
    np.testing.assert_allclose(vector, cut.hidden_states[-1].astype(np.float64).mean(0))  # mean, not normalised
    short = l3.run(TEXTS[0], qkv=False)
    assert sentence_run(l3, short) is short
