"""How long the Attention page takes to settle after each kind of interaction, in Chromium.

    python -m bench.interactions [--repeats 5] [--lengths 16 512]

Starts its own `streamlit run app.py` (bench.app_server) and drives Debian's Chromium
(bench.browser). "Settled" means: the rerun the action started has ended, the main heatmap shows
the new data (its title or first label changed as expected), and every visible chart has drawn.
Prints the issue's table (medians of `--repeats`) and where the time went: from the action to
the rerun's start (the browser sending it, the server queueing it), the rerun itself (script time
plus the deltas' transfer), and from the rerun's end until the charts were drawn (Plotly in the
browser).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

from bench.app_server import free_port, start_server, stop_server, wait_until_healthy
from bench.browser import (
    ARTIFACTS,
    CHART,
    CHARTS_DRAWN_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    NOT_RUNNING,
    PAGES,
    App,
    PlaywrightTimeout,
)
from bench.forward import text_of_length
from encoder import load_model

# Logs every change of Streamlit's script state with a timestamp (ms since navigation start).
STATE_LOG_JS = """
(() => {
  window.__headlightRuns = 0;
  window.__stateLog = [];
  let last = null;
  const check = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app ? app.getAttribute('data-test-script-state') : null;
    if (state !== last) {
      if (state === 'running') window.__headlightRuns += 1;
      window.__stateLog.push([state, performance.now()]);
      last = state;
    }
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state'],
  });
})();
"""
MAIN_TITLE_JS = f"""() => {{
  const chart = document.querySelector({CHART!r});
  const title = chart && chart.querySelector('.gtitle');
  const first = chart && chart.querySelector('.ytick text');
  return (title ? title.textContent : '') + ' | ' + (first ? first.textContent : '');
}}"""


class Timer:
    """Times one interaction on an App: action -> settled, split into phases."""

    def __init__(self, app: App):
        self.app = app

    def settle(self, action: Callable[[], object], changed: Callable[[str], bool]) -> dict[str, float]:
        page = self.app.page
        before_runs = self.app.runs()
        log_start = page.evaluate("window.__stateLog.length")
        t0 = page.evaluate("performance.now()")
        start = time.perf_counter()
        action()
        # the rerun started (if one did: a browser-side redraw starts none) and ended
        with contextlib.suppress(PlaywrightTimeout):  # a very fast run can be missed; the checks below hold
            page.wait_for_function(f"window.__headlightRuns > {before_runs}", timeout=5_000)
        page.wait_for_selector(NOT_RUNNING, timeout=120_000)
        deadline = time.monotonic() + 120
        while not (changed(page.evaluate(MAIN_TITLE_JS)) and page.evaluate(CHARTS_DRAWN_JS, CHART)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the main heatmap did not change: {page.evaluate(MAIN_TITLE_JS)}")
            page.wait_for_timeout(10)
        total = time.perf_counter() - start
        log = page.evaluate(f"window.__stateLog.slice({log_start})")
        t_end = page.evaluate("performance.now()")
        running = [t for state, t in log if state == "running"]
        idle = [t for state, t in log if state == "notRunning"]
        run_start = running[0] if running else t0
        run_end = idle[-1] if idle else run_start
        return {"total": total, "to_start": (run_start - t0) / 1e3, "run": (run_end - run_start) / 1e3,
                "draw": (t_end - run_end) / 1e3}


def measure(browser, base: str, text: str, fresh_texts: list[str], repeats: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {k: [] for k in ("layer or head", "view option", "run a new text",
                                                        "page switch", "first view")}
    for _ in range(repeats):  # first view: a new session on a link
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_init_script(STATE_LOG_JS)
        app = App(context.new_page(), base)
        start = time.perf_counter()
        app.open("/", text=text, layer="2", head="1", charts=False)
        app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=120_000)
        app.wait_for_charts()
        results["first view"].append({"total": time.perf_counter() - start, "to_start": 0, "run": 0, "draw": 0})
        context.close()

    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(STATE_LOG_JS)
    app = App(context.new_page(), base)
    app.open("/", text=text, layer="2", head="1", charts=False)
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=120_000)
    app.wait_for_charts()
    timer = Timer(app)
    slider = app.page.get_by_role("slider", name="Head")
    for i in range(repeats):
        head = 2 + i

        def press(slider=slider):
            slider.focus()
            slider.press("ArrowRight")

        results["layer or head"].append(timer.settle(press, lambda t, head=head: f"head {head}" in t))
    for i in range(repeats):
        app.page.get_by_role("button", name="View options").click()
        toggle = app.page.get_by_text("Hide special tokens ([CLS], [SEP])", exact=True)
        hidden = i % 2 == 0
        results["view option"].append(timer.settle(
            toggle.click, lambda t, hidden=hidden: ("| [CLS]" not in t) == hidden))
        app.page.keyboard.press("Escape")
    for i in range(repeats):
        fresh = fresh_texts[i]
        first_word = fresh.split()[0].lower()
        area = app.page.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea').first
        area.fill(fresh)
        results["run a new text"].append(timer.settle(
            lambda area=area: area.press("Control+Enter"), lambda t, w=first_word: w[:4] in t.lower()))
    for _ in range(repeats):  # to another page and back: the way back is timed (opening the menu included)
        app.click_nav(PAGES["embeddings"][0])
        results["page switch"].append(timer.settle(
            lambda: app.click_nav(PAGES["attention"][0], charts=False), lambda t: "Layer" in t))
    context.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 512])
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    model = load_model()
    port = free_port()
    log = ARTIFACTS / "interactions-server.log"
    server = start_server(port, log)
    table: dict[int, dict[str, list[dict]]] = {}
    try:
        wait_until_healthy(server, port, log)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for n in args.lengths:
                text = text_of_length(model, n, prefix="interaction bench ")
                fresh = [text_of_length(model, n, prefix=f"variant{n}x{i} ") for i in range(args.repeats)]
                table[n] = measure(browser, base, text, fresh, args.repeats)
            browser.close()
    finally:
        stop_server(server)

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"\nmedians of {args.repeats}, seconds from the action until the page settled")
    print("| interaction | " + " | ".join(f"{n} tokens" for n in table) + " |")
    print("|---|" + "---|" * len(table))
    for name in next(iter(table.values())):
        print(f"| {name} | " + " | ".join(f"{median(table[n][name], 'total'):.2f}" for n in table) + " |")
    print("\nwhere the time went (medians, s): to rerun start / rerun (script + transfer) / drawing after it")
    for n in table:
        for name, rows in table[n].items():
            if name != "first view":
                print(f"{n:>4} tokens  {name:<16} {median(rows, 'to_start'):6.2f} / {median(rows, 'run'):6.2f} / "
                      f"{median(rows, 'draw'):6.2f}")


if __name__ == "__main__":
    main()
