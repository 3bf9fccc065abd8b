"""The school recipe (deploy/): two replicas behind nginx, two browser sessions through the proxy,
each pinned to its own replica (every request it makes, websocket and upload included, reaches the
same one) and keeping its own state across reruns; an upload goes through and the Attention page's
explorer draws. Skipped without nginx, unless HEADLIGHT_REQUIRE_BROWSER=1 (CI) makes that a failure."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import struct
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bench.browser import CHART, LOCAL_URL, MAIN, NOT_RUNNING, PAGES, RUN_COUNTER_JS, VIEWPORT, App, PlaywrightError
from deploy.serve import Cluster, ClusterError, free_port, nginx_binary

TEXTS = ("Alpha: the first class reads about rivers and bridges.",
         "Beta: the second class reads about markets and towers.")
EXPLORER_PLOT = f'{MAIN} .hl-chart[data-chart="main"] .hl-plot.js-plotly-plot'
# log_format headlight: "<time> <cookie> -> <replica> <status> "<request>" <seconds>"
LOG_LINE = re.compile(r'^\S+ (?P<cookie>\S+) -> (?P<replica>\S+) (?P<status>\d+) "(?P<request>[^"]*)"')
MAX_CONTEXTS = 8  # browsers tried until two sit on different replicas (each lands on one at random)



@pytest.fixture(scope="module")
def cluster(browser, tmp_path_factory):
    """Two replicas and nginx, for this module (`browser` first: without Chromium it skips or fails)."""
    if nginx_binary() is None:
        reason = "the proxy test needs nginx (apt-get install -y nginx-light)"
        if os.environ.get("HEADLIGHT_REQUIRE_BROWSER", "") == "1":
            pytest.fail(f"{reason} (HEADLIGHT_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("proxy")
    try:
        with Cluster(2, state, free_port()) as running:
            yield running
    except ClusterError as error:
        pytest.fail(str(error), pytrace=False)


def routes(state: Path) -> dict[str, set[str]]:
    """Browser cookie -> the replicas its requests reached, from nginx's access log."""
    seen: dict[str, set[str]] = defaultdict(set)
    for line in (state / "access.log").read_text().splitlines():
        match = LOG_LINE.match(line)
        if match and match["replica"] != "-":
            seen[match["cookie"].strip("-")].add(match["replica"])
    return seen


def cookie_of(context) -> str:
    values = [c["value"] for c in context.cookies() if c["name"] == "headlight_replica"]
    assert len(values) == 1, f"nginx set no sticky cookie: {context.cookies()}"
    return values[0]


def log_key(routes_seen: dict[str, set[str]], cookie: str) -> str:
    """The access log prints the cookie as nginx reads it, four hexadecimal words; the browser
    holds the same 16 bytes base64-encoded, the words little-endian."""
    words = struct.unpack("<4I", base64.b64decode(cookie))
    key = "headlight_replica=" + "".join(f"{w:08X}" for w in words)
    assert key in routes_seen, f"cookie {key} not in the access log: {sorted(routes_seen)}"
    return key


def route_of(state: Path, cookie: str) -> set[str]:
    """The replicas the browser holding `cookie` reached; nginx writes a request's log line just
    after its response, so the line may come a moment after the browser has the answer."""
    for _ in range(100):
        with contextlib.suppress(AssertionError):
            seen = routes(state)
            return seen[log_key(seen, cookie)]
        time.sleep(0.05)
    seen = routes(state)
    return seen[log_key(seen, cookie)]


def test_two_sessions_on_two_replicas_keep_their_own_state(browser, cluster, tmp_path):
    contexts, pinned = [], {}
    try:
        for _ in range(MAX_CONTEXTS):
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(60_000)
            context.add_init_script(RUN_COUNTER_JS)
            contexts.append(context)
            assert context.request.get(f"{cluster.url}/_stcore/health").ok
            (replica,) = route_of(cluster.state, cookie_of(context))
            pinned.setdefault(replica, context)
            if len(pinned) == 2:
                break
        assert len(pinned) == 2, f"{MAX_CONTEXTS} browsers all landed on one replica: no balancing"

        apps = []
        for context, text in zip(pinned.values(), TEXTS, strict=True):
            app = App(context.new_page(), cluster.url)
            external: list[str] = []
            context.route("**/*", lambda route, external=external: (
                route.continue_() if LOCAL_URL.match(route.request.url) or route.request.url.startswith(
                    ("data:", "blob:")) else (external.append(route.request.url), route.abort())))
            app.open("/", charts=False, text=text)
            app.page.wait_for_selector(EXPLORER_PLOT, timeout=120_000)  # the explorer drew through the proxy
            app.assert_no_exception()
            assert not external, external
            apps.append(app)

        # The first session uploads a file on the Corpus page; both go elsewhere and come back.
        upload = tmp_path / "sentences.csv"
        upload.write_bytes(b"id,text\n1,The cat sat on the mat.\n2,Where did you park the car?\n")
        first, second = apps
        first.click_nav(PAGES["corpus"][0], charts=False)
        first.rerun_after(lambda: first.page.get_by_text("Upload a file", exact=True).click(), charts=False)
        first.rerun_after(lambda: first.page.locator(f"{MAIN} input[type='file']").set_input_files(str(upload)),
                          charts=False)
        # The upload's request can outlast rerun_after's wait for a run to start on a busy machine:
        # wait until the file is listed and no run is going, or the click would run without it.
        first.page.locator(MAIN).get_by_text("sentences.csv").wait_for(timeout=60_000)
        first.page.wait_for_selector(NOT_RUNNING, timeout=60_000)
        first.rerun_after(lambda: first.page.get_by_role("button", name="Run on the corpus").click(), charts=False)
        try:  # the corpus run may outlast wait_for_charts's pause for a chart-less run
            first.page.wait_for_selector(CHART, timeout=120_000)
        except PlaywrightError:
            logs = "".join(path.read_text()[-1500:] for path in sorted(cluster.state.glob("replica-*.log")))
            raise AssertionError("no corpus chart; the page ends: " + first.page.locator(MAIN).inner_text()[-800:]
                                 + "\nthe replicas' logs end:\n" + logs) from None
        first.wait_for_charts(120_000)
        assert "mean over 2 sentences" in first.chart_text()  # the upload reached the session's replica
        second.click_nav(PAGES["corpus"][0], charts=False)
        for app, text in zip(apps, TEXTS, strict=True):
            app.click_nav(PAGES["attention"][0], charts=False)
            app.page.wait_for_selector(EXPLORER_PLOT, timeout=120_000)
            assert app.text_values()[0] == text, "the session lost its text: it reached another replica"

        cookies = {replica: cookie_of(context) for replica, context in pinned.items()}
        for context in contexts:  # nginx logs a websocket when it closes
            context.close()
        log_file = cluster.state / "access.log"
        for _ in range(100):
            if log_file.read_text().count("/_stcore/stream") >= 2:
                break
            time.sleep(0.1)
        log = log_file.read_text()
        assert log.count("/_stcore/stream") >= 2 and "/_stcore/upload_file" in log
        # Every request of each browser (page, websocket, upload) reached its one replica.
        seen = routes(cluster.state)
        for replica, cookie in cookies.items():
            assert seen[log_key(seen, cookie)] == {replica}
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                context.close()
