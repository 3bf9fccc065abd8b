"""The line view's view options, applied in the browser (issue 18 §1): figures/lineview/lineview.js
reads the app's message (figures.lineview.message) and applies hide, renormalise and merge with the
explorer's own transforms (figures/explorer/transform.js), then picks the lines. Run in Chromium on
real runs, its lines must be those `figures.lineview.payload` draws from `map_view`, for every
option, on a short text, a pair and a long text whose window holds only part of it."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.attention_view import ViewOptions, map_view, row_of_position
from figures import lineview
from figures.explorer.packer import unpack
from figures.lineview import LAYOUTS

HOVER_DECIMALS = 1e-4 + 1e-9  # the lines carry four decimals: one step apart at most (float32 sums)
SHORT = "Unbelievably, the tokenizer's behaviour surprised everyone at the meeting."
PAIR = ("The cat sat on the mat.", "Nobody expected it, unsurprisingly.")
LONG = " ".join(["Unbelievably, the tokenizers' behaviour surprised everyone at the meeting."] * 24)
TEXTS = {"hidden": "the followed token is hidden", "nothing": "nothing left"}
DRAWING = {"heads_on": [2], "title": "Layer 3 <b>", "font_px": 13}

LINES_JS = """([bytes, shown]) => linesOf(readLines(new Uint8Array(bytes)), shown)"""


@pytest.fixture(scope="module")
def page(browser):
    """A blank page with the line view's shared JavaScript (reader, transforms, drawing) loaded."""
    tab = browser.new_page()
    tab.set_content("<html><body></body></html>")
    tab.add_script_tag(content="\n".join(path.read_text(encoding="utf-8") for path in lineview.SHARED_JS))
    yield tab
    tab.close()


def every_option():
    for hide, merge in LAYOUTS:
        for renormalize in (False, True) if hide else (True,):
            yield ViewOptions(hide_special=hide, renormalize=renormalize, merge_subwords=merge)


def python_lines(run, layer: int, options: ViewOptions, follow: int) -> dict:
    view = map_view(run, run.attentions[layer], options)
    return lineview.payload(view.weights, view.query_labels, layer, positions=[g[0] for g in view.query_positions],
                            followed=row_of_position(view.query_positions, follow), hidden=TEXTS["hidden"], **DRAWING)


def assert_same_lines(got: dict, expected: dict, context) -> None:
    assert {k: v for k, v in got.items() if k != "heads"} == {k: v for k, v in expected.items() if k != "heads"}, \
        context
    for mine, theirs in zip(got["heads"], expected["heads"], strict=True):
        assert mine["head"] == theirs["head"] and mine["colour"] == theirs["colour"]
        assert [line[:2] for line in mine["lines"]] == [line[:2] for line in theirs["lines"]], (context, mine["head"])
        difference = np.abs(np.array([line[2] for line in mine["lines"]]) -
                            np.array([line[2] for line in theirs["lines"]])).max(initial=0)
        assert difference <= HOVER_DECIMALS, (context, mine["head"], difference)


@pytest.mark.parametrize(("texts", "follow"), [((SHORT,), 3), (PAIR, 9), ((LONG,), 200), ((LONG,), 0)],
                         ids=["a short text", "a pair", "a long text's middle", "a long text, following [CLS]"])
def test_the_browser_draws_the_lines_python_draws_for_every_view_option(page, model, texts, follow):
    run = model.run(*texts)
    layer = 2
    checked = 0
    for shown_options in every_option():  # the view the message was made for
        shown = {"hide": shown_options.hide_special, "renormalize": shown_options.renormalize,
                 "merge": shown_options.merge_subwords, "follow": follow}
        message = lineview.message(run, layer, shown, texts=TEXTS, **DRAWING)
        assert lineview.payload_bytes(message) <= lineview.BUDGET_BYTES
        for options in every_option():  # every view drawn from it, as a click on the options would
            wanted = {"hide": options.hide_special, "renormalize": options.renormalize,
                      "merge": options.merge_subwords, "follow": follow}
            got = page.evaluate(LINES_JS, [list(message), wanted])
            assert_same_lines(got, python_lines(run, layer, options, follow), (shown, options))
            checked += 1
    assert checked == 36
    if run.n_tokens > lineview.WINDOW:  # only the windows' tokens travel
        header, _ = unpack(message)
        assert len(header["sent"]) < run.n_tokens
