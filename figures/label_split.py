"""Head statistics split by a label (Corpus page, "By label"): one statistic's difference between two labels
as a layers × heads map, the heads whose difference the permutation test marks starred. Pure drawing: the
numbers come from `encoder.corpus.label_split.compare_labels`."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import base_layout, plotly_text

CELL_PX = 40


def difference_heatmap(difference: np.ndarray, significant: np.ndarray, q_values: np.ndarray, a: str, b: str,
                       title: str, unit: str, alpha: float) -> go.Figure:
    """(L, H) differences (label a − label b) on a diverging scale centred at 0; a star marks q ≤ alpha."""
    n_layers, n_heads = difference.shape
    finite = np.abs(difference[np.isfinite(difference)])
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    stars = np.where(np.asarray(significant, dtype=bool), "★", "")
    customdata = np.stack([np.asarray(q_values, dtype=float), np.asarray(significant, dtype=float)], axis=-1)
    trace = go.Heatmap(
        z=difference, x=np.arange(1, n_heads + 1), y=np.arange(1, n_layers + 1), zmin=-top, zmax=top, zmid=0,
        colorscale="RdBu_r", text=stars, texttemplate="%{text}", textfont=dict(size=14, color="black"),
        customdata=customdata.tolist(), xgap=1, ygap=1,
        colorbar=dict(thickness=12, title=dict(text=plotly_text(unit), side="right")),
        hovertemplate=(f"layer %{{y}}, head %{{x}}<br>{plotly_text(a)} − {plotly_text(b)}: %{{z:.4f}} "
                       f"{plotly_text(unit)}<br>q = %{{customdata[0]:.4f}} (marked when ≤ {alpha})<extra></extra>"))
    layout = base_layout(f"{title}: {a} − {b} (★ beyond chance, FDR ≤ {alpha})", 90 + CELL_PX * n_layers,
                         plot_bgcolor="white",
                         xaxis=dict(title=dict(text="head"), tickvals=list(range(1, n_heads + 1)), showgrid=False),
                         yaxis=dict(title=dict(text="layer"), autorange="reversed", showgrid=False,
                                    tickvals=list(range(1, n_layers + 1))))
    return go.Figure([trace], layout)
