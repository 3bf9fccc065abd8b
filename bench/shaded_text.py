"""How long the Attention page's shaded text takes to show another "Shade the text by" choice, in
Chromium: from the click (its pointerdown, in the page's clock) to the first frame whose shaded text
shows the new choice (its tokens' tooltips changed), and to the end of the server's run that the click
started (the link then carries the choice). The clicks alternate between the chosen head and the mean
of the layer's heads, on the line view of a text of each length.

    python -m bench.shaded_text [--repeats 7] [--lengths 16 512] [--before REF]

`--before REF` serves that commit of the app too (`git archive`, into a temporary folder), and the
clicks alternate between the two servers, one of each per repeat, so both see the same load. The page
also keeps its own measure of the browser's redraw (performance.measure "hl-shaded-redraw", from the
click to the frame after drawing; figures/shaded/streamlit.js), printed for the current checkout.
Prints medians and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench import app_server
from bench.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, MAIN, NOT_RUNNING, PAGES, RUN_COUNTER_JS, App
from bench.forward import text_of_length
from bench.interactions import INPUT_TIME_JS
from encoder import load_model

CHOICES = ("Mean of the layer's heads", "The chosen head")
# Every shaded token's tooltip ("name: score"), joined: it changes when another choice is drawn.
# The same in both versions (st.html's spans and figures/shaded's carry a title).
TOOLTIPS_JS = f"""() => [...document.querySelectorAll({MAIN!r} + " .hl-shaded span[title]")]
  .map((span) => span.title).join("\\n")"""
CHANGED_JS = f"""([before]) => {{
  const now = ({TOOLTIPS_JS})();
  return now && now !== before ? performance.now() : false;
}}"""
LINKED_JS = """([choice]) => new URLSearchParams(location.search).get("att_shade") === choice
  ? performance.now() : false"""
REDRAW_JS = """() => performance.getEntriesByName("hl-shaded-redraw").map((entry) => entry.duration / 1e3)"""


class Tab:
    """One server's line view in one tab, clicked back and forth between `CHOICES`."""

    def __init__(self, browser, base: str, text: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 720})
        self.context.add_init_script(RUN_COUNTER_JS + INPUT_TIME_JS)
        self.app = App(self.context.new_page(), base)
        self.app.open(PAGES["attention"][1], charts=False, text=text, layer="2", head="1", att_view="Lines",
                      att_shade=CHOICES[1])
        self.app.page.locator(f"{MAIN} .hl-shaded span[title]").first.wait_for(state="attached", timeout=120_000)
        self.clicks = 0

    def click(self) -> dict[str, float]:
        page = self.app.page
        choice = CHOICES[self.clicks % 2]
        self.clicks += 1
        before = page.evaluate(TOOLTIPS_JS)
        page.evaluate("window.__lastInput = null")
        page.locator(".st-key-att_shade button", has_text=choice).click()
        drawn = page.wait_for_function(CHANGED_JS, arg=[before], polling="raf", timeout=120_000).json_value()
        ended = page.wait_for_function(LINKED_JS, arg=[choice], polling="raf", timeout=120_000).json_value()
        page.wait_for_selector(NOT_RUNNING, timeout=120_000)
        page.wait_for_timeout(300)
        acted = page.evaluate("window.__lastInput")
        return {"drawn": (drawn - acted) / 1e3, "run ended": (ended - acted) / 1e3}

    def close(self) -> list[float]:
        measured = self.app.page.evaluate(REDRAW_JS)
        self.context.close()
        return measured


def serve(root: Path, name: str):
    app_server.ROOT = root  # start_server runs `streamlit run app.py` there
    port = app_server.free_port()
    log = ARTIFACTS / f"shaded-text-{name}.log"
    server = app_server.start_server(port, log)
    app_server.wait_until_healthy(server, port, log)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 512])
    parser.add_argument("--before", help="a commit to compare with (served from a git archive)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    model = load_model()
    here = app_server.ROOT
    servers, table, redraws = {}, {}, {}
    with tempfile.TemporaryDirectory() as folder:
        try:
            if args.before:
                archive = subprocess.run(["git", "archive", args.before], cwd=here, check=True, capture_output=True)
                subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
                servers[f"before ({args.before})"] = serve(Path(folder), "before")
            servers["now"] = serve(here, "now")
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for n in args.lengths:
                    text = text_of_length(model, n, "shaded bench ")
                    tabs = {name: Tab(browser, base, text) for name, (_, base) in servers.items()}
                    for tab in tabs.values():
                        tab.click()  # the first click warms the path up and is left out
                    for _ in range(args.repeats):
                        for name, tab in tabs.items():
                            table.setdefault((name, n), []).append(tab.click())
                    for name, tab in tabs.items():
                        redraws[(name, n)] = tab.close()[1:]
                browser.close()
        finally:
            for server, _ in servers.values():
                app_server.stop_server(server)
    print(f"\nMedians of {args.repeats} clicks on 'Shade the text by' (alternating), seconds from the click")
    print("| version | tokens | shaded text redrawn | link updated (server run ended) | page's own measure |")
    print("|---|---|---|---|---|")
    for (name, n), rows in table.items():
        own = redraws.get((name, n)) or []
        print(f"| {name} | {n} | {statistics.median(r['drawn'] for r in rows):.3f} | "
              f"{statistics.median(r['run ended'] for r in rows):.3f} | "
              f"{f'{statistics.median(own):.3f}' if own else '–'} |")
    print("load average (1, 5, 15 min):", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
