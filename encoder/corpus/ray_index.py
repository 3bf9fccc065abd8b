"""The context index and the label split on Ray: the corpus engine's Ray Data path (ray_engine.py), reused.

Both send length-ordered batches of sentences to an actor pool (`ray_session`, one model per actor,
as `ray_corpus_statistics` does) and assemble on the driver with the single-process code
(`context_index.assemble`, `label_split.stack_statistics`), so the two paths are one piece of
arithmetic. The context index comes back one row per token (fixed-shape tensors: the token's
vectors at every indexed layer), never a run. Ray is imported inside the functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..analysis import STATISTICS
from .context_index import SIGNATURE, ContextIndex, SentenceVectors, assemble
from .label_split import LabelSplit, stack_statistics
from .ray_engine import StatisticsActor, ray_session
from .statistics import Progress, SentenceStatistics, length_order, runs_or_reasons


class ContextActor:
    """Ray Data's class-based UDF: one model per actor; each batch of sentences becomes one row per token."""

    def __init__(self, model_source: str | None, batch_size: int, layers: Sequence[int],
                 attention_layers: Sequence[int], dtype: str) -> None:
        import torch

        from ..loading import load_model

        torch.set_num_threads(1)  # one CPU per actor from Ray (see StatisticsActor)
        self.model = load_model(model_source)
        self.batch_size, self.layers, self.attention_layers = batch_size, list(layers), list(attention_layers)
        self.dtype = np.float16 if dtype == "float16" else np.float32

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        runs = runs_or_reasons(self.model, [str(text) for text in batch["text"]], self.batch_size)
        config = self.model.config
        width = config.n_heads * len(SIGNATURE)
        columns: dict[str, list] = defaultdict(list)
        for sentence, run in zip(batch["sentence"], runs, strict=True):
            if isinstance(run, str):  # one row says why the sentence was skipped
                parts = None
                count = 1
            else:
                parts = SentenceVectors.of_run(run, self.layers, self.attention_layers, self.dtype)
                count = len(parts.positions)
            for k in range(count):
                columns["sentence"].append(int(sentence))
                columns["reason"].append(run if parts is None else "")
                columns["position"].append(-1 if parts is None else int(parts.positions[k]))
                columns["token"].append("" if parts is None else parts.tokens[k])
                columns["span"].append(np.zeros(2, np.int32) if parts is None else parts.offsets[k])
                columns["hidden"].append(np.zeros((len(self.layers), config.d_model), self.dtype) if parts is None
                                         else parts.hidden[:, k])
                columns["signature"].append(np.zeros((len(self.attention_layers), width), np.float32)
                                            if parts is None or parts.signature is None else parts.signature[:, k])
        return {name: np.asarray(values, dtype=object if name in ("reason", "token") else None)
                for name, values in columns.items()}


def _ordered(texts: Sequence[object]) -> list[int]:
    return [i for i in length_order(texts) if isinstance(texts[i], str)]


def _dataset(texts: Sequence[str], order: list[int], batch_size: int, key: str = "sentence"):
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False  # results are put back in order by sentence index
    return ray.data.from_items([{key: i, "text": texts[i]} for i in order],
                               override_num_blocks=-(-len(order) // batch_size))


def ray_build_context_index(texts: Sequence[str], model_source: str | None = None, layers: Sequence[int] | None = None,
                            progress: Progress | None = None, *, attention: bool = True, dtype: str = "float16",
                            batch_size: int = 32, address: str | None = None, workers: int = 2) -> ContextIndex:
    """`build_context_index` on Ray Data: the same index (the same vectors, assembled by the same code)."""
    import ray

    from ..loading import load_model
    from .context_index import _layers

    texts = list(texts)
    model = load_model(model_source)  # the driver reads the layer counts and the name; actors run the batches
    hidden, attention_layers = _layers(model, layers, attention)
    order = _ordered(texts)
    parts: dict[int, SentenceVectors | str] = {i: f"not text ({type(t).__name__})" for i, t in enumerate(texts)
                                               if not isinstance(t, str)}
    pieces: dict[int, list] = defaultdict(list)
    if progress:
        progress(0, len(texts))
    with ray_session(address, workers):
        rows = _dataset(texts, order, batch_size).map_batches(
            ContextActor, fn_constructor_kwargs={"model_source": model_source, "batch_size": batch_size,
                                                 "layers": hidden, "attention_layers": attention_layers,
                                                 "dtype": dtype},
            batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        seen: set[int] = set()
        for batch in rows.iter_batches(batch_size=None, batch_format="numpy"):
            for k, sentence in enumerate(batch["sentence"]):
                sentence = int(sentence)
                seen.add(sentence)
                if batch["reason"][k]:
                    parts[sentence] = str(batch["reason"][k])
                else:
                    pieces[sentence].append((int(batch["position"][k]), str(batch["token"][k]), batch["span"][k],
                                             batch["hidden"][k], batch["signature"][k]))
            if progress:
                progress(len(seen) + len(texts) - len(order), len(texts))
    storage = np.float16 if dtype == "float16" else np.float32
    for sentence, found in pieces.items():
        found.sort(key=lambda piece: piece[0])
        parts[sentence] = SentenceVectors(
            positions=np.array([p[0] for p in found], np.int32), tokens=tuple(p[1] for p in found),
            offsets=np.array([p[2] for p in found], np.int32).reshape(-1, 2),
            hidden=np.stack([p[3] for p in found], axis=1).astype(storage),  # (Lh, n, D)
            signature=np.stack([p[4] for p in found], axis=1) if attention_layers else None)
    return assemble(model.name, texts, parts, hidden, attention_layers, dtype)


def ray_split_by_label(texts: Sequence[str], labels: Sequence[str], model_source: str | None = None,
                       batch_size: int = 32, progress: Progress | None = None, *,
                       row_numbers: Sequence[int] | None = None, address: str | None = None,
                       workers: int = 2) -> LabelSplit:
    """`split_by_label` on Ray Data, through the corpus engine's own `StatisticsActor`."""
    import ray

    from ..loading import load_model

    texts = list(texts)
    if len(texts) != len(labels):
        raise ValueError(f"{len(labels)} labels for {len(texts)} texts.")
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(texts) + 1))
    config = load_model(model_source).config
    order = _ordered(texts)
    results: dict[int, SentenceStatistics | str] = {i: f"not text ({type(t).__name__})"
                                                    for i, t in enumerate(texts) if not isinstance(t, str)}
    if progress:
        progress(len(results), len(texts))
    with ray_session(address, workers):
        # StatisticsActor keys its rows by "row": the sentence's index here, mapped back to file rows below.
        statistics = _dataset(texts, order, batch_size, key="row").map_batches(
            StatisticsActor, fn_constructor_kwargs={"model_source": model_source, "batch_size": batch_size},
            batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        for batch in statistics.iter_batches(batch_size=None, batch_format="numpy"):
            for k, index in enumerate(batch["row"]):
                results[int(index)] = (str(batch["reason"][k]) if batch["reason"][k] else SentenceStatistics(
                    {name: batch[name][k] for name in STATISTICS}, int(batch["n_tokens"][k])))
            if progress:
                progress(len(results), len(texts))
    return stack_statistics(results, len(texts), (config.n_layers, config.n_heads), labels, rows)

