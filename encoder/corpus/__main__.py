"""`python -m encoder.corpus INPUT --out stats.parquet`: corpus statistics from the command line.

    python -m encoder.corpus assets/corpus.txt --out stats.parquet
    python -m encoder.corpus reviews.csv --out stats.csv --engine ray --address auto
    python -m encoder.corpus assets/sentiment.csv --out by-label.csv --label-column label

With --label-column (a .csv only): the statistics per label value go to --out (one row per label,
layer and head), and the difference between two labels (--labels A B, default the two most
frequent) with its permutation test to OUT's name plus "-differences" (label_split.py).

Writes one row per (layer, head) to .parquet (with n_sentences and skipped rows in its pandas
metadata: the first rows of each reason the file reader had, every row the model could not read) or
.csv; progress and skipped rows go to stderr, so stdout stays clean. Rows are cut at
`reading.MAX_ROW_CHARS` characters, but no row or line limit applies here, unlike the app's uploads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from .reading import read_sentences
from .statistics import corpus_statistics, seconds_left

OUTPUTS = (".parquet", ".csv")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m encoder.corpus",
        description="Average every attention head's statistics (Clark et al. 2019) over a corpus of sentences.",
    )
    parser.add_argument("input", type=Path, help=".txt (one sentence per line) or .csv (a 'text' or 'sentence' "
                                                 "column, else the first column)")
    parser.add_argument("--out", type=Path, required=True, help="output file: .parquet or .csv")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process (default); ray: Ray Data with an actor pool")
    parser.add_argument("--address", default=None,
                        help="with --engine ray: the cluster to join (e.g. auto or ray://head:10001); "
                             "default: start a local Ray")
    parser.add_argument("--workers", type=int, default=2, help="with --engine ray: actors, one model each (2)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per padded batch (32)")
    parser.add_argument("--model", default=None, help="model name, folder or Hub id (default: the bundled MiniLM)")
    parser.add_argument("--kind", choices=("txt", "csv"), default=None, help="input kind, if not its extension")
    parser.add_argument("--label-column", default=None, metavar="NAME",
                        help="a .csv column of labels: statistics per label value, their differences and a "
                             "permutation test")
    parser.add_argument("--labels", nargs=2, default=None, metavar=("A", "B"),
                        help="with --label-column: the two labels to compare (default: the two most frequent)")
    parser.add_argument("--permutations", type=int, default=1000, help="with --label-column: label shuffles (1000)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="with --label-column: false discovery rate for marking a difference (0.05, "
                             "Benjamini-Hochberg over each statistic's heads)")
    arguments = parser.parse_args(argv)
    if arguments.out.suffix.lower() not in OUTPUTS:
        parser.error(f"--out must end in .parquet or .csv, not '{arguments.out.suffix or arguments.out.name}'.")
    if arguments.batch_size < 1 or arguments.workers < 1:
        parser.error("--batch-size and --workers must be at least 1.")
    if arguments.address and arguments.engine != "ray":
        parser.error("--address joins a Ray cluster: use it with --engine ray.")
    if arguments.labels and not arguments.label_column:
        parser.error("--labels needs --label-column.")
    if arguments.permutations < 1 or not 0 < arguments.alpha < 1:
        parser.error("--permutations must be at least 1 and --alpha between 0 and 1.")
    return arguments


class StderrProgress:
    """`done/total  pct  time left`, rewritten in place on stderr (one line per update if not a terminal)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.end = "\r" if sys.stderr.isatty() else "\n"

    def __call__(self, done: int, total: int) -> None:
        left = seconds_left(done, total, time.perf_counter() - self.start)
        eta = "" if left is None else f"  {left:.0f} s left"
        share = 100 * done / total if total else 100
        print(f"{done:>8}/{total} sentences  {share:3.0f}%{eta}   ", end=self.end, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.label_column:
        return by_label(arguments)
    try:
        # No row or line limit here: the command line reads the operator's own corpora, of any length.
        sentences = read_sentences(arguments.input, arguments.kind, max_rows=None, max_lines=None)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = StderrProgress()
    if arguments.engine == "ray":
        from .ray_engine import ray_corpus_statistics

        stats = ray_corpus_statistics(sentences.texts, arguments.model, arguments.batch_size, progress,
                                      row_numbers=sentences.rows, address=arguments.address,
                                      workers=arguments.workers)
    else:
        from ..loading import load_model

        stats = corpus_statistics(load_model(arguments.model), sentences.texts, arguments.batch_size, progress,
                                  row_numbers=sentences.rows)
    if progress.end == "\r":
        print(file=sys.stderr)
    n_skipped = sentences.n_skipped + len(stats.attrs["skipped"])
    # The reader names the first rows of each reason and counts the rest (a file of a million blank
    # lines must not become a million tuples); the model's own skips are few and all named.
    skipped = sorted([*sentences.skipped_examples(), *stats.attrs["skipped"]])
    stats.attrs["skipped"] = skipped
    stats.attrs["input"] = str(arguments.input)
    for row, reason in skipped:
        print(f"skipped row {row}: {reason}", file=sys.stderr)
    for note in [t.sentence() for t in sentences.skipped if t.count > len(t.examples)] + sentences.notes():
        print(note, file=sys.stderr)
    if stats.attrs["n_sentences"] == 0:
        print("error: no readable sentences; nothing written.", file=sys.stderr)
        return 1
    write(stats, arguments.out)
    print(f"{stats.attrs['n_sentences']} sentences, {n_skipped} skipped, "
          f"{time.perf_counter() - progress.start:.1f} s: wrote {arguments.out}", file=sys.stderr)
    return 0


def by_label(arguments: argparse.Namespace) -> int:
    """--label-column: per-label statistics to --out, the two labels' differences next to it."""
    from .label_split import compare_labels, label_means, read_labelled

    try:
        # No row or line limit here either (the operator's own corpus).
        labelled = read_labelled(arguments.input, arguments.label_column, max_rows=None, max_lines=None)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = StderrProgress()
    if arguments.engine == "ray":
        from .ray_index import ray_split_by_label

        split = ray_split_by_label(labelled.texts, labelled.labels, arguments.model, arguments.batch_size, progress,
                                   row_numbers=labelled.rows, address=arguments.address, workers=arguments.workers)
    else:
        from ..loading import load_model
        from .label_split import split_by_label

        split = split_by_label(load_model(arguments.model), labelled.texts, labelled.labels, arguments.batch_size,
                               progress, row_numbers=labelled.rows)
    if progress.end == "\r":
        print(file=sys.stderr)
    for reason, count in labelled.skipped.items():
        print(f"skipped {count} row{'s' * (count != 1)}: {reason}", file=sys.stderr)
    for row, reason in split.skipped:
        print(f"skipped row {row}: {reason}", file=sys.stderr)
    for note in labelled.notes:
        print(note, file=sys.stderr)
    counts = split.counts
    if len(counts) < 2:
        print(f"error: the column '{arguments.label_column}' holds {len(counts)} label value(s); comparing needs two.",
              file=sys.stderr)
        return 1
    a, b = arguments.labels or list(counts)[:2]
    try:
        differences = compare_labels(split, a, b, arguments.permutations, arguments.alpha)
    except ValueError as error:
        print(f"error: {error} Labels found: {', '.join(counts)}.", file=sys.stderr)
        return 1
    write(label_means(split), arguments.out)
    beside = arguments.out.with_name(f"{arguments.out.stem}-differences{arguments.out.suffix}")
    write(differences, beside)
    marked = int(differences["significant"].sum())
    print(f"{len(split.labels)} sentences ({', '.join(f'{k}: {v}' for k, v in counts.items())}); '{a}' − '{b}': "
          f"{marked} of {len(differences)} head statistics differ beyond chance (permutation test, "
          f"{arguments.permutations} shuffles, Benjamini-Hochberg q ≤ {arguments.alpha}); wrote {arguments.out} and "
          f"{beside}", file=sys.stderr)
    return 0


def write(stats: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        stats.to_parquet(path, index=False)  # pyarrow keeps DataFrame.attrs in the pandas metadata
    else:
        stats.to_csv(path, index=False)


if __name__ == "__main__":
    sys.exit(main())
