"""Presentation mode fits any projector (issue 17 §6): one toggle for the whole app, carried in the
link; at 1024 x 768, 1280 x 720, 1920 x 1080 and 3840 x 2160 the Attention page's main map lies
entirely inside the screen without scrolling, with the sidebar folded away, labels of at least
16 px, and it keeps fitting when the window is resized."""

from __future__ import annotations

import itertools

import pytest

from bench.browser import MAIN, App

TEXT = "The animal didn't cross the street because it was too tired."
MAIN_MAP = f'{MAIN} [data-chart="main"]'
SIZES = [(1024, 768), (1280, 720), (1920, 1080), (3840, 2160)]


def main_map_box(app: App) -> dict:
    app.page.wait_for_selector(f"{MAIN_MAP} .main-svg", timeout=60_000)
    app.page.wait_for_timeout(500)  # the fit is one relayout after the first draw
    return app.page.locator(MAIN_MAP).bounding_box()


def assert_inside(box: dict, width: int, height: int, where: str) -> None:
    assert box["x"] >= 0 and box["y"] >= 0, f"{where}: the main map starts off screen: {box}"
    assert box["x"] + box["width"] <= width + 1 and box["y"] + box["height"] <= height + 1, (
        f"{where}: the main map runs off the {width} x {height} screen: {box}")
    assert box["height"] >= 0.4 * height, f"{where}: the main map is too small to read: {box}"


@pytest.mark.parametrize("width,height", SIZES)
def test_the_main_map_fits_the_screen(make_app, width, height):
    app = make_app()
    app.page.set_viewport_size({"width": width, "height": height})
    app.open("/", charts=False, text=TEXT, present="1")
    box = main_map_box(app)
    assert_inside(box, width, height, f"{width} x {height}")
    sidebar = app.page.locator('[data-testid="stSidebar"]').bounding_box()
    assert sidebar is None or sidebar["x"] + sidebar["width"] <= 5, f"the sidebar starts folded away: {sidebar}"
    sizes = app.page.locator(f"{MAIN_MAP} .ytick text, {MAIN_MAP} .xtick text").evaluate_all(
        "ts => ts.map(t => parseFloat(getComputedStyle(t).fontSize))")
    assert sizes and min(sizes) >= 16, f"{width} x {height}: axis labels under 16 px: {min(sizes)}"
    app.assert_no_exception()


def test_it_keeps_fitting_when_the_window_is_resized(make_app):
    app = make_app()
    app.page.set_viewport_size({"width": 1920, "height": 1080})
    app.open("/", charts=False, text=TEXT, present="1")
    main_map_box(app)
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.page.wait_for_timeout(800)
    assert_inside(app.page.locator(MAIN_MAP).bounding_box(), 1280, 720, "resized to 1280 x 720")


def test_the_toggle_is_the_apps_and_the_link_carries_it(make_app):
    app = make_app()
    app.open("/", text=TEXT)
    app.page.get_by_text("Presentation mode").first.click()
    app.wait_for_query(present="1")
    app.click_nav("Positional encoding")  # another page: still presenting, larger text
    app.wait_for_query(present="1")
    size = app.page.locator(f"{MAIN} [data-testid='stCaptionContainer'] p").first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 16


def test_a_long_texts_row_labels_do_not_overlap_at_1280_720(make_app):
    """512 tokens on a projector: the rotated column labels take much of the map's height, and the
    row labels left must still stand apart (explorer.js `thinRowLabels`), each readable."""
    app = make_app()
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open("/", charts=False, text=" ".join(["The unbelievably tired cat sat on the mat."] * 60), present="1")
    main_map_box(app)
    app.page.wait_for_timeout(1000)
    rows = app.page.locator(f"{MAIN_MAP} .ytick text").evaluate_all(
        "ts => ts.map(t => [t.getBoundingClientRect().top, parseFloat(getComputedStyle(t).fontSize)])")
    rows.sort()
    assert len(rows) >= 5, rows
    # a line of text apart at least (the labels' boxes include their ascent and descent)
    crowded = [(a, b) for a, b in itertools.pairwise(rows) if b[0] - a[0] < a[1]]
    assert not crowded, f"row labels closer than their font size: {crowded[:3]}"
    # every chart's title lies inside its chart: the window's, beside the map, was cut at the edge
    titles = app.page.locator(f"{MAIN} .hl-chart").evaluate_all(
        "cs => cs.filter(c => c.querySelector('.gtitle')).map(c => { const b = c.getBoundingClientRect(); "
        "const t = c.querySelector('.gtitle').getBoundingClientRect(); return [c.dataset.chart, "
        "t.left >= b.left - 1 && t.right <= b.right + 1 && t.top >= b.top - 1 && t.bottom <= b.bottom + 1]; })")
    assert dict(titles).get("window") is not None, titles
    assert all(inside for _, inside in titles), f"titles outside their charts: {titles}"
