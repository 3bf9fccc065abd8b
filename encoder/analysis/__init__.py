"""Analyses that say what each head does: pure functions on a Run's numpy arrays.

    from encoder.analysis import rollout, head_statistics, value_weighted, qk_walkthrough

Nothing here imports streamlit or plotly; every function returns numpy arrays, pandas tables or
frozen dataclasses that `figures/` draws.
"""

from .agreement import MethodAgreement, method_agreement
from .flow import MAX_FLOW_TOKENS, attention_flow
from .head_choice import HeadChoice, clearest_head, head_sharpness
from .head_distance import head_distances, head_map
from .head_statistics import (
    BROAD_FRACTION,
    OFFSET_THRESHOLD,
    PATTERNS,
    SINK_THRESHOLD,
    STATISTICS,
    TOKEN_STATISTICS,
    head_patterns,
    head_statistic_arrays,
    head_statistics,
    token_classes,
    token_statistic_arrays,
)
from .minimal_pairs import MinimalPair, minimal_pair
from .qk import QKWalkthrough, qk_walkthrough
from .rollout import HEAD_FUSIONS, fused_layers, normalize_rows, rollout, rollout_row
from .sentence import (
    SentenceConfig,
    sentence_config,
    sentence_embedding,
    sentence_run,
    sentence_similarity,
    similarity_contributions,
)
from .value_weighted import value_weighted

__all__ = [
    "BROAD_FRACTION",
    "HEAD_FUSIONS",
    "MAX_FLOW_TOKENS",
    "OFFSET_THRESHOLD",
    "PATTERNS",
    "SINK_THRESHOLD",
    "STATISTICS",
    "TOKEN_STATISTICS",
    "HeadChoice",
    "MethodAgreement",
    "MinimalPair",
    "QKWalkthrough",
    "SentenceConfig",
    "attention_flow",
    "clearest_head",
    "fused_layers",
    "head_distances",
    "head_map",
    "head_patterns",
    "head_sharpness",
    "head_statistic_arrays",
    "head_statistics",
    "method_agreement",
    "minimal_pair",
    "normalize_rows",
    "qk_walkthrough",
    "rollout",
    "rollout_row",
    "sentence_config",
    "sentence_embedding",
    "sentence_run",
    "sentence_similarity",
    "similarity_contributions",
    "token_classes",
    "token_statistic_arrays",
    "value_weighted",
]
