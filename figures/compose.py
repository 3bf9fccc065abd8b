"""Several of a page's figures composed into one, for its export (issue 17 §5: a multi-map figure
exports all its maps, with every label visible).

Plotly makes room for long tick labels (`automargin`) only at the edges of the whole figure, not
between subplots, so `make_subplots` would let one map's token labels run into its neighbour. Here
each figure ("panel") gets a cell of its own measured in pixels: inside the cell, room for its title,
for its tick labels (estimated from their length), for its colour bars and legend, and the rest for
its plot area, at the height the page drew it. Every axis, trace, annotation, shape, colour bar and
legend of the panel is then moved into that cell: one figure, each map as on screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import plotly.graph_objects as go

from .common import FONT, plotly_text

WIDTH_PX = 1400  # the composed figure's width: a 48-token window keeps about 20 px a column
CHAR_PX = 7.0  # an average label character at 12 px
LINE_PX = 16  # one line of 12 px text
TITLE_PX = 30  # a panel's title line
AXIS_TITLE_PX = 24
COLORBAR_PX = 80  # a vertical colour bar with its tick labels and title
LEGEND_PX = 170  # a legend beside the plot
GAP_PX = 24  # between cells, across and down
TOP_PX = 60  # the composed figure's own title
MIN_PLOT_PX = 120
AXIS = re.compile(r"^([xy])axis(\d*)$")
TAG = re.compile(r"<[^>]+>")


def compose(rows: Sequence[Sequence[go.Figure]], title: str, width: int = WIDTH_PX) -> go.Figure:
    """One figure holding `rows` of figures (each row split evenly across `width` pixels; a None keeps
    its slot empty, so that a short last row keeps the others' cell width), every panel with its own
    title, axes, colour bars and legend, sized so that every tick label shows."""
    cells = []  # (panel spec, pads, x0, y0, cell width) in px, y from the top of the paper
    y = 0.0
    for row in rows:
        if all(panel is None for panel in row):
            continue
        cell_width = (width - GAP_PX * (len(row) - 1)) / len(row)
        heights = []
        for index, panel in enumerate(row):
            if panel is None:
                continue
            spec = panel.to_plotly_json()
            pads = _pads(spec, cell_width)
            cells.append((spec, pads, index * (cell_width + GAP_PX), y, cell_width))
            heights.append(pads["top"] + pads["plot"] + pads["bottom"])
        y += max(heights) + GAP_PX
    paper_height = max(y - GAP_PX, 1.0)
    data, layout = [], dict(
        title=dict(text=plotly_text(title), x=0, font=dict(size=17)), width=width, height=int(paper_height + TOP_PX),
        font=FONT, margin=dict(l=0, r=0, t=TOP_PX, b=0), plot_bgcolor="white", showlegend=True,
        annotations=[], shapes=[])
    counters = {"x": 0, "y": 0, "coloraxis": 0, "legend": 0}
    for spec, pads, x0, y0, cell_width in cells:
        area = (x0 + pads["left"], y0 + pads["top"], x0 + cell_width - pads["right"], y0 + pads["top"] + pads["plot"])
        cell = (x0, y0, x0 + cell_width, y0 + pads["top"] + pads["plot"] + pads["bottom"])
        _place(spec, area, cell, (width, paper_height), counters, data, layout)
    return go.Figure(data, layout)


# ---------------------------------------------------------------- measuring a panel


def _label_chars(labels) -> int:
    texts = [TAG.sub("", str(label)) for label in (labels if labels is not None else [])]
    return max((len(text) for text in texts), default=0)


def _axis_labels(spec: dict, name: str, axis: dict) -> int:
    """The longest tick label of an axis, in characters."""
    if axis.get("visible") is False or axis.get("showticklabels") is False:
        return 0
    for key in ("ticktext", "tickvals"):
        if axis.get(key) is not None and len(axis[key]):
            return _label_chars(axis[key])
    letter, number = name[0], name[5:]
    values = [trace.get(letter) for trace in spec["data"] if trace.get(f"{letter}axis", letter) == letter + number]
    strings = [v for vs in values if vs is not None and not isinstance(vs, dict) for v in vs if isinstance(v, str)]
    return _label_chars(strings) if strings else 6  # numbers: "−0.25", "1,000"


def _angle(axis: dict, chars: int, plot_width: float, n_labels: int) -> float:
    """The tick labels' angle in degrees from horizontal (Plotly turns crowded ones 90°)."""
    angle = axis.get("tickangle")
    if isinstance(angle, (int, float)):
        return abs(float(angle))
    return 90.0 if n_labels * (chars * CHAR_PX + 6) > plot_width else 0.0


def _shows_colorbar(trace: dict) -> bool:
    if trace.get("type") in ("heatmap", "contour") and trace.get("showscale", True):
        return trace.get("colorbar", {}).get("orientation", "v") == "v"
    marker = trace.get("marker") or {}
    return bool(marker.get("showscale")) and marker.get("colorbar", {}).get("orientation", "v") == "v"


def _pads(spec: dict, cell_width: float) -> dict:
    """Pixels inside a panel's cell: left, right, top and bottom of its plot area, and its height."""
    layout = spec["layout"]
    margin = layout.get("margin", {})
    height = layout.get("height", 450)
    plot = max(height - margin.get("t", 100) - margin.get("b", 80), MIN_PLOT_PX)
    axes = {name: axis for name, axis in layout.items() if AXIS.match(name)} or {"xaxis": {}, "yaxis": {}}
    left, right, bottom = 0.0, float(margin.get("r", 10)), 0.0
    for name, axis in axes.items():
        chars = _axis_labels(spec, name, axis)
        titled = bool((axis.get("title") or {}).get("text"))
        if name.startswith("y"):
            room = chars * CHAR_PX + 10 + (AXIS_TITLE_PX if titled else 0)
            if axis.get("side") == "right":
                right = max(right, room + 10)
            else:
                left = max(left, room)
        else:
            n_labels = len(axis.get("tickvals") or []) or 10
            angle = math.radians(_angle(axis, chars, cell_width / 2, n_labels))
            room = chars * CHAR_PX * math.sin(angle) + LINE_PX * math.cos(angle) + 10
            bottom = max(bottom, room + (AXIS_TITLE_PX if titled else 0))
    if any(_shows_colorbar(trace) for trace in spec["data"]) or any(
            key.startswith("coloraxis") for key in layout):
        right = max(right, COLORBAR_PX)
    title = (layout.get("title") or {}).get("text") or ""
    top = TITLE_PX + LINE_PX * title.count("<br>") if title else 8
    legend = layout.get("legend", {})
    if _shows_legend(spec):
        if legend.get("orientation") == "h":
            if legend.get("y", 1) >= 1:
                top += LINE_PX + 10
            else:
                bottom += 2 * LINE_PX + 10
        elif legend.get("x", 1.02) >= 1:
            right += LEGEND_PX
    if any((a.get("yref") == "paper" and a.get("y", 0) >= 0.99) for a in layout.get("annotations", [])):
        top += LINE_PX + 6  # subplot titles above the top row
    if any(_on_top(trace) for trace in spec["data"]):
        top += 40  # a horizontal colour bar above the map
    return dict(left=max(left, 10.0), right=right, top=top, bottom=max(bottom, 10.0), plot=plot)


def _shows_legend(spec: dict) -> bool:
    """Whether Plotly draws the panel's legend: when its layout says so, or by default when more than one
    of its traces may appear in it."""
    said = spec["layout"].get("showlegend")
    return said if said is not None else sum(trace.get("showlegend", True) is not False
                                             for trace in spec["data"]) > 1


def _on_top(trace: dict) -> bool:
    bar = trace.get("colorbar") or {}
    return bar.get("orientation") == "h" and bar.get("y", 0) >= 1


# ---------------------------------------------------------------- moving a panel into its cell


def _place(spec: dict, area: tuple[float, float, float, float], cell: tuple[float, float, float, float],
           size: tuple[float, float], counters: dict, data: list, layout: dict) -> None:
    """Add one panel's traces and layout to the composed `data` and `layout`: its plot area at `area`
    and the whole panel (what its "container" coordinates span) at `cell`, in px from the top left."""
    (ax0, ay0, ax1, ay1), (width, height) = area, size
    cx0, cy0, cx1, cy1 = cell

    def x_paper(fraction: float) -> float:
        return (ax0 + fraction * (ax1 - ax0)) / width

    def y_paper(fraction: float) -> float:
        return 1 - (ay1 - fraction * (ay1 - ay0)) / height

    source = spec["layout"]
    names = {}  # the panel's axis and colour-axis ids -> the composed figure's
    for key in sorted(source):
        match = AXIS.match(key)
        if match:
            letter = match.group(1)
            counters[letter] += 1
            names[letter + match.group(2)] = letter + ("" if counters[letter] == 1 else str(counters[letter]))
    for letter in "xy":  # a panel that never named its axes still draws on x and y
        if letter not in names:
            counters[letter] += 1
            names[letter] = letter + ("" if counters[letter] == 1 else str(counters[letter]))
    for key in sorted(source):
        if key.startswith("coloraxis"):
            counters["coloraxis"] += 1
            names[key] = "coloraxis" + ("" if counters["coloraxis"] == 1 else str(counters["coloraxis"]))

    for key, axis in source.items():
        match = AXIS.match(key)
        if not match:
            continue
        new = dict(axis)
        letter = match.group(1)
        low, high = axis.get("domain", [0.0, 1.0])
        new["domain"] = [x_paper(low), x_paper(high)] if letter == "x" else [y_paper(low), y_paper(high)]
        # An axis anchors on the panel's first axis of the other letter unless it says otherwise; here
        # that would be another panel's.
        partner = ("y" if letter == "x" else "x") + match.group(2)
        new.setdefault("anchor", partner if partner in names else ("y" if letter == "x" else "x"))
        for ref in ("anchor", "overlaying", "scaleanchor", "matches"):
            if new.get(ref) in names:
                new[ref] = names[new[ref]]
        new_name = names[letter + match.group(2)]
        layout[f"{new_name[0]}axis{new_name[1:]}"] = new
    for letter in "xy":
        new_name = names[letter]
        layout.setdefault(f"{new_name[0]}axis{new_name[1:]}", dict(domain=(
            [x_paper(0), x_paper(1)] if letter == "x" else [y_paper(0), y_paper(1)]), anchor=names["y" if letter == "x"
                                                                                                 else "x"]))

    def moved_bar(bar: dict | None) -> dict:
        bar = dict(bar or {})
        horizontal = bar.get("orientation") == "h"
        bar["x"] = x_paper(bar.get("x", 0.5 if horizontal else 1.02))
        bar["y"] = y_paper(bar.get("y", 1.02 if horizontal else 0.5))
        if bar.get("lenmode", "fraction") == "fraction":
            share = (ax1 - ax0) / width if horizontal else (ay1 - ay0) / height
            bar["len"] = bar.get("len", 1.0) * share
        return bar

    legend_name, shows_legend = None, _shows_legend(spec)
    for trace in spec["data"]:
        trace = dict(trace)
        trace["xaxis"] = names.get(trace.get("xaxis", "x"), trace.get("xaxis"))
        trace["yaxis"] = names.get(trace.get("yaxis", "y"), trace.get("yaxis"))
        if trace.get("type") in ("heatmap", "contour") and trace.get("showscale", True):
            trace["colorbar"] = moved_bar(trace.get("colorbar"))
        marker = trace.get("marker")
        if isinstance(marker, dict):
            marker = dict(marker)
            if marker.get("coloraxis") in names:
                marker["coloraxis"] = names[marker["coloraxis"]]
            if marker.get("showscale"):
                marker["colorbar"] = moved_bar(marker.get("colorbar"))
            trace["marker"] = marker
        if shows_legend and trace.get("showlegend", True) is not False:
            if legend_name is None:
                counters["legend"] += 1
                legend_name = "legend" + ("" if counters["legend"] == 1 else str(counters["legend"]))
            trace["legend"] = legend_name
        elif trace.get("type") != "image":  # images have no legend entry
            trace["showlegend"] = False
        data.append(trace)
    for key, names_key in names.items():
        if key.startswith("coloraxis"):
            axis = dict(source[key])
            axis["colorbar"] = moved_bar(axis.get("colorbar"))
            layout[names_key] = axis
    if legend_name is not None:
        legend = dict(source.get("legend", {}))
        horizontal = legend.get("orientation") == "h"
        x, y = legend.get("x", 0 if horizontal else 1.02), legend.get("y", -0.1 if horizontal else 1.0)
        legend.setdefault("yanchor", "bottom" if horizontal and y >= 1 else "top")
        if legend.pop("xref", "paper") == "container":
            legend["x"] = (cx0 + x * (cx1 - cx0)) / width
        else:
            legend["x"] = x_paper(x)
        if legend.pop("yref", "paper") == "container":
            legend["y"] = 1 - (cy1 - y * (cy1 - cy0)) / height
        else:
            legend["y"] = y_paper(y)
        layout[legend_name] = legend

    def moved_ref(item: dict, letter: str, keys: Sequence[str]) -> None:
        ref = item.get(f"{letter}ref", letter)
        if ref == "paper":
            place = x_paper if letter == "x" else y_paper
            for key in keys:
                if isinstance(item.get(key), (int, float)):
                    item[key] = place(item[key])
            return
        axis, _, domain = ref.partition(" ")
        item[f"{letter}ref"] = names.get(axis, axis) + (" domain" if domain else "")

    for annotation in source.get("annotations", []):
        annotation = dict(annotation)
        moved_ref(annotation, "x", ("x",))
        moved_ref(annotation, "y", ("y",))
        layout["annotations"].append(annotation)
    for shape in source.get("shapes", []):
        shape = dict(shape)
        moved_ref(shape, "x", ("x0", "x1"))
        moved_ref(shape, "y", ("y0", "y1"))
        layout["shapes"].append(shape)
    title = (source.get("title") or {}).get("text")
    if title:
        layout["annotations"].append(dict(
            text=title, xref="paper", yref="paper", x=cx0 / width, y=1 - cy0 / height, xanchor="left",
            yanchor="top", showarrow=False, align="left", font=dict(size=14)))
