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
import os
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
  const box = chart && chart.closest('[data-chart]');
  const shown = box ? `view:${{box.dataset.view}} rows:${{box.dataset.rows}} follow:${{box.dataset.follow}} ` : '';
  return [title, first, legend].map((e) => (e ? e.textContent : '')).join(' | ') + ' | ' + shown;
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
        drawn_ms = page.evaluate(DRAWN_MS_JS, acted)
        log = page.evaluate(f"window.__stateLog.slice({log_start})")
        running = [t for state, t in log if state == "running"]
        idle = [t for state, t in log if state == "notRunning"]
        run_start = running[0] if running else acted
        run_end = idle[-1] if idle else run_start
        return {"total": (settled - acted) / 1e3, "to_start": (run_start - acted) / 1e3,
                "run": (run_end - run_start) / 1e3, "draw": max(0.0, settled - run_end) / 1e3,
                "explorer": drawn_ms / 1e3}


# Each new text starts with its own word, one token in the bundled model's vocabulary: the main
# heatmap's first row then says which text it shows. (A shared first word, as "variant512x0" and
# "variant512x1" had, let a new text's row settle as soon as its run ended, before it was drawn.)
FRESH_WORDS = ("meadow", "harbor", "violin", "canyon", "lantern", "orchard", "quartz", "saddle", "tunnel",
               "glacier", "falcon", "walnut")
ROWS = ("layer", "head", "view option: hide [CLS]/[SEP]", "view option: renormalise rows",
        "view option: merge subwords", "view option: pair block", "followed token", "view option: colour",
        "run a new text", "page switch", "first view")
# The explorer's own drawing in the browser (figures/explorer/explorer.js marks each draw), summed
# over the interaction, so the table can say how much of a change the browser took.
DRAWN_MS_JS = """(since) => performance.getEntriesByType('measure')
  .filter((e) => e.name === 'hl-draw' && e.startTime >= since).reduce((sum, e) => sum + e.duration, 0)"""


def new_app(browser, base: str) -> App:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(RUN_COUNTER_JS + INPUT_TIME_JS)
    return App(context.new_page(), base)


def open_attention(app: App, **params: str) -> Timer:
    app.open("/", layer="2", head="1", charts=False, **params)
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=120_000)
    app.wait_for_charts()
    # a long text's other layers arrive after the first view: changes are timed once all are in
    app.page.wait_for_function("""() => { const e = document.querySelector('.hl-explorer');
      const slider = e && e.querySelector('input[aria-label="Layer"]');
      return slider && Number(e.dataset.layers) === Number(slider.max) && e.dataset.pending === '0'; }""",
                               timeout=120_000)
    return Timer(app)


def toggle(app: App, timer: Timer, label: str, wanted: str, present: bool) -> dict:
    """A View options toggle, clicked in its popover (opened first, closed after)."""
    app.page.get_by_role("button", name="View options").click()
    row = timer.settle(app.page.get_by_text(label, exact=True).click, wanted, present=present)
    app.page.keyboard.press("Escape")
    return row


def measure(browser, base: str, text: str, pair: tuple[str, str], fresh_texts: list[str], repeats: int
            ) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {k: [] for k in ROWS}
    for _ in range(repeats):  # first view: a new session on a link
        app = new_app(browser, base)
        start = time.perf_counter()
        app.open("/", text=text, layer="2", head="1", charts=False)
        app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=120_000)
        app.wait_for_charts()
        results["first view"].append({"total": time.perf_counter() - start, "to_start": 0, "run": 0, "draw": 0})
        app.page.context.close()

    app = new_app(browser, base)
    timer = open_attention(app, text=text)
    page = app.page
    for name, slider in (("head", "Head"), ("layer", "Layer")):
        for i in range(repeats):  # heads 2, 3, 4...; layers 3, 2, 3, 2... (any model has at least 3)
            control = page.get_by_role("slider", name=slider)
            key = "ArrowRight" if name == "head" or i % 2 == 0 else "ArrowLeft"
            wanted = f"head {2 + i}" if name == "head" else f"layer {3 - i % 2}"

            def press(control=control, key=key):
                control.focus()
                control.press(key)

            results[name].append(timer.settle(press, wanted))
    hide, renormalise, merge = ("Hide special tokens ([CLS], [SEP])", "…and renormalise rows to sum to 1",
                                "Merge subwords into words")
    for i in range(repeats):  # hide, then show again: each a change (the view's key starts 1 when hidden)
        results["view option: hide [CLS]/[SEP]"].append(toggle(app, timer, hide, "view:1", present=i % 2 == 0))
    if repeats % 2 == 0:
        toggle(app, timer, hide, "view:1", present=True)  # hidden, for renormalise
    for i in range(repeats):  # renormalised rows ("view:11...") off, then on again
        results["view option: renormalise rows"].append(toggle(app, timer, renormalise, "view:11", present=i % 2 == 1))
    for _ in range(repeats):  # merging subwords changes the number of rows, and so does splitting them again
        rows = page.evaluate(MAIN_TEXT_JS).split("rows:")[1].split(" ")[0]
        results["view option: merge subwords"].append(toggle(app, timer, merge, f"rows:{rows} ", present=False))
    for i in range(repeats):  # the followed token, chosen in the explorer
        value = page.get_by_role("combobox", name="Attention from token").locator("option").nth(3 + i).get_attribute(
            "value")
        select = page.get_by_role("combobox", name="Attention from token")
        results["followed token"].append(timer.settle(lambda select=select, value=value: select.select_option(value),
                                                      f"follow:{value} "))
    shows_log = "log colour" in page.evaluate(MAIN_TEXT_JS)  # "auto" is log from 64 rows
    for i in range(repeats):  # colour mode, chosen in the explorer: the other one each time
        mode = ("linear" if shows_log else "log") if i % 2 == 0 else ("log" if shows_log else "linear")
        button = page.get_by_role("radio", name=mode)
        results["view option: colour"].append(timer.settle(button.click, f"{mode} colour"))
    for i in range(repeats):  # [CLS] is hidden by now (above): the first row is the new text's first word
        fresh = fresh_texts[i]
        area = page.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea').first
        area.fill(fresh)
        results["run a new text"].append(timer.settle(lambda area=area: area.press("Control+Enter"),
                                                      fresh.split()[0]))
    for _ in range(repeats):  # to another page and back: the way back is timed (opening the menu included)
        app.click_nav(PAGES["embeddings"][0])
        results["page switch"].append(timer.settle(lambda: app.click_nav(PAGES["attention"][0], charts=False), "Layer"))
    page.context.close()

    app = new_app(browser, base)  # a pair: its blocks
    timer = open_attention(app, text=pair[0], pair=pair[1])
    for i in range(repeats):
        block = ("A→B", "all")[i % 2]
        button = app.page.locator(".st-key-att_block button").filter(has_text=block)
        results["view option: pair block"].append(timer.settle(button.first.click, "block A→B", present=block != "all"))
    app.page.context.close()
    return results


def pair_of_length(model, n_tokens: int) -> tuple[str, str]:
    """Two sentences that make about `n_tokens` tokens together (a pair's blocks to switch)."""
    half = max(8, n_tokens // 2)
    return (text_of_length(model, half, prefix="pair bench first "),
            text_of_length(model, n_tokens - half + 1, prefix="second "))


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
                text = text_of_length(model, n, prefix="unbelievably tokenizers bench ")  # words of several pieces
                fresh = [text_of_length(model, n, prefix=f"{FRESH_WORDS[i % len(FRESH_WORDS)]} variant{n}x{i} ")
                         for i in range(args.repeats)]
                pair = pair_of_length(model, n)
                table[n] = measure(browser, base, text, pair, fresh, args.repeats)
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
    print("\nwhere the time went (medians, s): to rerun start / rerun (script + transfer) / drawing after it;"
          " the explorer's own drawing in the browser (overlapping the rest)")
    for n in table:
        for name, rows in table[n].items():
            if name != "first view":
                print(f"{n:>4} tokens  {name:<30} {median(rows, 'to_start'):6.2f} / {median(rows, 'run'):6.2f} / "
                      f"{median(rows, 'draw'):6.2f}; {median(rows, 'explorer'):6.2f}")
    print(f"load average after: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
