"""End to end: the real app in Chromium. Every page, the sidebar, the URL, hostile and empty input."""

from __future__ import annotations

import pytest

from bench.browser import (
    MAIN,
    PAGES,
    TEXT_AREA,
    App,
    PlaywrightTimeout,
)
from bench.screenshots import README_PAGES, take_screenshots

DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
TYPED = "Colorless green ideas sleep furiously."
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script><b>bold</b>"
SCREENSHOT_MAX_BYTES = 1_000_000


def expect_page(app: App, name: str) -> None:
    """The URL path and the highlighted navigation link are the page's."""
    title, path = PAGES[name]
    assert app.path() == path, f"expected {path} for {title}, at {app.page.url}"
    assert app.current_page_title() == title


def expect_app_sidebar(app: App, text: bool = True) -> None:
    """app.py ran: its sidebar is there (with the text areas, on a page that reads `text`) and the
    navigation lists the app's pages."""
    try:
        app.page.wait_for_selector(TEXT_AREA if text else '[data-testid="stSidebar"] h1', timeout=30_000)
    except PlaywrightTimeout:
        raise AssertionError(f"no app sidebar: the page ran without app.py "
                             f"(the sidebar lists {list(app.nav_links())})") from None
    links = app.nav_links()
    assert set(links) == {title for title, _ in PAGES.values()}, links
    for title, path in PAGES.values():
        assert links[title].rstrip("/") == app.url(path).rstrip("/"), (title, links[title])


def test_typed_text_survives_switching_pages(app: App):
    app.open("/")
    expect_app_sidebar(app)
    expect_page(app, "attention")
    assert app.text_values()[0] == DEFAULT_TEXT  # no query parameters: the default example
    app.commit_text(TYPED)
    app.assert_healthy()
    assert "sleep" in app.chart_text().lower(), "the attention charts should label the new tokens"
    app.wait_for_query(text=TYPED)
    for name in ("embeddings", "positional", "attention"):
        app.click_nav(PAGES[name][0])
        expect_page(app, name)
        assert app.text_values()[0] == TYPED, f"{name}: the typed text was lost"
        assert app.assert_healthy() > 0, name
        app.wait_for_query(text=TYPED, model="minilm-l6")
    assert "sleep" in app.chart_text().lower()


@pytest.mark.parametrize("start", ["home", "link", "corpus upload"])
def test_the_first_visitor_of_a_new_server(make_app, fresh_server, start: str):
    """The first session after `streamlit run` (on a laptop: the person who started it) works.

    "home": open /, type a sentence, switch pages. "link": the first request is a shared link to
    /embeddings. "corpus upload": a link to the Corpus page's upload, which draws a widget before
    it reads any text. A folder named pages/ beside app.py puts Streamlit in its legacy multipage
    mode until st.navigation first runs; no case may lose the text or run a page without app.py.
    """
    app = make_app(fresh_server)
    if start == "corpus upload":
        app.open(PAGES["corpus"][1], corp_source="Upload a file", charts=False)
        expect_app_sidebar(app, text=False)
        expect_page(app, "corpus")
        app.page.wait_for_selector(f'{MAIN} [data-testid="stFileUploader"]', timeout=30_000)  # the link's choice
        app.assert_no_exception()
        app.click_nav(PAGES["attention"][0])
        assert app.text_values()[0] == DEFAULT_TEXT
        app.assert_healthy()
        return
    if start == "home":
        app.open("/")
        expect_app_sidebar(app)
        app.commit_text(TYPED)
        text = TYPED
    else:
        text = "Hello world"
        app.open(PAGES["embeddings"][1], text=text, charts=False)
        expect_app_sidebar(app)
        expect_page(app, "embeddings")
    assert app.text_values()[0] == text
    app.assert_healthy()
    app.wait_for_query(text=text, model="minilm-l6")
    for name in ("positional", "attention"):
        app.click_nav(PAGES[name][0])
        assert app.text_values()[0] == text, f"{name}: the text was lost on the first page switch"
        app.assert_healthy()
        app.wait_for_query(text=text)


def test_a_direct_link_opens_the_page_with_its_text(app: App):
    """/positional?text=Hello%20world opens that page on that text (/ and /embeddings: above)."""
    app.open(PAGES["positional"][1], text="Hello world")
    expect_page(app, "positional")
    assert app.text_values()[0] == "Hello world"
    assert app.assert_healthy() > 0
    app.wait_for_query(text="Hello world", model="minilm-l6")
    expect_page(app, "positional")  # writing the query parameters kept the page


def test_a_shared_link_reproduces_the_view(make_app):
    """Text, second sentence, layer and head go into the URL; the URL opens the same view."""
    text, pair = "Where is the nearest train station?", "It is two blocks north."
    first = make_app()
    first.open("/", text=text, pair=pair, layer="3", head="7")
    assert first.text_values()[:2] == [text, pair]
    first.assert_healthy()
    first.wait_for_query(text=text, pair=pair, model="minilm-l6", layer="3", head="7")
    link, charts = first.page.url, first.chart_text()
    assert "station" in charts.lower()
    assert "Layer 3, head 7" in charts, "the link's layer and head should be the one drawn large"

    second = make_app()  # someone else opens the copied link: a new session
    second.open_url(link)
    assert second.text_values()[:2] == [text, pair]
    second.assert_healthy()
    second.wait_for_query(**first.query())
    assert second.chart_text() == charts, "the shared link drew different charts"

    # the other pages keep the pair, the layer and the head too
    for name in ("embeddings", "positional", "attention"):
        second.click_nav(PAGES[name][0])
        assert second.text_values()[:2] == [text, pair]
        second.assert_healthy()
        second.wait_for_query(text=text, pair=pair, layer="3", head="7")
    assert "Layer 3, head 7" in second.chart_text()


def test_moving_the_layer_slider_updates_the_url(app: App):
    app.open("/", layer="1", head="1")  # without a layer and head the page picks a head by its rule
    assert "Layer 1, head 1" in app.chart_text()
    slider = app.page.get_by_role("slider", name="Layer")
    assert slider.count() == 1
    slider.focus()
    app.rerun_after(lambda: slider.press("ArrowRight"))
    app.assert_healthy()
    app.wait_for_query(layer="2", head="1")
    assert "Layer 2, head 1" in app.chart_text()
    app.click_nav(PAGES["embeddings"][0])
    app.wait_for_query(layer="2")
    app.click_nav(PAGES["attention"][0])
    app.wait_for_query(layer="2", head="1")
    assert "Layer 2, head 1" in app.chart_text(), "the layer was lost on the way to another page"


def test_html_in_the_text_is_shown_literally_never_run(app: App):
    app.open("/")
    app.commit_text(HOSTILE)
    for name in ("attention", "embeddings", "positional"):
        if name != "attention":
            app.click_nav(PAGES[name][0])
        app.assert_healthy()  # includes: no alert()/confirm() dialog opened, no JavaScript error
        assert app.text_values()[0] == HOSTILE
        page = app.page
        assert page.locator('img[src="x"]').count() == 0, f"{name}: the <img> tag was rendered"
        assert page.locator(f"{MAIN} b", has_text="bold").count() == 0, f"{name}: <b> was rendered"
        assert page.locator(f"{MAIN} script", has_text="alert").count() == 0
        # Plotly turns <b> in labels into bold tspans: none may hold the word
        bold = page.locator(f"{MAIN} svg tspan[style*='bold']", has_text="bold")
        assert bold.count() == 0, f"{name}: <b> in the text became bold chart text"
        if name == "attention":
            drawn = app.chart_text().lower()
            for piece in ("<", ">", "script", "alert", "bold"):
                assert piece in drawn, f"the token {piece!r} should be drawn literally in the charts"
    assert not app.dialogs


def test_empty_text_asks_for_text_and_the_app_recovers(app: App):
    app.open("/")
    app.commit_text("", charts=False)
    app.assert_no_exception()
    assert any("sentence" in alert.lower() or "text" in alert.lower() for alert in app.alerts()), (
        f"an info or warning message should ask for text: {app.alerts()}")
    for name in ("embeddings", "positional", "attention"):
        app.click_nav(PAGES[name][0], charts=False)
        expect_page(app, name)
        app.assert_no_exception()
        assert app.text_values()[0] == ""
        assert app.alerts(), f"{name}: the page should say why it shows nothing"

    app.page.locator(TEXT_AREA).first.fill("   \n  ")
    app.rerun_after(lambda: app.page.locator(TEXT_AREA).first.press("Control+Enter"), charts=False)
    app.assert_no_exception()
    assert app.alerts(), "whitespace alone should be treated like empty text"

    app.commit_text("The cat sat on the mat.")
    app.assert_healthy()
    assert "cat" in app.chart_text().lower()


def test_the_app_makes_no_requests_off_localhost(app: App):
    """The app is meant to work offline: no page may make the browser reach another host.

    (Such requests are aborted in these tests; they would leak the visit and wait on a network.)"""
    app.open("/")
    app.assert_healthy()
    for name in ("embeddings", "positional"):
        app.click_nav(PAGES[name][0])
        app.assert_healthy()
    assert not app.external_requests, f"requests to other hosts: {sorted(set(app.external_requests))}"


def test_screenshots(app: App, tmp_path):
    """Each page's README screenshot (the default example, 1600 x 1000, layer 2, head 9) can be
    taken and is a sane PNG. Written to a temporary folder: `python -m bench.screenshots`
    refreshes the README's copies in assets/screenshots/."""
    paths = take_screenshots(app, tmp_path)
    assert [p.stem for p in paths] == list(README_PAGES)
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert 10_000 < len(data) < SCREENSHOT_MAX_BYTES, f"{path} is {len(data)} bytes"
