"""End to end: shaded text drawn in the browser (figures/shaded, issue 18 §1). The line view's text is
the text itself, character for character (a hostile one stays text), each token on the colour
figures.shaded_text gives its score; a click on "Shade the text by" or "Statistic" is drawn by the
browser at once, and the fragment's rerun confirms it without redrawing. Screenshots at 1280 x 720
(and in presentation mode) go to the e2e artifacts folder (a temporary one)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bench.browser import ARTIFACTS, FIRST_RUN_TIMEOUT, MAIN, PAGES, App
from figures.shaded_text import background

TEXT = 'Dogs <img src=x onerror=alert(1)> bark </script><b>loudly</b> at "night" & day.'
LAYER, HEAD, FOLLOW = 2, 9, 2  # as in the link: from 1, from 1, a position
SMALL = {"width": 1280, "height": 720}
VIEW = f"{MAIN} .hl-shaded-view"
DRAWN_BY_JS = f"() => document.querySelector({VIEW!r}).parentElement.dataset.drawnBy"
TOKENS_JS = f"""() => [...document.querySelectorAll({VIEW!r} + " .hl-shaded-token")].map((span) =>
  [Number(span.dataset.token), getComputedStyle(span).backgroundColor])"""


def rgba(colour: str) -> tuple[float, float, float, float]:
    """An rgba()/rgb() string, as Python writes it or Chromium computes it, as four numbers."""
    if colour == "transparent":
        return (0.0, 0.0, 0.0, 0.0)
    numbers = [float(n) for n in re.findall(r"[\d.]+", colour)]
    return (*numbers[:3], numbers[3] if len(numbers) > 3 else 1.0)


def assert_colours(app: App, scores: np.ndarray) -> None:
    """Each drawn token's background is figures.shaded_text.background of its score (the view's scale:
    its largest score, as pages/parts/rollout.shares_view sets it)."""
    drawn = app.page.evaluate(TOKENS_JS)
    assert drawn, "no token drawn"
    scale = float(scores.max()) or 1.0
    for token, colour in drawn:
        expected = rgba(background(float(scores[token]), scale))
        assert rgba(colour)[:3] == expected[:3] or expected[3] == 0, (token, colour, expected)
        assert rgba(colour)[3] == pytest.approx(expected[3], abs=0.005), (token, colour, expected)


def wait_for_view(app: App, prefix: str, by: str) -> None:
    app.page.wait_for_function(f"""() => {{
      const view = document.querySelector({VIEW!r});
      return view && view.dataset.view.startsWith({prefix!r}) && view.parentElement.dataset.drawnBy === {by!r};
    }}""", timeout=10_000)


def test_the_line_views_shaded_text_is_the_text_and_a_click_is_drawn_in_the_browser(app: App, model):
    from encoder.analysis import token_statistic_arrays

    app.page.set_viewport_size(SMALL)
    app.open(PAGES["attention"][1], charts=False, text=TEXT, layer=str(LAYER), head=str(HEAD), att_view="Lines",
             att_follow=str(FOLLOW))
    app.page.locator(VIEW).wait_for(timeout=FIRST_RUN_TIMEOUT)
    line = app.page.locator(f"{VIEW} .hl-shaded")
    assert line.count() == 1
    assert line.evaluate("(element) => element.textContent") == TEXT  # every character, spacing kept
    assert app.page.locator(f"{VIEW} img, {VIEW} b, {VIEW} script").count() == 0  # text, not markup
    run = model.run(TEXT)
    assert run.tokenized.labels[FOLLOW] in app.page.locator(f"{VIEW} .hl-shaded-title").inner_text()
    rows = run.attentions[LAYER - 1, :, FOLLOW]  # (H, T)
    assert_colours(app, rows[HEAD - 1])
    first = app.page.locator(f"{VIEW} .hl-shaded-token").first
    assert re.fullmatch(r".+: [-+0-9.e]+", first.get_attribute("title"))
    app.page.locator(VIEW).scroll_into_view_if_needed()
    app.page.screenshot(path=str(ARTIFACTS / "shaded-text-lines-1280.png"))

    runs = app.runs()
    app.page.locator(".st-key-att_shade button", has_text="Mean of the layer's heads").click()
    wait_for_view(app, "Mean of the layer's heads", "click")
    assert_colours(app, rows.mean(axis=0))
    app.wait_for_query(att_shade="Mean of the layer's heads")  # the fragment's rerun keeps the link
    assert app.runs() > runs
    app.page.wait_for_timeout(300)
    assert app.page.evaluate(DRAWN_BY_JS) == "click"  # its message found the view drawn already

    app.page.locator(".st-key-att_shade button", has_text="A head statistic").click()
    wait_for_view(app, "A head statistic|entropy", "click")
    statistics = token_statistic_arrays(run.attentions[LAYER - 1, HEAD - 1])
    assert_colours(app, statistics["entropy"])
    distance = app.page.locator(".st-key-att_shade_stat button", has_text="How far each token looks")
    distance.wait_for(timeout=10_000)  # the rerun shows the statistic's control
    distance.click()
    wait_for_view(app, "A head statistic|distance", "click")
    assert_colours(app, statistics["distance"])
    app.wait_for_query(att_shade_stat="distance")
    app.page.locator(VIEW).scroll_into_view_if_needed()
    app.page.screenshot(path=str(ARTIFACTS / "shaded-text-statistic-1280.png"))
    app.assert_no_exception()
    assert not app.dialogs and not app.page_errors and not app.external_requests


def test_a_pair_on_the_rollout_page_in_presentation_mode(app: App):
    """Each sentence of a pair on its labelled line, the text as typed, readable on a projector."""
    app.page.set_viewport_size(SMALL)
    app.open(PAGES["attribution"][1], charts=False, text="Dogs <i>bark</i>.", pair="Cats sleep.", present="1",
             attr_view="Rollout")
    app.page.locator(VIEW).wait_for(timeout=FIRST_RUN_TIMEOUT)
    lines = app.page.locator(f"{VIEW} .hl-shaded")
    assert lines.count() == 2
    assert lines.nth(0).evaluate("(e) => e.textContent") == "ADogs <i>bark</i>."  # label, then the text
    assert lines.nth(1).evaluate("(e) => e.textContent") == "BCats sleep."
    assert app.page.locator(f"{VIEW} i").count() == 0
    assert app.page.locator(VIEW).evaluate("(e) => getComputedStyle(e).fontSize") == "18px"
    app.page.locator(VIEW).scroll_into_view_if_needed()
    app.page.screenshot(path=str(ARTIFACTS / "shaded-text-rollout-presenting-1280.png"))
    app.assert_no_exception()
    assert not app.dialogs and not app.page_errors and not app.external_requests
