"""The session: how it starts from the link it was opened with, what it keeps from page to page, and
the input it reads (the sidebar's text, pair and model).

Streamlit forgets a widget's value on a run where the widget is not drawn, and serves a fresh
server's first request to a deep link in its legacy pages/ mode (pages/README.md): the helpers here
are what every page relies on for both. Opening a page is opening.py's; caches are state.py's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import streamlit as st

import registry
import url
from sources import normalize_source

SIDEBAR_KEYS = ("text", "pair", "model_source", "model_kind", "layer", "head", "present")


@dataclass(frozen=True)
class Input:
    text_a: str
    text_b: str | None
    source: str  # "minilm-l6", "folder:<name>" or "hub:<org/name>"


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


def keep_valid(key: str, options: list, default) -> None:
    """A kept value that the current run or model does not offer (from a link, or from a model
    with more layers) falls back to the default. Call before the widget is drawn."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def as_int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def current_input() -> Input:
    entry_script_ran()
    session = st.session_state
    pair = session.get("pair", "")
    return Input(session.get("text", ""), pair if pair.strip() else None,
                 normalize_source(session.get("model_source")))
