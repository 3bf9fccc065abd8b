"""Resident memory while many distinct texts go through the app's cached run path.

    python -m bench.memory [--runs 500] [--warmup 60]

Calls state.get_run (one shared cache of runs, bounded by bytes) with distinct texts, as 500
students' sentences would, and prints resident memory growth after warm-up every 100 runs, beside
what the run cache itself holds. Target: at most 50 MB of growth beyond the cache's own bytes.
Such growth would mean something keeps runs or tensors alive: an unbounded cache, or hooks
holding references.
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
        state.get_run(state.DEFAULT_SOURCE, student_text(i), None)


def cache_mb() -> float:
    import state

    return state.run_cache().nbytes / 1e6


def memory_growth(runs: int, warmup: int, report_every: int = 0) -> float:
    """Resident MB gained over `runs` distinct texts, after `warmup` texts, minus what the run
    cache grew by (it keeps runs on purpose, up to its budget)."""
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
    hooks = registered_hook_count(state.get_model(state.DEFAULT_SOURCE).encoder)
    print(f"growth after warm-up beyond the run cache: {growth:+.1f} MB over {args.runs} runs "
          f"(target: at most +50 MB; the cache holds {cache_mb():.0f} MB); "
          f"{seconds:.1f} s; hooks left registered: {hooks}")


if __name__ == "__main__":
    main()
