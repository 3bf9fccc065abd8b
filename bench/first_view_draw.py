"""The Attention page's first view for two versions of the app, cold, their visits taking turns: a
commit's files against HEAD's with the working tree's explorer (--overlay) over them, both serving
plotly.js's cartesian bundle.

    python -m bench.first_view_draw [--commit HEAD] [--lengths 16 512] [--repeats 5] [--from TARBALL]

bench.first_view measures the levers around the explorer (bundles, caching, loading plotly.js
early) for one commit; this one says what a change of the explorer's own drawing gave, with both
versions measured under the same load. Each version runs in a copy (bench.first_view.app_copy)
with the cartesian bundle installed (./static's,
or --from's npm tarball). Each visit is a new browser context (an empty cache). Prints medians of:
seconds from goto until every chart is drawn and no run is going (bench.first_view.DRAWN_JS), ms
from plotly.js's arrival until then, and the explorer's `hl-draw` and `hl-grids` measures (ms,
summed), with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.app_server import HOST, ROOT, free_port, stop_server, wait_until_healthy
from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.first_view import (
    DRAWN_JS,
    TIMELINE_JS,
    app_copy,
    cartesian_bundle,
    new_context,
    phases,
    start_app,
    texts_of_lengths,
)

MEASURES_JS = """() => ['hl-draw', 'hl-grids'].map((name) => performance.getEntriesByType('measure')
  .filter((e) => e.name === name).reduce((sum, e) => sum + e.duration, 0))"""


def working_copy(folder: Path, cartesian: Path, overlay: list[str]) -> Path:
    """HEAD's files in `folder` with the working tree's `overlay` folders over them as they are now
    (others' work in progress elsewhere in the tree stays out)."""
    app_copy(folder, "HEAD", cartesian)
    for name in overlay:
        shutil.copytree(ROOT / name, folder / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def visit(browser, url: str) -> dict:
    context = new_context(browser)
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    drawn_ms = page.wait_for_function(DRAWN_JS, polling="raf", timeout=120_000).json_value()
    seconds = time.perf_counter() - start
    timeline = phases(page.evaluate(TIMELINE_JS))
    draw_ms, grids_ms = page.evaluate(MEASURES_JS)
    context.close()
    return {"seconds": seconds, "after_plotly": drawn_ms - (timeline["plotly_end_ms"] or drawn_ms),
            "draw": draw_ms, "grids": grids_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--overlay", nargs="+", default=["figures/explorer"],
                        help="the working tree's folders laid over HEAD's files")
    parser.add_argument("--from", dest="tarball", type=Path, help="an npm tarball of plotly.js-cartesian-dist-min")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load = lambda: " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load()}", flush=True)
    servers = {}
    with tempfile.TemporaryDirectory(prefix="headlight-first-draw-") as temporary:
        folder = Path(temporary)
        cartesian = cartesian_bundle(folder / "bundle", args.tarball)
        roots = {args.commit: app_copy(folder / "commit", args.commit, cartesian),
                 "working tree": working_copy(folder / "tree", cartesian, args.overlay)}
        texts = texts_of_lengths(roots["working tree"], args.lengths)
        results: dict[int, dict[str, list[dict]]] = {n: {name: [] for name in roots} for n in texts}
        try:
            for name, root in roots.items():
                port = free_port()
                log = root.with_suffix(".log")
                servers[name] = (start_app(root, port, log), port, log)
            for server, port, log in servers.values():
                wait_until_healthy(server, port, log)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for n, text in texts.items():
                    urls = {name: f"http://{HOST}:{port}/?{urlencode({'text': text})}"
                            for name, (_, port, _) in servers.items()}
                    for url in urls.values():  # warm-up: the model loaded, the text run
                        visit(browser, url)
                    for repeat in range(args.repeats):
                        order = list(urls) if repeat % 2 == 0 else list(reversed(urls))
                        for name in order:
                            results[n][name].append(visit(browser, urls[name]))
                browser.close()
        finally:
            for server, _, _ in servers.values():
                stop_server(server)

    print(f"\ncold first views, medians of {args.repeats}: seconds goto -> drawn; ms from plotly.js's arrival"
          " to drawn; hl-draw / hl-grids ms")
    for n, by_version in results.items():
        for name, rows in by_version.items():
            med = lambda key, rows=rows: statistics.median(r[key] for r in rows)
            print(f"  {n:>4} tokens  {name:<14} {med('seconds'):.2f} s   {med('after_plotly'):5.0f} ms   "
                  f"{med('draw'):4.0f} / {med('grids'):4.0f} ms")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
