"""Corpus statistics: every head's statistics averaged over many sentences, streamed in batches.

    from encoder import load_model
    from encoder.corpus import corpus_statistics, read_sentences
    sentences = read_sentences("assets/corpus.txt")
    stats = corpus_statistics(load_model(), sentences.texts, row_numbers=sentences.rows)
    stats.attrs["n_sentences"], stats.attrs["skipped"]

`python -m encoder.corpus INPUT --out stats.parquet [--engine ray]` does the same from the command
line; `corpus_head_map` places the heads on Clark et al.'s map from a sample;
`build_context_index` / `nearest_contexts` find
similar contexts (exBERT); `label_split` splits the statistics by a label column;
`ray_corpus_statistics` (encoder.corpus.ray_engine) spreads it over a Ray cluster (Ray is an optional extra,
requirements-scale.txt, imported only when used).
"""

from .context_index import ContextIndex, build_context_index, nearest_contexts
from .head_map import CorpusHeadMap, corpus_head_map
from .reading import Sentences, Tally, read_sentences
from .statistics import (
    RunningMeans,
    SentenceStatistics,
    corpus_statistics,
    runs_or_reasons,
    seconds_left,
    text_statistics,
)

__all__ = ["ContextIndex", "CorpusHeadMap", "RunningMeans", "SentenceStatistics", "Sentences", "Tally",
           "build_context_index", "corpus_head_map", "corpus_statistics", "nearest_contexts", "read_sentences",
           "runs_or_reasons", "seconds_left", "text_statistics"]
