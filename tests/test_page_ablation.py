"""The Head ablation view says why it opens with a head off, and its grids read sensibly with no
head off (issue 17 §9): a colour bar of 0…1, never "0…1n"."""

from __future__ import annotations

import numpy as np
from apptest import app_test, array, figure_specs
from streamlit.proto.Metric_pb2 import Metric

from figures.ablation import head_grid

TEXT = "The animal didn't cross the street because it was too tired."


def chart(at, start: str) -> dict:
    matches = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    assert len(matches) == 1, [s["layout"]["title"]["text"] for s in figure_specs(at)]
    return matches[0]


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_a_grid_of_zeros_has_a_colour_bar_from_0_to_1():
    heat = head_grid(np.zeros((6, 12)), "How much each head's attention changed", "change").data[0]
    assert (heat.zmin, heat.zmax) == (0.0, 1.0)  # a top of 1e-9 labelled the bar "1n"
    assert heat.colorbar.exponentformat == "power"  # tiny changes read 5×10⁻⁶, not Plotly's SI "5µ"


def test_a_grid_keeps_its_own_top_when_something_changed():
    values = np.zeros((6, 12))
    values[3, 4] = 0.25
    assert head_grid(values, "changes", "change").data[0].zmax == 0.25


def test_first_visit_names_the_head_it_switched_off_and_why():
    at = app_test("ablation", text=TEXT)
    assert not at.exception
    (off,) = at.multiselect(key="abl_off").value
    layer, head = divmod(off, 12)
    (reason,) = [c for c in captions(at) if c.startswith("Opened with")]
    assert f"layer {layer + 1} · head {head + 1} switched off" in reason and "the most" in reason

    at.button(key="ablbtn_clear").click().run()
    assert not at.exception and not [c for c in captions(at) if c.startswith("Opened with")]
    grid = chart(at, "How much each head's attention changed")
    assert not array(grid["data"][0]["z"]).any()
    assert (grid["data"][0]["zmin"], grid["data"][0]["zmax"]) == (0.0, 1.0)
    assert any(c.startswith("Mean over tokens") and "Every head is on" in c for c in captions(at))
    (probability,) = [m for m in at.metric if m.label.startswith("P(")]
    assert probability.proto.delta.endswith("0.000") and probability.proto.direction == Metric.MetricDirection.NONE


def test_a_link_that_chooses_the_heads_gets_no_reason():
    at = app_test("ablation", text=TEXT, abl_off=[14], abl_rank=False)
    assert not at.exception and at.multiselect(key="abl_off").value == [14]
    assert not [c for c in captions(at) if c.startswith("Opened with")]
