"""AppTests of the Corpus page: its maps are `corpus_statistics` on the same sentences, bad rows are
reported, and a click opens the head on the Attention page with a sentence of the corpus."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app_test, array, figure_specs, messages

from encoder.analysis import STATISTICS
from encoder.corpus import corpus_head_map, corpus_statistics

SENTENCES = [
    "The cat sat on the mat.",
    "Where did you park the car?",
    "Maria Garcia sent the report to the office in Lisbon.",
    "",
    "It rained all week, so the picnic was moved indoors.",
    "Numbers like 42 and 3.14 are tokens too.",
]
TEXTS = [s for s in SENTENCES if s]


def charts(at) -> dict[str, dict]:
    return {spec["layout"]["title"]["text"]: spec for spec in figure_specs(at)}


@pytest.fixture(scope="module")
def ran():
    at = app_test("corpus", corp_source="Paste sentences", corp_paste="\n".join(SENTENCES), corp_sample=8)
    at.button(key="corpbtn_run").click().run()
    assert not at.exception
    return at


def test_corpus_maps_are_the_engine_statistics(ran, model):
    expected = corpus_statistics(model, TEXTS)
    for name in ("entropy", "prev"):
        ran.selectbox(key="corp_statistic").set_value(name).run()
        assert not ran.exception
        (spec,) = [s for title, s in charts(ran).items() if title.endswith(f"mean over {len(TEXTS)} sentences")]
        z = array(spec["data"][0]["z"])
        assert z.shape == (6, 12)
        np.testing.assert_allclose(z, expected[name].to_numpy().reshape(6, 12), atol=1e-9)
    assert len(ran.selectbox(key="corp_statistic").options) == len(STATISTICS)


def test_corpus_head_map_is_the_engine_map(ran, model):
    expected = corpus_head_map(model, TEXTS, sample_size=8)
    (spec,) = [s for title, s in charts(ran).items() if title.startswith("Heads placed by")]
    points = {(int(d[0]), int(d[1])): (x, y) for trace in spec["data"]
              for d, x, y in zip(trace["customdata"], array(trace["x"]), array(trace["y"]), strict=True)}
    assert len(points) == 72
    for k in (0, 17, 71):
        np.testing.assert_allclose(points[(expected.layer[k], expected.head[k])], expected.xy[k], atol=1e-9)


def test_pasted_blank_lines_are_not_reported_but_nothing_is_lost(ran):
    assert "skipped" not in " ".join(e.proto.label for e in ran.get("expander"))
    assert f"{len(TEXTS)} sentences" in " ".join(str(c.value) for c in ran.caption)


def test_an_unreadable_row_is_reported_not_fatal():
    # A row of control characters only: nothing for the tokenizer to read, so the model skips it.
    at = app_test("corpus", corp_source="Paste sentences", corp_paste="A fine sentence.\n\x00\x01\nAnother one.",
                  corp_sample=8)
    at.button(key="corpbtn_run").click().run()
    assert not at.exception
    assert any(title.endswith("mean over 2 sentences") for title in charts(at))
    (expander,) = [e for e in at.get("expander") if "skipped" in e.proto.label]
    assert expander.proto.label.startswith("1 row skipped")
    table = expander.dataframe[0].value
    assert table["row"].tolist() == [2]


def test_the_page_asks_for_sentences_before_running():
    at = app_test("corpus", corp_source="Paste sentences", corp_paste="")
    assert not at.exception
    assert "Choose the sentences" in messages(at)
    at.button(key="corpbtn_run").click().run()
    assert "Paste some sentences" in messages(at)
