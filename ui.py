"""What every page draws with: text shown as typed, message boxes, charts, progress bars and the
downloads. The session is session.py's, the shared view selection.py's, the browser-side
components components.py's, and opening a page opening.py's."""

from __future__ import annotations

import time
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from figures.common import CHART_CONFIG, PRINT_CONFIG, for_projector

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
