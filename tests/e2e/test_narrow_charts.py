"""End to end: in a 400 px column (a phone, a narrow window) Plotly's modebar keeps a row of its own
above every chart's title (issue 17 §9: it covered titles), on pages whose charts come from
`figures.common.base_layout`."""

from __future__ import annotations

import pytest

from bench.browser import CHART, PAGES, App

TEXT = "Maria Garcia met John Smith in Lisbon, and the meeting went well."
NARROW = {"width": 430, "height": 900}  # Streamlit's padding leaves the charts ~400 px wide

# For each visible chart: its width, and its title's and modebar's boxes (the modebar is in the page,
# invisible until hovered, so its box is there to measure).
BOXES_JS = """
(selector) => [...document.querySelectorAll(selector)].filter(c => c.checkVisibility()).map(c => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                     return r.width ? [r.left, r.top, r.right, r.bottom] : null; };
  return {title: (c.querySelector('.gtitle') || {}).textContent || '', width: c.getBoundingClientRect().width,
          titleBox: box(c.querySelector('.gtitle')), modebar: box(c.querySelector('.modebar'))};
})
"""


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("page", ["task_heads", "embeddings"])
def test_the_modebar_never_covers_a_title_at_400_px(app: App, page: str):
    app.page.set_viewport_size(NARROW)
    app.open(PAGES[page][1], text=TEXT)
    app.page.mouse.move(0, 0)
    charts = [c for c in app.page.evaluate(BOXES_JS, CHART) if c["titleBox"] and c["modebar"]]
    assert charts, "no titled chart with a modebar was drawn"
    assert max(c["width"] for c in charts) <= 420, [c["width"] for c in charts]
    covered = [c["title"] for c in charts if overlaps(c["titleBox"], c["modebar"])]
    assert not covered, covered
