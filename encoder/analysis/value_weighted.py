"""Value-weighted attention (Kobayashi et al. 2020, "Attention is Not Only a Weight", eq. 5).

A head's output for query i is Σ_j α_ij · v_j W_O^h, so α_ij alone ignores how long the vector it
weighs is. ‖α_ij · v_j W_O^h‖ = α_ij · ‖v_j W_O^h‖ (α ≥ 0) measures what token j actually adds:
attention to [SEP] or [CLS] is often large in α but small here, because those values are short.
"""

from __future__ import annotations

import numpy as np

from ..run import Run


def value_weighted(run: Run) -> np.ndarray:
    """(L, H, T, T) float32: α_ij · ‖v_j W_O^h‖ per layer and head; row = query, column = key.

    NaN where the run has no value norms (the transformers adapter, for layer layouts it does
    not know); cross-attention's (L, H, T_query, T_key) works the same way.
    """
    norms = run.value_output_norms[:, :, None, :]  # (L, H, 1, T): one length per key, for every query
    return (run.attentions * norms).astype(np.float32, copy=False)  # (L, H, T, T)
