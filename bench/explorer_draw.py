"""The explorer's own drawing of the view options at one length, in Chromium, for two versions of the
app side by side (a commit's files and the working tree), the changes taking turns.

    python -m bench.explorer_draw [--commit HEAD] [--length 512] [--repeats 4] [--pair | --sliders] [--profile]

Starts `streamlit run app.py` twice (the commit's copy, bench.first_view.app_copy, and the working
tree), opens the same ~`--length`-token text in each (bench.interactions' text), waits until every
layer is in the browser, then clicks the View options in turn -- hide, renormalise, show again,
merge, split (with --pair: a pair's blocks A→B, then all; with --sliders: layer and head key
presses) -- in one tab and then the other, each time until the page settled
(bench.interactions.Timer). Prints per change and version the medians of: seconds from the click
until settled, and the explorer's `hl-draw` and `hl-grids` measures (ms, summed over the change).
With --profile, the working tree's tab runs under Chromium's sampling profiler (CDP) and the
functions holding the most self time are printed (the profiler slows the page down: its times are
not compared). The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from bench.app_server import ROOT, free_port, start_server, stop_server, wait_until_healthy
from bench.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from bench.first_view import app_copy, start_app
from bench.forward import text_of_length
from bench.interactions import MAIN_TEXT_JS, new_app, open_attention, pair_of_length, toggle
from encoder import load_model

HIDE, RENORMALISE, MERGE = ("Hide special tokens ([CLS], [SEP])", "…and renormalise rows to sum to 1",
                            "Merge subwords into words")
# The changes of one round: (name, the toggle's label); the settle check follows the view's key.
ROUND = (("hide", HIDE), ("renormalise", RENORMALISE), ("show", HIDE), ("merge", MERGE), ("split", MERGE))
PAIR_ROUND = (("block A→B", "A→B"), ("block all", "all"))
# With --sliders: the explorer's own sliders, a key press each (layers 3, 2; heads 2, 1)
SLIDER_ROUND = (("layer up", ("Layer", "ArrowRight", "layer 3")), ("layer down", ("Layer", "ArrowLeft", "layer 2")),
                ("head up", ("Head", "ArrowRight", "head 2")), ("head down", ("Head", "ArrowLeft", "head 1")))
MEASURES_JS = """(since) => {
  const sum = (name) => performance.getEntriesByType('measure')
    .filter((e) => e.name === name && e.startTime >= since).reduce((s, e) => s + e.duration, 0);
  return [sum('hl-draw'), sum('hl-grids')];
}"""


def change(app, timer, label: str) -> dict:
    """Click a View options toggle; settled once the map's view key or row count changed."""
    before = app.page.evaluate(MAIN_TEXT_JS)
    view = before.split("view:")[1].split(" ")[0]
    since = app.page.evaluate("performance.now()")
    row = toggle(app, timer, label, f"view:{view} ", present=False)
    draw_ms, grids_ms = app.page.evaluate(MEASURES_JS, since)
    return {"total": row["total"], "draw": draw_ms, "grids": grids_ms}


def block(app, timer, name: str) -> dict:
    """Click a pair block's button; settled once the map's title names it (or no longer does)."""
    since = app.page.evaluate("performance.now()")
    button = app.page.locator(".st-key-att_block button").filter(has_text=name).first
    row = timer.settle(button.click, "block A→B", present=name != "all")
    draw_ms, grids_ms = app.page.evaluate(MEASURES_JS, since)
    return {"total": row["total"], "draw": draw_ms, "grids": grids_ms}


def slide(app, timer, how: tuple[str, str, str]) -> dict:
    """Press a key on one of the explorer's sliders; settled once the map's title says `wanted`."""
    name, key, wanted = how
    since = app.page.evaluate("performance.now()")
    control = app.page.get_by_role("slider", name=name)

    def press():
        control.focus()
        control.press(key)

    row = timer.settle(press, wanted)
    draw_ms, grids_ms = app.page.evaluate(MEASURES_JS, since)
    return {"total": row["total"], "draw": draw_ms, "grids": grids_ms}


def profile_summary(profile: dict, top: int) -> list[tuple[str, float]]:
    """Self time (ms) per function of a CDP Profiler profile."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    self_us: Counter[str] = Counter()
    deltas = profile["timeDeltas"]
    for sample, delta in zip(profile["samples"], [*deltas[1:], 0], strict=True):
        frame = nodes[sample]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1][:40]
        self_us[f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber'] + 1}"] += delta
    return [(name, us / 1e3) for name, us in self_us.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--pair", action="store_true", help="a sentence pair's blocks instead of the toggles")
    parser.add_argument("--sliders", action="store_true", help="layer and head changes instead of the toggles")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", type=Path, help="with --profile: write the CDP profiles here (JSON, for DevTools)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    model = load_model()
    if args.pair:
        first, second = pair_of_length(model, args.length)
        params, changes, act = {"text": first, "pair": second}, PAIR_ROUND, block
    else:
        text = text_of_length(model, args.length, prefix="unbelievably tokenizers bench ")
        params = {"text": text}
        changes, act = (SLIDER_ROUND, slide) if args.sliders else (ROUND, change)
    servers = {}
    with tempfile.TemporaryDirectory(prefix="headlight-draw-") as scratch:
        try:
            copy = app_copy(Path(scratch) / "app", args.commit, None)
            for name, root in ((args.commit, copy), ("working tree", ROOT)):
                port = free_port()
                log = ARTIFACTS / f"explorer-draw-{len(servers)}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                server = start_app(root, port, log) if root != ROOT else start_server(port, log)
                servers[name] = (server, port, log)
            for server, port, log in servers.values():
                wait_until_healthy(server, port, log)
            results: dict[str, dict[str, list[dict]]] = {name: defaultdict(list) for name in servers}
            profiles = []
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                tabs = {}
                for name, (_, port, _) in servers.items():
                    app = new_app(browser, f"http://127.0.0.1:{port}")
                    tabs[name] = (app, open_attention(app, **params))
                cdp = tabs["working tree"][0].page.context.new_cdp_session(tabs["working tree"][0].page)
                for _ in range(args.repeats):
                    for what, label in changes:
                        for name, (app, timer) in tabs.items():
                            profiling = args.profile and name == "working tree"
                            if profiling:
                                cdp.send("Profiler.enable")
                                cdp.send("Profiler.setSamplingInterval", {"interval": 200})
                                cdp.send("Profiler.start")
                            results[name][what].append(act(app, timer, label))
                            if profiling:
                                profiles.append(cdp.send("Profiler.stop")["profile"])
                browser.close()
        finally:
            for server, _, _ in servers.values():
                stop_server(server)

    print(f"\n{args.length} tokens, medians of {args.repeats}: seconds click -> settled; hl-draw ms; hl-grids ms")
    for what, _ in changes:
        cells = []
        for name in servers:
            rows = results[name][what]
            cells.append(f"{name}: {statistics.median(r['total'] for r in rows):.2f} s, "
                         f"{statistics.median(r['draw'] for r in rows):.0f} / "
                         f"{statistics.median(r['grids'] for r in rows):.0f} ms")
            if args.profile and name == "working tree":
                cells[-1] += " (profiled)"
        print(f"  {what:<12} " + "   ".join(cells))
    if profiles and args.dump:
        args.dump.write_text(json.dumps(profiles))
    if profiles:
        total: Counter[str] = Counter()
        for profile in profiles:
            for function, ms in profile_summary(profile, 10_000):
                total[function] += ms
        print(f"\nself time over {len(profiles)} profiled changes (ms):")
        for function, ms in total.most_common(args.top):
            print(f"  {ms:8.1f}  {function}")
    print(f"load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
