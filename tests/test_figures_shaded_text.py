"""figures/shaded_text: every character of the text escaped, spacing kept from offsets, one colour per score."""

from __future__ import annotations

import html
import re

import pytest

from figures.shaded_text import shaded_legend, shaded_lines, shaded_text


def visible_text(fragment: str) -> str:
    """What a browser shows of the fragment's text: the tags removed, the entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_text_escaped_and_spacing_kept():
    text = 'a <script>x</script>  "b"\n&c'
    offsets = [(0, 0), (0, 1), (2, 10), (10, 11), (11, 20), (22, 25), (26, 28), (0, 0)]
    fragment = shaded_text(text, offsets, [5.0, 1.0, -0.5, 0.2, 0.0, 0.7, -1.0, 5.0], label="IG <i>")
    assert "<script>" not in fragment and "<i>" not in fragment
    assert visible_text(fragment) == "IG <i>" + text  # every character, in order, spaces and newline kept
    assert fragment.count("<span title=") == 6  # special tokens (empty spans) are not drawn
    # the scale is the largest |score| drawn (1.0), not [CLS]'s 5.0: "a" is at full colour
    assert "rgba(202,0,32,0.750)" in fragment and "rgba(5,113,176,0.750)" in fragment  # red +1, blue −1


def test_overlapping_and_outside_offsets_are_clipped():
    fragment = shaded_text("abcdef", [(0, 4), (2, 6), (5, 99), (40, 50)], [1.0, 0.5, 0.2, 9.0])
    assert visible_text(fragment) == "abcdef"
    with pytest.raises(ValueError):
        shaded_text("ab", [(0, 1)], [1.0, 2.0])


def test_long_text_cut_and_said():
    fragment = shaded_text("x" * 50, [(0, 50)], [1.0], max_chars=10)
    assert visible_text(fragment) == "x" * 10 + " … (cut at 10 characters)"


def test_lines_share_one_legend():
    fragment = shaded_lines("good bad", [(0, 4), (5, 8)], {"m1": [1.0, -1.0], "m2 <b>": [0.1, 0.3]},
                            shared_scale=True)
    assert fragment.count('class="hl-shaded"') == 2 and fragment.count("hl-shaded-legend") == 1
    assert "m2 &lt;b&gt;" in fragment
    assert "One scale for every line" in shaded_legend(signed=True, scale_note="One scale for every line.")
