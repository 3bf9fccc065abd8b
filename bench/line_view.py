"""How long the Attention page's line view takes to redraw after a click on "Hide special tokens", in
Chromium: from the click (its pointerdown, in the page's clock) to the first frame whose lines show
the new view ([CLS] gone from, or back in, the query column), and to the end of the server's run
that the click started (the link then carries the option).

    python -m bench.line_view [--repeats 7] [--lengths 16 512] [--root DIR]

`--root` serves another checkout of the app (the same bench drives both, so a before/after
comparison runs the same clicks): `git archive <commit> | tar -x -C DIR`, then `--root DIR`.
Prints medians and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from bench import app_server
from bench.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, MAIN, NOT_RUNNING, PAGES, RUN_COUNTER_JS, App
from bench.forward import text_of_length
from bench.interactions import INPUT_TIME_JS
from encoder import load_model

# The page's clock at the first frame whose query column starts with [CLS] (`shown`) or not.
REDRAWN_JS = f"""([shown]) => {{
  const first = document.querySelector({MAIN!r} + " .hl-lines .hl-lines-token[data-side='q']");
  if (!first || !document.querySelector({MAIN!r} + " .hl-lines line")) return false;
  return first.textContent.startsWith("[CLS]") === shown ? performance.now() : false;
}}"""
HIDE_LABEL = "Hide special tokens ([CLS], [SEP])"
# The page's clock once the link carries the option: the server's run that the click started wrote
# it at its end (a fragment's run can be too fast for Streamlit's script state to show).
LINKED_JS = """([hidden]) => new URLSearchParams(location.search).get("att_hide_special") === (hidden ? "1" : "0")
  ? performance.now() : false"""


def measure(browser, base: str, text: str, repeats: int) -> list[dict[str, float]]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(RUN_COUNTER_JS + INPUT_TIME_JS)
    app = App(context.new_page(), base)
    app.open(PAGES["attention"][1], charts=False, text=text, layer="2", head="1", att_view="Lines")
    page = app.page
    page.locator(f"{MAIN} .hl-lines line").first.wait_for(state="attached", timeout=120_000)
    rows = []
    try:
        for i in range(repeats + 1):  # the first click warms the path up and is left out
            shown_after = i % 2 == 1  # the first click hides [CLS]/[SEP], the next shows them again
            page.get_by_role("button", name="View options").click()
            toggle = page.get_by_text(HIDE_LABEL, exact=True)
            toggle.wait_for()
            page.evaluate("window.__lastInput = null")
            toggle.click()
            drawn = page.wait_for_function(REDRAWN_JS, arg=[shown_after], polling="raf", timeout=120_000).json_value()
            ended = page.wait_for_function(LINKED_JS, arg=[not shown_after], polling="raf",
                                           timeout=120_000).json_value()
            page.wait_for_selector(NOT_RUNNING, timeout=120_000)
            acted = page.evaluate("window.__lastInput")
            page.keyboard.press("Escape")
            page.wait_for_timeout(300)
            if i:
                rows.append({"drawn": (drawn - acted) / 1e3, "run ended": (ended - acted) / 1e3})
    finally:
        context.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 512])
    parser.add_argument("--root", type=Path, default=app_server.ROOT, help="the checkout to serve")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    model = load_model()
    app_server.ROOT = args.root.resolve()  # start_server runs `streamlit run app.py` there
    port = app_server.free_port()
    log = ARTIFACTS / "line-view-server.log"
    server = app_server.start_server(port, log)
    table = {}
    try:
        app_server.wait_until_healthy(server, port, log)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for n in args.lengths:
                table[n] = measure(browser, f"http://127.0.0.1:{port}", text_of_length(model, n, "line bench "),
                                   args.repeats)
            browser.close()
    finally:
        app_server.stop_server(server)
    print(f"\n{args.root}: medians of {args.repeats} hide/show clicks, seconds from the click")
    print("| tokens | lines redrawn | link updated (server run ended) |")
    print("|---|---|---|")
    for n, rows in table.items():
        print(f"| {n} | {statistics.median(r['drawn'] for r in rows):.3f} | "
              f"{statistics.median(r['run ended'] for r in rows):.3f} |")
    print("load average (1, 5, 15 min):", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
