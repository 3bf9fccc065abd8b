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
    PAGES,
    RUN_COUNTER_JS,
    App,
)
from bench.forward import text_of_length
from encoder import load_model

# The main heatmap's title and first row label, as the settle check reads them.
MAIN_TEXT_JS = f"""() => {{
  const chart = document.querySelector({CHART!r});
  const title = chart && chart.querySelector('.gtitle');
  const first = chart && chart.querySelector('.ytick text');
  const legend = chart && chart.querySelector('.cbtitle text');
  return [title, first, legend].map((e) => (e ? e.textContent : '')).join(' | ');
}}"""
# Remembers when the person last acted (key, pointer), in the page's own clock.
INPUT_TIME_JS = """
for (const kind of ['keydown', 'pointerdown']) {
  window.addEventListener(kind, () => { window.__lastInput = performance.now(); }, true);
}
"""
# The page's clock when it has settled: the run the action started has ended, the main heatmap's
# text says what the action asked for, and every visible chart has drawn; else false. Checked on
# every animation frame, so the time is that of the first frame that shows the settled page.
# "The run ended" is seen in Streamlit's script state, or, for the explorer's fragment runs (which
# can be too fast for that state to reach the DOM), in the explorer having received the run's
# message with no choice still awaiting the server (figures/explorer.js).
EXPLORER_MESSAGES_JS = "() => Number((document.querySelector('.hl-explorer') || {dataset: {}}).dataset.messages || 0)"
SETTLED_JS = f"""([runsBefore, messagesBefore, wanted, present]) => {{
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const explorer = document.querySelector('.hl-explorer');
  const messages = explorer ? Number(explorer.dataset.messages || 0) : 0;
  if ((window.__headlightRuns || 0) <= runsBefore && messages <= messagesBefore) return false;
  if (explorer && explorer.dataset.pending === '1') return false;
  const text = ({MAIN_TEXT_JS})().toLowerCase();
  if (text.includes(wanted.toLowerCase()) !== present) return false;
  if (!({CHARTS_DRAWN_JS})({CHART!r})) return false;
  return performance.now();
}}"""


class Timer:
    """Times one interaction on an App in the page's own clock: from the key press or click until
    the page settled (SETTLED_JS), split into phases from the log of script states."""

    def __init__(self, app: App):
        self.app = app

    def settle(self, action: Callable[[], object], wanted: str, present: bool = True) -> dict[str, float]:
        """Do `action`; `wanted` is text the main heatmap's title or first label then has (or, with
        present=False, no longer has)."""
        page = self.app.page
        before_runs = self.app.runs()
        before_messages = page.evaluate(EXPLORER_MESSAGES_JS)
        log_start = page.evaluate("window.__stateLog.length")
        page.evaluate("window.__lastInput = null")
        t0 = page.evaluate("performance.now()")
        action()
        settled = page.wait_for_function(SETTLED_JS, arg=[before_runs, before_messages, wanted, present], polling="raf",
                                         timeout=120_000).json_value()
        acted = page.evaluate("window.__lastInput") or t0
        log = page.evaluate(f"window.__stateLog.slice({log_start})")
        running = [t for state, t in log if state == "running"]
        idle = [t for state, t in log if state == "notRunning"]
        run_start = running[0] if running else acted
        run_end = idle[-1] if idle else run_start
        return {"total": (settled - acted) / 1e3, "to_start": (run_start - acted) / 1e3,
                "run": (run_end - run_start) / 1e3, "draw": max(0.0, settled - run_end) / 1e3}


def measure(browser, base: str, text: str, fresh_texts: list[str], repeats: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {k: [] for k in ("layer or head", "view option: hide [CLS]/[SEP]",
                                                        "view option: colour", "run a new text", "page switch",
                                                        "first view")}
    for _ in range(repeats):  # first view: a new session on a link
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_init_script(RUN_COUNTER_JS + INPUT_TIME_JS)
        app = App(context.new_page(), base)
        start = time.perf_counter()
        app.open("/", text=text, layer="2", head="1", charts=False)
        app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=120_000)
        app.wait_for_charts()
        results["first view"].append({"total": time.perf_counter() - start, "to_start": 0, "run": 0, "draw": 0})
        context.close()

    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(RUN_COUNTER_JS + INPUT_TIME_JS)
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

        results["layer or head"].append(timer.settle(press, f"head {head}"))
    for i in range(repeats):
        app.page.get_by_role("button", name="View options").click()
        toggle = app.page.get_by_text("Hide special tokens ([CLS], [SEP])", exact=True)
        hidden = i % 2 == 0
        results["view option: hide [CLS]/[SEP]"].append(timer.settle(toggle.click, "| [CLS]", present=not hidden))
        app.page.keyboard.press("Escape")
    shows_log = "log colour" in app.page.evaluate(MAIN_TEXT_JS)  # "auto" is log from 64 tokens
    for i in range(repeats):  # colour mode, chosen in the explorer: the other one each time
        mode = ("linear" if shows_log else "log") if i % 2 == 0 else ("log" if shows_log else "linear")
        button = app.page.get_by_role("radio", name=mode)
        results["view option: colour"].append(timer.settle(button.click, f"{mode} colour"))
    for i in range(repeats):
        fresh = fresh_texts[i]
        first_word = fresh.split()[0].lower()
        area = app.page.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea').first
        area.fill(fresh)
        results["run a new text"].append(timer.settle(lambda area=area: area.press("Control+Enter"), first_word[:4]))
    for _ in range(repeats):  # to another page and back: the way back is timed (opening the menu included)
        app.click_nav(PAGES["embeddings"][0])
        results["page switch"].append(timer.settle(lambda: app.click_nav(PAGES["attention"][0], charts=False), "Layer"))
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
                print(f"{n:>4} tokens  {name:<30} {median(rows, 'to_start'):6.2f} / {median(rows, 'run'):6.2f} / "
                      f"{median(rows, 'draw'):6.2f}")


if __name__ == "__main__":
    main()
