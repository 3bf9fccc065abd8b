"""Exports: long-format CSV, .npz without pickle, self-contained offline HTML."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from encoder.export import (
    attention_long_csv,
    csv_text,
    figure_html,
    long_format,
    run_npz_bytes,
    save_html,
    spreadsheet_safe,
)


@pytest.fixture(scope="module")
def run(model):
    return model.run("<b>Bold</b> </script> & text, unbelievably.")


def test_long_format_of_all_heads(run):
    frame = long_format(run.attentions, run.tokens, run.tokens)
    T = run.n_tokens
    assert list(frame.columns) == ["layer", "head", "query", "query_token", "key", "key_token", "weight"]
    assert len(frame) == 6 * 12 * T * T
    row = frame[(frame["layer"] == 3) & (frame["head"] == 7) & (frame["query"] == 2) & (frame["key"] == 5)]
    assert row["weight"].item() == run.attentions[3, 7, 2, 5]
    assert row["query_token"].item() == run.tokens[2] and row["key_token"].item() == run.tokens[5]


def test_long_format_without_heads_and_csv_round_trip():
    matrix = np.array([[[0.25, 0.75], [1.0, 0.0]]])  # (L=1, Q, K), like one layer of rollout
    frame = long_format(matrix, ["a", "b,\"c\""], ["x", "y"], layers=[5])
    assert frame["layer"].tolist() == [5] * 4 and frame["head"].isna().all()
    back = pd.read_csv(io.StringIO(attention_long_csv(matrix, ["a", "b,\"c\""], ["x", "y"], layers=[5])))
    assert back["query_token"].tolist() == ["a", "a", "b,\"c\"", "b,\"c\""]
    np.testing.assert_allclose(back["weight"], [0.25, 0.75, 1.0, 0.0])
    # A download numbers layers and heads as the screen does, from 1, and its columns say so.
    assert back["layer_from_1"].tolist() == [6] * 4 and back["head_from_1"].isna().all()
    assert "layer" not in back.columns and back["query"].tolist() == [0, 0, 1, 1]  # ·N positions stay
    single = long_format(matrix[0], ["a", "b"], ["x", "y"], layers=[2], heads=[4])
    assert single["head"].tolist() == [4] * 4
    assert pd.read_csv(io.StringIO(attention_long_csv(matrix[0], ["a", "b"], ["x", "y"], layers=[2], heads=[4]))
                       )[["layer_from_1", "head_from_1"]].drop_duplicates().values.tolist() == [[3, 5]]
    with pytest.raises(ValueError, match="labels"):
        long_format(matrix[0], ["a"], ["x", "y"])


HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-", "@SUM(A1)", "\tTab", "\rCR", "safe", "a=b", "-2"]


def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote_and_numbers_stay_numbers():
    frame = pd.DataFrame({"token": HOSTILE, "weight": [-0.5, 1.0, -2.0, 0.0, 3.0, -1e-9, 2.0, 1.5, -7.0],
                          "count": range(-4, 5), "=label": pd.Categorical(["@a", "b"] * 4 + ["b"])})
    back = pd.read_csv(io.StringIO(csv_text(frame)), keep_default_na=False)
    assert back["token"].tolist() == ["'" + t if t[0] in "=+-@\t\r" else t for t in HOSTILE]
    assert back["weight"].tolist() == frame["weight"].tolist() and back["count"].tolist() == list(range(-4, 5))
    assert back.columns[-1] == "'=label" and back["'=label"].tolist()[:2] == ["'@a", "b"]
    assert frame["token"].tolist() == HOSTILE  # the frame itself is left as it was
    assert spreadsheet_safe(-3) == -3 and spreadsheet_safe("3") == "3" and spreadsheet_safe(None) is None


def test_long_csv_escapes_tokens(run):
    labels = ["[CLS]", "=cmd|' /C calc'!A0", "-", "[SEP]"]
    back = pd.read_csv(io.StringIO(attention_long_csv(np.eye(4), labels, labels)), keep_default_na=False)
    assert sorted(set(back["query_token"])) == sorted(["[CLS]", "'=cmd|' /C calc'!A0", "'-", "[SEP]"])
    assert back["weight"].sum() == 4 and back["query"].dtype.kind == "i"
    assert long_format(np.eye(4), labels, labels)["query_token"].tolist()[4] == "=cmd|' /C calc'!A0"  # API as is


def test_npz_loads_without_pickle(run):
    data = np.load(io.BytesIO(run_npz_bytes(run)), allow_pickle=False)
    np.testing.assert_array_equal(data["attentions"], run.attentions)
    np.testing.assert_array_equal(data["queries"], run.queries)
    assert data["tokens"].tolist() == run.tokens and str(data["text_a"]) == run.text_a
    assert data["word_ids"].tolist() == [-1 if w is None else w for w in run.word_ids]
    assert data["offsets"].shape == (run.n_tokens, 2) and "text_b" not in data


def assert_offline(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc=", page), "a script is fetched from elsewhere"
    assert get_plotlyjs()[-2000:] in page  # the plotly.js bundle itself is embedded


def test_figure_html_is_self_contained():
    assert_offline(figure_html(go.Figure(go.Heatmap(z=[[0.0, 1.0]]))))


def test_save_html_writes_every_head_offline_with_text_escaped(run, tmp_path):
    path = save_html(run, tmp_path / "run.html")
    page = path.read_text(encoding="utf-8")
    assert_offline(page)
    assert page.count('"name":"Layer ') == 72 and "L6 H12" in page
    assert "<b>Bold</b>" not in page and "&lt;b&gt;Bold" in page  # the title shows the text literally
    assert page.count("</script>") == page.count("<script")  # the typed text closes no script
    small = save_html(run, tmp_path / "small.html", layers=[0], heads=[1, 2]).read_text(encoding="utf-8")
    assert small.count('"name":"Layer ') == 2
