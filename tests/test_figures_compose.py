"""figures.compose: a page's figures as one, each in a cell of its own with room for its labels."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from figures.common import base_layout
from figures.compose import CHAR_PX, compose


def heatmap(labels: list[str], title: str) -> go.Figure:
    trace = go.Heatmap(z=np.eye(len(labels)), x=labels, y=labels, colorbar=dict(len=0.8))
    return go.Figure(trace, base_layout(title, 400, xaxis=dict(tickangle=-90, title=dict(text="key")),
                                        yaxis=dict(autorange="reversed", title=dict(text="query"))))


def test_each_panel_gets_its_own_axes_inside_its_cell_with_room_for_its_labels():
    long = ["a rather long token label", "b", "c"]
    fig = compose([[heatmap(long, "left map"), heatmap(["x", "y"], "right map")], [heatmap(["p", "q"], "below")]],
                  "all maps", width=1000).to_plotly_json()
    layout, data = fig["layout"], fig["data"]
    assert [(t["xaxis"], t["yaxis"]) for t in data] == [("x", "y"), ("x2", "y2"), ("x3", "y3")]
    left, right = layout["xaxis"]["domain"], layout["xaxis2"]["domain"]
    # the long labels of the left map's y axis sit left of its plot area, inside its cell
    assert left[0] * 1000 >= len(long[0]) * CHAR_PX
    assert left[1] < 0.5 < right[0]  # side by side, each in its half
    assert layout["yaxis3"]["domain"][1] < layout["yaxis"]["domain"][0]  # the second row under the first
    assert layout["xaxis"]["anchor"] == "y" and layout["xaxis2"]["anchor"] == "y2"
    titles = [a["text"] for a in layout["annotations"]]
    assert titles == ["left map", "right map", "below"] and layout["title"]["text"] == "all maps"
    for trace, axis in zip(data, ("yaxis", "yaxis2", "yaxis3"), strict=True):  # colour bars beside their own map
        low, high = layout[axis]["domain"]
        assert low <= trace["colorbar"]["y"] <= high
        assert abs(trace["colorbar"]["len"] - 0.8 * (high - low)) < 1e-9


def test_subplots_annotations_and_shapes_move_with_their_panel():
    panel = make_subplots(1, 2, subplot_titles=("Q", "K"))
    panel.add_trace(go.Heatmap(z=[[1, 2]]), 1, 1)
    panel.add_trace(go.Heatmap(z=[[3, 4]], showscale=False), 1, 2)
    panel.update_layout(base_layout("two", 300, shapes=[dict(type="line", x0=0.5, x1=0.5, yref="paper", y0=0, y1=1)]))
    fig = compose([[heatmap(["a"], "first")], [panel]], "both").to_plotly_json()["layout"]
    assert fig["xaxis3"]["anchor"] == "y3" and fig["xaxis2"]["anchor"] == "y2"
    subplot_titles = [a for a in fig["annotations"] if a["text"] in ("Q", "K")]
    low, high = fig["yaxis2"]["domain"]
    assert all(high <= a["y"] < fig["yaxis"]["domain"][0] for a in subplot_titles)  # over the second panel only
    (shape,) = fig["shapes"]
    assert shape["xref"] == "x2" and (shape["y0"], shape["y1"]) == (low, high)
