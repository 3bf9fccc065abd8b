"""AppTests of the Explain pages: each shows the engine's own numbers for the typed text."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app_test, array, drawn_text, figure_specs, messages

from encoder.analysis import attention_flow, normalize_rows, rollout

TEXT = "The animal didn't cross the street because it was too tired."


def chart(at, start: str) -> dict:
    """The one figure whose title starts with `start`."""
    found = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    assert len(found) == 1, [s["layout"]["title"]["text"] for s in figure_specs(at)]
    return found[0]


def titles(at) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in figure_specs(at)]


def download_labels(at) -> list[str]:
    return [element.proto.label for element in at.get("download_button")]


# ---------------------------------------------------------------- rollout


def test_rollout_page_shows_rollout_and_flow(model):
    at = app_test("rollout", text=TEXT, layer=6)  # rollout runs through the layer every page shows
    assert not at.exception
    run = model.run(TEXT)
    expected = rollout(run.attentions)
    np.testing.assert_allclose(array(chart(at, "Rollout through layer 6")["data"][0]["z"]), expected[-1], atol=1e-6)
    bars = chart(at, "Each input token's share, through layer 6")["data"]
    np.testing.assert_allclose(array(bars[0]["y"]), expected[-1][0], atol=1e-9)
    np.testing.assert_allclose(array(bars[1]["y"]), expected[-1][2], atol=1e-9)  # "animal": the Attention page's
    flow = normalize_rows(attention_flow(run.attentions))
    np.testing.assert_allclose(array(chart(at, "Attention flow through layer 6")["data"][0]["z"]), flow, atol=1e-6)
    assert download_labels(at).count("Figure (HTML)") == 2


def test_rollout_follows_fusion_residual_layer_and_token(model):
    at = app_test("rollout", text=TEXT)
    at.session_state["roll_fusion"] = "max"
    at.slider(key="roll_residual").set_value(0.2)
    at.select_slider(key="layer").set_value(3)
    at.selectbox(key="att_follow").set_value(8)  # the token every page follows
    at.run()
    assert not at.exception
    run = model.run(TEXT)
    expected = rollout(run.attentions, "max", 0.2)[2]
    np.testing.assert_allclose(array(chart(at, "Rollout through layer 3 (max")["data"][0]["z"]), expected,
                               atol=1e-6)
    bars = chart(at, "Each input token's share, through layer 3")["data"]
    np.testing.assert_allclose(array(bars[1]["y"]), expected[8], atol=1e-9)
    assert "“street” ·8" in bars[1]["name"]


def test_flow_beyond_its_limit_is_a_message_not_a_chart():
    at = app_test("rollout", text=" ".join(["word"] * 70), layer=6)
    assert not at.exception
    assert "limited to 64 tokens" in messages(at)
    assert not [t for t in titles(at) if t.startswith("Attention flow")]
    assert chart(at, "Rollout through layer 6")


# ---------------------------------------------------------------- head patterns


def test_head_patterns_page_maps_table_and_gallery(model):
    from encoder.analysis import STATISTICS, head_patterns, head_statistics

    at = app_test("heads", text=TEXT)
    assert not at.exception
    stats = head_patterns(head_statistics(model.run(TEXT)))
    entropy = chart(at, "Entropy of each row")["data"][0]
    np.testing.assert_allclose(array(entropy["z"]), stats["entropy"].to_numpy().reshape(6, 12), rtol=1e-5)
    previous = chart(at, "Mass on the previous token")
    np.testing.assert_allclose(array(previous["data"][0]["z"]), stats["prev"].to_numpy().reshape(6, 12), rtol=1e-5)
    assert previous["data"][1]["customdata"][14] == [1, 2]  # the marker of layer 2, head 3
    assert len([t for t in titles(at) if t.startswith("Mass on") or t.startswith("Entropy")
                or t.startswith("Mean distance")]) == len(STATISTICS) - 1  # "first" repeats [CLS] on an encoder
    table = at.dataframe[0].value
    assert len(table) == 72 and list(table["layer"][:2]) == [1, 1] and list(table["head"][:2]) == [1, 2]
    for pattern, members in stats.groupby("pattern"):
        gallery = chart(at, f"{pattern[0].upper()}{pattern[1:]} · {len(members)} head")
        assert [tuple(c) for c in gallery["data"][1]["customdata"]] == list(zip(members["layer"], members["head"],
                                                                                strict=True))
    previous_heads = stats[stats["pattern"] == "previous token"]
    assert not previous_heads.empty  # layer 1, head 3 of MiniLM looks one token back on every text
    # Clark's prev divides by all T rows, so even a perfect previous-token head shows (T − 1) / T
    first = previous_heads.iloc[0]
    assert f"prev {first['prev']:.2f} ≥ 0.5" in str(chart(at, "Previous token")["layout"]["annotations"])


def test_a_click_on_head_patterns_switches_to_the_attention_page():
    at = app_test("heads", text=TEXT)
    at.session_state["_hs_open_head"] = True  # what a click's callback leaves, beside the chosen layer and head
    at.run()
    assert not at.exception
    assert [h.value for h in at.header] == [":material/grid_on: Attention"]
    assert "_hs_open_head" not in at.session_state  # once only: going back to the page stays there
    # (that the clicked layer and head arrive is checked in Chromium: tests/e2e/test_explain_pages.py)


def test_gallery_tiles_grow_with_importance():
    from figures.heads import TILE_PX, tile_sizes

    sizes = tile_sizes(3, np.array([0.0, 0.5, 1.0]))
    assert sizes[2] == TILE_PX and sizes[0] < sizes[1] < sizes[2]
    assert list(tile_sizes(2, None)) == [TILE_PX, TILE_PX]


# ---------------------------------------------------------------- Q·K and value-weighted


def test_qk_softmax_is_the_captured_row_and_temperature_sharpens(model):
    from encoder.analysis import qk_walkthrough

    at = app_test("qk", text=TEXT, layer=3, head=5, att_follow=10)
    assert not at.exception
    run = model.run(TEXT, qkv=True)
    scores = chart(at, "From scores to weights")["data"]
    np.testing.assert_allclose(array(scores[1]["y"]), run.attentions[2, 4, 10], atol=1e-5)
    np.testing.assert_allclose(array(scores[2]["y"]), run.attentions[2, 4, 10], atol=1e-6)  # the model's markers
    vectors = chart(at, "Layer 3, head 5: the query of it ·10")["data"]
    np.testing.assert_allclose(array(vectors[0]["z"])[0], run.queries[2, 4, 10], atol=1e-6)
    np.testing.assert_allclose(array(vectors[1]["z"]), run.keys[2, 4], atol=1e-6)
    np.testing.assert_allclose(array(vectors[3]["x"]), run.queries[2, 4, 10] @ run.keys[2, 4].T, rtol=1e-4,
                               atol=1e-4)
    at.slider(key="qk_temperature").set_value(0.3).run()
    sharp = array(chart(at, "From scores to weights")["data"][1]["y"])
    np.testing.assert_allclose(sharp, qk_walkthrough(run, 2, 4, 10, 0.3).softmax, atol=1e-6)
    assert sharp.max() > run.attentions[2, 4, 10].max()


def test_value_weighted_page_beside_raw_attention(model):
    from encoder.analysis import value_weighted

    at = app_test("value_weighted", text=TEXT, layer=2, head="mean")
    assert not at.exception
    run = model.run(TEXT)
    assert at.session_state["head"] == 1  # one head: "mean" falls back to head 1
    np.testing.assert_allclose(array(chart(at, "Raw attention α, layer 2, head 1")["data"][0]["z"]),
                               run.attentions[1, 0], atol=1e-6)
    weighted = normalize_rows(value_weighted(run)[1, 0])
    np.testing.assert_allclose(array(chart(at, "Value-weighted")["data"][0]["z"]), weighted, atol=1e-6)
    received = chart(at, "What each token receives")["data"]
    np.testing.assert_allclose(array(received[2]["y"]), run.value_output_norms[1, 0], rtol=1e-6)
    special = np.asarray(run.special)
    assert at.metric[0].value == f"{run.attentions[1, 0][:, special].sum(axis=1).mean():.0%}"


# ---------------------------------------------------------------- methods side by side


def test_methods_rows_share_one_scale_and_agreement_is_marked(model):
    from encoder.analysis import value_weighted

    at = app_test("methods", text=TEXT, layer=4, head=2, att_follow=10)
    assert not at.exception
    run = model.run(TEXT)
    spec = chart(at, "Where “it” ·10 draws from, layer 4, head 2")
    rows = array(spec["data"][0]["z"])
    assert spec["data"][0]["y"] == ["raw α (head 2)", "rollout (all heads)", "flow (all heads)",
                                    "value-weighted (head 2)"]
    expected = normalize_rows(np.stack([
        run.attentions[3, 1, 10], rollout(run.attentions[:4])[-1, 10],
        attention_flow(run.attentions[:4])[10], value_weighted(run)[3, 1, 10]]))
    np.testing.assert_allclose(rows, expected, atol=1e-6)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-5)
    marked = len(spec["data"][1]["x"])
    assert marked == 4 * 3  # each method's top 3
    top = np.argsort(-expected, axis=1)[:, :3]
    agreed = set.intersection(*(set(r) for r in top))
    assert len(spec["layout"].get("shapes", [])) == len(agreed)


# ---------------------------------------------------------------- minimal pairs and similarity


def test_minimal_pairs_difference_and_ranking(model):
    from encoder.analysis import minimal_pair

    at = app_test("minimal_pairs")
    assert not at.exception
    pair = minimal_pair(model.run("The trophy didn't fit in the suitcase because it was too big."),
                        model.run("The trophy didn't fit in the suitcase because it was too small."))
    # It opens on the head that changes most, following the word that differs...
    top_layer, top_head = (int(v) for v in pair.head_changes.loc[0, ["layer", "head"]])
    assert chart(at, f"Attention in B minus A, layer {top_layer + 1}, head {top_head + 1}")
    assert chart(at, "Where “big → small” looks in A and in B")
    assert "trophy" in " ".join(str(c.value) for c in at.caption)  # the example's own hint, for the example
    # ...until the person picks another head and word.
    at.session_state["layer"], at.session_state["head"] = 1, 7
    at.session_state["mp_word"] = pair.labels.index("it")
    at.run()
    assert not at.exception
    spec = chart(at, "Attention in B minus A, layer 1, head 7")
    np.testing.assert_allclose(array(spec["data"][0]["z"]), pair.difference[0, 6], atol=1e-6)
    assert "big → small" in " ".join(spec["data"][0]["y"])
    table = at.dataframe[0].value
    assert list(table["layer"][:3]) == list(pair.head_changes["layer"][:3] + 1)
    np.testing.assert_allclose(table["js"][:5], pair.head_changes["js"][:5])
    word = chart(at, "Where “it” looks in A and in B")["data"]
    it = pair.labels.index("it")
    np.testing.assert_allclose(array(word[0]["y"]), pair.attention_a[0, 6, it], atol=1e-6)
    np.testing.assert_allclose(array(word[1]["y"]), pair.attention_b[0, 6, it], atol=1e-6)


def test_minimal_pairs_reads_the_sidebar_pair(model):
    from encoder.analysis import minimal_pair

    at = app_test("minimal_pairs", text="The cat sat on the mat.", pair="The dog sat on the mat.")
    assert not at.exception
    assert "sidebar's text" in " ".join(str(c.value) for c in at.caption)
    assert "trophy" not in " ".join(str(c.value) for c in at.caption)  # the caption speaks of these texts
    assert chart(at, "Where “cat → dog” looks in A and in B")
    at.session_state["layer"], at.session_state["head"] = 1, "mean"
    at.run()
    pair = minimal_pair(model.run("The cat sat on the mat."), model.run("The dog sat on the mat."))
    spec = chart(at, "Attention in B minus A, layer 1, mean of all heads")
    np.testing.assert_allclose(array(spec["data"][0]["z"]), pair.difference[0].mean(axis=0), atol=1e-6)


def test_similarity_is_the_models_cosine_split_by_token(model):
    from encoder.analysis import sentence_similarity, similarity_contributions

    text_b = "A tired animal stayed on the pavement."
    at = app_test("similarity", text=TEXT, pair=text_b)
    assert not at.exception
    run_a, run_b = model.run(TEXT), model.run(text_b)
    cosine = sentence_similarity(run_a, run_b)
    assert at.metric[0].value == f"{cosine:.4f}"
    bars = chart(at, "Each token's share of the cosine")["data"]
    share_a, share_b = similarity_contributions(run_a, run_b)
    np.testing.assert_allclose(np.sort(array(bars[0]["x"])), np.sort(share_a), atol=1e-9)
    np.testing.assert_allclose(np.sort(array(bars[1]["x"])), np.sort(share_b), atol=1e-9)
    assert array(bars[0]["x"]).sum() == pytest.approx(cosine, abs=1e-6)
    assert bars[0]["y"][-1].startswith(run_a.tokenized.labels[int(np.argmax(share_a))])  # largest on top


@pytest.mark.parametrize("source", ["rampart-ner", "smollm2"])
def test_similarity_says_first_why_a_tagger_or_decoder_has_none(source):
    at = app_test("similarity", text=TEXT, model_source=source)
    assert not at.exception and not figure_specs(at)
    assert "not a sentence-embedding model" in messages(at)


def test_similarity_works_for_paraphrase_minilm_l3():
    from encoder import load_model
    from encoder.analysis import sentence_similarity
    from encoder.loading import ModelLoadError

    try:
        l3 = load_model("paraphrase-minilm-l3")
    except ModelLoadError as error:
        pytest.skip(str(error))
    text_b = "A tired animal stayed on the pavement."
    at = app_test("similarity", text=TEXT, pair=text_b, model_source="paraphrase-minilm-l3")
    assert not at.exception
    assert at.metric[0].value == f"{sentence_similarity(l3.run(TEXT), l3.run(text_b)):.4f}"
    assert any("reading at most 128 tokens" in c.value for c in at.caption)


def test_similarity_says_when_a_text_was_cut_to_the_configured_length(model):
    from encoder.analysis import sentence_embedding

    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 34)  # 308 tokens, beyond 256
    text_b = "A tired animal stayed on the pavement."
    at = app_test("similarity", text=long_text, pair=text_b)
    assert not at.exception
    assert "truncated to the model's configured length" in messages(at)
    expected = float(sentence_embedding(model.run(long_text), model) @ sentence_embedding(model.run(text_b)))
    assert at.metric[0].value == f"{expected:.4f}"  # encode()'s number (tests/test_analysis_sentence.py)


# ---------------------------------------------------------------- every Explain page


EXPLAIN_PAGES = ["rollout", "heads", "qk", "value_weighted", "methods", "minimal_pairs", "similarity"]


def test_html_in_the_text_stays_literal_and_exports_are_offered():
    hostile = "<b>bold</b> <img src=x onerror=alert(1)> & done"
    at = app_test(None, text=hostile, mp_text_a=hostile, mp_text_b=hostile.replace("done", "over"),
                  pair="<i>x</i>")
    for page in EXPLAIN_PAGES:
        for text in drawn_text(at, page):
            assert "<b>bold" not in text and "<img" not in text and "<i>x" not in text, page
        labels = download_labels(at)
        assert "Numbers (CSV)" in labels and "Figure (HTML)" in labels and any(".npz" in x for x in labels), page


def test_rollout_shades_the_running_text_by_the_chosen_tokens_shares():
    """Issue 20 §2 on the Rollout view: the text itself, character for character, shaded by each input
    token's share in the chosen token, one line per sentence of a pair. The browser draws it from this
    message and sets the text as text (tests/e2e/test_shaded_text_drawn.py)."""
    import json

    text, pair = "Dogs <b>bark</b> loudly at night.", "Cats sleep."
    at = app_test("rollout", text=text, pair=pair)
    assert not at.exception
    shaded = [json.loads(e.proto.json) for e in at.get("bidi_component")
              if e.proto.component_name == "headlight_shaded_text"]
    assert len(shaded) == 1
    assert [part["text"] for part in shaded[0]["texts"]] == [text, pair]
    assert [line["label"] for line in shaded[0]["views"][""]["lines"]] == ["A", "B"]
