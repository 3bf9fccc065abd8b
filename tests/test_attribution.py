"""Attributions and faithfulness (issue 19): the fixed API, integrated gradients' completeness, Chefer
et al.'s attention × gradient on a hand-computed example, ERASER's comprehensiveness and sufficiency
on a hand-computed toy model, and occlusion above random on held-out sentiment sentences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoder.attribution import (
    METHODS,
    RANDOM,
    Explainer,
    attribute,
    attribute_all,
    available_targets,
    chefer_relevance,
    class_probability,
    erase,
    faithfulness,
    faithfulness_report,
    similarity,
)
from encoder.attribution.faithfulness import ranking, top_counts
from encoder.heads import default_sentence_classifier, read_sentiment, split_sentiment

TEXT = "The plot was dull but the acting was superb."


@pytest.fixture(scope="module")
def positive(model):
    return class_probability(default_sentence_classifier(model), "positive")


def test_fixed_api_names(model, positive):
    for name in ("gradient_x_input", "integrated_gradients", "occlusion", "attention_x_gradient", "raw_attention",
                 "rollout", "value_weighted"):
        assert name in METHODS
    a = attribute(model, TEXT, positive, method="integrated_gradients")
    assert a.tokens[0] == "[CLS]" and len(a.tokens) == len(a.scores) == a.scores.shape[0]
    assert a.scores.dtype == np.float64 and np.isfinite(a.scores).all()
    assert a.completeness_error is not None
    assert attribute(model, TEXT, positive, method="occlusion").completeness_error is None
    with pytest.raises(ValueError, match="Unknown method"):
        attribute(model, TEXT, positive, method="saliency_by_vibes")


def test_integrated_gradients_complete_within_five_percent(model, positive):
    explainer = Explainer(model, TEXT, positive)
    a = explainer.attribute("integrated_gradients", steps=50, baseline="pad")
    with torch.no_grad():  # f(x) − f(baseline), computed here rather than taken from Captum's delta
        baseline = explainer.backend.baseline_embedding(explainer.prepared, "pad")
        gap = explainer.value - float(explainer.function(baseline)[0])
    assert abs(gap) > 0.05  # the baseline moves the target: the check below is not 0 ≈ 0
    assert abs(a.scores.sum() - gap) / abs(gap) < 0.05
    assert a.completeness_error < 0.05
    # the words carry the sentiment: "dull" lowers P(positive), "superb" raises it
    words = dict(zip(a.tokens, a.scores, strict=True))
    assert words["dull"] < 0 < words["superb"]


def test_chefer_attention_x_gradient_on_a_hand_computed_two_layer_example():
    # two layers, two heads, two tokens; head 2's gradients are zero, so it halves each layer's map
    a1 = np.array([[[0.5, 0.5], [0.2, 0.8]], [[0.3, 0.7], [0.6, 0.4]]])
    g1 = np.array([[[1.0, -1.0], [2.0, 1.0]], np.zeros((2, 2))])
    a2 = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]]])
    g2 = np.array([[[1.0, 1.0], [-1.0, 2.0]], np.zeros((2, 2))])
    # layer 1: Ā = mean_h max(0, ∇A ⊙ A) = [[0.25, 0], [0.2, 0.4]]; R = I + Ā = [[1.25, 0], [0.2, 1.4]]
    # layer 2: Ā = [[0.5, 0], [0, 0.5]]; R = R + Ā R = 1.5 R = [[1.875, 0], [0.3, 2.1]]
    expected = np.array([[1.875, 0.0], [0.3, 2.1]])
    assert np.allclose(chefer_relevance(np.stack([a1, a2]), np.stack([g1, g2])), expected)


def test_attention_x_gradient_on_the_model(model, positive):
    a = attribute(model, TEXT, positive, method="attention_x_gradient")
    layers, heads = model.config.n_layers, model.config.n_heads
    assert a.per_head.shape == (layers, heads, len(a.tokens)) and (a.per_head >= 0).all()
    assert np.isfinite(a.scores).all() and a.scores.max() > 0


def toy_values(keep: torch.Tensor) -> np.ndarray:
    """A linear toy model: f = Σ_j w_j over the tokens kept; tokens 0 and 4 are special."""
    weights = torch.tensor([0.0, 3.0, 1.0, 2.0, 0.0], dtype=torch.float64)
    return (keep.double() @ weights).numpy()


def test_comprehensiveness_and_sufficiency_on_a_hand_computed_toy_model():
    removable = np.array([False, True, True, True, False])
    scores = np.array([9.0, 0.9, 0.1, 0.5, 9.0])  # specials score high but are never ranked
    order = ranking(scores, removable)
    assert order.tolist() == [1, 3, 2]
    assert top_counts(3, (1, 50)).tolist() == [1, 2]  # ⌈0.03⌉ = 1, ⌈1.5⌉ = 2
    e = erase(toy_values, 6.0, {"m": order, "worst": order[::-1].copy()}, removable, percents=(1, 50))
    # f(x) = 6. Top 1 = token 1 (w 3): without it 3, only it 3. Top 2 = tokens 1, 3 (w 5): without 1, only 5.
    assert e["m"].comprehensiveness.tolist() == [3.0, 5.0] and e["m"].sufficiency.tolist() == [3.0, 1.0]
    assert e["m"].without_top.tolist() == [3.0, 1.0]
    # the reversed ranking removes token 2 (w 1) then tokens 2, 3 (w 3)
    assert e["worst"].comprehensiveness.tolist() == [1.0, 3.0] and e["worst"].sufficiency.tolist() == [5.0, 3.0]


def test_occlusion_is_more_faithful_than_random_on_held_out_sentiment(model, positive):
    _, held_out = split_sentiment(read_sentiment())
    texts = list(held_out.texts[:12])
    seen = []
    report = faithfulness_report(model, texts, positive, methods=["occlusion", "raw_attention"],
                                 progress=lambda done, total: seen.append((done, total)))
    table = report.table.set_index("method")
    assert list(report.table.columns[:4]) == ["method", "comprehensiveness", "sufficiency", "n_texts"]
    assert set(table.index) == {"occlusion", "raw_attention", RANDOM} and (table["n_texts"] == 12).all()
    assert table.loc["occlusion", "comprehensiveness"] > table.loc[RANDOM, "comprehensiveness"]
    assert table.loc["occlusion", "sufficiency"] < table.loc[RANDOM, "sufficiency"]
    assert seen[-1] == (12, 12) and len(seen) == 12
    assert "[MASK]" in report.removal
    assert set(report.curves["percent"]) == {1, 5, 10, 20, 50}


def test_faithfulness_returns_one_row_per_method_and_random(model, positive):
    table = faithfulness(model, [TEXT], positive, methods=["rollout", "gradient_x_input"])
    assert sorted(table["method"]) == sorted(["rollout", "gradient_x_input", RANDOM])
    assert np.isfinite(table[["comprehensiveness", "sufficiency"]].to_numpy()).all()


def test_every_method_scores_every_token(model, positive):
    results = attribute_all(model, TEXT, positive, METHODS, steps=16)
    n = len(results["occlusion"].tokens)
    for method, a in results.items():
        assert a.scores.shape == (n,) and np.isfinite(a.scores).all(), method
    assert results["occlusion"].scores[0] == 0.0  # [CLS] is never removed, so never scored by occlusion


def test_similarity_target_and_what_a_model_offers(model):
    target = similarity(model, "The acting was wonderful.")
    a = attribute(model, TEXT, target, method="integrated_gradients", baseline="zero")
    assert -1.0 <= a.value <= 1.0 and a.completeness_error < 0.05
    offered = available_targets(model)
    assert offered["classifier"] is None and offered["similarity"] is None
    assert offered["model_tags"] and offered["next_token"]  # reasons, in words


def test_a_target_for_another_model_is_refused(model, positive):
    from encoder.lab import make_task, task_config
    from encoder.lab.model import TaskModel

    lab = TaskModel(task_config(make_task("reverse")), make_task("reverse"))
    with pytest.raises(ValueError, match="belongs to"):
        attribute(lab, "12345678", positive)


def test_token_targets_read_one_position_and_keep_it(model):
    from torch import nn

    from encoder.attribution import model_tag_probability, tag_probability
    from encoder.heads import TokenTagger
    from encoder.run import Model

    tagger = TokenTagger(model, seed=0)  # untrained: the target's shape is what is checked here
    text, position = "Maria Garcia moved to Lisbon.", 1
    a = attribute(model, text, tag_probability(tagger, "B-PER", position), method="integrated_gradients")
    assert a.completeness_error < 0.05 and a.target == "P(B-PER) at token 1"
    occlusion = attribute(model, text, tag_probability(tagger, "B-PER", position), method="occlusion")
    assert occlusion.scores[position] == 0.0 and np.abs(occlusion.scores).max() > 0  # its own token stays
    torch.manual_seed(0)
    tagging = Model(model.encoder, model.tokenizer, "toy tagger", token_classifier=nn.Linear(384, 3),
                    id2label=["O", "B-X", "I-X"])
    own = attribute(tagging, text, model_tag_probability(tagging, "B-X", position), method="attention_x_gradient")
    assert own.per_head.shape[-1] == len(own.tokens) and np.isfinite(own.scores).all()
    with pytest.raises(ValueError, match="token-classification head"):
        model_tag_probability(model, "B-X", 1)
