"""AppTests of the Explain pages: each shows the engine's own numbers for the typed text."""

from __future__ import annotations

import numpy as np
import pytest
from apptest import app_test, array, figure_specs, messages

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
    at = app_test("rollout", text=TEXT)
    assert not at.exception
    run = model.run(TEXT)
    expected = rollout(run.attentions)
    np.testing.assert_allclose(array(chart(at, "Rollout through layer 6")["data"][0]["z"]), expected[-1], atol=1e-6)
    bars = chart(at, "Each input token's share, through layer 6")["data"]
    np.testing.assert_allclose(array(bars[0]["y"]), expected[-1][0], atol=1e-9)
    np.testing.assert_allclose(array(bars[1]["y"]), expected[-1][1], atol=1e-9)
    flow = normalize_rows(attention_flow(run.attentions))
    np.testing.assert_allclose(array(chart(at, "Attention flow through layer 6")["data"][0]["z"]), flow, atol=1e-6)
    assert download_labels(at).count("Figure (HTML)") == 2


def test_rollout_follows_fusion_residual_layer_and_token(model):
    at = app_test("rollout", text=TEXT)
    at.session_state["roll_fusion"] = "max"
    at.slider(key="roll_residual").set_value(0.2)
    at.select_slider(key="roll_layer").set_value(3)
    at.selectbox(key="roll_token").set_value(10)
    at.run()
    assert not at.exception
    run = model.run(TEXT)
    expected = rollout(run.attentions, "max", 0.2)[2]
    np.testing.assert_allclose(array(chart(at, "Rollout through layer 3 (max")["data"][0]["z"]), expected,
                               atol=1e-6)
    bars = chart(at, "Each input token's share, through layer 3")["data"]
    np.testing.assert_allclose(array(bars[1]["y"]), expected[10], atol=1e-9)
    assert "it ·10" in bars[1]["name"]


def test_flow_beyond_its_limit_is_a_message_not_a_chart():
    at = app_test("rollout", text=" ".join(["word"] * 70))
    assert not at.exception
    assert "limited to 64 tokens" in messages(at)
    assert not [t for t in titles(at) if t.startswith("Attention flow")]
    assert chart(at, "Rollout through layer 6")
