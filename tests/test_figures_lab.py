"""figures.lab: the training curves' legend has a band of its own under the plots (issue 17 §9: inside
the accuracy panel it covered the curves)."""

from __future__ import annotations

from figures.lab import LEGEND_BAND_PX, training_curves


def test_the_curves_legend_sits_under_the_plots_in_its_own_band():
    fig = training_curves([0, 10, 20], [2.0, 1.0, 0.5], [0.5, 0.99, 1.0], [0, 20], [0.9, 1.0], 20, "reverse")
    legend, margin = fig.layout.legend, fig.layout.margin
    assert (legend.orientation, legend.yref, legend.y, legend.yanchor) == ("h", "container", 0, "bottom")
    assert margin.b == LEGEND_BAND_PX  # the plots end above the band, at any width
    assert [t.name for t in fig.data if t.showlegend is not False] == ["training symbols right",
                                                                         "held-out sequences right"]
