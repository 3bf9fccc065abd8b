"""What each page costs at 16, 128 and 512 tokens: figure bytes sent and server-side time.

    python -m bench.pages [--repeats 3]

Runs the real pages through Streamlit's AppTest (the same script runs a browser session gets),
with a text the run cache has not seen, and reports the median time from text to figures and
the size of the Plotly figure specs the page sends. The budget for the Attention page at 512
tokens is 3 MB.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

import registry
from bench.forward import text_of_length
from encoder import load_model

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = (16, 128, 512)


def measure(page: registry.Page, text: str) -> tuple[float, int, int]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["text"] = "warm up"
    at.run()
    at.switch_page(page.script).run()
    at.session_state["text"] = text
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"{page.title}: {at.exception[0].message}")
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    return seconds, sum(len(s.encode()) for s in specs), len(specs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pages", nargs="+", metavar="URL_PATH", help="only these pages (registry url paths)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    model = load_model()
    print(f"{'page':<20} {'tokens':>6} {'charts':>6} {'figure MB':>10} {'server s (median)':>18}")
    variant = 0
    for page in [p for p in registry.PAGES if not args.pages or p.url_path in args.pages]:
        for n in LENGTHS:
            times, size, charts = [], 0, 0
            for _ in range(args.repeats):
                variant += 1
                seconds, size, charts = measure(page, text_of_length(model, n, prefix=f"variant{variant} "))
                times.append(seconds)
            print(f"{page.title:<20} {n:>6} {charts:>6} {size / 1e6:>10.2f} {statistics.median(times):>18.2f}")


if __name__ == "__main__":
    main()
