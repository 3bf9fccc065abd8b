"""The lesson's steps and questions: answers read from the live numbers, checked against
independent computations, the same on every call; and the Learn pages' summaries."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from encoder import ablation, lesson
from encoder.analysis import head_statistics
from encoder.walkthrough import walkthrough

TEXT = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def run(model):
    return model.run(TEXT, qkv=False)


def questions_for(model, run, layer, head, padded=0.0):
    walk = walkthrough(model, run, layer, head)
    return walk, lesson.lesson_questions(run.tokenized.labels, run.special, walk, head_statistics(run),
                                         model.learned_position_table(), padded)


def unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_steps_follow_the_course_order():
    assert lesson.STEP_KEYS == ("tokens", "token_embeddings", "positions", "layer_norm", "qkv", "scores", "mask",
                                "softmax", "weighted_values", "concatenated", "output_projection",
                                "residual_attention", "feed_forward", "residual_feed_forward", "next_layer")
    assert len({step.title for step in lesson.STEPS}) == len(lesson.STEPS)


def test_explanations_fill_in_the_model_and_say_whether_it_scales(model, run):
    walk = walkthrough(model, run, 0, 0)
    facts = lesson.facts(walk, run.n_layers, False, "gelu")
    assert (facts.d_model, facts.n_heads, facts.d_head, facts.d_ff) == (384, 12, 32, 1536)
    assert "does not scale" in lesson.explanation("token_embeddings", facts)  # MiniLM is BERT-like
    scaled = lesson.Facts(**{**facts.__dict__, "token_scale": float(np.sqrt(512)), "d_model": 512})
    assert "multiplies them by √d_model = 22.63" in lesson.explanation("token_embeddings", scaled)
    assert "384 / 12 = 32" in lesson.explanation("qkv", facts)
    for key in lesson.STEP_KEYS:
        assert lesson.explanation(key, facts)


def test_attention_question_asks_about_it_and_answers_with_the_rows_argmax(model, run):
    _, questions = questions_for(model, run, 1, 8)
    question = questions["softmax"]
    it = run.tokens.index("it")
    assert "“it” (position 10)" in question.prompt
    row = run.attentions[1, 8, it].copy()
    row[np.asarray(run.special)] = -1  # the answer leaves [CLS] and [SEP] out, and says so
    best = int(np.argmax(row))
    assert question.answer.startswith(f"“{run.tokens[best]}” (position {best})")
    assert f"{run.attentions[1, 8, it, best]:.2f}" in question.answer


def test_without_a_pronoun_the_most_confident_content_word_is_asked():
    tokens = ["[CLS]", "cats", "sleep", ".", "[SEP]"]
    special = [True, False, False, False, True]
    weights = np.full((5, 5), 0.2)
    weights[2] = [0.0, 0.9, 0.1, 0.0, 0.0]
    assert lesson.attention_query(tokens, special, weights) == 2
    assert lesson.attention_query(["[CLS]", ".", "[SEP]"], [True, False, True], weights[:3, :3]) is None


def test_position_question_matches_an_independent_cosine(model, run):
    _, questions = questions_for(model, run, 0, 0)
    table = unit(model.learned_position_table())
    cos = table @ table[10]
    cos[10] = -2
    assert questions["positions"].answer == f"Position {int(np.argmax(cos))}"
    assert questions["positions"].answer in ("Position 9", "Position 11")  # neighbours look alike


def test_previous_token_question_follows_the_statistics(model, run):
    stats = head_statistics(run)
    for row in (stats.loc[stats["prev"].idxmax()], stats.loc[stats["prev"].idxmin()]):
        _, questions = questions_for(model, run, int(row["layer"]), int(row["head"]))
        expected = "Yes" if row["prev"] >= 0.5 else "No"
        assert questions["scores"].answer.startswith(f"{expected}: on average {row['prev']:.0%}")
    assert stats["prev"].max() >= 0.5  # MiniLM has a previous-token head, so both answers occur


def test_token_embedding_and_next_layer_answers(model, run):
    _, questions = questions_for(model, run, 2, 3)
    answer = questions["token_embeddings"].answer
    words = [w for w in dict.fromkeys(run.tokens) if w not in ("[CLS]", "[SEP]", "'", ".")]
    vectors = unit(np.stack([run.token_embeddings[run.tokens.index(w)] for w in words]))
    cos = vectors @ vectors.T
    np.fill_diagonal(cos, -2)
    a, b = sorted(np.unravel_index(int(np.argmax(cos)), cos.shape))
    assert answer == f"“{words[a]}” and “{words[b]}”"
    before, after = unit(run.hidden_states[2]), unit(run.hidden_states[3])
    most = int(np.argmax(1 - (before * after).sum(-1)))
    assert questions["next_layer"].answer == f"“{run.tokens[most]}” (position {most})"
    assert questions["concatenated"].answer == "12 × 32 = 384"
    assert questions["mask"].answer == "Exactly 0"


def test_questions_are_deterministic_and_optional_parts_drop_out(model, run):
    _, first = questions_for(model, run, 3, 5)
    _, second = questions_for(model, run, 3, 5)
    assert first == second
    walk = walkthrough(model, run, 3, 5)
    bare = lesson.lesson_questions(run.tokenized.labels, run.special, walk, head_statistics(run))
    assert "positions" not in bare and "mask" not in bare and "softmax" in bare


def test_summaries():
    matrix = np.array([[3.0, 4.0], [1.0, -1.0]])
    np.testing.assert_allclose(lesson.token_norms(matrix), [5.0, np.sqrt(2)], rtol=1e-6)
    mean, std = lesson.row_mean_std(matrix)
    np.testing.assert_allclose(mean, [3.5, 0.0])
    np.testing.assert_allclose(std, [0.5, 1.0])
    np.testing.assert_allclose(lesson.token_turn(matrix, 2 * matrix), [0, 0], atol=1e-6)
    np.testing.assert_allclose(lesson.token_turn(matrix, -matrix), [2, 2], atol=1e-6)
    np.testing.assert_allclose(lesson.active_share(np.array([[1.0, -0.1, 0.0, 2.0]])), [0.5])
    assert lesson.concatenated_window(12, 32, 0) == (0, 64)
    assert lesson.concatenated_window(12, 32, 5) == (128, 224)
    assert lesson.concatenated_window(12, 32, 11) == (320, 384)


def test_attention_change_is_a_mean_total_variation():
    same = np.full((1, 1, 2, 2), 0.5)
    np.testing.assert_allclose(ablation.attention_change(same, same), [[0.0]])
    a = np.array([[[[1.0, 0.0], [0.5, 0.5]]]])
    b = np.array([[[[0.0, 1.0], [0.5, 0.5]]]])
    np.testing.assert_allclose(ablation.attention_change(a, b), [[0.5]])  # rows: 1 and 0


def test_class_probabilities_pools_and_applies_the_classifier():
    class MeanLinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)
            with torch.no_grad():
                self.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
                self.linear.bias.zero_()

        def forward(self, hidden, mask):
            return self.linear((hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))

    hidden = np.array([[2.0, 0.0, 5.0], [0.0, 0.0, 5.0]], dtype=np.float32)  # mean (1, 0, 5)
    expected = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    np.testing.assert_allclose(ablation.class_probabilities(MeanLinear(), hidden), expected, rtol=1e-6)


def test_effect_grid_places_each_row():
    table = pd.DataFrame({"layer": [1, 0], "head": [0, 1], "shift": [0.3, 0.1]})
    grid = ablation.effect_grid(table, "shift", 2, 2)
    np.testing.assert_allclose(grid, [[np.nan, 0.1], [0.3, np.nan]])


# ---------------------------------------------------------------- issue 17 §7: no answer before the reveal


def full_questions(model, run, layer=0, head=0, padded=0.0):
    walk = walkthrough(model, run, layer, head)
    facts = lesson.facts(walk, run.n_layers, model.config.causal, model.config.activation)
    questions = lesson.lesson_questions(run.tokenized.labels, run.special, walk, head_statistics(run),
                                        model.learned_position_table(), padded, attentions=run.attentions)
    return facts, questions


@pytest.mark.parametrize("text", [TEXT, "Dogs bark loudly at night.", "She said that they would come back, later."])
def test_no_question_shows_its_answer_before_the_reveal(model, text):
    run = model.run(text, qkv=False)
    facts, questions = full_questions(model, run)
    assert set(questions) >= {"mask", "concatenated", "scores", "softmax"}
    for key, question in questions.items():
        before = lesson.explanation(key, facts) + "\n" + question.prompt  # all a class sees before Reveal
        assert question.values, key
        for value in question.values:
            pattern = rf"(?<![\w.]){re.escape(value)}(?![\w])"
            assert not re.search(pattern, before, flags=re.IGNORECASE), (key, value, before)
    # the two the issue names
    assert "exactly 0" not in lesson.explanation("mask", facts).lower()
    assert questions["mask"].values == ("0",) and questions["mask"].answer == "Exactly 0"
    assert "384" not in lesson.explanation("concatenated", facts) + questions["concatenated"].prompt
    assert questions["concatenated"].answer == "12 × 32 = 384"


def test_each_head_question_names_the_head_the_live_numbers_pick(model, run):
    _, questions = full_questions(model, run, 0, 0)  # the walk's own head plays no part
    stats = head_statistics(run)
    strongest = stats.loc[stats["prev"].idxmax()]
    scores = questions["scores"]
    assert (scores.layer, scores.head) == (int(strongest["layer"]), int(strongest["head"]))
    assert f"head {scores.head + 1} of layer {scores.layer + 1}" in scores.prompt
    assert scores.answer.startswith(f"Yes: on average {strongest['prev']:.0%}")
    softmax = questions["softmax"]
    it = run.tokens.index("it")
    others = ~np.asarray(run.special)
    others[it] = False
    peaks = run.attentions[:, :, it][..., others].max(-1)  # (L, H)
    assert (softmax.layer, softmax.head) == np.unravel_index(int(peaks.argmax()), peaks.shape)
    row = np.where(others, run.attentions[softmax.layer, softmax.head, it], -1)
    best = int(row.argmax())
    assert softmax.answer.startswith(f"“{run.tokens[best]}” (position {best})")
    assert f"head {softmax.head + 1} of layer {softmax.layer + 1}" in softmax.prompt
    assert lesson.question_heads(run.tokenized.labels, run.special, run.attentions, stats) == {
        "scores": (scores.layer, scores.head), "softmax": (softmax.layer, softmax.head)}
