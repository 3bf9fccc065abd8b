"""End to end: the Learn pages in Chromium. A teacher's lesson link opens on its step, the class walks
a few steps, an answer is revealed with its numbers, and the ablation page switches a head off."""

from __future__ import annotations

from bench.browser import CHART, FIRST_RUN_TIMEOUT, MAIN, PAGES, RERUN_TIMEOUT, App, PlaywrightTimeout

TEXT = "The animal didn't cross the street because it was too tired."


def charts_drawn(app: App) -> int:
    """Streamlit loads its Plotly component lazily, which on a busy machine can outlast
    `App.wait_for_charts`'s grace for a run without charts: wait for a chart first."""
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    return app.assert_healthy()


def click(app: App, name: str, charts: bool = False) -> None:
    app.rerun_after(lambda: app.page.locator(MAIN).get_by_role("button", name=name).click(), charts=charts)
    app.assert_no_exception()


def main_text(app: App) -> str:
    return app.page.locator(MAIN).inner_text()


def expect_text(app: App, *texts: str) -> None:
    """Wait until the main area shows every text (a run's elements arrive over a moment), then
    check again that no exception is shown."""
    try:
        app.page.wait_for_function(
            "([selector, texts]) => texts.every(t => document.querySelector(selector).innerText.includes(t))",
            arg=[MAIN, list(texts)], timeout=RERUN_TIMEOUT)
    except PlaywrightTimeout:
        raise AssertionError(f"{texts} not shown; the page says: {main_text(app)[:2000]}") from None
    app.assert_no_exception()


def test_a_lesson_walks_its_steps_and_reveals_an_answer(app: App):
    # The teacher's link: tokens, positions, softmax (and a head, which the question's own replaces).
    app.open(PAGES["walkthrough"][1], charts=False, text=TEXT, layer="2", head="9", walk_lesson="1",
             walk_steps="0,2,7", walk_step="0")
    expect_text(app, "Step 1 of 3", "1. Tokens and ids")
    click(app, "Next")
    expect_text(app, "Step 2 of 3", "Which position's vector will look most like position 10's?")
    click(app, "Next")
    expect_text(app, "Step 3 of 3", "attend to most?")
    assert app.page.locator(CHART).count() == 0, "the numbers must wait for the answer"
    # The step opens on the head its question is about, picked from the live numbers (issue 17 §7),
    # whatever head the link came with; the link then carries that head.
    app.wait_for_query(walk_step="2", walk_steps="0,2,7", walk_lesson="1")
    layer, head = app.query()["layer"], app.query()["head"]
    click(app, "Reveal the answer")
    assert charts_drawn(app) == 1
    answer = app.page.locator(f"{MAIN} [data-testid='stAlertContentSuccess']").inner_text()
    assert "(position" in answer and "with weight" in answer, answer
    assert f"Attention weights, layer {layer} head {head}" in app.chart_text()
    click(app, "Back")
    expect_text(app, "Step 2 of 3", "Reveal the answer")
    app.wait_for_query(walk_step="1")


def test_walkthrough_and_ablation_draw(app: App):
    app.open(PAGES["walkthrough"][1], charts=False, text=TEXT)
    expect_text(app, "Stages 1–14 recompose layer 1's output", "15. The next layer")
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length >= 20", timeout=RERUN_TIMEOUT)
    assert charts_drawn(app) >= 20
    app.open("/ablation", charts=False, text=TEXT, abl_off="1", abl_rank="0")
    assert charts_drawn(app) == 2  # the change grid and the thumbnails
    expect_text(app, "1 of 72", "Sentence embedding")
    # A click on layer 3, head 5 of the change grid switches that head off too.
    target = app.page.locator(CHART).first.locator(".scatterlayer .trace").first.locator(".points path").nth(2 * 12 + 4)
    box = target.bounding_box()
    app.rerun_after(lambda: app.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
    expect_text(app, "2 of 72")
    app.wait_for_query(abl_off="1,28")
    click(app, "Switch all back on", charts=True)
    expect_text(app, "0 of 72")
