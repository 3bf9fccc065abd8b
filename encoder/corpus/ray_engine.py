"""The same corpus statistics on a Ray cluster, through Ray Data (an optional extra: requirements-scale.txt).

Sentences become a Ray dataset in length order; `map_batches` sends each batch to an actor pool
whose actors each load the model once and return every sentence's (L, H) statistics; the driver
streams those rows back and averages them with the same `RunningMeans` as the single process.
Per-sentence rows rather than per-batch sums keep the two paths one piece of arithmetic, and cost
only 8 · L · H floats a sentence. Ray is imported inside the functions, so the rest of the engine
never needs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import STATISTICS
from .statistics import Progress, RunningMeans, SentenceStatistics, length_order, text_statistics


class StatisticsActor:
    """Ray Data's class-based UDF: one model per actor, loaded once, then batch after batch."""

    def __init__(self, model_source: str | None, batch_size: int) -> None:
        import torch

        from ..loading import load_model

        # Each actor has one CPU from Ray; more torch threads than that would fight the other
        # actors for the same cores (Ray sets OMP_NUM_THREADS=1 too, but torch may already be up).
        torch.set_num_threads(1)
        self.model = load_model(model_source)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = text_statistics(self.model, [str(text) for text in batch["text"]], self.batch_size)
        shape = (self.model.config.n_layers, self.model.config.n_heads)
        return sentence_columns(batch["row"], results, shape)


def sentence_columns(rows: np.ndarray, results: Sequence[SentenceStatistics | str],
                     shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per-sentence results as Ray Data columns: row, reason ("" when read), n_tokens, one (N, L, H) per statistic."""
    columns = {
        "row": np.asarray(rows, dtype=np.int64),
        "reason": np.array([r if isinstance(r, str) else "" for r in results], dtype=object),
        "n_tokens": np.array([0 if isinstance(r, str) else r.n_tokens for r in results], dtype=np.int64),
    }
    for name in STATISTICS:
        stacked = np.full((len(results), *shape), np.nan)  # (N, L, H); NaN rows for skipped texts
        for i, result in enumerate(results):
            if not isinstance(result, str):
                stacked[i] = result.arrays[name]
        columns[name] = stacked
    return columns


@contextmanager
def ray_session(address: str | None, num_cpus: int) -> Iterator[None]:
    """Join the cluster at `address`, or start a local Ray with `num_cpus` workers; shut down what we started.

    On a cluster the engine travels with the job (`py_modules`), so its nodes need only the
    dependencies (requirements.txt), not a checkout of Headlight.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    options: dict = {"include_dashboard": False, "logging_level": "warning", "log_to_driver": False}
    if address is None:
        # Local workers start in the driver's folder and import the engine from there as it does.
        options["num_cpus"] = num_cpus
    else:
        options["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[1])]}  # `encoder/`
    ray.init(address=address, **options)
    try:
        yield
    finally:
        ray.shutdown()


def ray_corpus_statistics(texts: Sequence[str], model_source: str | None = None, batch_size: int = 32,
                          progress: Progress | None = None, *, row_numbers: Sequence[int] | None = None,
                          address: str | None = None, workers: int = 2) -> pd.DataFrame:
    """`corpus_statistics` on Ray Data: the same DataFrame, within float64 rounding of the sums.

    model_source is what `load_model` takes (None for the bundled model); each of `workers`
    actors loads it once. Without `address` a local Ray with `workers` CPUs is started and shut
    down again; with it (e.g. "ray://head:10001" or "auto") the job joins that cluster.
    `progress(done, total)` follows the rows as they come back.
    """
    import ray

    texts = list(texts)
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(texts) + 1))
    if len(rows) != len(texts):
        raise ValueError(f"{len(rows)} row numbers for {len(texts)} texts.")
    means, skipped = RunningMeans(), []
    # Non-text rows are skipped here: a Ray dataset column holds strings only.
    order = [i for i in length_order(texts) if isinstance(texts[i], str)]
    skipped += [(rows[i], f"not text ({type(t).__name__})") for i, t in enumerate(texts) if not isinstance(t, str)]
    done = len(skipped)
    if progress:
        progress(done, len(texts))
    if not order:
        return means.frame(skipped)
    with ray_session(address, workers):
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # progress is ours to report, on our callback
        context.execution_options.preserve_order = False  # means do not depend on arrival order
        dataset = ray.data.from_items([{"row": rows[i], "text": texts[i]} for i in order],
                                      override_num_blocks=-(-len(order) // batch_size))  # one block a batch
        statistics = dataset.map_batches(
            StatisticsActor, fn_constructor_kwargs={"model_source": model_source, "batch_size": batch_size},
            batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
        )
        for batch in statistics.iter_batches(batch_size=None, batch_format="numpy"):
            for i, row in enumerate(batch["row"]):
                if batch["reason"][i]:
                    skipped.append((int(row), str(batch["reason"][i])))
                else:
                    arrays = {name: batch[name][i] for name in STATISTICS}  # (L, H) each
                    means.add(SentenceStatistics(arrays, int(batch["n_tokens"][i])))
            done += len(batch["row"])
            if progress:
                progress(done, len(texts))
    return means.frame(skipped)
