"""How long attributions and their faithfulness take on the bundled model (issue 19's speed targets).

    python -m bench.attribution [--repeats 3] [--corpus-repeats 3] [--steps 50] [--threads 1]

Prints (nothing asserted; the figures go in the README):
- every method's median time on one 40-token text for the sentiment classifier's P(positive), with
  integrated gradients at `--steps` steps in one batch (target: ≤ 3 s for all methods together);
- faithfulness (comprehensiveness and sufficiency, AOPC) of all methods over the 96 held-out sentiment
  sentences (target: ≤ 60 s), with each method's share of the time and the resulting table;
each as wall seconds and as this process's CPU seconds (user + system, all its threads), with the load
average before and after: the machine's 2 cores are shared, and CPU seconds move less with the sharing
than wall seconds do. OpenMP's threads wait passively (the engine's default, encoder/__init__.py);
OMP_WAIT_POLICY=ACTIVE in the environment measures them spinning, as torch does by default; the
header says which.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from bench.forward import text_of_length
from encoder import load_model
from encoder.attribution import FAITHFULNESS_STEPS, METHODS, Explainer, class_probability, faithfulness_report
from encoder.heads import default_sentence_classifier, read_sentiment, split_sentiment


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


class Clock:
    """Wall and CPU seconds of one stretch of work."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def medians(clocks: list[Clock]) -> str:
    return (f"{statistics.median(c.wall for c in clocks):7.2f} s wall, "
            f"{statistics.median(c.cpu for c in clocks):7.2f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus-repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50, help="integrated gradients' steps on one text")
    parser.add_argument("--corpus-steps", type=int, default=FAITHFULNESS_STEPS,
                        help="integrated gradients' steps in the faithfulness run")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default: torch's choice); 1 steadies a busy machine")
    parser.add_argument("--skip-one-text", action="store_true", help="measure the corpus run only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; load average before: {load_average()}")

    model = load_model()
    target = class_probability(default_sentence_classifier(model), "positive")
    if not args.skip_one_text:
        text = text_of_length(model, 40)
        explainer = Explainer(model, text, target)
        for method in METHODS:  # warm-up: Captum's import, first-call allocations
            explainer.attribute(method, steps=args.steps)
        print(f"\nOne text of {explainer.prepared.n_tokens} tokens (median of {args.repeats}, a fresh Explainer "
              "each run, so tokenising, f(x) and the shared passes count):")
        per_method = {m: [] for m in METHODS}
        totals = []
        for _ in range(args.repeats):
            with Clock() as total:
                fresh = Explainer(model, text, target)
                for method in METHODS:
                    with Clock() as clock:
                        fresh.attribute(method, steps=args.steps)
                    per_method[method].append(clock)
            totals.append(total)
        for method, clocks in per_method.items():
            print(f"  {method:22s} {medians(clocks)}")
        print(f"  {'all methods':22s} {medians(totals)}   (target ≤ 3 s; load {load_average()})")

    _, held_out = split_sentiment(read_sentiment())
    texts = list(held_out.texts)
    faithfulness_report(model, texts[:2], target, METHODS, steps=args.corpus_steps)  # warm-up
    clocks, report = [], None
    for _ in range(args.corpus_repeats):
        with Clock() as clock:
            report = faithfulness_report(model, texts, target, METHODS, steps=args.corpus_steps)
        clocks.append(clock)
        print(f"  run: {clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU (load {load_average()})", flush=True)
    print(f"\nFaithfulness over {len(texts)} held-out sentences, all methods, IG at {args.corpus_steps} steps, "
          f"median of {args.corpus_repeats}: {medians(clocks)} (target ≤ 60 s; load {load_average()})")
    errors = sorted(report.completeness)
    print(f"Removal: a token is {report.removal}. IG's completeness error: median {statistics.median(errors):.3%}, "
          f"above 5% on {sum(e > 0.05 for e in errors)} of {len(errors)} texts.")
    print(report.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
