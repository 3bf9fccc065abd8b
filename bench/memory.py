"""The server's resident memory while many visitors each open their own long text.

    python -m bench.memory [--texts 200] [--tokens 450] [--after 150]
    python -m bench.memory --engine [--runs 500] [--warmup 60]

Browser mode (the default) starts `streamlit run app.py` as the README does, and opens --texts
distinct texts of about --tokens tokens one after another on the Attention page, each in a new
Chromium tab (a new session) that is closed once the page has drawn, as a class's students'
sentences would. It samples the server's resident memory (VmRSS of its process) every 10 texts
and prints the peak (VmHWM), then the memory --after seconds after the last tab closed, beside
the start and the stated budgets. Streamlit keeps a disconnected session for
server.disconnectedSessionTTL (120 s) in case the tab reconnects, so --after should exceed it.

Engine mode calls state.get_run directly with distinct texts and prints resident growth beyond what
the run cache itself holds (target: at most 50 MB): growth there would mean something keeps runs
or tensors alive (an unbounded cache, or hooks holding references).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bench.app_server import proc_status_mb
from encoder.capture import registered_hook_count

WORDS = ("river", "signal", "quiet", "orange", "method", "lantern", "student", "theory", "harbour", "glass",
         "measure", "forest", "window", "engine", "silver", "promise", "market", "letter", "shadow", "garden")


def resident_mb(pid: int | str = "self") -> float:
    return proc_status_mb(pid, "VmRSS")


def student_text(i: int) -> str:
    return (f"Student {i} wrote sentence number {i} about {'cats and dogs ' * (i % 7)}"
            f"on day {i % 31} of month {i % 12}.")


def long_text(i: int, tokens: int) -> str:
    """A distinct text of about `tokens` WordPiece tokens (each word below is one token, a full stop
    every 12 words), different from every other i from its first words on."""
    words = [f"text {i} starts here:"]
    for k in range(tokens * 12 // 13 - 6):
        words.append(WORDS[(i * 7 + k * (i % 5 + 1)) % len(WORDS)] + ("." if k % 12 == 11 else ""))
    return " ".join(words)


# ---------------------------------------------------------------- engine mode


def run_texts(count: int, start: int = 0) -> None:
    import sources
    import state

    for i in range(start, start + count):
        state.get_run(sources.DEFAULT_SOURCE, student_text(i), None)


def cache_mb() -> float:
    import state

    return state.run_cache().nbytes / 1e6


def memory_growth(runs: int, warmup: int, report_every: int = 0) -> float:
    """Resident MB gained over `runs` distinct texts, after `warmup` texts, minus what the run
    cache grew by (it keeps runs on purpose, up to its budget). The cache starts empty: entries an
    earlier caller left would go idle during the measurement and be dropped by the cache's sweep,
    which would read as growth."""
    import state

    state.run_cache().clear()
    state.release_free_memory()
    run_texts(warmup)
    gc.collect()
    base, cached = resident_mb(), cache_mb()
    done = 0
    while done < runs:
        step = min(report_every or runs, runs - done)
        run_texts(step, start=warmup + done)
        done += step
        if report_every:
            gc.collect()
            print(f"{done:>5} runs  {resident_mb() - base:+7.1f} MB resident, run cache {cache_mb() - cached:+7.1f} MB")
    gc.collect()
    return resident_mb() - base - (cache_mb() - cached)


def engine_main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    import sources
    import state

    start = time.perf_counter()
    growth = memory_growth(args.runs, args.warmup, report_every=100)
    seconds = time.perf_counter() - start
    hooks = registered_hook_count(state.get_model(sources.DEFAULT_SOURCE).encoder)
    print(f"growth after warm-up beyond the run cache: {growth:+.1f} MB over {args.runs} runs "
          f"(target: at most +50 MB; the cache holds {cache_mb():.0f} MB); "
          f"{seconds:.1f} s; hooks left registered: {hooks}")


# ---------------------------------------------------------------- browser mode


def browser_main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    from bench.app_server import free_port, start_server, stop_server, wait_until_healthy
    from bench.browser import CHROMIUM, CHROMIUM_ARGS, RUN_COUNTER_JS, VIEWPORT, App

    port = free_port()
    log = Path(tempfile.gettempdir()) / "headlight-bench" / "memory-server.log"
    server = start_server(port, log)
    try:
        wait_until_healthy(server, port, log)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as driver:
            chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

            def visit(text: str) -> None:
                context = chromium.new_context(viewport=VIEWPORT)
                context.add_init_script(RUN_COUNTER_JS)
                try:
                    app = App(context.new_page(), base)
                    app.open_url(f"{base}/?text={quote(text, safe='')}")
                finally:
                    context.close()  # the tab goes: its session is left to Streamlit's TTL

            visit("Warm-up: the first visit loads the model.")
            start_mb = resident_mb(server.pid)
            print(f"after the first visit (model loaded): {start_mb:.0f} MB", flush=True)
            started = time.perf_counter()
            for i in range(1, args.texts + 1):
                visit(long_text(i, args.tokens))
                if i % 10 == 0:
                    print(f"{i:>4} texts  {resident_mb(server.pid):7.0f} MB resident, peak "
                          f"{proc_status_mb(server.pid, 'VmHWM'):7.0f} MB  ({time.perf_counter() - started:.0f} s, "
                          f"load {os.getloadavg()[0]:.1f})", flush=True)
            chromium.close()
        peak = proc_status_mb(server.pid, "VmHWM")
        print(f"last tab closed; waiting {args.after:.0f} s (sessions expire after Streamlit's 120 s TTL)", flush=True)
        time.sleep(args.after)
        after = resident_mb(server.pid)
        print(f"{args.texts} texts of ~{args.tokens} tokens: start {start_mb:.0f} MB, peak {peak:.0f} MB "
              f"(target ≤ 1,500 MB), {args.after:.0f} s after the last session: {after:.0f} MB "
              f"({after - start_mb:+.0f} MB; target ≤ +300 MB); load average {os.getloadavg()[0]:.1f}")
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="store_true", help="measure state.get_run alone, without a server")
    parser.add_argument("--texts", type=int, default=200, help="browser mode: distinct texts, one tab each")
    parser.add_argument("--tokens", type=int, default=450, help="browser mode: tokens per text")
    parser.add_argument("--after", type=float, default=150.0, help="browser mode: seconds to wait at the end")
    parser.add_argument("--runs", type=int, default=500, help="engine mode: distinct texts")
    parser.add_argument("--warmup", type=int, default=60, help="engine mode: texts before measuring")
    args = parser.parse_args()
    engine_main(args) if args.engine else browser_main(args)


if __name__ == "__main__":
    main()
