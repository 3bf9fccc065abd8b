"""End to end: the line view's View options (issue 18 §1). Hiding [CLS]/[SEP] and merging subwords
are drawn by the browser from the attention it holds (figures/lineview/streamlit.js reads the
toggles' clicks); the fragment's rerun confirms them without redrawing over the person's own
choices (the heads switched on stay on), and the link keeps the options."""

from __future__ import annotations

from bench.browser import FIRST_RUN_TIMEOUT, MAIN, PAGES, App

TEXT = "The animal didn't cross the street because it was unbelievably tired."
DRAWN_BY_JS = f"() => document.querySelector({MAIN!r} + ' .hl-lines').parentElement.dataset.drawnBy"
FIRST_QUERY_JS = f"""() => {{
  const first = document.querySelector({MAIN!r} + " .hl-lines .hl-lines-token[data-side='q']");
  return first ? first.textContent : "";
}}"""


def test_hiding_and_merging_are_drawn_by_the_browser_and_keep_the_heads_shown(app: App):
    app.open(PAGES["attention"][1], charts=False, text=TEXT, layer="2", head="9", att_view="Lines")
    box = app.page.locator(f"{MAIN} .hl-lines")
    box.wait_for(timeout=FIRST_RUN_TIMEOUT)
    assert app.page.evaluate(FIRST_QUERY_JS) == "[CLS] ·0"
    box.locator(".hl-lines-head[data-head='2']").click()  # head 3 on top of head 9
    app.page.get_by_role("button", name="View options").click()
    app.page.get_by_text("Hide special tokens ([CLS], [SEP])", exact=True).click()
    app.page.wait_for_function(f"() => ({FIRST_QUERY_JS})() === 'the ·1'", timeout=10_000)
    app.wait_for_query(att_hide_special="1")  # the fragment's rerun keeps the link
    assert app.page.evaluate(DRAWN_BY_JS) == "click"  # and its message found the lines drawn already
    assert box.locator(".hl-lines-head[aria-pressed='true']").count() == 2
    app.page.get_by_text("Merge subwords into words", exact=True).click()
    app.page.wait_for_function(f"""() => [...document.querySelectorAll({MAIN!r} + " .hl-lines-token")]
        .some((t) => t.textContent === "unbelievably ·12")""", timeout=10_000)
    app.wait_for_query(att_merge="1")
    assert app.page.evaluate(DRAWN_BY_JS) == "click"
    app.page.wait_for_selector(f"{MAIN} .hl-lines line", state="attached")
    assert box.locator(".hl-lines-head[aria-pressed='true']").count() == 2
    app.page.keyboard.press("Escape")  # closes the View options
    app.assert_no_exception()
    assert not app.page_errors and not app.external_requests


def test_an_option_clicked_on_the_lines_after_the_heatmaps_raises_nothing(app: App):
    """Both views read the same View options' clicks (their fragments' widgets share keys): once the
    explorer has been shown, a click on the line view's options must draw the lines and break nothing."""
    app.open(PAGES["attention"][1], text=TEXT, layer="2", head="9")
    app.choose_view("Lines", charts=False)
    app.page.locator(f"{MAIN} .hl-lines").wait_for(timeout=FIRST_RUN_TIMEOUT)
    app.page.get_by_role("button", name="View options").click()
    app.page.get_by_text("Hide special tokens ([CLS], [SEP])", exact=True).click()
    app.page.wait_for_function(f"() => ({FIRST_QUERY_JS})() === 'the ·1'", timeout=10_000)
    app.wait_for_query(att_hide_special="1")
    app.page.wait_for_timeout(500)  # a frame or two for anything the click scheduled
    app.page.keyboard.press("Escape")
    app.assert_no_exception()
    assert not app.page_errors and not app.external_requests
