"""The Attention page's first view in Chromium, with plotly's full bundle and with its cartesian
partial bundle (deploy/plotly_bundle.py), cold and returning, in one run.

    python -m bench.first_view [--repeats 5] [--lengths 16 512] [--from plotly.js-cartesian-dist-min-X.tgz]

Copies a commit's files (--commit, HEAD unless told: work in progress stays out) into a temporary
folder once per server and starts `streamlit run app.py` in each: two whose static folder has no
cartesian bundle (the app serves the full plotly.min.js), two where it is installed (from ./static
when `python -m deploy.plotly_bundle` put it there, else from --from, else with npm pack). Of each
pair, one serves plotly.js as the app does (dated 1985, deploy.plotly_bundle.SERVED_MTIME); the
other's file is touched after the warm-up, as the app served it before (copied at the first view
after a start): Streamlit serves app/static/ with no Cache-Control and never answers 304, so
whether a returning browser reuses its copy rests on Chromium's heuristic freshness (a tenth of
the Last-Modified age).
No Playwright route is used: routing turns Chromium's HTTP cache off.
For each text length, seconds from `page.goto` until the explorer's charts are drawn and no run is
going, the ways taking turns:
  - cold: a new browser context (empty cache) each time;
  - returning: a browser with a profile on disk that opened the link twice before, a new session
    each time;
  - cold, plotly.js from the page's start, or from the run's start: an init script starts loading
    it when the document has its first element, or when Streamlit shows the script running (where
    an element at the top of the page's script would start it), and hands the explorer a promise
    of it (its loader takes window.Plotly as given): what loading plotly.js before the script run
    reaches the explorer could give.
Prints medians, then where the time goes in the page's own clock (ms after the navigation
started: Streamlit's entry module arrived, the script run started and ended, plotly.js asked for
and arrived, the charts drawn), each bundle's parse, compile and run on a blank page, and the load
average before, between and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.app_server import HOST, free_port, stop_server, wait_until_healthy
from bench.browser import CHART, CHARTS_DRAWN_JS, CHROMIUM, CHROMIUM_ARGS, RUN_COUNTER_JS, VIEWPORT
from deploy import plotly_bundle

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ("full", "cartesian")
# Servers: (bundle, plotly.js's modification time set to now)
SERVERS = [(bundle, young) for bundle in BUNDLES for young in (False, True)]
# Ways of opening the link: (name, the young server, visitor: "cold", "returning", or "document" or
# "run": cold, with plotly.js loaded from the document's or the run's start)
WAYS = [("cold", False, "cold"), ("returning", False, "returning"),
        ("returning, plotly.js dated now", True, "returning"),
        ("cold, plotly.js from the page's start", False, "document"),
        ("cold, plotly.js from the run's start", False, "run")]
# The page's clock at the first animation frame where no run is going and every chart has drawn.
DRAWN_JS = f"""() => {{
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (!(window.__headlightRuns > 0) || !({CHARTS_DRAWN_JS})({CHART!r})) return false;
  return performance.now();
}}"""
# What arrived when (ms since the navigation started), and what the first run's state changes were.
TIMELINE_JS = """() => ({
  resources: performance.getEntriesByType('resource').map((e) => ({
    name: e.name, start: e.startTime, end: e.responseEnd, bytes: e.transferSize})),
  dom: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
  states: window.__stateLog || []})"""
# Starts loading plotly.js as soon as the document has its first element ("document") or once
# Streamlit shows the script running ("run"); until it has run, window.Plotly is a promise of it,
# which the explorer's loader (figures/explorer/payload.js) takes as given and waits for. (An init
# script runs before the document has any element to append to.)
EARLY_PLOTLY_JS = """(() => { let ready; window.Plotly = new Promise((resolve) => { ready = resolve; });
  const script = document.createElement('script'); script.src = %s;
  script.onload = () => ready(window.Plotly);
  const time = %s ? () => (window.__headlightRuns || 0) > 0  // RUN_COUNTER_JS, whose observer runs first
    : () => document.documentElement !== null;
  if (time()) { document.documentElement.appendChild(script); return; }
  new MutationObserver((_records, observer) => {
    if (time()) { observer.disconnect(); document.documentElement.appendChild(script); }
  }).observe(document, { subtree: true, childList: true, attributes: true,
                         attributeFilter: ['data-test-script-state'] }); })()"""


def app_copy(folder: Path, commit: str, cartesian: Path | None) -> Path:
    """The files of `commit` in `folder` (work in progress in the working tree stays out of the
    figures), its static folder empty or with `cartesian` installed: each copy's app decides by its
    own ./static (components.plotly_js_url)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "static").mkdir(exist_ok=True)
    if cartesian is not None:
        shutil.copyfile(cartesian, folder / "static" / plotly_bundle.CARTESIAN)
    return folder


def texts_of_lengths(root: Path, lengths: list[int]) -> dict[int, str]:
    """A text of each length in tokens (bench.forward.text_of_length), made by the copy's own code."""
    script = ("import json, sys; from bench.forward import text_of_length; from encoder import load_model; "
              "model = load_model(); print(json.dumps({n: text_of_length(model, int(n), 'first view bench ') "
              "for n in sys.argv[1:]}))")
    made = subprocess.run([sys.executable, "-c", script, *map(str, lengths)], cwd=root, capture_output=True,
                          text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return {int(n): text for n, text in json.loads(made.stdout.splitlines()[-1]).items()}


def start_app(root: Path, port: int, log: Path) -> subprocess.Popen:
    """`streamlit run app.py` in `root` with bench.app_server.start_server's flags (which always
    runs the working tree itself)."""
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
               f"--server.port={port}", f"--server.address={HOST}", "--browser.gatherUsageStats=false",
               "--server.fileWatcherType=none"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def cartesian_bundle(folder: Path, tarball: Path | None) -> Path:
    """The cartesian bundle to serve: the one installed in ./static, else installed from
    `tarball` (or npm pack) into `folder`."""
    if plotly_bundle.cartesian_status()[0]:
        return plotly_bundle.APP_STATIC / plotly_bundle.CARTESIAN
    return plotly_bundle.install(folder, tarball=tarball)


def open_once(context, url: str) -> dict:
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    drawn_ms = page.wait_for_function(DRAWN_JS, polling="raf", timeout=120_000).json_value()
    seconds = time.perf_counter() - start
    timeline = page.evaluate(TIMELINE_JS)
    page.close()
    return {"seconds": seconds, "drawn_ms": drawn_ms, **phases(timeline)}


def phases(timeline: dict) -> dict:
    """Milestones of one first view, ms after the navigation started (None where not seen)."""
    def resource(part: str) -> dict | None:
        return next((e for e in timeline["resources"] if part in e["name"]), None)

    plotly = resource("/app/static/plotly")
    streamlit_js = resource("/static/js/index.")  # Streamlit's entry module
    running = [t for state, t in timeline["states"] if state == "running"]
    ended = [t for state, t in timeline["states"] if state == "notRunning" and running and t > running[0]]
    return {"dom_ms": timeline["dom"],
            "streamlit_js_ms": streamlit_js["end"] if streamlit_js else None,
            "run_start_ms": running[0] if running else None,
            "run_end_ms": ended[0] if ended else None,
            "plotly_start_ms": plotly["start"] if plotly else None,
            "plotly_end_ms": plotly["end"] if plotly else None,
            "plotly_bytes": plotly["bytes"] if plotly else None,
            "plotly_url": plotly["name"] if plotly else None}


def bundle_cost_ms(browser, bundle: Path, repeats: int) -> float:
    """Median ms from inserting <script src=bundle> into a blank page until it has run (parse,
    compile and execute; served from memory, a new browser context each time: no code cache)."""
    times = []
    for _ in range(repeats):
        context = browser.new_context()
        context.route("http://bundle.test/**", lambda route: route.fulfill(
            path=str(bundle), content_type="application/javascript") if route.request.url.endswith(".js")
            else route.fulfill(body="<!doctype html><title>t</title>", content_type="text/html"))
        page = context.new_page()
        page.goto("http://bundle.test/")
        times.append(page.evaluate("""() => new Promise((done) => { const t0 = performance.now();
            const s = document.createElement('script'); s.src = 'http://bundle.test/plotly.js';
            s.onload = () => done(performance.now() - t0); document.head.appendChild(s); })"""))
        context.close()
    return statistics.median(times)


def new_context(browser, plotly_url: str | None = None, from_run: bool = False):
    """A new incognito context (an empty cache); with `plotly_url`, one that loads plotly.js from
    the document's start, or from the run's."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(RUN_COUNTER_JS)
    if plotly_url is not None:
        context.add_init_script(EARLY_PLOTLY_JS % (json.dumps(plotly_url), json.dumps(from_run)))
    return context


def touch_plotly_js(root: Path) -> None:
    """Date the served plotly.js now (its Last-Modified), as the app did before it dated it 1985."""
    for served in (root / "static").glob("plotly*.js"):
        os.utime(served)


def measure(driver, browser, urls: dict[tuple[str, bool], str], plotly_urls: dict[str, str], repeats: int,
            profiles: Path) -> dict[tuple[str, str], list[dict]]:
    """(bundle, way) -> one row per visit, every way of every bundle taking turns each repeat.
    A returning visitor is a browser with a profile on disk (Playwright's other contexts are
    incognito, where Chromium keeps no compiled code), which opened the link twice before:
    V8 stores a script's compiled code on its second load and uses it from the third."""
    ways = [(bundle, *way) for bundle in BUNDLES for way in WAYS]
    rows: dict[tuple[str, str], list[dict]] = {(bundle, name): [] for bundle, name, _, _ in ways}
    returning = {}
    for bundle, name, young, visitor in ways:
        if visitor == "returning":
            context = driver.chromium.launch_persistent_context(
                str(profiles / f"{bundle}-{young}"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                viewport=VIEWPORT)
            context.add_init_script(RUN_COUNTER_JS)
            for _ in range(2):
                open_once(context, urls[bundle, young])
            returning[bundle, name] = context
    for repeat in range(repeats):
        for bundle, name, young, visitor in ways[repeat % len(ways):] + ways[:repeat % len(ways)]:
            if visitor == "returning":
                rows[bundle, name].append(open_once(returning[bundle, name], urls[bundle, young]))
                continue
            context = new_context(browser, plotly_urls[bundle] if visitor != "cold" else None, visitor == "run")
            rows[bundle, name].append(open_once(context, urls[bundle, young]))
            context.close()
    for context in returning.values():
        context.close()
    return rows


def median(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if r[key] is not None]
    return statistics.median(values) if values else float("nan")


def report(results: dict[int, dict[tuple[str, str], list[dict]]], repeats: int) -> None:
    print(f"\nmedians of {repeats}; seconds from goto until the explorer's charts are drawn")
    print("| plotly.js | visitor | " + " | ".join(f"{n} tokens" for n in results) + " |")
    print("|---|---|" + "---|" * len(results))
    for bundle, name in next(iter(results.values())):
        print(f"| {bundle} | {name} | " + " | ".join(
            f"{median(rows[bundle, name], 'seconds'):.2f}" for rows in results.values()) + " |")
    keys = ("dom_ms", "streamlit_js_ms", "run_start_ms", "run_end_ms", "plotly_start_ms", "plotly_end_ms",
            "drawn_ms")
    print("\nwhere the time goes, medians in ms after the navigation started: DOM ready / Streamlit's entry"
          " module arrived /\nrun started / run ended / plotly.js asked / arrived / drawn (plotly.js bytes on"
          " the wire, 0 from the cache)")
    for n, by_way in results.items():
        for (bundle, name), rows in by_way.items():
            print(f"  {n:>4} tokens {bundle:<9} {name:<38} " + " / ".join(
                f"{median(rows, k):5.0f}" for k in keys) + f"  ({median(rows, 'plotly_bytes'):.0f} B)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 512])
    parser.add_argument("--commit", default="HEAD", help="the commit whose files the servers run")
    parser.add_argument("--from", dest="tarball", type=Path,
                        help="an npm tarball of plotly.js-cartesian-dist-min, where ./static has no cartesian bundle")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load()}", flush=True)
    servers = []
    with tempfile.TemporaryDirectory(prefix="headlight-first-view-") as temporary:
        folder = Path(temporary)
        cartesian = cartesian_bundle(folder / "bundle", args.tarball)
        roots = {(bundle, young): app_copy(folder / f"{bundle}{'-young' if young else ''}", args.commit,
                                          cartesian if bundle == "cartesian" else None)
                 for bundle, young in SERVERS}
        texts = texts_of_lengths(roots[SERVERS[0]], args.lengths)
        try:
            ports = {}
            for key, root in roots.items():
                ports[key] = free_port()
                log = root.with_suffix(".log")
                servers.append((start_app(root, ports[key], log), ports[key], log))
            for server, port, log in servers:
                wait_until_healthy(server, port, log)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                results = {}
                for n, text in texts.items():
                    urls = {key: f"http://{HOST}:{port}/?{urlencode({'text': text})}" for key, port in ports.items()}
                    plotly_urls = {}
                    for (bundle, young), url in urls.items():  # warm-up: each server loads the model, runs the text
                        context = new_context(browser)
                        plotly_url = open_once(context, url)["plotly_url"]
                        context.close()
                        if young:
                            touch_plotly_js(roots[bundle, young])
                        else:
                            plotly_urls[bundle] = plotly_url
                    results[n] = measure(driver, browser, urls, plotly_urls, args.repeats, folder / f"profiles-{n}")
                    print(f"{n} tokens measured; load average {load()}", flush=True)
                costs = [f"{path.name} {path.stat().st_size / 1e6:.2f} MB "
                         f"{bundle_cost_ms(browser, path, args.repeats):.0f} ms"
                         for path in (plotly_bundle.full_bundle(), cartesian)]
                browser.close()
        finally:
            for server, _port, _log in servers:
                stop_server(server)
    report(results, args.repeats)
    print(f"\nplotly.js parse + compile + run on a blank page, no code cache, median of {args.repeats}: "
          + ", ".join(costs))
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
