"""Issue 17 §2: one view, shared by every page. A choice made in one page's "View options" (hide
[CLS]/[SEP], renormalise, merge subwords, the window), the layer, the head and the followed token hold
on every page that draws attention or something derived from it, and the link carries them once."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app_test, array, figure_specs, messages, open_page

from encoder.analysis import normalize_rows, rollout, value_weighted

TEXT = "The animal didn't cross the street because it was too tired."
VIEWS = [  # Models › Compare two models needs a second model: tests/test_page_second_model.py
    "attention", "rollout", "value_weighted", "methods", "qk", "models", "minimal_pairs"]


def chart(at, start: str) -> dict:
    found = [spec for spec in figure_specs(at) if spec["layout"]["title"]["text"].startswith(start)]
    assert len(found) == 1, [spec["layout"]["title"]["text"] for spec in figure_specs(at)]
    return found[0]


def test_a_choice_on_one_page_holds_on_every_page():
    at = app_test(None, text=TEXT, layer=3, head=5)
    at.session_state["att_hide_special"] = True
    at.session_state["att_merge"] = True
    at.session_state["att_window"] = 24
    at.session_state["att_follow"] = 8
    at.run()
    for page in VIEWS:
        open_page(at, page)
        assert not at.exception, page
        state = at.session_state
        assert (state["att_hide_special"], state["att_merge"], state["att_window"]) == (True, True, 24), page
        assert [t.value for t in at.toggle if t.key == "att_hide_special"] == [True], page  # the one shared control
        if page != "minimal_pairs":  # which opens on the head that changes most between its two texts
            assert (state["layer"], state["head"], state["att_follow"]) == (3, 5, 8), page


def test_rollout_and_value_weighted_honour_hidden_specials_and_renormalised_rows(model):
    run = model.run(TEXT)
    kept = [i for i, special in enumerate(run.special) if not special]
    at = app_test("rollout", text=TEXT, layer=6, att_hide_special=True, att_renormalize=True)
    assert not at.exception
    expected = rollout(run.attentions)[-1][np.ix_(kept, kept)]
    drawn = chart(at, "Rollout through layer 6")["data"][0]
    np.testing.assert_allclose(array(drawn["z"]), expected / expected.sum(-1, keepdims=True), atol=1e-6)
    assert "[CLS]" not in drawn["y"]

    at = app_test("value_weighted", text=TEXT, layer=2, head=3, att_hide_special=True, att_renormalize=False)
    assert not at.exception
    alpha = chart(at, "Raw attention α, layer 2, head 3")["data"][0]
    np.testing.assert_allclose(array(alpha["z"]), run.attentions[1, 2][np.ix_(kept, kept)], atol=1e-6)
    weighted = normalize_rows(value_weighted(run)[1, 2])[np.ix_(kept, kept)]
    np.testing.assert_allclose(array(chart(at, "Value-weighted")["data"][0]["z"]), weighted, atol=1e-6)
    assert "less here where special tokens are hidden" in " ".join(str(c.value) for c in at.caption)


def test_methods_merge_keys_into_words_and_say_what_does_not_apply(model):
    text = "Tokenization is unbelievable, she said."
    run = model.run(text)
    she = run.tokens.index("she")
    at = app_test("methods", text=text, layer=2, head=4, att_merge=True, att_hide_special=True)
    at.session_state["att_follow"] = she  # after the Attention page, which app_test opens first, chose its own
    at.run()
    assert not at.exception
    spec = chart(at, "Where “she”")
    words = [str(x) for x in spec["data"][0]["x"]]
    assert any("Tokenization" in w for w in words) and not any("[CLS]" in w for w in words)
    raw = run.attentions[1, 3, she]
    pieces = [i for i, w in enumerate(run.word_ids) if w == run.word_ids[1] and not run.special[i]]
    kept = [i for i, special in enumerate(run.special) if not special]
    np.testing.assert_allclose(array(spec["data"][0]["z"])[0][0], raw[pieces].sum() / raw[kept].sum(), atol=1e-6)
    assert "View options not applied here: renormalise rows" in " ".join(str(c.value) for c in at.caption)


@pytest.mark.parametrize("page", ["rollout", "value_weighted", "models"])
def test_a_hidden_followed_token_is_said_to_be_hidden(page):
    at = app_test(page, text=TEXT, att_hide_special=True)
    at.session_state["att_follow"] = 0  # [CLS]
    at.run()
    assert not at.exception
    if page != "models":  # the Models page's map follows no token
        assert "the token you follow is not in this view" in messages(at)


def test_the_link_carries_the_shared_view_from_any_page():
    at = app_test("rollout", text=TEXT, layer=6, att_hide_special=True, att_window=24)
    assert not at.exception
    params = at.query_params
    assert (params["att_hide_special"], params["att_window"], params["layer"]) == ("1", "24", "6")


def test_qk_hides_special_keys_renormalises_the_weights_and_never_the_logits(model):
    run = model.run(TEXT, qkv=True)
    kept = [i for i, special in enumerate(run.special) if not special]
    at = app_test("qk", text=TEXT, layer=3, head=5, att_follow=10, att_hide_special=True, att_renormalize=True)
    assert not at.exception
    bars = chart(at, "From scores to weights")["data"]
    row = run.attentions[2, 4, 10][kept]
    np.testing.assert_allclose(array(bars[2]["y"]), row / row.sum(), atol=1e-5)  # the model's row, renormalised
    assert not any("[CLS]" in str(x) for x in bars[2]["x"])
    captions = " ".join(str(c.value) for c in at.caption)
    assert "logits, not shares, so they are never renormalised" in captions


def test_minimal_pairs_hide_special_words_and_renormalise_both_texts(model):
    from encoder.analysis import minimal_pair

    a, b = "The cat sat on the mat.", "The dog sat on the mat."
    at = app_test("minimal_pairs", text=a, pair=b, att_hide_special=True, att_renormalize=True)
    at.session_state["layer"], at.session_state["head"] = 2, 3
    at.run()
    assert not at.exception
    pair = minimal_pair(model.run(a), model.run(b))
    keep = [i for i, special in enumerate(pair.special) if not special]
    spec = chart(at, "Attention in B minus A, layer 2, head 3")["data"][0]
    assert "[CLS]" not in spec["y"] and len(spec["y"]) == len(keep)
    rows_a = pair.attention_a[1, 2][np.ix_(keep, keep)]
    rows_b = pair.attention_b[1, 2][np.ix_(keep, keep)]
    expected = rows_b / rows_b.sum(-1, keepdims=True) - rows_a / rows_a.sum(-1, keepdims=True)
    np.testing.assert_allclose(array(spec["z"]), expected, atol=1e-6)
    assert "merge subwords, the two texts are always aligned word by word" not in " ".join(
        str(c.value) for c in at.caption)  # merge is off: nothing to say


@pytest.mark.parametrize(("text", "said"), [(TEXT, False), (" ".join([TEXT] * 6), True)], ids=["short", "long"])
def test_the_window_is_named_as_not_applied_only_where_it_would_change_something(text, said):
    """The readable window (48 tokens by default) changes nothing on a text shorter than it: a view that
    draws its maps whole says so only for a longer text, not on every short sentence."""
    at = app_test("models", text=text)
    assert not at.exception
    captions = " ".join(str(c.value) for c in at.caption)
    assert ("readable window" in captions) is said, captions
