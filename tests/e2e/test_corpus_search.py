"""End to end: on the Corpus page a search for similar contexts returns results (the chosen token first, a link
to the Attention page), and the joint query–key map draws."""

from __future__ import annotations

from pathlib import Path

from bench.browser import CHART, FIRST_RUN_TIMEOUT, MAIN, PAGES, App

SENTENCES = ["The cat sat on the mat.", "A cat slept on the warm sofa.", "The dog barked at the cat.",
             "Where did you park the car?", "It rained all week in the city."]


def test_a_corpus_search_returns_results_and_the_joint_map_draws(app: App):
    app.open(PAGES["corpus"][1], charts=False)
    app.assert_no_exception()
    app.rerun_after(lambda: app.page.get_by_text("Similar contexts", exact=True).click(), charts=False)
    app.rerun_after(lambda: app.page.get_by_text("Paste sentences", exact=True).click(), charts=False)
    area = app.page.locator(f"{MAIN} textarea")
    area.fill("\n".join(SENTENCES))
    app.rerun_after(lambda: area.press("Control+Enter"), charts=False)
    app.page.get_by_role("button", name="Build the index").click()
    table = app.page.locator(f"{MAIN} [data-testid='stDataFrame']")
    table.wait_for(state="visible", timeout=FIRST_RUN_TIMEOUT)
    app.assert_no_exception()
    shaded = app.page.locator(f"{MAIN} .hl-shaded")
    shaded.first.wait_for(state="visible", timeout=30_000)
    assert shaded.count() == 10
    assert "cosine 1.000" in shaded.first.inner_text()
    assert any(sentence in shaded.first.inner_text() for sentence in SENTENCES)
    assert "tokens indexed" in app.page.locator(MAIN).inner_text()

    app.rerun_after(lambda: app.page.get_by_text("Query–key map", exact=True).click(), charts=False)
    app.page.get_by_role("button", name="Draw the map").click()
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    app.assert_healthy()
    chart = app.page.locator(CHART).filter(has_text="queries and keys")
    chart.wait_for(state="visible", timeout=30_000)
    assert chart.locator("g.trace.scatter path.point").count() > 100  # 40 sentences: hundreds of tokens × 2

    # A click on a point opens its sentence (a sentence of the example corpus) on the Attention page.
    chart.scroll_into_view_if_needed()
    box = chart.locator("g.trace.scatter path.point").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    app.page.mouse.move(x, y)
    app.page.wait_for_timeout(300)
    app.rerun_after(lambda: app.page.mouse.click(x, y), charts=False)
    app.page.wait_for_function(f"location.pathname === {PAGES['attention'][1]!r}", timeout=60_000)
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    corpus = Path(__file__).resolve().parents[2] / "assets" / "corpus.txt"
    assert app.text_values()[0] in corpus.read_text(encoding="utf-8").splitlines()
    assert not app.external_requests, sorted(set(app.external_requests))
