"""Small UI helpers every page shares: safe text, message boxes, charts, the session's start and
widget persistence, progress, exports and the browser-side views. The layer, head, followed token
and view options are selection.py's."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

import registry
import selection
import url
from figures import explorer as explorer_assets  # the explorer's JS and CSS (figures/explorer/)
from figures.common import CHART_CONFIG, PRINT_CONFIG, for_projector

STATIC = Path(__file__).resolve().parent / "static"  # served at app/static/ (server.enableStaticServing)
EXPLORER_KEY = "hl_attention_explorer"
_STATIC_LOCK = threading.Lock()  # outside every page prefix: a component's state cannot be written back
MEAN_HEAD = selection.MEAN_CHOICE  # the head widgets' word for the mean (selection.py)
SIDEBAR_KEYS = ("text", "pair", "model_source", "model_kind", "layer", "head", "present")
_MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|<>~$:")


def markdown_literal(text: str) -> str:
    """Text that st.caption / st.write show exactly as typed: Markdown characters escaped.
    For names people choose (a model folder, a Hub id) inside our own sentences."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in text)


def presenting() -> bool:
    """Whether the app is in presentation mode (the sidebar's toggle, carried in the link)."""
    return bool(st.session_state.get("present"))


# Presentation mode, on every page: text at least 16 px (18 px body), compact spacing, so that a
# projector at 1024 x 768 shows a page's main chart; figures get the same sizes (`for_projector`).
PRESENT_CSS = """<style>
[data-testid="stMain"] .block-container { padding-top: 3.5rem; padding-bottom: 1rem; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p, [data-testid="stMain"] button p { font-size: 18px !important; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] p { font-size: 17px !important; }
[data-testid="stMain"] h2 { font-size: 34px !important; padding: 0.2rem 0 !important; }
[data-testid="stMain"] h3 { font-size: 26px !important; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] code { font-size: 17px !important; }
[data-testid="stMain"] [data-testid="stVerticalBlock"] { gap: 0.6rem; }
</style>"""


def show_problem(kind: str, headline: str, detail: str | None = None) -> None:
    """A message box in our words, with any detail (which may quote a path, an id or a model
    name the person typed) shown as plain text, never as Markdown."""
    getattr(st, kind)(headline, icon={"error": ":material/error:", "warning": ":material/warning:",
                                      "info": ":material/info:"}[kind])
    if detail:
        st.text(detail)


def chart(fig: go.Figure, key: str | None = None, caption: str | None = None,
          on_select: Callable[[], None] | None = None) -> None:
    """A Plotly figure at full width with the app's modebar; clickable points when `on_select`."""
    options = dict(on_select=on_select, selection_mode="points") if on_select else {}
    if presenting():
        fig = for_projector(fig)
    st.plotly_chart(fig, width="stretch", key=key, config=CHART_CONFIG, **options)
    if caption:
        st.caption(caption)


# ---------------------------------------------------------------- the session


def init_session(default_text: str) -> None:
    """On a session's first run, take the view from the link it was opened with."""
    session = st.session_state
    if session.get("_from_url_done"):
        return
    session["_link_chose_head"] = "layer" in st.query_params or "head" in st.query_params
    session["_link_notes"] = url.read_link(session)
    session.setdefault("text", default_text)
    session.setdefault("pair", "")
    session.setdefault("layer", 1)
    session.setdefault("head", 1)
    session._from_url_done = True


def keep_widget_state() -> None:
    """Write every widget value back into the session before the widgets are drawn.

    Streamlit forgets a widget's value on a run where the widget is not drawn (another page),
    or where its identity changed (the first run of a fresh server starts in Streamlit's legacy
    pages/ mode, see `entry_script_ran`); a value set through the session survives both, so
    page settings and typed text are never lost. Pages' keys are those with a registry prefix.
    """
    from streamlit.errors import StreamlitAPIException

    prefixes = registry.widget_prefixes()
    for key in list(st.session_state.keys()):
        if key in SIDEBAR_KEYS or key.startswith(prefixes):
            # a button's or an uploader's value is one Streamlit never lets a script set
            with contextlib.suppress(StreamlitAPIException):
                st.session_state[key] = st.session_state[key]


def entry_script_ran() -> None:
    """Make sure app.py (sidebar, navigation) ran before a page draws anything.

    A folder named pages/ beside app.py makes Streamlit start in its legacy multipage mode,
    which lasts until the first st.navigation call of the process. If that first request is a
    shared link to a page (/positional?text=...), the page would run alone, without app.py.
    Switching the legacy mode off and rerunning sends that one request through app.py too.
    """
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    if not st.session_state.get("_from_url_done"):
        st.rerun()


# ---------------------------------------------------------------- moved to selection.py
# The layer, head and followed token now live in selection.py, with the view options; these names
# stay for the pages that still call them (walk-through, heads, corpus, task heads, ablation, lab).
keep_valid = selection.keep_valid
as_int = selection.as_int
followed_token = selection.followed_token
clamp_layer_and_head = selection.clamp
layer_and_head = selection.layer_and_head
select_layer_and_head = selection.choose


def single_head(n_layers: int, n_heads: int) -> None:
    """`selection.clamp` for views of one head's own arithmetic: the mean becomes head 1."""
    selection.clamp(n_layers, n_heads, one_head=True)


# ---------------------------------------------------------------- progress


def progress_bar(action: str, items: str = "sentences"):
    """A progress bar with the time left, and its callback (done, total) for the engine's long loops
    (corpus statistics, the context index, the label split, faithfulness over a set of texts)."""
    from encoder.corpus import seconds_left

    bar = st.progress(0.0, text=f"{action}…")
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        left = seconds_left(done, total, time.perf_counter() - started)
        when = "estimating the time left…" if left is None else f"about {left:.0f} s left"
        bar.progress(done / total if total else 1.0, text=f"{action}: {done:,} of {total:,} {items} · {when}")

    return bar, progress


# ---------------------------------------------------------------- exports


def export_buttons(name: str, csv: Callable[[], str], fig: go.Figure | Callable[[], go.Figure],
                   runs: dict[str, object]) -> None:
    """A view's downloads: its numbers as long CSV, the run(s) as .npz, the figure as offline HTML
    whose camera button saves an SVG (the charts' own camera saves a PNG at 3× scale, for print).

    Each file is made only when its button is clicked (deferred data), so drawing the page
    never pays for plotly.js's 4.6 MB or a run's arrays; a click does not rerun the page.
    `runs` maps a file-name suffix ("" for one run) to a Run, or to a function that returns it
    (so that the session keeps only what names the run: see state.py). `fig` may be such a
    function too. Keys start with "dl_", outside every page prefix, because a download button's
    value cannot be written back to the session.
    """
    from encoder import export

    def made(thing):
        return thing() if callable(thing) else thing

    with st.container(horizontal=True, gap="small"):
        st.download_button("Numbers (CSV)", csv, f"{name}.csv", "text/csv", key=f"dl_{name}_csv",
                           on_click="ignore", icon=":material/table_view:",
                           help="Long format: layer_from_1, head_from_1 (numbered as on screen), query, query_token, "
                                "key, key_token (positions ·N from 0), weight.")
        for suffix, run in runs.items():
            st.download_button(f"Run{' ' + suffix if suffix else ''} (.npz)",
                               lambda run=run: export.run_npz_bytes(made(run)),
                               f"{name}-run{'-' + suffix if suffix else ''}.npz", "application/octet-stream",
                               key=f"dl_{name}_npz{suffix}", on_click="ignore", icon=":material/data_array:",
                               help="Every array of the run; np.load(path) reads it without pickle.")
        st.download_button("Figure (HTML)", lambda: export.figure_html(made(fig), PRINT_CONFIG), f"{name}.html",
                           "text/html", key=f"dl_{name}_html", on_click="ignore", icon=":material/code:",
                           help="One self-contained file with plotly.js inside: it opens offline, and its camera "
                                "button saves the figure as SVG for print. On this page the camera above a chart "
                                "saves a PNG at three times its size.")


# ---------------------------------------------------------------- the attention explorer


@functools.cache
def plotly_js_url() -> str:
    """plotly.js from the installed plotly package, copied once into ./static (gitignored) for
    Streamlit to serve: no CDN, so it works offline, and the browser caches one file instead of
    receiving 4.8 MB inline. The URL is relative, so it holds under any server.baseUrlPath."""
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    target = STATIC / "plotly.min.js"
    with _STATIC_LOCK:  # sessions start on several threads
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            STATIC.mkdir(exist_ok=True)
            staging = target.with_suffix(".tmp")
            shutil.copyfile(source, staging)
            staging.replace(target)  # atomic: a browser never reads half a file
    return "app/static/plotly.min.js"


@functools.cache
def _explorer_component():
    return st.components.v2.component(
        "headlight_attention_explorer",
        js=explorer_assets.module_js("streamlit"), css=explorer_assets.css(), isolate_styles=False)


def explorer_said() -> dict:
    """What the browser-side explorer last said: the selection it shows, and the view id and layers
    it holds (figures.explorer.Explorer.payload leaves those out); {} before it has said anything."""
    said = st.session_state.get(EXPLORER_KEY)
    said = said.get("selection") if hasattr(said, "get") else None
    return said if isinstance(said, dict) else {}


def attention_explorer(payload: bytes, on_change: Callable[[], None]) -> dict | None:
    """Mount the browser-side explorer (figures/explorer/) with one packed payload;
    `on_change` runs when the person picks a layer, head or token there. Returns its selection."""
    result = _explorer_component()(key=EXPLORER_KEY, data=payload, default={"selection": None},
                                   on_selection_change=on_change)
    return result.selection


@functools.cache
def _line_view_component():
    from figures import lineview

    return st.components.v2.component("headlight_line_view", js=lineview.module_js("streamlit"),
                                      isolate_styles=False)


def line_view(data: dict, key: str) -> None:
    """Mount the browser-side line view (figures/lineview/) with one payload: heads, threshold and
    hover change what it draws without a rerun."""
    _line_view_component()(key=key, data=data)
