"""How long each analysis takes on the bundled model, at 16 to 512 tokens.

    python -m bench.analysis [--repeats 3]

Prints, per length, the median wall time of rollout, head statistics, value-weighted attention,
the Q·K walk-through, the Jensen-Shannon head distances and (up to its 64-token limit)
attention flow, with 2 torch threads. Nothing is asserted: the figures go in the README.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from bench.forward import text_of_length
from encoder import load_model
from encoder.analysis import (
    MAX_FLOW_TOKENS,
    attention_flow,
    head_distances,
    head_statistics,
    qk_walkthrough,
    rollout,
    value_weighted,
)

LENGTHS = (16, 32, 64, 128, 512)


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model()
    analyses: dict[str, Callable] = {
        "rollout": lambda run: rollout(run.attentions),
        "head_statistics": head_statistics,
        "value_weighted": value_weighted,
        "qk_walkthrough": lambda run: qk_walkthrough(run, 3, 4, 1),
        "head_distances": lambda run: head_distances(run.attentions),
        "attention_flow": lambda run: attention_flow(run.attentions),
    }
    print(f"{'tokens':>6} " + " ".join(f"{name:>16}" for name in analyses) + "   (median seconds)")
    for n in LENGTHS:
        run = model.run(text_of_length(model, n))
        cells = []
        for name, analysis in analyses.items():
            if name == "attention_flow" and run.n_tokens > MAX_FLOW_TOKENS:
                cells.append(f"{'(over limit)':>16}")
                continue
            repeats = 1 if name in ("attention_flow", "head_distances") and run.n_tokens >= 64 else args.repeats
            cells.append(f"{median_seconds(lambda: analysis(run), repeats):>16.4f}")  # noqa: B023
        print(f"{run.n_tokens:>6} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
