"""AppTests of the Attention page: real model, numbers checked against the run."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import ROOT, TIMEOUT, app_test, array, explorer_shows, figure_specs, messages
from streamlit.testing.v1 import AppTest

TEXT = "The cat chased the other cat."


def heatmap(at) -> dict:
    return figure_specs(at)[0]["data"][0]


def choose(at, **state) -> None:
    """What a pick in the explorer does (figures/explorer.js tells the page, which keeps it in the
    session): here set in the session directly, then the page runs."""
    for key, value in state.items():
        at.session_state[key] = value
    at.run()


def test_shows_the_chosen_head_exactly(model):
    at = app_test(None, text=TEXT, layer=3, head=5)
    assert not at.exception
    np.testing.assert_array_equal(array(heatmap(at)["z"]), model.run(TEXT).attentions[2, 4])
    # the main map and the followed token's; the thumbnails are painted in the browser (grids.js)
    assert len(figure_specs(at)) == 2 and explorer_shows(at)["grids"]["heads"] == "All heads of layer 3"
    assert explorer_shows(at)["bytes"] < 400_000


def test_a_chosen_layer_and_head_change_the_heatmap(model):
    at = app_test(None, text=TEXT)
    choose(at, layer=6, head=12)
    assert not at.exception
    np.testing.assert_array_equal(array(heatmap(at)["z"]), model.run(TEXT).attentions[5, 11])
    choose(at, head="mean")
    np.testing.assert_allclose(array(heatmap(at)["z"]), model.run(TEXT).attentions[5].mean(0), atol=1e-7)


def test_view_options(model):
    at = app_test(None, text="Tokenization is unbelievable", layer=2, head=2)
    at.toggle(key="att_hide_special").set_value(True).run()
    z = array(heatmap(at)["z"])
    assert z.shape == (len(model.run("Tokenization is unbelievable").tokens) - 2,) * 2
    np.testing.assert_allclose(z.sum(-1), 1, atol=1e-5)
    at.toggle(key="att_merge").set_value(True).run()
    assert array(heatmap(at)["z"]).shape == (3, 3)
    choose(at, att_log="log", att_scale="Viridis")  # chosen in the explorer, kept in the session
    assert not at.exception
    assert explorer_shows(at)["colour"] == ("Viridis", "log")
    assert "log colour" in heatmap(at)["colorbar"]["title"]["text"]


def test_pair_blocks(model):
    at = app_test(None, text="Where is it?", pair="Over there.", layer=2, head=1)
    run = model.run("Where is it?", "Over there.")
    block_control(at).set_value("B→A").run()
    assert not at.exception
    b = [i for i, s in enumerate(run.segment_ids) if s == 1]
    a = [i for i, s in enumerate(run.segment_ids) if s == 0]
    np.testing.assert_array_equal(array(heatmap(at)["z"]), run.attentions[1, 0][np.ix_(b, a)])


def test_link_opens_the_same_view(model):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": "Shared links work.", "layer": "4", "head": "9"})
    at.run()
    assert not at.exception
    assert at.text_area(key="text").value == "Shared links work."
    np.testing.assert_array_equal(array(heatmap(at)["z"]), model.run("Shared links work.").attentions[3, 8])


def test_out_of_range_link_is_clamped():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": "Hi", "layer": "99", "head": "x"})
    at.run()
    assert not at.exception
    assert at.session_state["layer"] == 6 and at.session_state["head"] == 1


@pytest.mark.parametrize("text,message", [
    ("", "Type a sentence"),
    ("   \n ", "Type a sentence"),
    ("\x00\x01\x02", "control characters"),
    (" ".join(["word"] * 10_000), "tokens were cut"),
], ids=["empty", "whitespace", "control", "10k-words"])
def test_bad_input_gets_a_message(text, message):
    at = app_test(None, text=text)
    assert not at.exception
    assert message in messages(at)
    # ... and the next normal input works
    at.text_area(key="text").input("Back to normal.").run()
    assert not at.exception and figure_specs(at)


@pytest.mark.parametrize("text", ["👨‍👩‍👧 emoji", "東京は日本の首都です", "שלום עולם", "مرحبا بالعالم",
                                  "<script>alert('x')</script><b>bold</b>", "e\u0301te\u0301"])
def test_unusual_text_runs(text, model):
    at = app_test(None, text=text)
    assert not at.exception
    data = heatmap(at)
    layer, head = at.session_state["layer"] - 1, at.session_state["head"] - 1
    np.testing.assert_array_equal(array(data["z"]), model.run(text).attentions[layer, head])
    assert all("<" not in label for label in data["y"])  # HTML in tokens arrives escaped


def test_broken_model_folder(tmp_path, monkeypatch):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{broken")
    monkeypatch.setenv("HEADLIGHT_MODELS_DIR", str(tmp_path))
    at = app_test(None, text="Hello", model_kind="Models folder", model_source="folder:broken")
    assert not at.exception
    assert "could not be loaded" in messages(at) and "config.json cannot be used" in messages(at)
    at.session_state["model_kind"] = "Bundled"
    at.session_state["model_source"] = "minilm-l6"
    at.run()
    assert not at.exception and figure_specs(at)


def titles(at) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in figure_specs(at)]


def captions(at) -> str:
    return "\n".join([str(c.value) for c in at.caption] + explorer_shows(at)["captions"]
                     + [explorer_shows(at)["auto"] or ""])


def test_the_followed_token_survives_hiding_and_merging(model):
    """Bug 2: follow "she" (·7), hide special tokens: the title still says "she" (·7), not "was"."""
    text = "Yesterday the teacher said she was unbelievably tired."
    run = model.run(text)
    she = run.tokens.index("she")
    at = app_test(None, text=text, layer=2, head=2)
    choose(at, att_follow=she)
    assert f"Attention from “she” (·{she})" in titles(at)[-1]
    at.toggle(key="att_hide_special").set_value(True).run()
    assert f"Attention from “she” (·{she})" in titles(at)[-1]
    at.toggle(key="att_merge").set_value(True).run()
    assert f"Attention from “she” (·{she})" in titles(at)[-1]
    assert at.session_state["att_follow"] == she


def test_a_hidden_followed_token_is_said_to_be_hidden():
    at = app_test(None, text="The cat sat.", layer=2, head=2)
    choose(at, att_follow=0)  # [CLS]
    at.toggle(key="att_hide_special").set_value(True).run()
    assert not at.exception
    assert "not in this view" in explorer_shows(at)["note"]
    assert not any("Attention from" in t for t in titles(at))
    at.toggle(key="att_hide_special").set_value(False).run()  # shown again: followed again
    assert "Attention from “[CLS]” (·0)" in titles(at)[-1]


def test_captions_say_what_rows_sum_to(model):
    """Bug 3: 'rows sum to 1' only when they do; otherwise the real range."""
    text = "The cat sat on the mat."
    at = app_test(None, text=text, layer=2, head=2)
    assert "each row sums to 1" in captions(at)
    at.toggle(key="att_hide_special").set_value(True).run()
    at.toggle(key="att_renormalize").set_value(False).run()
    z = array(heatmap(at)["z"]).reshape(-1, len(model.run(text).tokens) - 2)
    low, high = z.sum(-1).min(), z.sum(-1).max()
    assert "each row sums to 1" not in captions(at)
    assert f"rows sum to {low:.2f}–{high:.2f}" in captions(at) and "not renormalised" in captions(at)


def test_pair_titles_name_the_block_and_mark_sentence_b(model):
    run = model.run("Where is it?", "Over there.")
    at = app_test(None, text="Where is it?", pair="Over there.", layer=2, head=1)
    b_start = run.segment_ids.index(1)
    lines = figure_specs(at)[0]["layout"]["shapes"]
    assert {line["x0"] for line in lines if line["type"] == "line"} >= {b_start - 0.5}
    assert f"sentence B begins at row and column {b_start + 1}" in captions(at)
    block_control(at).set_value("A→B").run()
    assert "block A→B" in titles(at)[0]
    assert "each row sums to 1" not in captions(at) and "block A→B" in captions(at)


@pytest.mark.parametrize("text,literal", [("I love 😀 pizza", "“😀”"), ("rare 䶵 character", "“䶵”"),
                                          ("a " + "x" * 20_000 + " word", "“xxxxxxxx")],
                         ids=["emoji", "cjk", "20000-character-word"])
def test_unreadable_text_is_named_literally(text, literal):
    """Bug 7: the warning quotes the unreadable characters as plain text (st.text), never Markdown."""
    at = app_test(None, text=text, layer=2, head=2)
    assert not at.exception
    assert "unknown to this model" in "\n".join(str(w.value) for w in at.warning)
    assert literal in "\n".join(str(t.value) for t in at.text)


def test_opens_on_a_clear_head_following_a_content_word(model):
    """Bug 10: with no layer or head chosen, the lowest-entropy non-sink head, a content word, and why."""
    from encoder.analysis import clearest_head, head_statistics

    text = "The animal didn't cross the street because it was too tired."
    at = app_test(None, text=text)
    choice = clearest_head(head_statistics(model.run(text)))
    assert (at.session_state["layer"], at.session_state["head"]) == (choice.layer + 1, choice.head + 1) != (1, 1)
    assert "lowest mean attention entropy" in captions(at)
    assert "Attention from “animal”" in titles(at)[-1]
    choose(at, head=1)  # the person's choice is kept, the reason goes
    assert at.session_state["head"] == 1 and "lowest mean attention entropy" not in captions(at)


def test_a_link_with_layer_and_head_is_not_overridden():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"text": "The animal was tired.", "layer": "1", "head": "1"})
    at.run()
    assert (at.session_state["layer"], at.session_state["head"]) == (1, 1)
    assert "lowest mean attention entropy" not in captions(at)


def test_a_readable_window_at_512_tokens(model):
    """Bug 9: beside the full map, 48 tokens around the followed one, every one labelled; log colour
    is chosen automatically at this length and the legend says so."""
    text = " ".join(["word", "play"] * 400)
    at = app_test(None, text=text, layer=1, head=2)
    specs = figure_specs(at)
    full, window = specs[0], specs[1]
    assert "log colour" in full["data"][0]["colorbar"]["title"]["text"]
    assert window["layout"]["title"]["text"].startswith("Rows ")
    assert len(window["layout"]["yaxis"]["tickvals"]) == 48 == len(window["layout"]["xaxis"]["tickvals"])
    follow = at.session_state["att_follow"]
    start = int(window["layout"]["title"]["text"].split("Rows ")[1].split("–")[0]) - 1
    # at this length z holds 7-bit log codes' weights and hover reads exact four-decimal values
    truth = model.run(text).attentions[0, 1, start:start + 48, start:start + 48]
    np.testing.assert_allclose(np.asarray(window["data"][0]["customdata"]), truth, atol=5e-5 + 1e-7)
    assert "%{customdata:.4f}" in window["data"][0]["hovertemplate"]
    z = np.asarray(window["data"][0]["z"])
    shown = truth >= 1e-3 * model.run(text).attentions[0, 1].max()
    assert np.max(np.abs(z - truth)[shown] / truth[shown]) < 0.03
    assert start <= follow < start + 48


def test_presentation_mode_enlarges_labels_and_the_heatmap():
    at = app_test(None, text="The cat sat on the mat.", layer=2, head=2)
    before = figure_specs(at)[0]["layout"]
    at.session_state["present"] = True  # the sidebar's toggle (AppTest lists the page's widgets only)
    at.run()
    after = figure_specs(at)[0]["layout"]
    assert after["xaxis"]["tickfont"]["size"] >= 16 and after["yaxis"]["tickfont"]["size"] >= 16
    assert after["height"] > before["height"]


def block_control(at):
    """The pair-block control (the page's view control is a button group too)."""
    return next(group for group in at.get("button_group") if group.key == "att_block")
