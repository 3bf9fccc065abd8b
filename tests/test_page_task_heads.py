"""AppTests of the Task heads page: the typed text's sentiment and tags are those of the heads trained
directly with `encoder.heads`, the held-out scores are theirs, and typed text stays literal."""

from __future__ import annotations

import numpy as np
from apptest import app_test, array, figure_specs, markdown_bodies

from encoder.heads import default_sentence_classifier, default_tagger

TEXT = "Maria Garcia loved the new museum in Lisbon, not bad at all."
HOSTILE = "<b>Ana</b> met *Bob* in [Paris](javascript:alert(1)) `x`"


def chart(at, start: str) -> dict:
    matches = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    assert len(matches) == 1, [s["layout"]["title"]["text"] for s in figure_specs(at)]
    return matches[0]


def table(at, column: str, value: str | None = None):
    """The one shown table that has `column` (holding `value`, if given)."""
    matches = [d.value for d in at.dataframe
               if column in d.value.columns and (value is None or value in set(d.value[column]))]
    assert len(matches) == 1, [list(d.value.columns) for d in at.dataframe]
    return matches[0]


def metric(at, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label.startswith(label)]
    return value


def test_prediction_tags_and_scores_are_the_heads_own(model):
    at = app_test("task_heads", text=TEXT, layer=2, head=3, task_layer=4)
    assert not at.exception
    classifier = default_sentence_classifier(model, layer=4)
    tagger = default_tagger(model, layer=4)
    expected = classifier.predict_proba([TEXT])[0]
    bars = chart(at, "The classifier's probabilities")["data"][0]
    np.testing.assert_allclose(array(bars["x"]), expected, rtol=1e-5)
    assert metric(at, "Prediction") == classifier.labels[int(np.argmax(expected))]
    assert metric(at, "Held-out accuracy") == f"{classifier.evaluation.accuracy:.1%}"
    np.testing.assert_allclose(array(chart(at, "Attention, layer 2 head 3")["data"][0]["z"]),
                               model.run(TEXT).attentions[1, 2], atol=1e-6)

    words = table(at, "word")
    assert list(zip(words["word"], words["tag"], strict=True)) == tagger.predict(TEXT)
    assert "B-PER" in set(words["tag"]) and "B-LOC" in set(words["tag"])
    f1 = table(at, "label", "all")
    np.testing.assert_allclose(f1["f1"].to_numpy(), tagger.evaluation.to_frame()["f1"].to_numpy())
    assert metric(at, "Held-out F1") == f"{tagger.evaluation.micro.f1:.2f}"


def test_last_layer_is_the_default_and_pooling_weights_are_uniform(model):
    at = app_test("task_heads", text=TEXT, task_view="Mean-pooling weights")
    assert not at.exception
    assert at.session_state["task_layer"] == model.config.n_layers
    expected = default_sentence_classifier(model).predict_proba([TEXT])[0]
    np.testing.assert_allclose(array(chart(at, "The classifier's probabilities")["data"][0]["x"]), expected,
                               rtol=1e-5)
    n_tokens = len(model.tokenizer.encode(TEXT))
    np.testing.assert_allclose(array(chart(at, "Mean pooling")["data"][0]["y"]), np.full(n_tokens, 1 / n_tokens))


def test_typed_text_is_shown_literally():
    at = app_test("task_heads", text=HOSTILE, task_layer=6)
    assert not at.exception
    tags = chart(at, "Your text, tagged")["data"][0]
    assert "&lt;b&gt;" in "".join(tags["text"]) and "<b>" not in "".join(tags["text"])
    bodies = markdown_bodies(at)
    assert bodies and not any("Ana" in body or "javascript" in body for body in bodies)


def test_the_tutorial_is_named_by_what_it_teaches_where_it_is_first_mentioned():
    at = app_test("task_heads", text=TEXT, task_layer=6)
    assert not at.exception
    (intro,) = [c.value for c in at.caption if "tutorial" in c.value]
    assert intro.startswith("The Transformer-encoder tutorial Headlight implements, the one the Walk-through follows")
    assert "sinusoidal positions" in intro and "padding mask" in intro
    # later mentions point back to it rather than to some other "tutorial"
    assert at.select_slider(key="task_layer").help.startswith("The hidden state both heads read. That tutorial")
