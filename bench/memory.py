"""Resident memory while many distinct texts go through the app's cached run path.

    python -m bench.memory [--runs 500] [--warmup 60]

Calls state.get_run (st.cache_data, bounded to 16 entries) with distinct texts, as 500 students'
sentences would, and prints resident memory growth after warm-up every 100 runs. Target: at
most 50 MB of growth after warm-up. Growth would mean something keeps runs or tensors alive:
an unbounded cache, or hooks holding references.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import time

from encoder.capture import registered_hook_count


def resident_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def student_text(i: int) -> str:
    return (f"Student {i} wrote sentence number {i} about {'cats and dogs ' * (i % 7)}"
            f"on day {i % 31} of month {i % 12}.")


def run_texts(count: int, start: int = 0) -> None:
    import state

    for i in range(start, start + count):
        state.get_run(state.BUNDLED, student_text(i), None)


def memory_growth(runs: int, warmup: int, report_every: int = 0) -> float:
    """Resident MB gained over `runs` distinct texts, after `warmup` texts filled the caches."""
    run_texts(warmup)
    gc.collect()
    base = resident_mb()
    done = 0
    while done < runs:
        step = min(report_every or runs, runs - done)
        run_texts(step, start=warmup + done)
        done += step
        if report_every:
            gc.collect()
            print(f"{done:>5} runs  {resident_mb() - base:+7.1f} MB")
    gc.collect()
    return resident_mb() - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=60)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    import state

    start = time.perf_counter()
    growth = memory_growth(args.runs, args.warmup, report_every=100)
    seconds = time.perf_counter() - start
    hooks = registered_hook_count(state.get_model(state.BUNDLED).encoder)
    print(f"growth after warm-up: {growth:+.1f} MB over {args.runs} runs (target: at most +50 MB); "
          f"{seconds:.1f} s; hooks left registered: {hooks}")


if __name__ == "__main__":
    main()
