"""The Corpus head map writes a head's name only where it cannot overlap another's; the hover names
every head (72 to 270 names on one map made a blot)."""

from __future__ import annotations

import numpy as np

from figures.corpus import HEAD_LABEL_PX, MAP_PLOT_PX, head_map_scatter
from figures.labels import LABEL_EM_WIDTH, LABEL_LINE


def test_head_names_are_written_apart_and_hovered_all():
    rng = np.random.default_rng(0)
    layers, heads = np.divmod(np.arange(72), 12)
    xy = rng.normal(size=(72, 2)) * [1.0, 0.3]  # a crowd, on axes of different spans (no equal aspect)
    patterns = ["mixed"] * 40 + ["previous token"] * 32
    fig = head_map_scatter(xy, layers, heads, patterns, ["why"] * 72, n_sentences=8)
    hovered = {tuple(d[:2]): h for trace in fig.data for d, h in zip(trace.customdata, trace.hovertext, strict=True)}
    assert hovered == {(int(layer), int(head)): f"L{layer + 1}H{head + 1}" for layer, head in zip(layers, heads,
                                                                                                     strict=True)}
    written = [(x, y, t) for trace in fig.data for x, y, t in zip(trace.x, trace.y, trace.text, strict=True) if t]
    assert 5 < len(written) < 72
    scales = np.asarray(MAP_PLOT_PX) / (np.ptp(xy, axis=0) * 1.1)  # px per unit, each axis its own
    for i, (xi, yi, ti) in enumerate(written):
        for xj, yj, tj in written[:i]:
            apart_x = abs(xi - xj) * scales[0] * 2 >= (len(ti) + len(tj)) * HEAD_LABEL_PX * LABEL_EM_WIDTH
            apart_y = abs(yi - yj) * scales[1] >= HEAD_LABEL_PX * LABEL_LINE
            assert apart_x or apart_y, (ti, tj)
