"""The context index (exBERT's corpus search): a token finds itself first with cosine 1, the search agrees
with brute-force numpy on 200 sentences, special tokens are not indexed, and `layer` means what the Run means."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.corpus import build_context_index, nearest_contexts, read_sentences
from encoder.corpus.context_index import SIGNATURE, SentenceVectors, assemble, attention_signature, nearest_to_run

CORPUS = "assets/corpus.txt"


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return list(read_sentences(CORPUS).texts[:200])


@pytest.fixture(scope="module")
def runs(model, sentences):
    return model.run_batch(sentences)


@pytest.fixture(scope="module")
def index32(model, sentences):
    return build_context_index(model, sentences, dtype="float32")


def from_runs(model, sentences, runs, layers, attention_layers=(), dtype="float16"):
    """The index `build_context_index` makes, from runs already made (the same assembly, no second forward)."""
    storage = np.float16 if dtype == "float16" else np.float32
    parts = {i: SentenceVectors.of_run(run, layers, attention_layers, storage) for i, run in enumerate(runs)}
    return assemble(model.name, sentences[: len(runs)], parts, layers, attention_layers, dtype)


def brute_force(runs, layer: int, sentence: int, token: int, k: int):
    """Every non-special token's hidden state at `layer`, normalised; the k best cosines by numpy."""
    where, vectors = [], []
    for s, run in enumerate(runs):
        for t in range(run.n_tokens):
            if not run.special[t]:
                where.append((s, t))
                vectors.append(run.hidden_states[layer, t])
    matrix = np.asarray(vectors, dtype=np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[where.index((sentence, token))]
    cosines = matrix @ query
    best = np.argsort(-cosines, kind="stable")[:k]
    return [where[i] for i in best], cosines[best], len(where)


def test_a_token_finds_itself_first_with_cosine_one(model, sentences, runs, index32):
    index16 = from_runs(model, sentences, runs[:30], (0, 3, 6), (2, 5))
    for index, layers in ((index32, (0, 4, 6)), (index16, (0, 3, 6))):
        for sentence, token in ((3, 5), (0, 1), (17, 2), (29, 4)):
            for layer in layers:
                hits = nearest_contexts(index, sentence_index=sentence, token_index=token, layer=layer, k=10)
                assert list(hits.columns[:5]) == ["sentence_index", "token_index", "token", "cosine", "sentence"]
                assert len(hits) == 10
                assert (hits.loc[0, "sentence_index"], hits.loc[0, "token_index"]) == (sentence, token)
                assert abs(hits.loc[0, "cosine"] - 1.0) <= 1e-5
                assert hits.loc[0, "sentence"] == sentences[sentence]
                assert hits.loc[0, "token"] == model.run(sentences[sentence]).tokens[token]
                assert np.all(np.diff(hits["cosine"].to_numpy()) <= 1e-7)  # best first
            attention_layer = max(layer - 1 for layer in layers)
            hits = nearest_contexts(index, sentence, token, layer=attention_layer, k=5, mode="attention")
            assert (hits.loc[0, "sentence_index"], hits.loc[0, "token_index"]) == (sentence, token)
            assert abs(hits.loc[0, "cosine"] - 1.0) <= 1e-5


@pytest.mark.parametrize("layer, sentence, token", [(4, 3, 5), (0, 10, 2), (6, 150, 3)])
def test_the_search_is_brute_force_numpy(runs, index32, layer, sentence, token):
    expected, cosines, n_tokens = brute_force(runs, layer, sentence, token, k=20)
    assert index32.n_tokens == n_tokens
    hits = nearest_contexts(index32, sentence, token, layer, k=20)
    found = list(zip(hits["sentence_index"], hits["token_index"], strict=True))
    np.testing.assert_allclose(hits["cosine"].to_numpy(), cosines, atol=1e-5)
    # The same neighbours in the same order, except where two cosines tie to float32 rounding.
    for rank, (got, want) in enumerate(zip(found, expected, strict=True)):
        if got != want:
            assert abs(cosines[rank] - hits["cosine"].iloc[rank]) <= 1e-5 and want in found


def test_float16_storage_keeps_the_ranking_within_its_rounding(model, sentences, runs):
    index16 = from_runs(model, sentences, runs, (4,))
    expected, cosines, _ = brute_force(runs, 4, 3, 5, k=10)
    hits = nearest_contexts(index16, 3, 5, 4, k=10)
    np.testing.assert_allclose(hits["cosine"].to_numpy(), cosines, atol=2e-3)
    assert len(set(zip(hits["sentence_index"], hits["token_index"], strict=True)) & set(expected)) >= 8
    assert index16.nbytes < index16.n_tokens * 384 * 2 + index16.n_tokens * 64


def test_special_tokens_are_not_indexed(index32, runs):
    assert index32.n_tokens == sum(int((~np.asarray(run.special)).sum()) for run in runs)
    with pytest.raises(ValueError, match="special tokens"):
        nearest_contexts(index32, 3, 0, 4)  # [CLS]
    with pytest.raises(ValueError, match="special tokens"):
        nearest_contexts(index32, 3, runs[3].n_tokens - 1, 4)  # [SEP]
    hits = nearest_contexts(index32, 3, 5, 2, k=200)
    for s, t in zip(hits["sentence_index"], hits["token_index"], strict=True):
        assert not runs[s].special[t]


def test_layer_indexes_the_runs_hidden_states_and_attentions(model, index32, runs):
    assert index32.layers == tuple(range(model.config.n_layers + 1))
    assert index32.attention_layers == tuple(range(model.config.n_layers))
    row = index32.row(7, 2)
    for layer in (0, 3, model.config.n_layers):
        stored = index32.vectors("hidden", layer, np.array([row]))[0]
        state = runs[7].hidden_states[layer, 2]
        np.testing.assert_allclose(stored, state / np.linalg.norm(state), atol=1e-6)
    with pytest.raises(ValueError, match="not indexed"):
        nearest_contexts(index32, 7, 2, layer=model.config.n_layers + 1)
    with pytest.raises(ValueError, match="not indexed"):
        nearest_contexts(index32, 7, 2, layer=model.config.n_layers, mode="attention")
    # The attention signature reads the token's own row of layer ℓ's attention.
    signature = attention_signature(runs[7].attentions, runs[7].tokens, runs[7].special)  # (L, T, H · 8)
    features = signature.reshape(model.config.n_layers, runs[7].n_tokens, model.config.n_heads, len(SIGNATURE))
    np.testing.assert_allclose(features[2, 4, :, SIGNATURE.index("self")], runs[7].attentions[2, :, 4, 4], atol=1e-6)
    np.testing.assert_allclose(features[2, 4, :, SIGNATURE.index("prev")], runs[7].attentions[2, :, 4, 3], atol=1e-6)
    offsets = np.arange(runs[7].n_tokens) - 4
    np.testing.assert_allclose(features[1, 4, :, SIGNATURE.index("offset")], runs[7].attentions[1, :, 4] @ offsets,
                               atol=1e-5)


def test_unreadable_sentences_are_skipped_and_named(model):
    index = build_context_index(model, ["A fine sentence.", "\x00\x01", "Another one."], layers=[1], attention=False)
    assert [s for s, _ in index.skipped] == [1]
    hits = nearest_contexts(index, 2, 1, 1, k=3)
    assert 1 not in set(hits["sentence_index"])
    with pytest.raises(ValueError):
        nearest_contexts(index, 1, 1, 1)


def test_a_token_of_any_text_searches_the_corpus(model, sentences, index32):
    # A corpus sentence run again finds the same neighbours as its indexed copy, in both modes.
    run = model.run(sentences[12])
    for mode, layer in (("hidden", 5), ("attention", 2)):
        by_run = nearest_to_run(index32, run, 3, layer, k=8, mode=mode)
        by_index = nearest_contexts(index32, 12, 3, layer, k=8, mode=mode)
        assert (by_run.loc[0, "sentence_index"], by_run.loc[0, "token_index"]) == (12, 3)
        np.testing.assert_allclose(by_run["cosine"], by_index["cosine"], atol=1e-4)
    # A new text: its "cat" finds corpus tokens, best first, and never a special token.
    outside = model.run("A small cat slept under the table.")
    hits = nearest_to_run(index32, outside, outside.tokens.index("cat"), 4, k=5)
    assert len(hits) == 5 and np.all(np.diff(hits["cosine"].to_numpy()) <= 1e-7)
    assert hits["cosine"].max() < 1.0 - 1e-6
    with pytest.raises(ValueError, match="not in this text"):
        nearest_to_run(index32, outside, outside.n_tokens, 4)
