"""End to end: the Attention page's line view in Chromium (issue 20 §1): it draws a head's lines,
another head overlays in the browser without a rerun, and hovering a token keeps only its lines."""

from __future__ import annotations

from bench.browser import FIRST_RUN_TIMEOUT, MAIN, PAGES, App

TEXT = "The animal didn't cross the street because it was too tired."


def test_the_line_view_draws_overlays_heads_and_isolates_a_token(app: App):
    app.open(PAGES["attention"][1], charts=False, text=TEXT, layer="2", head="9", att_view="Lines")
    box = app.page.locator(f"{MAIN} .hl-lines")
    box.wait_for(timeout=FIRST_RUN_TIMEOUT)
    lines = box.locator("line")
    one_head = lines.count()
    assert one_head > 0
    assert box.locator(".hl-lines-token").count() == 2 * 16  # 16 tokens, each in both columns
    runs = app.runs()
    box.locator(".hl-lines-head[data-head='2']").click()  # head 3 on top of head 9
    app.page.wait_for_function("n => document.querySelectorAll('.hl-lines line').length > n", arg=one_head,
                               timeout=10_000)
    assert app.runs() == runs, "a head change must be drawn in the browser, not by a rerun"
    token = box.locator(".hl-lines-token[data-side='q'][data-index='10']")  # "it"
    token.hover()
    app.page.wait_for_function("() => [...document.querySelectorAll('.hl-lines line')]"
                               ".every(l => l.dataset.query === '10')", timeout=10_000)
    assert 0 < lines.count() < one_head * 2
    assert "it ·10" in box.locator(".hl-lines-note").inner_text()
    app.assert_no_exception()
    assert not app.page_errors and not app.external_requests
