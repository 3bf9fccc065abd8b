"""Issue 17, §4: at 512 tokens the Rollout, Methods, Q·K, Value-weighted and Minimal pairs views stay
readable: their token maps show a labelled window around the followed token (or each method's top keys), every
label the token's own text, with the whole map beside as an overview; summaries name tokens by
their quoted text, never a bare ", ·345"."""

from __future__ import annotations

import re

import numpy as np
import pytest
from apptest import app_test, array, figure_specs

SENTENCE = ("Like every river in the valley, the old canal ran north, past the mill, the school and the church; "
            "children, teachers and farmers crossed it each morning. ")
LONG = SENTENCE * 15  # about 500 tokens with [CLS] and [SEP]
READABLE = 60  # labels a 1280 px wide page shows without overlap


@pytest.fixture(scope="module")
def long_run(model):
    run = model.run(LONG)
    assert 480 <= run.n_tokens <= 512 and not run.truncated
    return run


def spec(at, start: str) -> dict:
    found = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    assert len(found) == 1, [s["layout"]["title"]["text"] for s in figure_specs(at)]
    return found[0]


def ticks(figure: dict, axis: str) -> tuple[list[str], list[str]]:
    """An axis's category names ('text ·position') and the labels drawn for them."""
    layout = figure["layout"][axis]
    return list(layout["tickvals"]), list(layout["ticktext"])


def assert_labelled_by_text(names: list[str], texts: list[str], labels: list[str]) -> None:
    """Every tick is drawn, named by the token's own text at the position its category says."""
    assert 0 < len(names) <= READABLE
    assert len(texts) == len(names)
    for name, text in zip(names, texts, strict=True):
        position = int(name.rsplit(" ·", 1)[1])
        assert text == labels[position], (name, text)


def test_rollout_shows_a_labelled_window_and_the_whole_map_beside(long_run):
    from encoder.attention_view import content_word_position

    at = app_test("rollout", text=LONG, layer=6)  # rollout runs through the layer every page shows
    assert not at.exception
    labels = long_run.tokenized.labels
    followed = content_word_position(long_run.tokens, long_run.special, long_run.word_ids)
    window = spec(at, "Rollout through layer 6")
    for axis in ("xaxis", "yaxis"):
        assert_labelled_by_text(*ticks(window, axis), labels)
    rows, _ = ticks(window, "yaxis")
    assert f"{labels[followed]} ·{followed}" in rows  # the window is around the followed token
    assert array(window["data"][0]["z"]).shape == (len(rows), len(rows))
    overview = spec(at, f"The whole map, {long_run.n_tokens} tokens")
    assert overview["layout"]["shapes"], "the overview outlines where the window is"
    bars = spec(at, "The 12 largest shares, through layer 6")
    assert_labelled_by_text(*ticks(bars, "xaxis"), labels)
    assert all("“" in bar["name"] for bar in bars["data"])  # legend names quote the token's text


def test_rollout_window_off_shows_the_whole_map(long_run):
    at = app_test("rollout", text=LONG, layer=6, att_window=0)  # the shared readable window, off
    assert not at.exception
    assert len(spec(at, "Rollout through layer 6")["data"][0]["y"]) == long_run.n_tokens


@pytest.mark.parametrize("keys", ["Each method's top keys", "A window around the token"])
def test_methods_draw_few_labelled_keys_and_a_quoted_summary(long_run, keys):
    at = app_test("methods", text=LONG, meth_keys=keys, meth_k=5)
    assert not at.exception
    labels = long_run.tokenized.labels
    figure = spec(at, "Where “")
    assert_labelled_by_text(*ticks(figure, "xaxis"), labels)
    assert len(figure["data"][0]["x"]) == len(ticks(figure, "xaxis")[0])
    summary = next(str(t.value) for t in at.text if "In every method's top" in str(t.value))
    assert not re.search(r", ·\d", summary), summary
    agreed = summary.split(": ", 1)[1]
    if agreed != "no token":
        assert all(re.fullmatch(r"“[^”]+” ·\d+", name) for name in re.split(r"(?<=\d), ", agreed)), summary


def test_methods_on_punctuation_name_it_in_quotes(long_run):
    comma = long_run.tokens.index(",")
    at = app_test("methods", text=LONG, meth_k=10)
    at.session_state["att_follow"] = comma  # after the Attention page, which app_test opens first, chose its own
    at.run()
    assert not at.exception
    assert spec(at, f"Where “,” ·{comma} draws from")
    summary = next(str(t.value) for t in at.text if "In every method's top" in str(t.value))
    assert not re.search(r", ·\d", summary), summary


def long_pair() -> tuple[str, str]:
    """The long text, and the same with one word in its middle changed."""
    words = LONG.split(" ")
    middle = len(words) // 2
    while words[middle] != "school":
        middle += 1
    return LONG, " ".join([*words[:middle], "harbour", *words[middle + 1:]])


def test_minimal_pairs_long_texts_window_on_the_changed_word(model):
    from encoder.analysis import minimal_pair

    text_a, text_b = long_pair()
    at = app_test("minimal_pairs", text=text_a, pair=text_b)
    assert not at.exception
    pair = minimal_pair(model.run(text_a), model.run(text_b))
    layer, head = (int(v) for v in pair.head_changes.loc[0, ["layer", "head"]])
    difference = spec(at, f"Attention in B minus A, layer {layer + 1}, head {head + 1}")
    for axis in ("xaxis", "yaxis"):
        assert_labelled_by_text(*ticks(difference, axis), pair.labels)
    changed = pair.first_changed_word()
    assert pair.labels[changed] == "school → harbour"
    assert f"school → harbour ·{changed}" in ticks(difference, "yaxis")[0]
    assert spec(at, f"The whole map, {len(pair.labels)} words")["layout"]["shapes"]
    bars = spec(at, "Where “school → harbour” looks in A and in B")
    assert_labelled_by_text(*ticks(bars, "xaxis"), pair.labels)
    rows = ticks(difference, "yaxis")[0]
    first, last = int(rows[0].rsplit(" ·", 1)[1]), int(rows[-1].rsplit(" ·", 1)[1])
    z = array(difference["data"][0]["z"])
    np.testing.assert_allclose(z, pair.difference[layer, head, first:last + 1, first:last + 1], atol=1e-6,
                               equal_nan=True)


def test_minimal_pairs_follows_a_valid_word_and_the_most_changed_head_after_a_new_pair(model):
    from encoder.analysis import minimal_pair

    at = app_test("minimal_pairs", text="The trophy didn't fit in the suitcase because it was too big.",
                  pair="The trophy didn't fit in the suitcase because it was too small.")
    assert not at.exception
    first = minimal_pair(model.run("The trophy didn't fit in the suitcase because it was too big."),
                         model.run("The trophy didn't fit in the suitcase because it was too small."))
    it = first.labels.index("it")
    at.session_state["mp_word"] = it
    at.session_state["layer"], at.session_state["head"] = 1, 1  # the person picks a word and a head
    at.run()
    assert spec(at, "Where “it” looks in A and in B, layer 1, head 1")
    # A new, shorter pair in the sidebar: the followed position is now its [SEP].
    a, b = "A dog barked at the cat.", "A dog barked at the car."
    second = minimal_pair(model.run(a), model.run(b))
    assert it >= len(second.labels) - 1 or second.special[it]
    at.session_state["text"], at.session_state["pair"] = a, b
    at.run()
    assert not at.exception
    assert second.labels[at.session_state["mp_word"]] == "cat → car"
    layer, head = (int(v) for v in second.head_changes.loc[0, ["layer", "head"]])
    assert spec(at, f"Where “cat → car” looks in A and in B, layer {layer + 1}, head {head + 1}")


def test_qk_draws_the_keys_with_most_weight_each_labelled(long_run):
    at = app_test("qk", text=LONG, layer=3, head=4)
    assert not at.exception
    labels = long_run.tokenized.labels
    vectors = spec(at, "Layer 3, head 4: the query of")
    assert "keys with most weight, of" in vectors["layout"]["title"]["text"]
    softmax = spec(at, "From scores to weights")
    names, texts = ticks(softmax, "xaxis")
    assert_labelled_by_text(names, [re.sub(r"\s+", " ", t) for t in texts], labels)
    # the drawn keys include the row's largest weight, which the model gives there
    row = long_run.attentions[2, 3, int(at.session_state["att_follow"])]
    assert f"{labels[int(row.argmax())]} ·{int(row.argmax())}" in names


def test_value_weighted_shows_a_labelled_window_and_the_top_keys(long_run):
    at = app_test("value_weighted", text=LONG, layer=2, head=5)
    assert not at.exception
    labels = long_run.tokenized.labels
    raw = spec(at, "Raw attention α, layer 2, head 5, tokens")
    names, texts = ticks(raw, "xaxis")
    assert_labelled_by_text(names, texts, labels)
    assert len(array(raw["data"][0]["z"])) == len(names)
    bars = spec(at, "What each token receives")
    names, texts = ticks(bars, "xaxis")
    assert_labelled_by_text(names, texts, labels)
