"""figures/shaded_text's message, which the browser draws (figures/shaded, issue 18 §1): the text kept
character for character with each token's span, every score the model's own number, every view the
page's controls can choose held in one message, and hostile text kept as data (shaded.js sets it as
text; tests/e2e/test_shaded_text_drawn.py checks the drawing)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from figures import shaded
from figures.shaded_text import background, drawn_spans, lines_message, message, text_part, view, view_key

HOSTILE = 'a <img src=x onerror=alert(1)> </script><script>alert(2)</script> & "b"'


def test_spans_keep_the_texts_characters_and_leave_special_tokens_out():
    text = "Dogs  bark\nloudly"
    offsets = [(0, 0), (0, 4), (6, 10), (11, 17), None, (2, 3), (40, 50)]
    part = text_part(text, offsets)
    assert part["text"] == text and part["cut"] == ""
    assert part["spans"] == [[0, 4, 1], [6, 10, 2], [11, 17, 3]]  # [CLS], None, inside another, outside: not drawn
    assert drawn_spans("abcdef", [(0, 4), (2, 6)]) == [[0, 4, 0], [4, 6, 1]]  # overlaps clipped
    assert text_part("x" * 50, [(0, 50)], max_chars=10) == {"text": "x" * 10, "spans": [[0, 10, 0]],
                                                            "cut": " … (cut at 10 characters)"}


def test_hostile_text_stays_data_in_the_message():
    offsets = [(0, 1), (2, 30), (31, 40)]
    data = lines_message(HOSTILE, offsets, {"IG </script>": [1.0, -2.0, 0.5]}, names=["a", "<img>", "</script>"])
    sent = json.loads(json.dumps(data))  # what the component receives
    assert sent["texts"][0]["text"] == HOSTILE  # verbatim: the browser sets it as text, so nothing to escape
    assert sent["names"] == ["a", "<img>", "</script>"]
    assert sent["views"][""]["lines"][0]["label"] == "IG </script>"
    start, end, token = sent["texts"][0]["spans"][1]
    assert HOSTILE[start:end] == "<img src=x onerror=alert(1)>" and token == 1


def test_the_browser_code_never_parses_text_as_html():
    script = shaded.module_js("streamlit")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser", script)
    assert "textContent" in script


def test_scales_and_signs_as_the_colours_need_them():
    part = text_part("good bad ok", [(0, 0), (0, 4), (5, 8), (9, 11)])
    vectors = {"m1": [9.0, 1.0, -2.0, 0.5], "m2": [9.0, 0.1, 0.2, np.nan]}
    own = message([part], vectors, {"": view("t", [("m1", 0, "m1"), ("m2", 0, "m2")])})
    lines = own["views"][""]["lines"]
    assert [line["scale"] for line in lines] == [2.0, 0.2]  # each line's largest drawn |score|, not [CLS]'s 9
    assert own["views"][""]["signed"] is True and own["vectors"]["m2"][3] is None
    shared = message([part], vectors, {"": view("t", [("m1", 0, "m1"), ("m2", 0, "m2")], scale="shared")})
    assert [line["scale"] for line in shared["views"][""]["lines"]] == [2.0, 2.0]
    assert background(-2.0, 2.0) == "rgba(5,113,176,0.750)" and background(0.5, 2.0) == "rgba(202,0,32,0.188)"
    assert background(float("nan"), 1.0) == background(1.0, 0.0) == "transparent"
    with pytest.raises(ValueError):  # a vector shorter than the tokens the text draws
        message([part], {"m": [1.0]}, {"": view("t", [(None, 0, "m")])})
    with pytest.raises(ValueError):  # the controls' values name no view
        message([part], vectors, {"a": view("t", [(None, 0, "m1")])}, controls=[("w", {"A": "a"})], shown={"w": "b"})


def test_the_browser_reads_every_key_the_message_has():
    """The message's keys against what shaded.js and its Streamlit adapter read (`message.<key>`,
    `view.<key>`, `line.<key>`, `part.<key>`, `style.<key>`): none sent for nothing."""
    data = message([text_part("ab", [(0, 2)])], {"v": [1.0]}, {"x": view("t", [("L", 0, "v")], note="n")},
                   controls=[("w", {"X": "x"})], shown={"w": "x"}, font_px=18)
    script = shaded.module_js("streamlit")
    read = set(re.findall(r"\b(?:message|held)\.(\w+)", script))
    assert set(data) <= read
    view_read = set(re.findall(r"\bview\.(\w+)", script))
    assert set(data["views"]["x"]) <= view_read
    assert set(data["views"]["x"]["lines"][0]) <= set(re.findall(r"\bline\.(\w+)", script))
    assert set(data["texts"][0]) <= set(re.findall(r"\bpart\.(\w+)", script))
    assert set(data["style"]) <= set(re.findall(r"\bstyle\.(\w+)", script))
    assert set(data["controls"][0]) <= set(re.findall(r"\bcontrol\.(\w+)", script))


def drawn_scores(data: dict, key: str) -> dict[int, float]:
    """Token -> score, for the tokens the view `key` draws (its first line)."""
    line = data["views"][key]["lines"][0]
    vector = data["vectors"][line["vector"]]
    return {token: vector[token] for _, _, token in data["texts"][line["text"]]["spans"]}


SHADES = ("The chosen head", "Mean of the layer's heads", "Rollout through this layer")


@pytest.mark.parametrize("head", [5, "mean"])
def test_the_line_views_message_holds_every_shading_with_the_models_numbers(model, head):
    """Issue 20 §2 and 18 §1: the followed token's row in the chosen head, the mean of the layer's heads,
    rollout through the layer, and the head's per-token statistics (for the mean, averaged over the
    heads), all in one message, so a click on "Shade the text by" or "Statistic" is drawn at once."""
    from apptest import app_test, shaded_message

    from encoder.analysis import rollout, token_statistic_arrays

    text = "Dogs bark loudly at night."
    at = app_test(None, text=text, att_view="Lines", att_shade=SHADES[1], layer=3, head=head, att_follow=2)
    assert not at.exception
    data = shaded_message(at, "att_shade")
    assert data["shown"] == {"att_shade": SHADES[1], "att_shade_stat": "entropy"}
    run = model.run(text)
    words = [i for i in range(run.n_tokens) if not run.special[i]]
    chosen = run.attentions[2, :, 2].mean(0) if head == "mean" else run.attentions[2, 4, 2]
    statistics = token_statistic_arrays(run.attentions[2])  # (H, T) each
    expected = {SHADES[0]: chosen, SHADES[1]: run.attentions[2, :, 2].mean(0),
                SHADES[2]: rollout(run.attentions, "mean", 0.5)[2, 2],
                **{name: values.mean(0) if head == "mean" else values[4] for name, values in statistics.items()}}
    for statistic in ("entropy", "distance", "received"):
        for by in SHADES:
            scores = drawn_scores(data, view_key([by, statistic]))
            np.testing.assert_allclose([scores[i] for i in words], expected[by][words], rtol=1e-5, atol=1e-7)
        scores = drawn_scores(data, view_key(["A head statistic", statistic]))
        np.testing.assert_allclose([scores[i] for i in words], expected[statistic][words], rtol=1e-5, atol=1e-7)
    assert "where bark ·2 looks, layer 3" in data["views"][view_key([SHADES[0], "entropy"])]["title"]
    assert data["texts"][0]["text"] == text
    buttons = {control["key"]: control["labels"] for control in data["controls"]}
    assert buttons["att_shade"][SHADES[2]] == SHADES[2]
    assert buttons["att_shade_stat"]["How far each token looks"] == "distance"


def test_the_rollout_page_and_a_pair_shade_each_sentence_on_its_line(model):
    """Rollout's shaded text: each sentence of a pair its own line, one scale for both (the largest share)."""
    from apptest import app_test, shaded_message

    from encoder.analysis import rollout

    at = app_test("rollout", text="Dogs bark loudly.", pair="Cats sleep.", layer=2, att_follow=1)
    assert not at.exception
    data = shaded_message(at, "any")
    entry = data["views"][""]
    assert [line["label"] for line in entry["lines"]] == ["A", "B"]
    assert [part["text"] for part in data["texts"]] == ["Dogs bark loudly.", "Cats sleep."]
    run = model.run("Dogs bark loudly.", "Cats sleep.")
    shares = rollout(run.attentions, "mean", 0.5)[1, 1]
    assert entry["lines"][0]["scale"] == entry["lines"][1]["scale"] == pytest.approx(shares.max(), rel=1e-5)
    np.testing.assert_allclose(data["vectors"]["shares"], shares, rtol=1e-5, atol=1e-7)


def test_the_followed_rows_rollout_equals_the_whole_rollouts_row():
    """encoder.analysis.rollout_row: a row times the layers below, from the left, at every layer
    (the first included, where there is no layer below)."""
    from encoder.analysis import rollout, rollout_row

    attentions = np.random.default_rng(0).dirichlet(np.ones(9), size=(4, 3, 9)).astype(np.float32)  # (L, H, T, T)
    for fusion, residual in (("mean", 0.5), ("max", 0.3), ("min", 0.0)):
        whole = rollout(attentions, fusion, residual)
        for layer in range(4):
            for position in (0, 4, 8):
                np.testing.assert_allclose(rollout_row(attentions, layer, position, fusion, residual),
                                           whole[layer, position], rtol=1e-12)
