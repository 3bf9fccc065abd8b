"""End to end: the Attribution page's Gradients and perturbation view in Chromium (issue 19): a press
computes every method, and the page draws the text shaded by each method, their agreement, the
faithfulness table and the deletion curves, with hostile text kept literal."""

from __future__ import annotations

from bench.browser import CHART, FIRST_RUN_TIMEOUT, MAIN, PAGES, App

TEXT = "The plot was dull <b>but</b> the acting was superb."


def test_gradients_view_draws_shaded_texts_agreement_and_table(app: App):
    app.open(PAGES["attribution"][1], charts=False, text=TEXT, attr_view="Gradients and perturbation")
    button = app.page.get_by_role("button", name="Compute attributions")
    button.wait_for(timeout=FIRST_RUN_TIMEOUT)
    app.rerun_after(button.click, charts=False)
    shaded = app.page.locator(f"{MAIN} .hl-shaded")
    shaded.first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    text = "\n".join(shaded.all_inner_texts()).lower()  # one shaded line per method
    for method in ("integrated gradients", "occlusion", "rollout", "gradient × input"):
        assert method in text, text[:300]
    assert "<b>but</b>" in text and app.page.locator(f"{MAIN} .hl-shaded b").count() == 0  # literal, not bold
    app.page.locator(MAIN).get_by_text("Faithfulness on this text").wait_for(timeout=FIRST_RUN_TIMEOUT)
    table = app.page.locator(f'{MAIN} [data-testid="stDataFrame"]').first
    table.wait_for(timeout=FIRST_RUN_TIMEOUT)
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length >= 2", timeout=FIRST_RUN_TIMEOUT)
    drawn = app.chart_text()
    assert "Deletion curves on this text" in drawn
    assert "Spearman" in drawn or "overlap" in drawn.lower(), "the agreement between methods is drawn"
    app.assert_no_exception()
    assert not app.dialogs and not app.external_requests
