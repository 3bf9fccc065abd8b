"""Everyone else's Attention first view, alone and while Lab trainings run (issue 16 §6), in Chromium.

    python -m bench.lab_load [--rounds 2] [--views 3] [--trainings 3] [--steps 2000]

Starts its own `streamlit run app.py` (bench/app_server.py; the server's own environment, so
HEADLIGHT_LAB_WORKERS and friends apply) and Debian's Chromium (bench/browser.py). A first view is
a new browser context (a new Streamlit session) opening the Attention page on a text no one has
opened before (so the run cache never answers), timed from navigation until every chart is drawn.

Other work on a shared machine comes and goes, so the phases alternate, --rounds times:

1. warm-up (once): one first view (loads the model), not counted;
2. alone: --views first views, one after another;
3. --trainings Lab tabs press Train on causal reverse, --steps steps, the page's defaults otherwise
   (2 layers, 4 heads, d = 64: the causal model never reaches the 99% that stops a run early), and
   stay open, polling, as students' tabs would. They run in a second Chromium, at the OS priority
   --lab-browser-nice (default 10, and SCHED_IDLE where chrt exists): in a class those tabs draw
   their live charts on the students' own computers, and on this machine the drawing alone took
   about 45% of a core, at normal priority, which the server never sees. --lab-browser-nice 0
   measures with it;
4. during: --views first views while those trainings wait or run; each is printed with what the
   Lab tabs showed just after it (running / waiting / done) and the load average;
5. the trainings are left to finish, each tab's "Training time" (in its worker) and the seconds
   from Train to its result (waiting included) are printed, and the tabs closed.

Prints the medians, their ratio against the target (during ≤ 1.5 × alone), and the 1-minute load
average at each phase: the machine is shared, so other work shows there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.app_server import HOST, free_port, start_server, stop_server, wait_until_healthy
from bench.browser import CHROMIUM, CHROMIUM_ARGS, MAIN, PAGES, RUN_COUNTER_JS, VIEWPORT, App
from bench.load import interrupt_on_signals

TARGET = 1.5
MAIN_TEXT_JS = "() => (document.querySelector('[data-testid=\"stMain\"]') || {innerText: ''}).innerText"


def first_view(browser, base: str, text: str) -> float:
    """Seconds from navigation to the Attention page's charts, in a new session."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(RUN_COUNTER_JS)
    try:
        app = App(context.new_page(), base)
        start = time.perf_counter()
        app.open("/", text=text)
        seconds = time.perf_counter() - start
        app.assert_no_exception()
        return seconds
    finally:
        context.close()


def view_text(phase: str, index: int) -> str:
    return (f"In the {phase} phase, visitor {index} reads why the tired cat sat on mat number {index} "
            "while the class trained small models in the lab next door.")


def start_training(browser, base: str, steps: int) -> App:
    """A Lab tab that pressed Train on causal reverse; it stays open (its page polls the job)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(RUN_COUNTER_JS)
    app = App(context.new_page(), base)
    app.open(PAGES["lab"][1], charts=False, lab_task="reverse", lab_causal="1", lab_steps=str(steps))
    app.page.locator(MAIN).get_by_role("button", name="Train").click()
    app.page.wait_for_function(
        "() => /Waiting|Step \\d+ of|Starting/.test(document.querySelector('[data-testid=\"stMain\"]').innerText)",
        timeout=60_000)
    return app


def lab_state(app: App) -> str:
    text = app.page.evaluate(MAIN_TEXT_JS)
    if "Replay: how the pattern formed" in text:
        return "done"
    if "Waiting" in text:
        return "waiting"
    if "Step " in text or "Starting" in text:
        return "running"
    return "other"


def training_seconds(app: App) -> str:
    text = app.page.evaluate(MAIN_TEXT_JS)
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Training time":
            return next((later.strip() for later in lines[index + 1:] if later.strip()), "?")
    return "?"


def load_average() -> float:
    return os.getloadavg()[0]


def measure(browser, base: str, phase: str, views: int, labs: list[App]) -> list[float]:
    seconds = []
    for index in range(1, views + 1):
        took = first_view(browser, base, view_text(phase, index))
        seconds.append(took)
        states = [lab_state(lab) for lab in labs]
        shown = f", Lab tabs: {' '.join(states)}" if labs else ""
        print(f"  {phase} view {index}: {took:.2f} s (load average {load_average():.1f}{shown})", flush=True)
    return seconds


def finish(labs: list[App], pressed: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    finished: dict[int, float] = {}
    while time.monotonic() < deadline and len(finished) < len(labs):
        for number, lab in enumerate(labs, 1):
            if number not in finished and lab_state(lab) == "done":
                finished[number] = time.monotonic() - pressed
        time.sleep(0.5)
    for number, lab in enumerate(labs, 1):
        if number in finished:
            print(f"  training {number}: training time {training_seconds(lab)}, result {finished[number]:.0f} s "
                  "after Train")
        else:
            print(f"  training {number}: {lab_state(lab)} after {timeout:.0f} s")
        lab.page.context.close()


def niced_chromium(niceness: int, folder: Path) -> Path:
    """A launcher that runs Chromium (and every process it starts) at a lower priority: the
    niceness, and where chrt exists the SCHED_IDLE policy, so that the students' tabs, which in a
    class draw on their own computers, take only CPU time nothing on the server wants."""
    if niceness == 0:
        return CHROMIUM
    idle = "chrt --idle 0 " if shutil.which("chrt") else ""
    launcher = folder / "chromium-niced"
    launcher.write_text(f'#!/bin/sh\nexec {idle}nice -n {niceness} {CHROMIUM} "$@"\n')
    launcher.chmod(0o755)
    return launcher


def run(args: argparse.Namespace, base: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        lab_browser = playwright.chromium.launch(
            executable_path=str(niced_chromium(args.lab_browser_nice, Path(folder))), args=CHROMIUM_ARGS)
        try:
            print(f"warm-up first view (loads the model): {first_view(browser, base, 'Warm up the model.'):.2f} s",
                  flush=True)
            alone, during, loads = [], [], {"alone": [], "during": []}
            for round_number in range(1, args.rounds + 1):
                print(f"round {round_number}", flush=True)
                loads["alone"].append(load_average())
                alone += measure(browser, base, "alone", args.views, [])
                pressed = time.monotonic()
                labs = [start_training(lab_browser, base, args.steps) for _ in range(args.trainings)]
                print(f"  {args.trainings} Lab trainings pressed (causal reverse, {args.steps} steps): "
                      f"{' '.join(lab_state(lab) for lab in labs)}", flush=True)
                loads["during"].append(load_average())
                during += measure(browser, base, "during", args.views, labs)
                loads["during"].append(load_average())
                finish(labs, pressed, args.training_timeout)
            report(alone, during, loads)
        finally:
            lab_browser.close()
            browser.close()


def report(alone: list[float], during: list[float], loads: dict[str, list[float]]) -> None:
    median_alone, median_during = statistics.median(alone), statistics.median(during)
    ratio = median_during / median_alone
    print(f"\nAttention first view, median of {len(alone)}: alone {median_alone:.2f} s "
          f"(range {min(alone):.2f}-{max(alone):.2f}), during the trainings {median_during:.2f} s "
          f"(range {min(during):.2f}-{max(during):.2f}): {ratio:.2f}× "
          f"(target ≤ {TARGET}×: {'met' if ratio <= TARGET else 'NOT met'})")
    print("load average (1 min): " + ", ".join(f"{phase} {' '.join(f'{v:.1f}' for v in values)}"
                                               for phase, values in loads.items())
          + f" on {os.cpu_count()} cores", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="alone-then-during rounds (default 2)")
    parser.add_argument("--views", type=int, default=3, help="first views per phase and round (default 3)")
    parser.add_argument("--trainings", type=int, default=3, help="Lab tabs that train at once (default 3)")
    parser.add_argument("--steps", type=int, default=2000, help="steps of each training (default 2000, the "
                                                                "page's largest)")
    parser.add_argument("--training-timeout", type=float, default=900.0,
                        help="seconds to wait for a round's trainings to finish (default 900)")
    parser.add_argument("--lab-browser-nice", type=int, default=10,
                        help="OS priority of the Chromium that holds the Lab tabs (default 10; 0: as the rest)")
    args = parser.parse_args()
    interrupt_on_signals()  # Ctrl+C or SIGTERM still stops the server (and its Lab workers)
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"headlight-bench-lab-load-{port}.log"
    print(f"machine: {os.cpu_count()} cores, load average {load_average():.1f}; server log {log_path}; "
          f"HEADLIGHT_LAB_WORKERS={os.environ.get('HEADLIGHT_LAB_WORKERS', 'default')}", flush=True)
    server = start_server(port, log_path)
    try:
        wait_until_healthy(server, port, log_path)
        run(args, f"http://{HOST}:{port}")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
