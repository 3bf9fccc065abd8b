"""The Models page's tag strip: a cell writes only B or I, which fits any token's cell; the legend
names every entity type whole (issue 17 §9: "B-GIVEN_NAME" ran over its neighbours' cells)."""

from __future__ import annotations

from figures.models import OUTSIDE_COLOR, TAG_PALETTE, tags_figure

LABELS = ["[CLS]", "maria", "garcia", "met", "<b>", "in", "li", "##sb", "##on", "[SEP]"]
TAGS = ["O", "B-GIVEN_NAME", "B-SURNAME", "O", "B-X<Y>", "O", "B-CITY", "I-CITY", "I-CITY", "O"]


def test_cells_write_b_or_i_and_hover_gives_the_whole_tag():
    strip = tags_figure(LABELS, TAGS, "tags").data[0]
    assert list(strip.text[0]) == ["", "B", "B", "", "B", "", "B", "I", "I", ""]
    assert list(strip.customdata[0]) == [t.replace("<", "&lt;").replace(">", "&gt;") for t in TAGS]


def test_the_legend_names_each_type_once_in_its_cells_colour():
    strip, *legend = tags_figure(LABELS, TAGS, "tags").data
    assert [entry.name for entry in legend] == ["CITY", "GIVEN_NAME", "SURNAME", "X&lt;Y&gt;"]
    assert [entry.marker.color for entry in legend] == list(TAG_PALETTE[:4])
    for code, color in enumerate([OUTSIDE_COLOR, *(entry.marker.color for entry in legend)]):
        assert drawn_color(strip, code) == color
    assert {drawn_color(strip, code) for code in strip.z[0]} == {OUTSIDE_COLOR, *TAG_PALETTE[:4]}


def drawn_color(heatmap, code: float) -> str:
    """The colour Plotly paints `code` in: the colour scale's band holding its place on zmin…zmax."""
    place = (code - heatmap.zmin) / (heatmap.zmax - heatmap.zmin)
    (color,) = {color for (low, color), (high, same) in zip(heatmap.colorscale, heatmap.colorscale[1:], strict=False)
                if low <= place <= high and color == same}
    return color


def test_a_text_with_no_entity_has_no_legend():
    figure = tags_figure(["[CLS]", "hi", "[SEP]"], ["O", "O", "O"], "tags")
    assert len(figure.data) == 1 and not figure.layout.showlegend
    assert list(figure.data[0].text[0]) == ["", "", ""]
