"""End to end: the Explain pages in Chromium. They draw on the typed text, a click on a head statistic
opens that head on the Attention page, and an exported figure renders offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.browser import CHART, FIRST_RUN_TIMEOUT, MAIN, PAGES, VIEWS, App
from encoder.export import LONG_COLUMNS

TEXT = "The animal didn't cross the street because it was too tired."
HOSTILE = "<img src=x onerror=alert(1)><b>bold</b> it was"


def charts_drawn(app: App) -> int:
    """Wait for the page's charts, then check them. Streamlit loads its Plotly component lazily, which
    on a busy machine can take longer than `App.wait_for_charts`'s grace for a run without charts."""
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    return app.assert_healthy()


def open_page(app: App, name: str, **params: str) -> None:
    """A page by its address; an old address (a view of a merged page) forwards to it."""
    app.open(PAGES[name][1] if name in PAGES else f"/{name}", charts=False, **params)
    charts_drawn(app)


def visit(app: App, name: str) -> None:
    """A page, or a view of a merged page (an old address), reached through the navigation."""
    app.visit(name, charts=False)
    page_name = VIEWS.get(name, (name,))[0]
    assert app.path() == PAGES[page_name][1], app.page.url
    assert charts_drawn(app) > 0, name


def test_explain_pages_draw_the_typed_text(app: App):
    open_page(app, "rollout", text="The cat sat on the mat.", layer="6")  # rollout through the layer every page shows
    assert "mat" in app.chart_text() and "Attention flow through layer 6" in app.chart_text()
    for name, expected in (("heads", "Mass on the previous token"), ("qk", "From scores to weights"),
                           ("value_weighted", "What each token receives")):
        visit(app, name)
        assert expected in app.chart_text(), name
        if name != "heads":  # maps and thumbnails, no token labels
            assert "mat" in app.chart_text(), f"{name}: the typed text's tokens should label the charts"
    assert not app.external_requests, sorted(set(app.external_requests))


def test_methods_pairs_and_similarity_and_hostile_text(app: App):
    open_page(app, "methods", text=HOSTILE)
    for name in ("methods", "minimal_pairs", "similarity"):
        if name == "minimal_pairs":
            visit(app, name)
            assert "big → small" in app.chart_text(), "with no second sentence, the pair is the trophy sentence"
        if name == "similarity":  # it compares the sidebar's two sentences: it offers an example second one
            app.visit(name, charts=False)
            app.rerun_after(lambda: app.page.get_by_role("button", name="Compare with an example sentence").click(),
                            charts=False)
            charts_drawn(app)
        assert app.page.locator('img[src="x"]').count() == 0, f"{name}: the <img> tag was rendered"
        assert app.page.locator(f"{MAIN} svg tspan[style*='bold']", has_text="bold").count() == 0, name
    drawn = app.chart_text()  # the similarity page's token labels: the markup's pieces, drawn as text
    assert "<" in drawn and "alert" in drawn and "share of the cosine" in drawn
    assert "trophy" not in app.chart_text()
    assert not app.dialogs and not app.page_errors


def test_a_click_on_a_statistic_opens_that_head(app: App):
    open_page(app, "heads", text=TEXT)
    chart = app.page.locator(CHART).filter(has_text="Mass on the previous token (share)")
    chart.scroll_into_view_if_needed()
    point = chart.locator("g.trace.scatter path.point").nth(1 * 12 + 6)  # layer 2, head 7 (markers run by layer)
    box = point.bounding_box()
    assert box is not None
    app.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    app.page.wait_for_timeout(300)
    app.rerun_after(lambda: app.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2),
                    charts=False)
    app.page.wait_for_function(f"location.pathname === {PAGES['attention'][1]!r}", timeout=30_000)
    charts_drawn(app)
    assert app.path() == PAGES["attention"][1]
    assert "Layer 2, head 7" in app.chart_text()
    app.wait_for_query(layer="2", head="7")


def test_an_exported_figure_renders_offline(app: App, browser, tmp_path: Path):
    open_page(app, "rollout", text="The cat sat on the mat.", layer="6")  # rollout through the layer every page shows
    with app.page.expect_download(timeout=60_000) as numbers:
        app.page.get_by_role("button", name="Numbers (CSV)").first.click()
    table = pd.read_csv(numbers.value.path())
    # numbered as on screen: layers from 1, and the columns say so (the Python API stays 0-based)
    assert tuple(table.columns) == ("layer_from_1", "head_from_1", *LONG_COLUMNS[2:]) and len(table) == 6 * 9 * 9
    assert sorted(set(table["layer_from_1"])) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(table.groupby(["layer_from_1", "query"])["weight"].sum(), 1.0, atol=1e-6)  # rows
    assert table["key_token"].tolist()[:9] == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]

    with app.page.expect_download(timeout=60_000) as download:
        app.page.get_by_role("button", name="Figure (HTML)").first.click()
    path = tmp_path / "rollout.html"
    download.value.save_as(path)
    html = path.read_text(encoding="utf-8")
    assert len(html) > 1_000_000 and "cdn.plot.ly" not in html.split("<body")[1][:2000]

    offline = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    requests: list[str] = []

    def route(route_):
        if route_.request.url.startswith("file://"):
            route_.continue_()
        else:
            requests.append(route_.request.url)
            route_.abort()

    offline.route("**/*", route)
    try:
        tab = offline.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(path.as_uri(), wait_until="load")
        tab.wait_for_selector(".js-plotly-plot .main-svg g.heatmaplayer image, .js-plotly-plot .main-svg g.hm",
                              timeout=30_000)
        assert "Rollout through layer 6" in " ".join(tab.locator(".main-svg text").all_text_contents())
        assert not requests, f"the exported page asked the network for {requests}"
        assert not errors, errors
    finally:
        offline.close()
