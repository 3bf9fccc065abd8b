"""Where attribution methods agree, for one token: "look for convergence across methods".

rows: (M, T) one row per method (raw attention, rollout, flow, value-weighted...), each already
normalised to sum to 1 so they compare on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr


@dataclass(frozen=True)
class MethodAgreement:
    top: np.ndarray  # bool (M, T): each method's k largest keys
    agreed: np.ndarray  # bool (T,): keys in every method's top k
    correlations: np.ndarray  # (M, M) Spearman's rank correlation between the methods' rows
    overlap: np.ndarray  # (M, M) shared top-k keys / k


def method_agreement(rows: np.ndarray, k: int) -> MethodAgreement:
    """Top-k sets, the keys all methods put on top, rank correlation and top-k overlap."""
    rows = np.asarray(rows, dtype=np.float64)
    k = max(1, min(int(k), rows.shape[1]))
    top = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(top, np.argsort(-rows, axis=1, kind="stable")[:, :k], True, axis=1)
    correlations = np.atleast_2d(spearmanr(rows, axis=1).statistic)  # (M, M); a scalar when M == 2
    if correlations.shape != (len(rows), len(rows)):
        correlations = np.array([[1.0, correlations.item()], [correlations.item(), 1.0]])
    overlap = (top[:, None, :] & top[None, :, :]).sum(axis=-1) / k  # (M, M)
    return MethodAgreement(top, top.all(axis=0), correlations, overlap)
