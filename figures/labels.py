"""Point labels a scatter can write without two of them overlapping: Plotly places text where it
is told and never moves it, so a crowd of labelled points becomes a blot. The figures write a
readable few and leave every point's name to the hover."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A point label's size on screen: a sans-serif character averages ~0.55 em wide, a line ~1.3 em tall.
LABEL_EM_WIDTH = 0.6
LABEL_LINE = 1.3
# The plot area of a scatter in a 400 px column, or in half of a 1280 px page, once its axis titles and its
# colour bar have their room: labels must not collide there.
NARROW_PLOT_PX = (240, 340)


def readable_labels(xy: np.ndarray, labels: Sequence[str], font_px: float, order: Sequence[int] | None = None,
                    plot_px: tuple[float, float] = NARROW_PLOT_PX, marker_px: float = 6.0,
                    extent: np.ndarray | None = None, equal_scales: bool = True) -> np.ndarray:
    """(N,) True for the labels a scatter of N points can write above its points without two of
    them overlapping; the others are left to the hover.

    xy (N, 2) is in data units with one scale on both axes (scaleanchor), so the plot fits the
    larger span of `extent` (every point drawn, (M, 2); default `xy`) into `plot_px` (width,
    height), with Plotly's ~5% padding; with equal_scales=False each axis fills its own side. A
    label is a box of LABEL_EM_WIDTH em per character above its marker. Labels are kept greedily
    in `order` (default: as given), so the first points asked for are labelled first. A wider
    chart has more room than assumed: it shows the same labels, further apart."""
    if not len(labels):
        return np.zeros(0, dtype=bool)
    xy = np.asarray(xy, dtype=np.float64)[:, :2]
    drawn = xy if extent is None else np.asarray(extent, dtype=np.float64)[..., :2].reshape(-1, 2)
    span = np.maximum(np.ptp(drawn, axis=0) * 1.1, 1e-12)  # (2,)
    scales = np.asarray(plot_px, dtype=np.float64) / span  # (2,) px per unit of each axis
    px = xy * (scales.min() if equal_scales else scales)  # (N, 2) screen px, y upwards
    widths = np.array([max(len(label), 1) for label in labels]) * font_px * LABEL_EM_WIDTH
    height = font_px * LABEL_LINE
    centres = px + np.array([0.0, marker_px + height / 2])  # text sits above its marker ("top center")
    kept: list[int] = []
    for i in (range(len(labels)) if order is None else order):
        others = np.asarray(kept, dtype=int)
        clear = ((np.abs(centres[others, 0] - centres[i, 0]) * 2 >= widths[others] + widths[i])
                 | (np.abs(centres[others, 1] - centres[i, 1]) >= height))
        if clear.all():
            kept.append(i)
    shown = np.zeros(len(labels), dtype=bool)
    shown[kept] = True
    return shown
