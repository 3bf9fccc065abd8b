"""Speed of the context index (similar contexts, exBERT's corpus search): build and query, one process and Ray.

    python -m bench.context_index [--sentences 2000] [--repeats 3] [--queries 50] [--no-ray]

Sentences: every sentence of assets/corpus.txt and assets/sentiment.csv (779), then pairs of them
joined ("A. B.") until there are `--sentences` distinct ones. Prints, with the load average before and
after (the machine is shared):
1. the build in one process with 2 torch threads (every layer's hidden states and the attention
   signatures, float16, faiss): median of `--repeats` builds (target: < 60 s on 2 cores);
2. query time, `nearest_contexts` at k = 10: median and 95th percentile of `--queries` random tokens,
   by hidden state and by attention signature (target: < 0.2 s);
3. the same build on Ray Data with 2 local actors × 1 thread: ray.init, then the job (actor start-up and
   model loads included), median of `--ray-repeats`, and its largest difference from the one-process index.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench.heads import timed
from encoder import load_model
from encoder.corpus import build_context_index, nearest_contexts, read_sentences

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def bench_sentences(count: int) -> list[str]:
    """`count` distinct sentences: the bundled ones, then pairs of them joined, in a fixed order."""
    base = list(dict.fromkeys([*read_sentences(ASSETS / "corpus.txt").texts,
                               *read_sentences(ASSETS / "sentiment.csv").texts]))
    texts = list(base)
    step = 1
    while len(texts) < count:
        texts += [f"{base[i]} {base[(i + step) % len(base)]}" for i in range(len(base))]
        step += 7
    return texts[:count]


def query_times(index, model, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, index.n_tokens, size=count)
    times: dict[str, list[float]] = {"hidden": [], "attention": []}
    for row in rows:
        sentence = int(index.sentence_of(np.array([row]))[0])
        token = int(index.positions[row])
        for mode, layer in (("hidden", 4), ("attention", 3)):
            start = time.perf_counter()
            nearest_contexts(index, sentence, token, layer, k=10, mode=mode)
            times[mode].append(time.perf_counter() - start)
    return {mode: np.asarray(values) for mode, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray-repeats", type=int, default=1)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model()
    texts = bench_sentences(args.sentences)
    tokens = [len(model.tokenizer.encode(text)) for text in texts]
    print(f"load average before: {load_average()}")
    print(f"{len(texts)} sentences, {sum(tokens):,} tokens ({np.mean(tokens):.1f} on average), torch "
          f"{torch.get_num_threads()} threads")
    build_context_index(model, texts[:64])  # warm-up
    wall, cpu, index = timed(lambda: build_context_index(model, texts), args.repeats)
    print(f"build, one process: {wall:.1f} s wall, {cpu:.1f} s CPU (median of {args.repeats}; target < 60 s); "
          f"{index.n_tokens:,} tokens indexed × {len(index.layers)} hidden layers + {len(index.attention_layers)} "
          f"attention layers, {index.nbytes / 1e6:.0f} MB")
    times = query_times(index, model, args.queries)
    for mode, values in times.items():
        print(f"query by {mode}, k = 10: median {np.median(values) * 1000:.1f} ms, p95 "
              f"{np.percentile(values, 95) * 1000:.1f} ms over {len(values)} tokens (target < 200 ms)")
    print(f"load average after the local figures: {load_average()}")
    if not args.no_ray:
        from encoder.corpus.ray_engine import ray_session
        from encoder.corpus.ray_index import ray_build_context_index

        start = time.perf_counter()
        with ray_session(None, 2):
            started = time.perf_counter() - start
            job, _, by_ray = timed(lambda: ray_build_context_index(texts, workers=2), args.ray_repeats)
        rows = np.arange(index.n_tokens)
        difference = float(np.abs(by_ray.vectors("hidden", 4, rows) - index.vectors("hidden", 4, rows)).max())
        print(f"Ray: ray.init {started:.1f} s; build on 2 actors × 1 thread {job:.1f} s (median of "
              f"{args.ray_repeats}); max |difference| of layer 4's stored vectors {difference:.1e}")
        print(f"load average after Ray: {load_average()}")


if __name__ == "__main__":
    main()
