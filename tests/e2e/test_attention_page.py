"""The Attention page in Chromium: every option through a shared link, the readable window at 512
tokens, presentation mode at 1920 x 1080, narrow layouts (800 and 400 px) and thumbnail clicks."""

from __future__ import annotations

from itertools import pairwise

from bench.browser import CHART, MAIN, App

TEXT = "The animal didn't cross the street because it was too tired."
PAIR = "It was raining."
# Every Attention option a link carries, each away from its default.
OPTIONS = {"att_hide_special": "1", "att_renormalize": "0", "att_merge": "1", "att_scale": "Magma",
           "att_log": "log", "att_block": "A→B", "att_follow": "3", "att_window": "24", "present": "1"}
LONG_TEXT = " ".join(["The cat sat on the mat and looked at the dog."] * 50)  # cut to 512 tokens

# Bounding boxes of drawn chart parts, per chart, in page pixels.
BOXES_JS = """
(args) => {
  const [selector, part] = args;
  return [...document.querySelectorAll(selector)].filter(c => c.checkVisibility()).map(chart =>
    [...chart.querySelectorAll(part)].map(e => {
      const r = e.getBoundingClientRect();
      return {x: r.x, y: r.y, w: r.width, h: r.height, text: e.textContent,
              size: parseFloat(getComputedStyle(e).fontSize)};
    }));
}
"""


def open_page(app: App, **params: str) -> None:
    """Open the app and wait for its charts, allowing a slow first draw on a busy machine (the
    shared helper gives charts 8 s after the run; Plotly's lazy load can take longer under load)."""
    app.open("/", charts=False, **params)
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=90_000)
    app.assert_healthy()


def chart_parts(app: App, part: str) -> list[list[dict]]:
    return app.page.evaluate(BOXES_JS, [CHART, part])


def titles(app: App) -> list[str]:
    return [" ".join(t["text"] for t in chart) for chart in chart_parts(app, ".gtitle")]


def as_box(box: dict) -> dict:
    """Playwright's bounding box in the shape `overlaps` reads."""
    return {"x": box["x"], "y": box["y"], "w": box["width"], "h": box["height"]}


def overlaps(a: dict, b: dict, slack: float = 1.0) -> bool:
    return (a["x"] + slack < b["x"] + b["w"] and b["x"] + slack < a["x"] + a["w"]
            and a["y"] + slack < b["y"] + b["h"] and b["y"] + slack < a["y"] + a["h"])


def test_every_option_survives_a_shared_link(make_app):
    """Options set (by a link, then one by hand) go into the URL; the copied URL opens the same view."""
    first = make_app()
    open_page(first, text=TEXT, pair=PAIR, layer="2", head="4", **OPTIONS)
    first.wait_for_query(text=TEXT, pair=PAIR, layer="2", head="4", **OPTIONS)
    assert "Layer 2, head 4 · block A→B" in titles(first)[0]
    # one option changed by hand reaches the URL too
    first.page.get_by_role("button", name="View options").click()
    merge = first.page.get_by_text("Merge subwords into words", exact=True)
    first.rerun_after(lambda: merge.click())
    first.wait_for_query(att_merge="0")
    first.page.keyboard.press("Escape")
    link, drawn = first.page.url, first.chart_text()

    second = make_app()
    second.open_url(link, charts=False)
    second.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=90_000)
    second.assert_healthy()
    second.wait_for_query(**first.query())
    assert second.chart_text() == drawn, "the copied link drew a different view"


def test_a_readable_window_at_512_tokens(app: App):
    open_page(app, text=LONG_TEXT, layer="1", head="3")
    window = [i for i, title in enumerate(titles(app)) if title.startswith("Rows ")]
    assert window, f"no window chart among {titles(app)}"
    ticks = chart_parts(app, ".yaxislayer-above .ytick text")[window[0]]
    assert len(ticks) == 48 and all(t["text"] for t in ticks), "every token of the window is labelled"
    labels = sorted(ticks, key=lambda t: t["y"])
    assert all(not overlaps(a, b) for a, b in pairwise(labels)), "window labels overlap"
    legend = " ".join(t["text"] for chart in chart_parts(app, ".colorbar .cbtitle text") for t in chart)
    assert "log colour" in legend, "at 512 tokens the colour is log, and the legend says so"


def test_presentation_mode_on_a_projector(make_app, tmp_path):
    app = make_app()
    app.page.set_viewport_size({"width": 1920, "height": 1080})
    open_page(app, text=TEXT, layer="2", head="4", att_present="1")  # a link made before it was the app's
    app.wait_for_query(present="1")
    app.page.screenshot(path=tmp_path / "presentation-1920.png")
    main = chart_parts(app, ".xtick text")[0] + chart_parts(app, ".ytick text")[0]
    assert main and min(t["size"] for t in main) >= 16, "axis labels of at least 16 px"
    heatmap = app.page.locator(CHART).first.bounding_box()
    assert heatmap["height"] >= 600 and heatmap["width"] >= 900, f"a large main heatmap: {heatmap}"
    names = [t for chart in chart_parts(app, ".annotation-text") for t in chart]  # "head 3", "layer 2", "L1"
    assert names and min(t["size"] for t in names) >= 16, "thumbnail names of at least 16 px"
    label = app.page.locator(f"{MAIN} .hl-slider-label", has_text="Layer").first
    assert float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 18, "larger controls"


def test_layouts_hold_at_800_and_400_px(make_app, tmp_path):
    for width in (800, 400):
        app = make_app()
        app.page.set_viewport_size({"width": width, "height": 1000})
        open_page(app, text=TEXT, layer="2", head="4")
        main_width = app.page.locator(MAIN).bounding_box()["width"]
        heatmap = app.page.locator(CHART).first.bounding_box()
        assert heatmap["width"] >= 0.75 * (main_width - 64), f"{width}px: the heatmap is squeezed: {heatmap}"
        keys = sorted(chart_parts(app, ".xtick text")[0], key=lambda t: t["x"])
        # A label's box is its line height (~17 px for a 12 px font); glyphs closer than 3 px of that do not touch.
        assert len(keys) == 16 and not any(overlaps(a, b, slack=3) for a, b in pairwise(keys)), (
            f"{width}px: key labels overlap")
        # no empty band: each thumbnail image fills its chart's plot area
        thumbnails = ("All heads", "Mean over", "Every layer")
        for svgs, images, title in zip(chart_parts(app, ".main-svg"), chart_parts(app, "image"), titles(app),
                                       strict=True):
            if title.startswith(thumbnails):
                svg, image = svgs[0], images[0]
                above, below = image["y"] - svg["y"], svg["y"] + svg["h"] - image["y"] - image["h"]
                assert above < 90 and below < 40, f"{width}px: an empty band around thumbnails ({above}, {below})"
        # the chart icons never cover a title (the modebar shows on hover)
        for index in range(app.page.locator(CHART).count()):
            chart = app.page.locator(CHART).nth(index)
            chart.scroll_into_view_if_needed()
            chart.hover()
            bar = chart.locator(".modebar")
            title = chart.locator(".gtitle")
            if bar.count() and bar.first.is_visible() and title.count():
                bar_box, title_box = (as_box(b.first.bounding_box()) for b in (bar, title))
                assert not overlaps(bar_box, title_box), (
                    f"{width}px: the chart icons cover the title of chart {index}")
        for offset in range(0, 3000, 900):  # the page, top to bottom
            app.page.locator(MAIN).evaluate(f"m => (m.closest('[data-testid=\"stAppScrollToBottomContainer\"]')"
                                            f" || m).scrollTo(0, {offset})")
            app.page.screenshot(path=tmp_path / f"attention-{width}-{offset}.png")


def test_clicking_a_thumbnail_shows_the_head_where_the_click_was(app: App):
    """Bug 6: the opened head is scrolled into view."""
    open_page(app, text=TEXT, layer="1", head="1")
    overview = app.page.locator(CHART).filter(has_text="Every layer").first
    overview.scroll_into_view_if_needed()
    image = overview.locator("image").first.bounding_box()
    # the overview's canvas: 12 tiles of 64 px with 6 px gaps; layer 3 (row 2), head 5 (column 4)
    canvas_width = 12 * 70 - 6
    scale = image["width"] / canvas_width
    x = image["x"] + (4 * 70 + 32) * scale
    y = image["y"] + (2 * 70 + 32) * image["height"] / (6 * 70 - 6)
    app.rerun_after(lambda: app.page.mouse.click(x, y))
    app.wait_for_query(layer="3", head="5")
    heading = app.page.locator(f"{CHART} .gtitle", has_text="Layer 3, head 5").first
    heading.wait_for(timeout=10_000)
    app.page.wait_for_timeout(500)
    box = heading.bounding_box()
    assert box is not None and 0 <= box["y"] <= app.page.viewport_size["height"], (
        f"the opened head's title is out of view at y={box}")


def test_a_view_option_chosen_here_holds_on_the_other_pages(app: App):
    """Issue 17 §2: one View options control, shared: special tokens hidden on the Attention page stay
    hidden on Rollout, reached through the navigation, and the link there carries the choice."""
    open_page(app, text="The cat sat on the mat.", layer="6", head="1")
    app.page.get_by_role("button", name="View options").click()
    app.rerun_after(lambda: app.page.get_by_text("Hide special tokens ([CLS], [SEP])", exact=True).click())
    app.wait_for_query(att_hide_special="1")
    app.page.keyboard.press("Escape")
    app.visit("rollout", charts=False)
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=90_000)
    app.assert_healthy()
    app.wait_for_query(att_hide_special="1", layer="6")
    drawn = app.chart_text()
    assert "Rollout through layer 6" in drawn and "mat" in drawn
    assert "[CLS]" not in drawn and "[SEP]" not in drawn, "Rollout should honour the hidden special tokens"
