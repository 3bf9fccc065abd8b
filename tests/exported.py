"""Reading an exported figure back: the Plotly figure an offline HTML file draws (encoder.export.figure_html),
and the maps, panel titles and tick labels in it, for tests that an export holds every map of a page."""

from __future__ import annotations

import json
import re

_NEW_PLOT = "Plotly.newPlot("


def html_figure(html: str) -> dict:
    """{'data': [...], 'layout': {...}} of the figure the file draws (the arguments of its Plotly.newPlot)."""
    decoder = json.JSONDecoder()
    index = html.index(_NEW_PLOT) + len(_NEW_PLOT)
    values = []
    while len(values) < 3:  # the div's id, the traces, the layout
        while html[index] in " \n\r\t,":
            index += 1
        value, index = decoder.raw_decode(html, index)
        values.append(value)
    return {"data": values[1], "layout": values[2]}


def traces(figure: dict, kind: str) -> list[dict]:
    return [trace for trace in figure["data"] if trace.get("type") == kind]


def annotation_texts(figure: dict) -> list[str]:
    """Every annotation's text: panel titles, subplot titles, gallery labels."""
    return [a.get("text", "") for a in figure["layout"].get("annotations", [])]


def axes(figure: dict) -> dict[str, dict]:
    return {name: axis for name, axis in figure["layout"].items() if re.fullmatch(r"[xy]axis\d*", name)}


def axis_titles(figure: dict) -> list[str]:
    return [(axis.get("title") or {}).get("text", "") for axis in axes(figure).values()]
