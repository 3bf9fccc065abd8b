"""Browser tests: one Streamlit server and one Chromium for the whole session, a fresh tab per test.

The server runs `streamlit run app.py` from the repository root on a free localhost port and logs
to $TMPDIR/headlight-e2e/streamlit.log (a temporary folder, like the screenshots of failed tests).
The browser is Debian's Chromium at /usr/bin/chromium, driven by the playwright package; this
suite never downloads a browser. Without Chromium the tests are skipped, unless
HEADLIGHT_REQUIRE_BROWSER=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.app_server import ServerNotReady, free_port, start_server, stop_server, wait_until_healthy
from bench.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL_URL,
    RUN_COUNTER_JS,
    SERVER_START_TIMEOUT,
    VIEWPORT,
    App,
    PlaywrightError,
)

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None


def require_browser() -> bool:
    return os.environ.get("HEADLIGHT_REQUIRE_BROWSER", "") == "1"


def _skip_or_fail(reason: str) -> None:
    if require_browser():
        pytest.fail(f"{reason} (HEADLIGHT_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (Debian's, never a downloaded one)."""
    if sync_playwright is None:
        _skip_or_fail("the playwright package is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        _skip_or_fail(f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)")
    driver = sync_playwright().start()
    try:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except PlaywrightError as error:
        driver.stop()
        pytest.fail(f"could not start {CHROMIUM}: {error}", pytrace=False)
    yield chromium
    chromium.close()
    driver.stop()


@contextlib.contextmanager
def streamlit_server(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free localhost port, logging to `log_path`, with `env` added to
    its environment; yields the base URL (no trailing slash) once /_stcore/health says "ok"."""
    port = free_port()
    process = start_server(port, log_path, env)
    try:
        try:
            wait_until_healthy(process, port, log_path, timeout=SERVER_START_TIMEOUT)
        except ServerNotReady as error:
            pytest.fail(str(error), pytrace=False)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def server(browser) -> Iterator[str]:
    """The app's server for the whole session, warmed up; yields its base URL.

    Depends on `browser` so that a missing browser skips before a server is started. One visit
    to / runs app.py and loads the model before the tests, so no test pays for the model load
    or depends on being the server's first session (`fresh_server` tests that case).
    """
    with streamlit_server(ARTIFACTS / "streamlit.log") as base:
        warm_up(browser, base)
        yield base


def warm_up(browser, base: str) -> None:
    """Open / once and wait for its charts; problems are left for the tests to report."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(RUN_COUNTER_JS)
    try:
        with contextlib.suppress(AssertionError, PlaywrightError):
            App(context.new_page(), base).open("/")
    finally:
        context.close()


@pytest.fixture(scope="session")
def serve() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """`streamlit_server`, for tests that need a server of their own (another environment)."""
    return streamlit_server


@pytest.fixture
def fresh_server(browser) -> Iterator[str]:
    """A server of its own that no session has visited yet (for first-request behaviour)."""
    with streamlit_server(ARTIFACTS / "streamlit-fresh.log") as base:
        yield base


@pytest.fixture
def make_app(browser, server, request) -> Iterator[Callable[..., App]]:
    """Opens fresh browser contexts (each a new Streamlit session), 1600 x 1000; closes them after.

    Requests that leave localhost are aborted and recorded: the app must work offline. If the
    test failed, each tab's last view is saved to $TMPDIR/headlight-e2e/<test>-<n>.png."""
    contexts = []

    def new_app(base: str = server) -> App:
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        context.set_default_timeout(30_000)
        context.add_init_script(RUN_COUNTER_JS)
        tab = App(context.new_page(), base)

        def route(route_):
            url = route_.request.url
            if LOCAL_URL.match(url) or url.startswith(("data:", "blob:")):
                route_.continue_()
            else:
                tab.external_requests.append(url)
                route_.abort()

        context.route("**/*", route)
        contexts.append((context, tab))
        return tab

    yield new_app
    report = getattr(request.node, "rep_call", None)
    for number, (context, tab) in enumerate(contexts):
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            with contextlib.suppress(PlaywrightError):
                tab.page.screenshot(path=ARTIFACTS / f"{name}-{number}.png")
        context.close()


@pytest.fixture
def app(make_app) -> App:
    """A fresh tab (a new Streamlit session) on the app, not yet pointed at any page."""
    return make_app()
