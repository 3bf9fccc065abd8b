"""Driving the app in Debian's Chromium: constants, selectors and `App`, a tab on the app.

Shared by the browser tests (tests/e2e), the screenshot script and the interaction benchmark.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # conftest's `browser` fixture skips (or fails) with the reason
    PlaywrightError = PlaywrightTimeout = Exception
    Page = object

import registry

ROOT = Path(__file__).resolve().parents[1]
# Server logs and screenshots of failed tests: a temporary folder, never the working tree.
ARTIFACTS = Path(os.environ.get("HEADLIGHT_E2E_ARTIFACTS", Path(tempfile.gettempdir()) / "headlight-e2e"))
SCREENSHOTS = ROOT / "assets" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1600, "height": 1000}

# page name -> (title in the sidebar navigation, URL path), from the one page registry. The default
# page is served at "/": Streamlit gives the default page of st.navigation the empty URL path.
PAGES = {page.url_path: (page.title, registry.path_of(page)) for page in registry.PAGES}

SERVER_START_TIMEOUT = 90  # seconds until /_stcore/health says "ok"
FIRST_RUN_TIMEOUT = 120_000  # ms: the first run of the session loads the model
RERUN_TIMEOUT = 90_000  # ms: any later rerun (cached model, maybe a new text)
NO_CHART_GRACE = 30_000  # ms: a run ended without charts; wait this long for the lazy chart component
RERUN_START_TIMEOUT = 5_000  # ms to see a rerun start after an action (a fast one can be missed)

NOT_RUNNING = '[data-testid="stApp"][data-test-script-state="notRunning"]'
MAIN = '[data-testid="stMain"]'
# Streamlit's Plotly charts, and those the Attention page's explorer draws itself (figures/explorer.js)
CHART = f'{MAIN} :is([data-testid="stPlotlyChart"], .hl-chart)'
EXCEPTION = '[data-testid="stException"]'
TEXT_AREA = '[data-testid="stSidebar"] [data-testid="stTextArea"] textarea'
# The navigation is a bar at the top: one dropdown per registry section, its pages as links.
NAV_SECTION = '[data-testid="stTopNavSection"]'
NAV_LINK = '[data-testid="stTopNavDropdownLink"]'
SECTION_OF = {page.title: page.section for page in registry.PAGES}
ALERT = f'{MAIN} [data-testid="stAlert"]'
# The addresses of pages merged into others: name -> (the page's name, the view it opens on).
VIEWS = {old.url_path: (registry.by_title(old.to).url_path, old.view[1]) for old in registry.FORWARDS}
# A merged page's view control (opening.page_views), not the views' own button groups.
VIEW_BUTTON = f'{MAIN} .st-key-{registry.VIEW_CHOICE} [data-testid="stButtonGroup"] button'
LOCAL_URL = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/")

# Counts script runs in the page and logs each change of Streamlit's script state with its time
# (ms since navigation): Streamlit sets data-test-script-state="running" on stApp while the script
# runs. A fragment's rerun can start and end between two observer callbacks, so the states a change
# replaced (oldValue) are read too. Knowing a run started after an action makes "notRunning" mean
# "that run ended".
RUN_COUNTER_JS = """
(() => {
  window.__headlightRuns = 0;
  window.__stateLog = [];
  let last = null;
  const note = (state) => {
    if (state === last) return;
    if (state === 'running') window.__headlightRuns += 1;
    window.__stateLog.push([state, performance.now()]);
    last = state;
  };
  new MutationObserver((records) => {
    for (const r of records) if (r.type === 'attributes') note(r.oldValue);
    const app = document.querySelector('[data-testid="stApp"]');
    note(app ? app.getAttribute('data-test-script-state') : null);
  }).observe(document, {
    subtree: true, childList: true, attributes: true, attributeOldValue: true,
    attributeFilter: ['data-test-script-state'],
  });
})();
"""

# True when every visible chart in the main area has drawn its Plotly SVG and at least one trace
# (SVG traces, heatmap/image layers, or WebGL canvases), and at least one chart is visible.
CHARTS_DRAWN_JS = """
(selector) => {
  const charts = [...document.querySelectorAll(selector)].filter(c => c.checkVisibility());
  return charts.length > 0 && charts.every(c => {
    const svg = c.querySelector('.js-plotly-plot .main-svg');
    if (!svg || svg.getBoundingClientRect().width < 50) return false;
    return c.querySelector('.js-plotly-plot .main-svg g.trace, .js-plotly-plot .main-svg image, '
                           + '.js-plotly-plot canvas') !== null;
  });
}
"""

# Charts drawn, or the run is over and it sent no chart at all.
CHARTS_DRAWN_OR_NONE_JS = (
    "([charts, idle]) => (" + CHARTS_DRAWN_JS + ")(charts) || "
    "(document.querySelector(idle) !== null && document.querySelectorAll(charts).length === 0)"
)

# Titles of visible charts that drew nothing (for a readable failure message).
EMPTY_CHARTS_JS = """
(selector) => [...document.querySelectorAll(selector)].filter(c => c.checkVisibility()).filter(c => {
  return c.querySelector('.js-plotly-plot .main-svg g.trace, .js-plotly-plot .main-svg image, '
                         + '.js-plotly-plot canvas') === null;
}).map(c => (c.querySelector('.gtitle') || {}).textContent || '(untitled chart)')
"""


def nav_title_text(text: str) -> str:
    """A navigation link's title from its text, without the icon's name (e.g. "scatter_plot")."""
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else ""


class App:
    """A browser tab on the app, with helpers that wait for Streamlit's reruns and charts."""

    def __init__(self, page: Page, base: str):
        self.page = page
        self.base = base
        self.dialogs: list[str] = []  # alert/confirm/prompt texts: must stay empty
        self.page_errors: list[str] = []  # uncaught JavaScript errors
        self.external_requests: list[str] = []  # requests that left localhost (all aborted)
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    # navigation and reruns ----------------------------------------------------------------

    def url(self, path: str = "/", **params: str) -> str:
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""
        return f"{self.base}{path}{query}"

    def open(self, path: str = "/", *, charts: bool = True, **params: str) -> None:
        """Load the app at `path` with query parameters; wait for the first run (and charts)."""
        self.open_url(self.url(path, **params), charts=charts)

    def open_url(self, url: str, *, charts: bool = True) -> None:
        """Load a full URL in this tab (a new session); wait for the first run (and charts)."""
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=30_000)
        self._wait_for_run(after=0, start_timeout=FIRST_RUN_TIMEOUT, end_timeout=FIRST_RUN_TIMEOUT)
        if charts:
            self.wait_for_charts(FIRST_RUN_TIMEOUT)

    def runs(self) -> int:
        return int(self.page.evaluate("window.__headlightRuns || 0"))

    def _wait_for_run(self, after: int, start_timeout: float = RERUN_START_TIMEOUT,
                      end_timeout: float = RERUN_TIMEOUT) -> None:
        """Wait until a run newer than `after` has started (if it is seen) and no run is going."""
        # A very fast rerun can start and end between two DOM updates; then it is already done.
        with contextlib.suppress(PlaywrightTimeout):
            self.page.wait_for_function(f"(window.__headlightRuns || 0) > {after}", timeout=start_timeout)
        self.page.wait_for_selector(NOT_RUNNING, timeout=end_timeout)

    def rerun_after(self, action: Callable[[], object], charts: bool = True) -> None:
        """Do `action` (which makes Streamlit rerun), wait for that run to end, then for charts."""
        before = self.runs()
        action()
        self._wait_for_run(after=before)
        if charts:
            self.wait_for_charts()

    def wait_for_charts(self, timeout: float = RERUN_TIMEOUT) -> int:
        """Wait until the main area shows charts and each visible one drew its Plotly SVG and data.

        Fails at once if the run has ended without sending any chart."""
        deadline = time.monotonic() + timeout / 1000
        while True:
            left = max(1.0, (deadline - time.monotonic()) * 1000)
            try:
                self.page.wait_for_function(CHARTS_DRAWN_OR_NONE_JS, arg=[CHART, NOT_RUNNING], timeout=left)
            except PlaywrightTimeout:
                self.assert_no_exception()
                empty = self.page.evaluate(EMPTY_CHARTS_JS, CHART)
                raise AssertionError(
                    f"charts on {self.page.url} not drawn after {timeout / 1000:.0f} s "
                    f"({self.page.locator(CHART).count()} chart elements; drawing nothing: {empty}); "
                    f"messages: {self.alerts()}") from None
            if self.page.evaluate(CHARTS_DRAWN_JS, CHART):
                return self.page.locator(CHART).count()
            # The run ended and no chart is there yet. Streamlit loads its Plotly component lazily,
            # so a chart can appear a second or two after the run: allow a grace period.
            try:
                self.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0",
                                            timeout=NO_CHART_GRACE)
            except PlaywrightTimeout:
                self.assert_no_exception()
                raise AssertionError(f"no chart on {self.page.url}; messages: {self.alerts()}") from None

    def commit_text(self, text: str, index: int = 0, charts: bool = True) -> None:
        """Type into the sidebar's text area number `index` and press Ctrl+Enter."""
        area = self.page.locator(TEXT_AREA).nth(index)
        area.fill(text)

        def commit():
            area.press("Control+Enter")

        self.rerun_after(commit, charts=False)
        values = self.text_values()
        assert values[index] == text, f"after Ctrl+Enter the text area holds {values[index]!r}, not {text!r}"
        if charts:
            self.wait_for_charts()

    def _open_section(self, section: str) -> None:
        """Open one section's dropdown of the top navigation bar (closing any other first)."""
        self.page.keyboard.press("Escape")
        self.page.locator(NAV_SECTION, has_text=section).first.click()
        self.page.wait_for_selector(NAV_LINK, state="visible", timeout=10_000)

    def _section_links(self) -> list[tuple[str, str, bool]]:
        """(title, href, is current page) of the open dropdown's links."""
        links = self.page.locator(NAV_LINK).evaluate_all(
            "links => links.map(a => [a.innerText, a.getAttribute('href') || '', "
            "a.getAttribute('aria-current') === 'page'])")
        return [(nav_title_text(text), href, current) for text, href, current in links]

    def nav_links(self) -> dict[str, str]:
        """Every page link of the navigation: title -> href (opening each section in turn)."""
        found = {}
        for section in dict.fromkeys(SECTION_OF.values()):
            self._open_section(section)
            found |= {title: href for title, href, _ in self._section_links()}
        self.page.keyboard.press("Escape")
        return found

    def current_page_title(self) -> str | None:
        """The title the navigation marks as the current page (aria-current)."""
        for section in dict.fromkeys(SECTION_OF.values()):
            self._open_section(section)
            current = [title for title, _, is_current in self._section_links() if is_current]
            self.page.keyboard.press("Escape")
            if current:
                return current[0]
        return None

    def click_nav(self, title: str, charts: bool = True) -> None:
        """Open `title`'s section in the top navigation and click its link; wait for the page's
        run (and charts)."""
        self._open_section(SECTION_OF[title])
        titles = [t for t, _, _ in self._section_links()]
        assert titles.count(title) == 1, f"one navigation link titled {title!r} expected: {titles}"
        link = self.page.locator(NAV_LINK).nth(titles.index(title))
        self.rerun_after(link.click, charts=charts)
        path = registry.path_of(next(p for p in registry.PAGES if p.title == title))
        deadline = time.monotonic() + 10
        while self.path().rstrip("/") != path.rstrip("/") and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)

    def visit(self, name: str, charts: bool = True) -> None:
        """Go to a page by its name (registry url_path) as a person would: through the navigation, and
        for a view of a merged page (an old address, `VIEWS`), then through the page's view control."""
        page_name, view = VIEWS.get(name, (name, None))
        title, path = PAGES[page_name]
        if self.path().rstrip("/") != path.rstrip("/"):
            self.click_nav(title, charts=charts and view is None)
        if view is not None:
            self.choose_view(view, charts=charts)

    def choose_view(self, view: str, charts: bool = True) -> None:
        """Click a merged page's view control (opening.page_views), unless that view is already shown."""
        button = self.page.locator(VIEW_BUTTON, has_text=view).first
        button.wait_for(timeout=RERUN_TIMEOUT)
        if button.get_attribute("aria-checked") == "true":
            if charts:
                self.wait_for_charts()
            return
        self.rerun_after(button.click, charts=charts)

    # reading the page -----------------------------------------------------------------------

    def path(self) -> str:
        return urlsplit(self.page.url).path

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.page.url).query, keep_blank_values=True))

    def wait_for_query(self, **expected: str) -> dict[str, str]:
        """Wait (briefly) until the URL's query holds `expected`; return the query."""
        deadline = time.monotonic() + 10
        while True:
            query = self.query()
            if all(query.get(k) == v for k, v in expected.items()):
                return query
            if time.monotonic() > deadline:
                raise AssertionError(f"URL {self.page.url} lacks {expected}")
            self.page.wait_for_timeout(100)

    def text_values(self) -> list[str]:
        return self.page.locator(TEXT_AREA).evaluate_all("areas => areas.map(a => a.value)")

    def chart_text(self) -> str:
        """All text drawn in the main area's charts (titles, tick labels, annotations)."""
        return "\n".join(self.page.locator(f"{CHART} svg text").all_text_contents())

    def alerts(self) -> list[str]:
        return [text.strip() for text in self.page.locator(ALERT).all_inner_texts()]

    def assert_no_exception(self) -> None:
        """No exception box and no modal (such as "Page not found") anywhere on the page."""
        boxes = self.page.locator(EXCEPTION)
        if boxes.count():
            raise AssertionError(f"exception shown on {self.page.url}:\n" + "\n---\n".join(
                boxes.all_inner_texts()))
        dialogs = self.page.locator('[role="dialog"]')
        visible = [dialogs.nth(i).inner_text() for i in range(dialogs.count()) if dialogs.nth(i).is_visible()]
        assert not visible, f"unexpected dialog on {self.page.url}: {visible}"

    def assert_healthy(self) -> int:
        """The usual checks after a run: no exception, charts drawn, no JS error, no alert().

        Returns the number of charts."""
        self.assert_no_exception()
        count = self.wait_for_charts()
        self.assert_no_exception()
        assert not self.page_errors, f"uncaught JavaScript errors: {self.page_errors}"
        assert not self.dialogs, f"JavaScript dialogs opened: {self.dialogs}"
        return count
