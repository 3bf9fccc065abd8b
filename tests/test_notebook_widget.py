"""The notebook widget's Python side, without a browser: what it sends for each comm message
(read back with the explorer's own reader), the traitlets both ways, the views and the fallback."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("anywidget")

from apptest import ROOT

import headlight
from figures.explorer import reader
from figures.explorer.widget import plotly_js

TEXT = "The cat sat on the mat."


class Sent(list):
    """What the widget sent to the browser, in order."""

    def __call__(self, content, buffers=None):
        self.append((content, buffers))


def widget(run, **options) -> tuple[headlight.Widget, Sent]:
    shown = headlight.show(run, **options)
    sent = Sent()
    shown.send = sent
    return shown, sent


def test_show_runs_the_model_or_takes_a_run_and_the_browser_gets_the_explorer(model):
    run = model.run(TEXT)
    assert headlight.load_model is not None and callable(headlight.show)
    w, sent = widget(run)
    w._on_message(w, {"type": "hello"}, [])
    content, buffers = sent[-1]
    assert content == {"type": "payload"}
    shown = reader.shows(buffers[0])
    assert shown["selection"] == (0, 0)
    np.testing.assert_array_equal(np.asarray(shown["figures"][0]["data"][0]["z"], np.float32), run.attentions[0, 0])
    from_model = headlight.show(model, TEXT)
    np.testing.assert_array_equal(from_model._run.attentions, run.attentions)
    with pytest.raises(TypeError):
        headlight.show("not a run")


def test_the_browsers_choice_lands_in_the_traitlets_and_python_redraws(model):
    w, sent = widget(model.run(TEXT))
    w._on_message(w, {"type": "hello"}, [])
    view_id = reader.read(sent[-1][1][0]).header["id"]
    w._on_message(w, {"type": "selection", "layer": 2, "head": 6, "follow": None, "have": view_id,
                      "layers": list(range(6)), "scale": "Viridis", "mode": "log"}, [])
    assert (w.layer, w.head, w.colour) == (2, 6, {"scale": "Viridis", "mode": "log"})
    answer = reader.read(sent[-1][1][0], view=None).header
    assert answer["selection"] == {"layer": 2, "head": 6} and answer["layers"] == []  # it holds them all
    assert len(sent) == 2, "one answer per choice, not one per traitlet"
    w.head = -1  # from Python: a message with the new selection
    assert reader.read(sent[-1][1][0]).header["selection"] == {"layer": 2, "head": -1}
    w._on_message(w, {"type": "selection", "layer": 2, "head": -1, "follow": 4, "have": view_id, "layers": [],
                      "scale": "Viridis", "mode": "log"}, [])
    answer = reader.read(sent[-1][1][0]).header  # a new token: the same view, drawn around it in the browser
    assert w.token == 4 and "view" not in answer and answer["shown"]["follow"] == 4
    for name, bad in (("layer", 6), ("head", 12), ("head", -2), ("colour", {"scale": "nope"}), ("token", 99)):
        with pytest.raises(Exception, match=name):
            setattr(w, name, bad)
    w._on_message(w, {"type": "selection", "layer": 99, "head": "x"}, [])  # hostile: ignored
    assert (w.layer, w.head) == (2, -1)


def test_plotly_comes_from_the_installed_package_through_the_comm(model):
    w, sent = widget(model.run(TEXT))
    w._on_message(w, {"type": "plotly"}, [])
    assert sent[-1][0] == {"type": "plotly"} and sent[-1][1][0] == plotly_js()
    assert b"plotly.js v" in plotly_js()[:200]


@pytest.mark.parametrize("view", ["rollout", "heads"])
def test_rollout_and_head_statistics_views_draw_a_figure_and_take_a_click(model, view):
    w, sent = widget(model.run(TEXT), view=view)
    w._on_message(w, {"type": "hello"}, [])
    figure = json.loads(sent[-1][0]["figure"])
    assert sent[-1][0]["type"] == "figure" and figure["data"]
    w._on_message(w, {"type": "click", "layer": 3, "head": 4}, [])
    assert (w.layer, w.head) == (3, 4)
    title = json.loads(sent[-1][0]["figure"])["layout"]["title"]["text"]
    assert ("layer 4" in title) if view == "rollout" else ("Entropy" in title)
    if view == "heads":  # as on the Head patterns page: a focused (low-entropy) head is the bright one
        heatmap = next(t for t in json.loads(sent[-1][0]["figure"])["data"] if t["type"] == "heatmap")
        assert heatmap.get("reversescale") is True
    with pytest.raises(ValueError):
        headlight.show(model.run(TEXT), view="nothing")
    with pytest.raises(ValueError, match="statistic"):
        headlight.show(model.run(TEXT), view="heads", statistic="<script>")


def test_static_renderers_get_save_htmls_page_escaped_in_an_iframe(model):
    w, _ = widget(model.run("a <b>bold</b> claim"))
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    page = data["text/html"]
    assert page.startswith('<iframe class="headlight-static"') and "<b>bold" not in page
    assert "plotly.js v" in page  # offline: plotly.js inside


def test_the_readmes_three_lines_give_a_widget():
    """README "In a notebook": its code block (tagged py, apart from the engine's python examples)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In a notebook", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```py\n(.*?)```", section, flags=re.S)
    assert len(block.strip().splitlines()) == 3
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert isinstance(namespace["w"], headlight.Widget) and (namespace["w"].layer, namespace["w"].head) == (0, 0)
