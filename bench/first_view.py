"""The first view's levers, in Chromium: a proxy's cache headers, a smaller plotly.js, and where
the time goes between the page's request and the explorer's heatmap.

    python -m bench.first_view [--repeats 5] [--cartesian path/to/plotly-cartesian.min.js]

Starts deploy/serve.py's recipe with one replica, so the same Streamlit process is measured
directly and through nginx. For each way of opening the Attention page on a link it times, in
seconds from `page.goto` until the explorer's heatmap is drawn and no run is going:
  - cold: a new browser (empty cache) each time;
  - returning: the same browser opening the link again (its cache kept, a new session);
and, with --cartesian (plotly's partial bundle, `npm pack plotly.js-cartesian-dist-min`, never
committed), the same with that file served in place of app/static/plotly.min.js, and each
bundle's parse, compile and run time on a blank page; and the page with plotly.js preloaded
from its start (PRELOAD_JS), against the same page without. Prints medians, plotly.js's
bytes on the wire and when it arrived (ms after the navigation started).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.browser import CHROMIUM, CHROMIUM_ARGS, MAIN, NOT_RUNNING, RUN_COUNTER_JS, VIEWPORT
from deploy.serve import Cluster, free_port

TEXT = "The animal didn't cross the street because it was too tired."
EXPLORER_PLOT = f'{MAIN} .hl-chart[data-chart="main"] .hl-plot.js-plotly-plot'
# Resource timings (ms since navigation) of plotly.js and of the requests made after it.
TIMELINE_JS = """() => performance.getEntriesByType('resource').map((e) => ({
  name: e.name, start: e.startTime, end: e.responseEnd, bytes: e.transferSize, body: e.encodedBodySize}))"""


# A <link rel=preload> for plotly.js placed before any of the page's own scripts run: what a proxy's
# `Link: </app/static/plotly.min.js>; rel=preload; as=script` header on the HTML (or a tag in it)
# does, so the download starts with the page instead of when the explorer asks for it. (Serving a
# rewritten document through Playwright would make Chromium block the page's loopback websocket.)
PRELOAD_JS = """(() => { const link = document.createElement('link'); link.rel = 'preload'; link.as = 'script';
  link.href = '/app/static/plotly.min.js'; document.documentElement.appendChild(link); })()"""


def open_once(context, url: str, cartesian: Path | None) -> dict:
    page = context.new_page()
    if cartesian is not None:
        page.route("**/app/static/plotly.min.js", lambda route: route.fulfill(
            path=str(cartesian), content_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"}))
    start = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(EXPLORER_PLOT, timeout=120_000)
    page.wait_for_selector(NOT_RUNNING, timeout=120_000)
    seconds = time.perf_counter() - start
    entries = page.evaluate(TIMELINE_JS)
    drawn_ms = page.evaluate("performance.now()")
    page.close()
    plotly = [e for e in entries if e["name"].endswith("plotly.min.js")]
    return {"seconds": seconds, "drawn_ms": drawn_ms,
            "plotly_end_ms": plotly[0]["end"] if plotly else None,
            "plotly_bytes": plotly[0]["bytes"] if plotly else None,
            "requests": len(entries)}


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


def scenario(browser, url: str, repeats: int, returning: bool, cartesian: Path | None,
             preload: bool = False) -> list[dict]:
    rows = []
    if returning:
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(RUN_COUNTER_JS)
        open_once(context, url, cartesian)  # the first visit fills the cache
        for _ in range(repeats):
            rows.append(open_once(context, url, cartesian))
        context.close()
        return rows
    for _ in range(repeats):
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(RUN_COUNTER_JS)
        if preload:
            context.add_init_script(PRELOAD_JS)
        rows.append(open_once(context, url, cartesian))
        context.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cartesian", type=Path, help="plotly-cartesian.min.js from plotly.js-cartesian-dist-min")
    parser.add_argument("--only", default="", help="measure only the ways whose name contains this")
    args = parser.parse_args()
    from urllib.parse import urlencode

    from playwright.sync_api import sync_playwright

    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load()}", flush=True)
    query = "/?" + urlencode({"text": TEXT})
    with Cluster(1, Path(tempfile.mkdtemp(prefix="headlight-first-view-")), free_port()) as cluster, \
            sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        direct = f"http://127.0.0.1:{cluster.replica_ports[0]}"
        scenario(browser, direct + query, 1, False, None)  # warm-up: the replica loads the model
        ways = [("direct, cold", direct, False, None, None), ("direct, returning", direct, True, None, None),
                ("nginx, cold", cluster.url, False, None, None), ("nginx, returning", cluster.url, True, None, None),
                ("nginx, cold, preload plotly.js", cluster.url, False, None, True)]
        if args.cartesian:
            ways += [("nginx, cold, cartesian plotly.js (uncompressed)", cluster.url, False, args.cartesian, None)]
        print(f"medians of {args.repeats}; seconds from goto until the explorer's heatmap is drawn")
        print(f"| {'way':<40} | first view s | plotly.js arrived ms | plotly.js bytes on the wire |")
        print("|---|---|---|---|")
        for name, base, returning, cartesian, preload in [way for way in ways if args.only in way[0]]:
            rows = scenario(browser, base + query, args.repeats, returning, cartesian, preload)
            median = lambda key, rows=rows: statistics.median(
                r[key] for r in rows if r[key] is not None) if any(r[key] is not None for r in rows) else float("nan")
            print(f"| {name:<40} | {median('seconds'):.2f} | {median('plotly_end_ms'):.0f} | "
                  f"{median('plotly_bytes'):.0f} |", flush=True)
        if args.cartesian:
            full = Path(__file__).resolve().parents[1] / "static" / "plotly.min.js"
            print(f"\nplotly.js parse + compile + run, blank page, no code cache, median of {args.repeats}: "
                  f"full {full.stat().st_size / 1e6:.2f} MB {bundle_cost_ms(browser, full, args.repeats):.0f} ms, "
                  f"cartesian {args.cartesian.stat().st_size / 1e6:.2f} MB "
                  f"{bundle_cost_ms(browser, args.cartesian, args.repeats):.0f} ms")
        browser.close()
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
