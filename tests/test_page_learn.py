"""AppTests of the Learn pages: the Walk-through (and its Lesson mode) and Head ablation show this
text's own numbers, checked against the engine called directly."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import ROOT, TIMEOUT, app_test, array, figure_specs, markdown_bodies, messages
from streamlit.testing.v1 import AppTest

from encoder import ablation, lesson
from encoder.ablation import ablated_run
from encoder.analysis import head_statistics, sentence_similarity
from encoder.walkthrough import padding_demo, walkthrough

TEXT = "The animal didn't cross the street because it was too tired."


def chart(at, start: str) -> dict:
    matches = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    assert len(matches) == 1, [s["layout"]["title"]["text"] for s in figure_specs(at)]
    return matches[0]


def metric(at, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label.startswith(label)]
    return value


# ---------------------------------------------------------------- walk-through


def test_every_stage_shows_this_texts_numbers(model):
    at = app_test("walkthrough", text=TEXT, layer=2, head=9)
    assert not at.exception
    run = model.run(TEXT, qkv=False)
    walk = walkthrough(model, run, 1, 8)
    assert [h.value for h in at.subheader] == [f"{i + 1}. {s.title}" for i, s in enumerate(lesson.STEPS)]
    np.testing.assert_allclose(array(chart(at, "Attention weights, layer 2 head 9")["data"][0]["z"]),
                               run.attentions[1, 8], atol=1e-6)
    np.testing.assert_allclose(array(chart(at, "Attention, layer 2 head 9")["data"][0]["z"]), run.attentions[1, 8])
    np.testing.assert_allclose(array(chart(at, "Scaled scores")["data"][0]["z"]), walk.scores, atol=1e-6)
    qkv = chart(at, "Queries, keys and values")["data"]
    for trace, expected in zip(qkv, (walk.queries, walk.keys, walk.values), strict=True):
        np.testing.assert_allclose(array(trace["z"]), expected, atol=1e-6)
    concatenated = chart(at, "The heads side by side")["data"][0]
    np.testing.assert_allclose(array(concatenated["z"]), walk.concatenated[:, 7 * 32:10 * 32], atol=1e-6)
    np.testing.assert_allclose(array(concatenated["z"])[:, 32:64], walk.head_output, atol=1e-6)  # head 9's block
    np.testing.assert_allclose(array(chart(at, "Token embeddings")["data"][0]["z"]), run.token_embeddings[:, :32])
    table = at.dataframe[0].value
    assert list(table.loc["id"].astype(int)) == list(run.ids)
    assert metric(at, "Recomposed") == f"{walk.recomposition_error:.1e}"
    assert float(metric(at, "Recomposed")) < 1e-5


def test_padding_stage_shows_zero_weight_on_padded_keys(model):
    at = app_test("walkthrough", text=TEXT, layer=1, head=4, walk_pad_text="Short one.")
    demo = padding_demo(model, TEXT, "Short one.", 0, 3)
    batch = array(chart(at, "Text 2's attention inside the batch")["data"][0]["z"])
    np.testing.assert_allclose(batch, demo.weights[1], atol=1e-6)
    real = int(demo.attention_mask[1].sum())
    assert real < batch.shape[1] and np.all(batch[:real, real:] == 0)
    np.testing.assert_array_equal(array(chart(at, "The batch's attention_mask")["data"][0]["z"]),
                                  demo.attention_mask)
    assert metric(at, "Largest weight on a [PAD] key") == "0"


def test_lesson_mode_asks_then_reveals_from_the_live_numbers(model):
    steps = [0, lesson.STEP_KEYS.index("softmax")]
    at = app_test("walkthrough", text=TEXT, layer=2, head=9, walk_lesson=True, walk_steps=steps, walk_step=1)
    assert not at.exception
    run = model.run(TEXT, qkv=False)
    walk = walkthrough(model, run, 1, 8)
    question = lesson.lesson_questions(run.tokenized.labels, run.special, walk, head_statistics(run),
                                       attentions=run.attentions)["softmax"]
    # the step opens on the head its question is about, whatever head the link named
    assert (at.session_state["layer"], at.session_state["head"]) == (question.layer + 1, question.head + 1)
    assert any(f"In head {question.head + 1} of layer {question.layer + 1}, which other word will “it” "
               "(position 10) attend to most" in body.replace("\\", "") for body in markdown_bodies(at))
    assert not figure_specs(at)  # the numbers wait for the answer
    at.button(key="walkbtn_reveal").click().run()
    assert at.success[0].value.replace("\\", "") == f"#### {question.answer}"
    np.testing.assert_allclose(array(chart(at, "Attention weights")["data"][0]["z"]),
                               run.attentions[question.layer, question.head], atol=1e-6)
    at.button(key="walkbtn_back").click().run()  # back to the tokens: a new step hides the answer again
    assert not at.exception and not at.success
    assert [h.value for h in at.subheader] == ["1. Tokens and ids"]
    assert at.session_state["walk_step"] == 0


def test_a_shared_lesson_link_opens_on_its_step():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": TEXT, "layer": "3", "head": "2", "walk_lesson": "1", "walk_steps": "3,1,99",
                            "walk_step": "1"})
    at.run()
    at.switch_page("pages/walkthrough.py").run()
    assert not at.exception
    assert at.session_state["walk_steps"] == [1, 3]  # sorted, unknown steps dropped
    assert [h.value for h in at.subheader] == ["4. LayerNorm"]
    assert [p.value for p in at.get("progress")] == [100]  # step 2 of 2, in percent
    assert (at.session_state["layer"], at.session_state["head"]) == (3, 2)


def test_a_lesson_link_opens_on_the_previous_token_head(model):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    scores = lesson.STEP_KEYS.index("scores")
    at.query_params.update({"text": TEXT, "layer": "1", "head": "1", "walk_lesson": "1", "walk_steps": str(scores),
                            "walk_step": "0"})
    at.run()
    at.switch_page("pages/walkthrough.py").run()
    assert not at.exception
    run = model.run(TEXT, qkv=False)
    stats = head_statistics(run)
    strongest = stats.loc[stats["prev"].idxmax()]
    assert (at.session_state["layer"], at.session_state["head"]) == (int(strongest["layer"]) + 1,
                                                                      int(strongest["head"]) + 1)
    prompt = (f"Will head {int(strongest['head']) + 1} of layer {int(strongest['layer']) + 1} look mostly at the "
              "previous token?")
    assert any(prompt in body.replace("\\", "") for body in markdown_bodies(at))
    assert strongest["prev"] >= 0.5  # so the revealed answer is "Yes", not "No, 4%"


@pytest.mark.parametrize("text", ["<b>bold</b> <script>alert('x')</script> it *is*", "Café 😀 東京"])
def test_unusual_text_stays_literal(text):
    at = app_test("walkthrough", text=text, walk_lesson=True, walk_steps=[7], walk_step=0)
    assert not at.exception
    bodies = markdown_bodies(at)
    assert bodies and not any("<script" in body or "<b>" in body for body in bodies)


def test_empty_text_says_so():
    at = app_test("walkthrough", text="  ")
    assert not at.exception and not figure_specs(at)
    assert "Type a sentence" in messages(at)


# ---------------------------------------------------------------- ablation


def test_ablation_after_numbers_equal_ablated_run(model):
    off = [(0, 3), (2, 5)]
    at = app_test("ablation", text=TEXT, abl_off=[layer * 12 + head for layer, head in off], abl_rank=False)
    assert not at.exception
    intact, ablated = model.run(TEXT, qkv=False), ablated_run(model, TEXT, None, off)
    assert metric(at, "Heads off") == "2 of 72"
    assert metric(at, "Sentence embedding") == f"{sentence_similarity(intact, ablated):.4f}"
    change = ablation.attention_change(intact.attentions, ablated.attentions)
    grid = chart(at, "How much each head's attention changed")
    np.testing.assert_allclose(array(grid["data"][0]["z"]), change, atol=1e-6)
    assert grid["data"][2]["text"] == ["✕", "✕"]
    assert np.all(change[0] == 0) and change[1:].max() > 0  # nothing before the first switched-off head changes
    thumbnails = chart(at, "Each layer's most changed head")["data"]
    for layer, trace in enumerate(thumbnails):
        head = int(change[layer].argmax())
        np.testing.assert_allclose(array(trace["z"]), ablated.attentions[layer, head] - intact.attentions[layer, head],
                                   atol=1e-6)
    from state import get_sentence_classifier

    classifier, _ = get_sentence_classifier("minilm-l6")  # the page's cached one: trained once per process
    before = ablation.class_probabilities(classifier, intact.hidden_states[-1])
    after = ablation.class_probabilities(classifier, ablated.hidden_states[-1])
    label = int(before.argmax())
    assert metric(at, f"P({classifier.labels[label]})") == f"{before[label]:.3f} → {after[label]:.3f}"
    np.testing.assert_allclose(before, classifier.predict_proba([TEXT])[0], atol=1e-5)


def test_ranking_and_first_visit_default(model):
    at = app_test("ablation", text=TEXT)
    assert not at.exception
    from state import get_head_effects

    effects = get_head_effects("minilm-l6", TEXT)
    table = at.dataframe[0].value
    expected = effects.table.head(len(table))
    np.testing.assert_array_equal(table["layer"], expected["layer"] + 1)
    np.testing.assert_array_equal(table["head"], expected["head"] + 1)
    np.testing.assert_allclose(table["probability_change"], expected["probability_change"])
    first = effects.table[effects.table["layer"] < 5].iloc[0]  # the strongest head with later layers to change
    assert at.multiselect(key="abl_off").value == [int(first["layer"]) * 12 + int(first["head"])]
    grid = array(chart(at, "Each head switched off alone")["data"][0]["z"])
    np.testing.assert_allclose(grid[int(first["layer"]), int(first["head"])], abs(first["probability_change"]),
                               rtol=1e-5)
    at.button(key="ablbtn_clear").click().run()
    assert metric(at, "Heads off") == "0 of 72" and metric(at, "Sentence embedding") == "1.0000"


LONG = ("Like every river in the valley, the old canal ran north, past the mill, the school and the church; "
        "children, teachers and farmers crossed it each morning. ") * 15  # about 500 tokens


def test_a_long_text_walks_through_a_labelled_window_around_the_followed_token(model):
    """Issue 17 §4: at ~500 tokens every map of the walk-through is the window of tokens around the
    token the pages follow, each labelled by its own text and named by its true position."""
    from encoder.attention_view import window_span
    from figures.common import WINDOW_TOKENS

    run = model.run(LONG, qkv=False)
    followed = 250
    at = app_test("walkthrough", text=LONG, layer=2, head=9, att_follow=followed)
    assert not at.exception
    first, end = window_span(run.n_tokens, followed, WINDOW_TOKENS)
    labels = run.tokenized.labels
    overview = chart(at, "Attention, layer 2 head 9")
    np.testing.assert_allclose(array(overview["data"][0]["z"]), run.attentions[1, 8, first:end, first:end])
    for axis in ("xaxis", "yaxis"):
        names, texts = overview["layout"][axis]["tickvals"], overview["layout"][axis]["ticktext"]
        assert [int(name.rsplit(" ·", 1)[1]) for name in names] == list(range(first, end))
        assert texts == [labels[p] for p in range(first, end)]
    assert f"“{labels[followed]}” ·{followed}" in " ".join(c.value for c in at.caption)
    token_maps = [(spec["layout"]["title"]["text"], trace["y"]) for spec in figure_specs(at) for trace in spec["data"]
                  if trace["type"] == "heatmap" and isinstance(trace.get("y"), list) and "·" in trace["y"][0]]
    assert len(token_maps) >= 12  # the overview, and every stage's token rows
    for title, rows in token_maps:  # each the window (the padded batch: its own 24 positions)
        assert len(rows) <= WINDOW_TOKENS, title
        assert title.startswith("Text 2's attention") or int(rows[0].rsplit(" ·", 1)[1]) == first, title
    softmax = chart(at, "Attention weights, layer 2 head 9")
    np.testing.assert_allclose(array(softmax["data"][0]["z"]), run.attentions[1, 8, first:end, first:end], atol=1e-6)


def test_a_long_texts_softmax_question_opens_its_window_on_the_word_it_asks_about(model):
    from figures.common import WINDOW_TOKENS

    run = model.run(LONG, qkv=False)
    query = lesson.attention_query(run.tokenized.labels, run.special, run.attentions)
    at = app_test("walkthrough", text=LONG, att_follow=400, walk_lesson=True,
                  walk_steps=[lesson.STEP_KEYS.index("softmax")], walk_step=0)
    assert not at.exception
    assert at.session_state["att_follow"] == query
    at.button(key="walkbtn_reveal").click().run()
    rows = chart(at, "Attention weights")["layout"]["yaxis"]["tickvals"]
    assert len(rows) == WINDOW_TOKENS and f"{run.tokenized.labels[query]} ·{query}" in rows
