"""End to end: a multi-map figure's export (issue 17 §5) opens offline in Chromium with every map drawn
and no tick label running into another: Head patterns' statistic maps and galleries, and the
Walk-through of a ~500-token text, each downloaded from its page."""

from __future__ import annotations

from pathlib import Path

from bench.browser import CHART, FIRST_RUN_TIMEOUT, PAGES, App

SHORT = "The animal didn't cross the street because it was too tired."
LONG = ("Like every river in the valley, the old canal ran north, past the mill, the school and the church; "
        "children, teachers and farmers crossed it each morning. ") * 15  # about 500 tokens

# Per subplot and axis, the tick labels' boxes; pairs that overlap by more than 3 px each way (a text's box
# holds its line's leading too: labels a line apart touch by about 2 px and do not collide).
OVERLAPS_JS = """() => {
  const touching = [];
  for (const subplot of document.querySelectorAll('.main-svg g.subplot')) {
    for (const letter of ['x', 'y']) {
      const boxes = [...subplot.querySelectorAll(`g.${letter}axislayer-above text`)]
        .filter(t => t.textContent.trim()).map(t => [t.textContent, t.getBoundingClientRect()]);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, p] = boxes[i], [b, q] = boxes[j];
          const across = Math.min(p.right, q.right) - Math.max(p.left, q.left);
          const down = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
          if (across > 3 && down > 3) {
            touching.push(`${subplot.getAttribute('class')} ${letter}: ${a} / ${b} (${across} × ${down} px)`);
          }
        }
      }
    }
  }
  return touching;
}"""
COUNTS_JS = """() => ({heatmaps: document.querySelectorAll('g.hm').length,
  images: document.querySelectorAll('g.im').length,
  labels: document.querySelectorAll('g.subplot g.yaxislayer-above text').length,
  left: Math.min(...[...document.querySelectorAll('g.subplot text')].map(t => t.getBoundingClientRect().left))})"""


def exported_figure(app: App, browser, tmp_path: Path, page: str, text: str) -> dict:
    """Open the page, download its Figure (HTML), open the file in an offline tab; what it draws."""
    app.open(PAGES[page][1], charts=False, text=text)
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    app.assert_healthy()
    with app.page.expect_download(timeout=120_000) as download:
        app.page.get_by_role("button", name="Figure (HTML)").first.click()
    path = tmp_path / f"{page}.html"
    download.value.save_as(path)
    offline = browser.new_context(viewport={"width": 1500, "height": 1000}, offline=True)
    try:
        tab = offline.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(path.as_uri(), wait_until="load")
        tab.wait_for_selector(".js-plotly-plot .main-svg g.hm", timeout=60_000)
        drawn = tab.evaluate(COUNTS_JS) | {"overlaps": tab.evaluate(OVERLAPS_JS), "errors": errors,
                                           "text": " ".join(tab.locator(".main-svg text").all_text_contents())}
    finally:
        offline.close()
    return drawn


def test_head_patterns_export_draws_every_map_and_gallery_readably(app: App, browser, tmp_path: Path):
    drawn = exported_figure(app, browser, tmp_path, "heads", SHORT)
    assert not drawn["errors"], drawn["errors"]
    assert drawn["heatmaps"] == 9 and drawn["images"] >= 3  # every statistic, and a gallery per pattern found
    for title in ("Entropy of each row", "Mass on the previous token", "Mean distance looked", "L1 H1"):
        assert title in drawn["text"], title
    assert drawn["left"] >= 0, "a label starts left of the figure"
    assert not drawn["overlaps"], drawn["overlaps"][:5]


def test_the_walkthrough_export_of_a_long_text_labels_every_token(app: App, browser, tmp_path: Path):
    drawn = exported_figure(app, browser, tmp_path, "walkthrough", LONG)
    assert not drawn["errors"], drawn["errors"]
    assert drawn["heatmaps"] >= 12  # the overview and every stage's maps
    assert drawn["labels"] >= 12 * 40  # each map's rows: the window's tokens, every one labelled
    assert "Attention, layer 1 head 1" in drawn["text"] and "Feed-forward hidden units" in drawn["text"]
    assert drawn["left"] >= 0, "a label starts left of the figure"
    assert not drawn["overlaps"], drawn["overlaps"][:5]
