"""Helpers for Streamlit AppTests: start the app on a page, read back the Plotly figures."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
from streamlit.testing.v1 import AppTest

import registry

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds: the first run loads the model


def app_test(page: str | None = None, text: str | None = None, pair: str | None = None,
             **state) -> AppTest:
    """The whole app (sidebar included), optionally on pages/<page>.py, run once."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if text is not None:
        at.session_state["text"] = text
    if pair is not None:
        at.session_state["pair"] = pair
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        # After a first run st.navigation has registered the pages, so the switch runs app.py
        # and then the page, as a click in the browser does. (AppTest then lists only the
        # page's elements, not the sidebar's: set inputs through session_state.)
        open_page(at, page)
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    """Switch to pages/<page>.py and run it. An old address (a view of a merged page) opens that
    page on that view, as its forward does in a browser (tests/e2e/test_old_addresses.py), so
    that later at.run() calls rerun the page itself."""
    forward = next((old for old in registry.FORWARDS if old.url_path == page), None)
    if forward is not None:
        at.session_state[forward.view[0]] = forward.view[1]
        page = Path(registry.by_title(forward.to).script).stem
    return at.switch_page(f"pages/{page}.py").run()

def figure_specs(at: AppTest) -> list[dict]:
    """The Plotly figures the page shows, as dicts: those the Attention page's explorer draws in the
    browser (`explorer_shows`), then Streamlit's own charts, parsed from the element protos."""
    drawn = explorer_shows(at)["figures"] if explorers(at) else []
    return drawn + [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def explorer_shows(at: AppTest) -> dict:
    """What the Attention page's explorer draws in the browser, read from the payload it was sent by
    the explorer's own reader (figures/explorer/reader.py). The page leaves out what its earlier
    messages carried (figures.explorer.holdings), and a test's session is a browser that never
    reports; so where the view was left out, the page forgets its record and runs again, and the
    message comes whole, as it does for a browser that lost the view."""
    import components
    from figures.explorer import packer, reader

    if "view" not in packer.header_of(explorers(at)[0].proto.bytes):
        at.session_state[components.EXPLORER_DELIVERED] = None
        at.run()
    return reader.shows(explorers(at)[0].proto.bytes)


def explorers(at: AppTest) -> list:
    """The page's attention explorers (the other browser-side components, such as the line view and
    shaded text, are not)."""
    return [element for element in at.get("bidi_component")
            if element.proto.component_name == "headlight_attention_explorer"]


def drawn_text(at: AppTest, page: str) -> list[str]:
    """Switch to pages/<page>.py and return, per figure, the text it draws (data, annotations and
    title), after checking the page ran and drew something."""
    open_page(at, page)
    assert not at.exception, page
    specs = figure_specs(at)
    assert specs, page
    return [str(spec["data"]) + str(spec["layout"].get("annotations", "")) + spec["layout"]["title"]["text"]
            for spec in specs]


def array(value) -> np.ndarray:
    """A Plotly data array as numpy: plain lists, or {'dtype', 'bdata', 'shape'} typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            data = data.reshape([int(s) for s in str(shape).split(",")])
        return data
    return np.asarray(value, dtype=float)


def messages(at: AppTest) -> str:
    """All error, warning and info texts on the page, with the plain-text details shown under
    them, joined (for asserting on messages)."""
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "text") for e in at.get(kind))


MARKDOWN_KINDS = ("markdown", "caption", "header", "subheader", "title", "error", "warning", "info", "success")


def markdown_bodies(at: AppTest) -> list[str]:
    """The bodies of every element Streamlit renders as Markdown (captions, headers, message
    boxes...). Tests that user text never reaches Markdown assert this list is not empty first,
    so they cannot pass because a page showed nothing."""
    return [str(e.value) for kind in MARKDOWN_KINDS for e in at.get(kind)]


@contextlib.contextmanager
def captured_downloads() -> Iterator[dict[str, Callable]]:
    """The deferred download buttons' callables registered by the runs inside, by file id: what a
    click on the button would make (AppTest has no click for downloads)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    found: dict[str, Callable] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        found[file_id] = data_callable
        return file_id

    with mock.patch.object(MediaFileManager, "add_deferred", add_deferred):
        yield found


def downloaded(at: AppTest, found: dict[str, Callable], label: str) -> bytes:
    """The file the page's first download button labelled `label` makes."""
    button = next(b for b in at.get("download_button") if b.proto.label == label)
    data = found[button.proto.deferred_file_id]()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def shaded_message(at, key: str) -> dict:
    """The message a page sent to its shaded text `key` (the component's data, as the browser gets it)."""
    for element in at.get("bidi_component"):
        if element.proto.component_name == "headlight_shaded_text" and element.proto.WhichOneof("data") == "json":
            data = json.loads(element.proto.json)
            if key in json.dumps(data["controls"]) or not data["controls"] or key == "any":
                return data
    raise AssertionError("the page drew no shaded text")
