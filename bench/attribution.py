"""How long attributions and their faithfulness take on the bundled model (issue 19's speed targets).

    python -m bench.attribution [--repeats 3] [--corpus-repeats 1] [--steps 50] [--corpus-steps 16]

Prints (nothing asserted; the figures go in the README):
- every method's median time on one 40-token text for the sentiment classifier's P(positive), with
  integrated gradients at `--steps` steps in one batch (target: ≤ 3 s for all methods together);
- faithfulness (comprehensiveness and sufficiency, AOPC) of all methods over the 96 held-out sentiment
  sentences (target: ≤ 60 s), with each method's share of the time and the resulting table;
with the load average before and after, since the machine is shared (2 cores).
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus-repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50, help="integrated gradients' steps on one text")
    parser.add_argument("--corpus-steps", type=int, default=FAITHFULNESS_STEPS,
                        help="integrated gradients' steps in the faithfulness run")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; load average before: {load_average()}")

    model = load_model()
    target = class_probability(default_sentence_classifier(model), "positive")
    text = text_of_length(model, 40)
    explainer = Explainer(model, text, target)
    for method in METHODS:  # warm-up: Captum's import, first-call allocations
        explainer.attribute(method, steps=args.steps)
    print(f"\nOne text of {explainer.prepared.n_tokens} tokens (median of {args.repeats}, fresh Explainer each run):")
    per_method = {m: [] for m in METHODS}
    totals = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fresh = Explainer(model, text, target)  # tokenising, f(x) and the attention pass count too
        for method in METHODS:
            per_method[method].append(fresh.attribute(method, steps=args.steps).seconds)
        totals.append(time.perf_counter() - start)
    for method, seconds in per_method.items():
        print(f"  {method:22s} {statistics.median(seconds):7.3f} s")
    print(f"  {'all methods':22s} {statistics.median(totals):7.3f} s   (target ≤ 3 s; load {load_average()})")

    _, held_out = split_sentiment(read_sentiment())
    texts = list(held_out.texts)
    walls, report = [], None
    for _ in range(args.corpus_repeats):
        start = time.perf_counter()
        report = faithfulness_report(model, texts, target, METHODS, steps=args.corpus_steps)
        walls.append(time.perf_counter() - start)
    print(f"\nFaithfulness over {len(texts)} held-out sentences, all methods, IG at {args.corpus_steps} steps: "
          f"median {statistics.median(walls):.1f} s of {args.corpus_repeats} (target ≤ 60 s; load {load_average()})")
    errors = sorted(report.completeness)
    print(f"Removal: a token is {report.removal}. IG's completeness error: median {statistics.median(errors):.2%}, "
          f"above 5% on {sum(e > 0.05 for e in errors)} of {len(errors)} texts.")
    print(report.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
