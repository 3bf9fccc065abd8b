"""Speed of corpus statistics: batched against one sentence at a time, and Ray against one process.

    python -m bench.corpus [--repeats 3] [--ray-sentences 2000] [--no-ray]

Sentences come from assets/corpus.txt: its 200 longest (about 20 tokens on average) for the first
two figures, the whole file repeated (each copy numbered) for the Ray figures.
Prints medians of `--repeats` runs (`--ray-repeats` for the Ray figures):
1. 200 sentences, statistics included, in one process with 2 torch threads (`--threads`; target: ≤ 3 s);
2. the same through a one-at-a-time `model.run` loop, and the ratio (target: batched ≥ 2.5× faster);
3. `--ray-sentences` sentences in one process against Ray Data on 2 local workers (1 torch thread
   each): start-up (ray.init), the job inside a running Ray (actor start-up and model loads
   included), throughput and overhead against the single process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.heads import timed
from encoder import load_model
from encoder.analysis import STATISTICS
from encoder.corpus import SentenceStatistics, corpus_statistics, read_sentences

CORPUS = Path(__file__).resolve().parents[1] / "assets" / "corpus.txt"


def corpus_of(size: int) -> list[str]:
    """`size` sentences from assets/corpus.txt; copies past the first get a number so no two are equal."""
    base = list(read_sentences(CORPUS).texts)
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})") for i in range(size)]


def longest(model, texts: list[str], count: int) -> list[str]:
    """The `count` texts with the most tokens, in file order."""
    lengths = [len(model.tokenizer.encode(text)) for text in texts]
    chosen = sorted(range(len(texts)), key=lambda i: -lengths[i])[:count]
    return [texts[i] for i in sorted(chosen)]


def one_at_a_time(model, texts: list[str]) -> list[SentenceStatistics]:
    return [SentenceStatistics.of_run(model.run(text, qkv=False)) for text in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--ray-sentences", type=int, default=2000)
    parser.add_argument("--ray-repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the single process (2)")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model()
    texts = longest(model, list(read_sentences(CORPUS).texts), args.sentences)
    tokens = [len(model.tokenizer.encode(text)) for text in texts]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {args.repeats}; "
          f"{len(texts)} sentences of {np.mean(tokens):.1f} tokens on average ({min(tokens)}-{max(tokens)})")
    corpus_statistics(model, texts[:64], args.batch_size)  # warm-up
    batched, batched_cpu, _ = timed(lambda: corpus_statistics(model, texts, args.batch_size), args.repeats)
    single, single_cpu, _ = timed(lambda: one_at_a_time(model, texts), args.repeats)
    print(f"{'':<36} {'wall':>7}    {'CPU':>7}")
    print(f"{'batched, statistics included':<36} {batched:7.2f} s  {batched_cpu:7.2f} s  "
          f"{len(texts) / batched:5.0f} sentences/s  (target ≤ 3 s)")
    print(f"{'one model.run at a time':<36} {single:7.2f} s  {single_cpu:7.2f} s  "
          f"{len(texts) / single:5.0f} sentences/s  batched is {single / batched:.1f}× faster (target ≥ 2.5×)")
    runs = model.run_batch(texts, args.batch_size)
    only, only_cpu, _ = timed(lambda: [SentenceStatistics.of_run(run) for run in runs], args.repeats)
    print(f"{'  of which the statistics':<36} {only:7.2f} s  {only_cpu:7.2f} s")
    if not args.no_ray:
        ray_figures(model, args)


def ray_figures(model, args: argparse.Namespace) -> None:
    import ray

    from encoder.corpus.ray_engine import ray_corpus_statistics, ray_session

    texts = corpus_of(args.ray_sentences)
    tokens = np.mean([len(model.tokenizer.encode(text)) for text in texts])
    local, local_cpu, expected = timed(lambda: corpus_statistics(model, texts, args.batch_size), args.ray_repeats)
    print(f"{len(texts)} sentences of {tokens:.1f} tokens on average, medians of {args.ray_repeats}")
    label = f"one process, {args.threads} threads"
    print(f"{label:<36} {local:7.2f} s  {local_cpu:7.2f} s  {len(texts) / local:5.0f} sentences/s")
    start = time.perf_counter()
    with ray_session(None, 2):
        started = time.perf_counter() - start
        job, _, by_ray = timed(lambda: ray_corpus_statistics(texts, None, args.batch_size, workers=2),
                            args.ray_repeats)
        assert ray.is_initialized()
    difference = np.abs(by_ray[list(STATISTICS)].to_numpy() - expected[list(STATISTICS)].to_numpy()).max()
    print(f"{'Ray: ray.init, 2 local CPUs':<36} {started:7.2f} s")
    print(f"{'Ray Data, 2 actors x 1 thread':<36} {job:7.2f} s  {'':>9}  {len(texts) / job:5.0f} sentences/s  "
          f"{job / local:.2f}× the single process's time, {job - local:+.1f} s (+ {started:.1f} s start-up); "
          f"max |difference| {difference:.1e}")


if __name__ == "__main__":
    main()
