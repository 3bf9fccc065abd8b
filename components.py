"""The app's browser-side components: the attention explorer (figures/explorer/, its protocol in
PROTOCOL.md), the line view (figures/lineview/) and shaded text (figures/shaded/), with the plotly.js
file the explorer loads.
Each is mounted once per page run; what the person does in them comes back without a rerun of
the page (the explorer's selection) or not at all (the line view)."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
from collections.abc import Callable

import streamlit as st

import ui
from deploy import plotly_bundle
from figures import explorer as explorer_assets  # the explorer's JS and CSS (figures/explorer/)
from figures.explorer import holdings
from figures.shaded_text import PRESENTING_PX

STATIC = plotly_bundle.APP_STATIC  # ./static, served at app/static/ (server.enableStaticServing)
EXPLORER_KEY = "hl_attention_explorer"
EXPLORER_DELIVERED = "_hl_explorer_delivered"  # figures.explorer.holdings: what the messages carried
_STATIC_LOCK = threading.Lock()  # outside every page prefix: a component's state cannot be written back


@functools.cache
def plotly_js_url() -> str:
    """plotly.js for the explorer, served from ./static (gitignored): no CDN, so it works offline,
    and the browser caches one file instead of receiving megabytes inline. The cartesian partial
    bundle where `python -m deploy.plotly_bundle` installed it for the installed plotly's version
    (1.5 MB, compiled in about a third of the time: the explorer draws only heatmaps, images and
    scatter traces); else the full plotly.min.js, copied once from the plotly package. Decided once
    per process. Served files are dated for Chromium to keep them (deploy.plotly_bundle.SERVED_MTIME)."""
    if plotly_bundle.cartesian_status(STATIC)[0]:
        name = plotly_bundle.CARTESIAN
        with _STATIC_LOCK, contextlib.suppress(OSError):  # a read-only folder serves it all the same
            plotly_bundle.date_for_caching(STATIC / name)
        return plotly_bundle.served_url(name)
    source = plotly_bundle.full_bundle()
    target = STATIC / plotly_bundle.FULL
    with _STATIC_LOCK:  # sessions start on several threads
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            STATIC.mkdir(exist_ok=True)
            staging = target.with_suffix(".tmp")
            shutil.copyfile(source, staging)
            staging.replace(target)  # atomic: a browser never reads half a file
        plotly_bundle.date_for_caching(target)
    return plotly_bundle.served_url(plotly_bundle.FULL)


@functools.cache
def _explorer_component():
    return st.components.v2.component(
        "headlight_attention_explorer",
        js=explorer_assets.module_js("streamlit"), css=explorer_assets.css(), isolate_styles=False)


def preload_plotly() -> None:
    """Start loading plotly.js for the explorer now, before the page's run: the browser downloads and
    compiles it while the server runs the model (`figures.explorer.preload_js`). A script of ours
    with our URL, no visitor's text; at the foot of the sidebar, where its empty element takes no room.
    A script element runs as soon as the page draws it, 0.1-0.5 s before a component's module would."""
    with st.sidebar:
        st.html(f"<script>{explorer_assets.preload_js(plotly_js_url())}</script>", unsafe_allow_javascript=True)


def explorer_said() -> dict:
    """What the browser-side explorer last said: the selection it shows, and the view id and layers
    it holds (figures.explorer.Explorer.payload leaves those out); {} before it has said anything."""
    said = st.session_state.get(EXPLORER_KEY)
    said = said.get("selection") if hasattr(said, "get") else None
    return said if isinstance(said, dict) else {}


def explorer_held() -> dict:
    """What the browser-side explorer holds, as this session knows it: its last report, with the
    layers and view sent since (figures.explorer.holdings): the `held` of the next payload."""
    return holdings.held_now(explorer_said(), st.session_state.get(EXPLORER_DELIVERED))


def attention_explorer(payload: bytes, on_change: Callable[[], None]) -> dict | None:
    """Mount the browser-side explorer (figures/explorer/) with one packed payload (built with
    `explorer_held()`); `on_change` runs when the person picks a layer, head or token there.
    Returns its selection."""
    said = explorer_said()
    st.session_state[EXPLORER_DELIVERED] = holdings.delivered_after(
        said, st.session_state.get(EXPLORER_DELIVERED), payload)
    result = _explorer_component()(key=EXPLORER_KEY, data=payload, default={"selection": None},
                                   on_selection_change=on_change)
    return result.selection


@functools.cache
def _line_view_component():
    from figures import lineview

    return st.components.v2.component("headlight_line_view", js=lineview.module_js("streamlit"),
                                      isolate_styles=False)


def line_view(data: bytes, key: str) -> None:
    """Mount the browser-side line view (figures/lineview/) with one payload: heads, threshold and
    hover change what it draws without a rerun."""
    _line_view_component()(key=key, data=data)


@functools.cache
def _shaded_text_component():
    from figures import shaded

    return st.components.v2.component("headlight_shaded_text", js=shaded.module_js("streamlit"),
                                      isolate_styles=False)


def shaded_text(message: dict, key: str) -> None:
    """Mount the browser-side shaded text (figures/shaded/) with one `figures.shaded_text.message`:
    a click on the widgets it names draws their view without waiting for the rerun. In presentation
    mode its text takes the projector's size, wherever it is shown."""
    if ui.presenting():
        message = {**message, "style": {**message["style"], "font_px": PRESENTING_PX}}
    _shaded_text_component()(key=key, data=message)
