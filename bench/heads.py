"""Training time and held-out scores of the two task heads on the bundled model.

    python -m bench.heads [--repeats 3] [--threads 2] [--by-layer]

Each timing trains a head from scratch the way the app does: tokenizing, running the frozen
encoder over every sentence (padded, length-sorted batches) and fitting the linear layer.
Targets: the sentence classifier in at most 5 s, the tagger in at most 10 s, on 2 cores.
Prints medians of wall and CPU time, the machine's load average (other work on the cores slows two-thread torch
badly), the held-out accuracy, per-class scores and a few example predictions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from encoder import load_model
from encoder.heads import default_sentence_classifier, default_tagger, pooled_features, read_sentiment

EXAMPLES = (
    "I loved this film, it was wonderful.",
    "The food was cold and the service was rude.",
    "Not bad at all.",
    "The hotel was not bad at all.",
    "Not good.",
    "The start was slow but the ending was wonderful.",
    "The start was great but the ending was awful.",
    "Oh great, another Monday.",
)
TAGGED = (
    "Maria Garcia moved to Lisbon to work for Siemens.",
    "Last year Ana Lima joined the World Bank in Washington.",
    "Angela Merkel met Emmanuel Macron in Berlin.",
)


def timed(function, repeats: int) -> tuple[float, float, object]:
    """(median wall seconds, median CPU seconds of this process, the last result)."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--by-layer", action="store_true", help="held-out scores of heads on every layer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model()
    model.run("Warm up the encoder once.")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {args.repeats}; "
          f"load average before: {os.getloadavg()[0]:.2f}")

    texts = read_sentiment().texts
    features_s, _, _ = timed(lambda: pooled_features(model, texts), args.repeats)
    classifier_s, classifier_cpu, classifier = timed(lambda: default_sentence_classifier(model, seed=0), args.repeats)
    tagger_s, tagger_cpu, tagger = timed(lambda: default_tagger(model, seed=0), args.repeats)
    print(f"sentence classifier: {classifier_s:.2f} s to train (target 5 s; {classifier_cpu:.2f} s of CPU), of "
          f"which about {features_s:.2f} s runs the encoder over the {len(texts)} sentences")
    print(f"token tagger:        {tagger_s:.2f} s to train (target 10 s; {tagger_cpu:.2f} s of CPU)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    evaluation = classifier.evaluation
    print(f"\nsentiment, held-out accuracy {evaluation.accuracy:.3f} on {evaluation.n_test} sentences")
    print(evaluation.to_frame().to_string(index=False, float_format="%.3f"))
    probabilities = classifier.predict_proba(list(EXAMPLES))[:, classifier.labels.index("positive")]
    for text, p in zip(EXAMPLES, probabilities, strict=True):
        print(f"  P(positive) {p:.2f}  {text}")

    evaluation = tagger.evaluation
    print(f"\nNER, {evaluation.level}-level scores on the {evaluation.n_sentences} test sentences "
          f"(token accuracy {evaluation.token_accuracy:.3f})")
    print(evaluation.to_frame().to_string(index=False, float_format="%.3f"))
    for text in TAGGED:
        print("  " + " ".join(word if tag == "O" else f"{word}/{tag}" for word, tag in tagger.predict(text)))
    if args.by_layer:
        print_by_layer(model)


def print_by_layer(model) -> None:
    """Held-out scores of both heads reading each hidden state (0 = embedding output)."""
    print("\nheads on each layer's hidden state (the default reads the last)")
    print(f"{'layer':>5} {'sentiment accuracy':>19} {'NER entity F1':>14} {'PER':>6} {'LOC':>6} {'ORG':>6}")
    for layer in range(model.config.n_layers + 1):
        accuracy = default_sentence_classifier(model, seed=0, layer=layer).evaluation.accuracy
        evaluation = default_tagger(model, seed=0, layer=layer).evaluation
        per_type = " ".join(f"{s.f1:6.3f}" for s in evaluation.scores)
        print(f"{layer:>5} {accuracy:>19.3f} {evaluation.micro.f1:>14.3f} {per_type}")


if __name__ == "__main__":
    main()
