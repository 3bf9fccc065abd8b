"""Analyses that say what each head does: pure functions on a Run's numpy arrays.

    from encoder.analysis import rollout, head_statistics, value_weighted, qk_walkthrough

Nothing here imports streamlit or plotly; every function returns numpy arrays, pandas tables or
frozen dataclasses that `figures/` draws.
"""

from .head_statistics import (
    BROAD_FRACTION,
    OFFSET_THRESHOLD,
    PATTERNS,
    SINK_THRESHOLD,
    STATISTICS,
    head_patterns,
    head_statistic_arrays,
    head_statistics,
    token_classes,
)
from .qk import QKWalkthrough, qk_walkthrough
from .rollout import HEAD_FUSIONS, fused_layers, normalize_rows, rollout
from .value_weighted import value_weighted

__all__ = [
    "BROAD_FRACTION", "HEAD_FUSIONS", "OFFSET_THRESHOLD", "PATTERNS", "SINK_THRESHOLD", "STATISTICS",
    "QKWalkthrough", "fused_layers", "head_patterns", "head_statistic_arrays", "head_statistics",
    "normalize_rows", "qk_walkthrough", "rollout", "token_classes", "value_weighted",
]
