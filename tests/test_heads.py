"""The tutorial's task heads: the data files, mean pooling, training, saving and held-out scores."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import torch
from safetensors import safe_open

from encoder import Model
from encoder.batching import pad_batch
from encoder.heads import (
    NER_TAGS,
    SentenceClassifier,
    TokenTagger,
    default_sentence_classifier,
    default_tagger,
    entity_spans,
    evaluate_entities,
    mean_pool,
    pooled_features,
    read_ner,
    read_sentiment,
    split_sentiment,
    train_sentence_classifier,
    train_tagger,
)
from encoder.heads.data import NER_FILE, SENTIMENT_FILE
from encoder.heads.evaluation import evaluate_labels, repair_bio
from encoder.heads.tagger import tokenize_sentences

# ---------------------------------------------------------------- the data files


def test_sentiment_csv_is_large_balanced_and_without_duplicates():
    with open(SENTIMENT_FILE, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["text", "label"]
    rows = rows[1:]
    assert all(len(row) == 2 and row[0].strip() for row in rows)  # quoting kept every comma inside its text
    assert len(rows) >= 400
    labels = [label for _, label in rows]
    assert labels.count("positive") == labels.count("negative") == len(rows) // 2
    normalised = [re.sub(r"\W+", " ", text.lower()).strip() for text, _ in rows]
    assert len(set(normalised)) == len(rows)
    assert any("," in text for text, _ in rows)


def test_sentiment_split_is_fixed_and_holds_both_labels():
    data = read_sentiment()
    train, test = split_sentiment(data)
    assert len(train) + len(test) == len(data)
    assert len(test) == len(data) // 5
    assert not set(train.texts) & set(test.texts)
    assert 0.4 <= test.labels.count("positive") / len(test) <= 0.6
    assert split_sentiment(data) == (train, test)


def _bio_errors(tags):
    """Positions of an I-X that follows O, the start, or another type."""
    return [i for i, tag in enumerate(tags) if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:])]


def test_ner_tsv_parses_with_consistent_bio_tags():
    lines = NER_FILE.read_text(encoding="utf-8").splitlines()
    split_lines = [line for line in lines if line.startswith("# split:")]
    assert split_lines == ["# split: train", "# split: test"]  # the test block comes last
    for line in lines:
        if line and not line.startswith("#"):
            word, tag = line.split("\t")
            assert word and tag in NER_TAGS and word == word.strip()
    splits = read_ner()
    for sentence in splits["train"] + splits["test"]:
        assert len(sentence.words) == len(sentence.tags)
        assert _bio_errors(sentence.tags) == [], sentence.text


def test_ner_splits_sizes_and_label_balance():
    splits = read_ner()
    train, test = splits["train"], splits["test"]
    assert len(train) + len(test) >= 300
    assert 0.15 <= len(test) / (len(train) + len(test)) <= 0.25
    assert not {s.text for s in train} & {s.text for s in test}
    for sentences in (train, test):
        counts = {kind: sum(t == f"B-{kind}" for s in sentences for t in s.tags) for kind in ("PER", "LOC", "ORG")}
        assert min(counts.values()) >= 0.4 * max(counts.values()), counts  # no type is a rarity
        assert sum(all(t == "O" for t in s.tags) for s in sentences) >= 5  # sentences with no entity
        assert sum(t.startswith("I-") for s in sentences for t in s.tags) >= 20  # multi-word entities
        assert any(s.tags[0] != "O" for s in sentences)  # an entity opens a sentence


def test_ner_words_are_the_tokenizers_words(model):
    splits = read_ner()
    tokenize_sentences(model, splits["train"] + splits["test"])  # raises if any sentence splits differently


# ---------------------------------------------------------------- evaluation, known answers


def test_entity_spans_follow_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-ORG", "I-PER", "B-LOC", "B-LOC"]
    assert entity_spans(tags) == {("PER", 0, 2), ("LOC", 3, 4), ("ORG", 4, 6), ("PER", 6, 7), ("LOC", 7, 8),
                                  ("LOC", 8, 9)}
    assert repair_bio(tags) == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG", "B-PER", "B-LOC", "B-LOC"]
    assert entity_spans(repair_bio(tags)) == entity_spans(tags)


def test_entity_scores_known_answer():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-LOC"]]
    result = evaluate_entities(gold, predicted, ["PER", "LOC", "ORG"])
    per, loc, org = result.scores
    assert (per.precision, per.recall, per.f1, per.support) == (0.0, 0.0, 0.0, 1)  # span too short
    assert (loc.precision, loc.recall, loc.support) == (0.5, 1.0, 1)
    assert loc.f1 == pytest.approx(2 / 3)
    assert (org.precision, org.recall, org.f1) == (1.0, 1.0, 1.0)
    assert (result.micro.precision, result.micro.recall) == (0.5, 2 / 3)
    assert result.token_accuracy == pytest.approx(4 / 6)
    assert list(result.to_frame()["label"]) == ["PER", "LOC", "ORG", "all"]


def test_label_scores_known_answer():
    result = evaluate_labels(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert result.accuracy == 0.75
    assert result.confusion == ((1, 1), (0, 2))
    assert result.scores[1].precision == pytest.approx(2 / 3) and result.scores[0].recall == 0.5


# ---------------------------------------------------------------- mean pooling and features


def test_mean_pool_ignores_padding_whatever_it_holds():
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)  # (B, T, D)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    pooled = mean_pool(hidden, mask)
    assert torch.equal(pooled[0], hidden[0].mean(dim=0))
    assert torch.equal(pooled[1], hidden[1, :2].mean(dim=0))
    hidden[1, 2] = 1e6  # whatever sits in a padded position must not matter
    assert torch.equal(mean_pool(hidden, mask), pooled)


def test_padded_batch_pools_like_single_unpadded_runs(model):
    texts = ["Short one.", "A somewhat longer sentence with several more words in it.", "Medium length text here."]
    batched = pooled_features(model, texts)  # one padded batch
    for i, text in enumerate(texts):
        alone = torch.tensor(model.run(text).hidden_states[-1]).mean(dim=0)  # (D,), no padding at all
        torch.testing.assert_close(batched[i], alone, atol=1e-5, rtol=0)


def test_features_of_any_layer_match_model_run(model):
    texts = ["Short one.", "A second, longer sentence."]
    run = model.run(texts[1])
    for layer in (0, 3, model.config.n_layers):
        pooled = pooled_features(model, texts, layer=layer)[1]
        torch.testing.assert_close(pooled, torch.tensor(run.hidden_states[layer]).mean(dim=0), atol=1e-5, rtol=0)
    assert torch.equal(pooled_features(model, texts), pooled_features(model, texts, layer=model.config.n_layers))
    for bad in (-1, model.config.n_layers + 1):
        with pytest.raises(ValueError, match="layer"):
            pooled_features(model, texts, layer=bad)


# ---------------------------------------------------------------- trained heads (trained once per module)


@pytest.fixture(scope="module")
def classifier(model):
    return default_sentence_classifier(model, seed=0)


@pytest.fixture(scope="module")
def tagger(model):
    return default_tagger(model, seed=0)


def test_classifier_predicts_clear_sentences(classifier):
    texts = ["I loved this film, it was wonderful.", "The food was cold and the service was rude.",
             "Not bad at all.", "The soup was not good."]
    assert classifier.predict(texts) == ["positive", "negative", "positive", "negative"]
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (4, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert classifier.labels == ("negative", "positive")
    assert probabilities[0, 1] > 0.8 and probabilities[1, 0] > 0.8


def test_module_forward_matches_predict(model, classifier, tagger):
    texts = ["Not bad at all.", "Maria Garcia moved to Lisbon to work for Siemens."]
    tokenized = [model.tokenizer.encode(t) for t in texts]
    ids, mask = pad_batch([t.ids for t in tokenized], pad_id=0)  # (2, T)
    with torch.inference_mode():
        hidden = model.encoder(ids, torch.zeros_like(ids), mask).last_hidden_state  # (2, T, D)
        probabilities = torch.softmax(classifier(hidden, mask), dim=-1).numpy()  # (2, C)
        tag_ids = tagger(hidden).argmax(dim=-1)[1]  # (T,)
    np.testing.assert_allclose(probabilities, classifier.predict_proba(texts), atol=1e-5)
    word_ids = tokenized[1].word_ids
    first_subwords = [i for i, w in enumerate(word_ids) if w is not None and w != word_ids[i - 1]]
    tags = repair_bio([tagger.tags[i] for i in tag_ids[first_subwords]])
    assert tags == [tag for _, tag in tagger.predict(texts[1])]


def test_classifier_refuses_a_bare_string(classifier):
    with pytest.raises(TypeError):
        classifier.predict("one text, not a list")


def test_classifier_held_out_accuracy(classifier):
    evaluation = classifier.evaluation
    assert evaluation.n_test == len(split_sentiment(read_sentiment())[1])
    assert evaluation.accuracy >= 0.8
    assert sum(map(sum, evaluation.confusion)) == evaluation.n_test
    assert list(evaluation.to_frame()["label"]) == ["negative", "positive"]


def test_classifier_is_deterministic_given_the_seed(model):
    train, test = split_sentiment(read_sentiment())
    first, second = (
        train_sentence_classifier(model, train.texts[:60], train.labels[:60], seed=3, held_out=(test.texts[:20],
                                  test.labels[:20]))
        for _ in range(2)
    )  # the same code path as default_sentence_classifier, on fewer texts
    assert torch.equal(first.linear.weight, second.linear.weight)
    assert torch.equal(first.linear.bias, second.linear.bias)
    assert first.evaluation == second.evaluation
    texts = ["An ordinary day.", "What a great match!"]
    assert np.array_equal(first.predict_proba(texts), second.predict_proba(texts))


def test_tagger_is_deterministic_given_the_seed(model):
    sentences = read_ner()["train"][:40]
    first, second = (train_tagger(model, sentences, seed=3) for _ in range(2))
    assert torch.equal(first.linear.weight, second.linear.weight)
    assert torch.equal(first.linear.bias, second.linear.bias)
    text = "Maria Garcia moved to Lisbon."
    assert first.tag_text(text) == second.tag_text(text)


def test_tagger_tags_a_clear_sentence(tagger):
    assert tagger.predict("Maria Garcia moved to Lisbon to work for Siemens.") == [
        ("Maria", "B-PER"), ("Garcia", "I-PER"), ("moved", "O"), ("to", "O"), ("Lisbon", "B-LOC"), ("to", "O"),
        ("work", "O"), ("for", "O"), ("Siemens", "B-ORG"), (".", "O"),
    ]
    assert tagger.predict("John Smith works at Google in London.") == [
        ("John", "B-PER"), ("Smith", "I-PER"), ("works", "O"), ("at", "O"), ("Google", "B-ORG"), ("in", "O"),
        ("London", "B-LOC"), (".", "O"),
    ]
    assert all(tag == "O" for _, tag in tagger.predict("We had lunch with friends yesterday."))


def test_tagger_words_are_the_texts_own_characters(tagger):
    text = "  Zoë  O'Neill flew to São Paulo,\tBrazil!"
    tagged = tagger.tag_text(text)
    assert tagged.words == ("Zoë", "O", "'", "Neill", "flew", "to", "São", "Paulo", ",", "Brazil", "!")
    assert all(text[a:b] == word for (a, b), word in zip(tagged.spans, tagged.words, strict=True))
    assert all(0 < c <= 1 for c in tagged.confidence) and not tagged.truncated
    assert [w for w, _ in tagger.predict(text)] == list(tagged.words)
    assert _bio_errors(tagged.tags) == []


def test_tagger_held_out_f1(tagger):
    evaluation = tagger.evaluation
    assert evaluation.level == "entity" and evaluation.n_sentences == len(read_ner()["test"])
    assert [s.label for s in evaluation.scores] == ["PER", "LOC", "ORG"]
    assert evaluation.micro.f1 >= 0.55
    assert evaluation.micro.support == sum(s.support for s in evaluation.scores)


# ---------------------------------------------------------------- saving as safetensors


def test_classifier_safetensors_round_trip(model, classifier, tmp_path):
    path = tmp_path / "classifier.safetensors"
    classifier.save(path)
    with safe_open(str(path), framework="pt") as file:
        assert set(file.keys()) == {"weight", "bias"}
        assert '"all-MiniLM-L6-v2"' in file.metadata()["model_name"]
    loaded = SentenceClassifier.load(path, model)
    assert loaded.layer == classifier.layer == model.config.n_layers
    texts = ["I loved this film, it was wonderful.", "Dreadful service.", "It rained."]
    assert np.array_equal(loaded.predict_proba(texts), classifier.predict_proba(texts))
    assert loaded.labels == classifier.labels and loaded.evaluation == classifier.evaluation


def test_tagger_safetensors_round_trip(model, tagger, tmp_path):
    path = tmp_path / "tagger.safetensors"
    tagger.save(path)
    loaded = TokenTagger.load(path, model)
    text = "Maria Garcia moved to Lisbon to work for Siemens."
    assert loaded.tag_text(text) == tagger.tag_text(text)
    assert loaded.tags == NER_TAGS and loaded.evaluation == tagger.evaluation


def test_loading_refuses_another_model_or_kind(model, classifier, tmp_path):
    path = tmp_path / "classifier.safetensors"
    classifier.save(path)
    other = Model(model.encoder, model.tokenizer, name="some-other-model")
    with pytest.raises(ValueError, match="trained on"):
        SentenceClassifier.load(path, other)
    with pytest.raises(ValueError, match="sentence_classifier"):
        TokenTagger.load(path, model)


def test_a_head_on_another_layer_saves_and_loads_it(model, tmp_path):
    sentences = read_ner()["train"][:30]
    head = train_tagger(model, sentences, seed=0, layer=4)
    assert head.layer == 4
    head.save(tmp_path / "tagger.safetensors")
    loaded = TokenTagger.load(tmp_path / "tagger.safetensors", model)
    assert loaded.layer == 4
    text = "Kwame Nkrumah was born in Ghana."
    assert loaded.tag_text(text) == head.tag_text(text)


def test_train_on_your_own_labels(model):
    texts = ["red apple", "green leaf", "red fire truck", "green grass", "red rose", "green frog"]
    head = train_sentence_classifier(model, texts, ["red", "green"] * 3, seed=1, label_names=("green", "red"))
    assert head.evaluation is None
    assert head.predict(["a red strawberry", "green lettuce"]) == ["red", "green"]
