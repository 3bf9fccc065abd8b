"""Opening a page, the one way every page opens: its title (`page_header`), the run or model it draws,
or, in one sentence under the title, why there is none (`page_run`, `page_model`), and the views
of a page of several (`page_views`). An address from before a merge forwards to its view (`forward`).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

import registry
import session
import state
import ui
from encoder import Model, ModelLoadError, Run


def current_model() -> Model | None:
    """The chosen model, or None after saying why it could not be loaded."""
    try:
        return state.get_model(session.current_input().source)
    except ModelLoadError as error:
        ui.show_problem("error", "The model could not be loaded.", str(error))
        return None


def current_run(qkv: bool = False) -> Run | None:
    """The run for the sidebar's input, or None after telling the person why there is none."""
    current = session.current_input()
    if current_model() is None:
        return None
    if not current.text_a.strip():
        ui.show_problem("info", "Type a sentence in the sidebar (or pick an example) to see its attention.")
        return None
    try:
        run = state.get_run(current.source, current.text_a, current.text_b, qkv)
    except ValueError as error:  # nothing readable in the text, a pair on a model without segments
        ui.show_problem("warning", "This text cannot be shown.", str(error))
        return None
    if run.truncated:  # the sentence names the model, which the person may have chosen
        ui.show_problem("warning", "The text is longer than the model reads.", run.truncation_message())
    return run


def second_run(source: str, name: str) -> Run | None:
    """The sidebar's text through a second model (to compare with), or None after saying why not:
    `name` is how the page calls that model ("Model B", "The model to compare with")."""
    current = session.current_input()
    try:
        with st.spinner(f"Loading {source}…"):
            state.get_model(source)
        return state.get_run(source, current.text_a, current.text_b)
    except ModelLoadError as error:
        ui.show_problem("error", f"{name} could not be loaded.", str(error))
    except ValueError as error:  # a pair on a model without segments, nothing readable
        ui.show_problem("warning", f"{name} cannot read this text.", str(error))
    return None


def page_run(qkv: bool = False) -> Run:
    """The run a page draws; when there is none, the page stops after `current_run` said why."""
    run = current_run(qkv)
    if run is None:
        st.stop()
    return run


def page_header(title: str, caption: str | None = None) -> None:
    """Every page's first line: its title and a caption on what it shows, once app.py (the sidebar,
    the navigation, the link) has run for this session.

    A shared link that is a fresh server's first request is served by Streamlit's legacy pages/
    mode, which runs the page alone (`session.entry_script_ran` reruns it through app.py). A page that
    drew widgets or read the link before that check would run without the app around it."""
    session.entry_script_ran()
    st.header(title)
    if caption:
        st.caption(caption)


def open_page(title: str, caption: str, qkv: bool = False) -> Run:
    """A page's opening: `page_header`, then the run it draws (`page_run`), so that any reason there
    is none appears under the title."""
    page_header(title, caption)
    return page_run(qkv)


def view_caption(caption: str) -> None:
    """A view's first line on a page of several views: what it shows (the page has the title)."""
    st.caption(caption)


def open_view(caption: str, qkv: bool = False) -> Run:
    """A view's opening: its caption, then the run it draws (`page_run`)."""
    view_caption(caption)
    return page_run(qkv)


def page_views(key: str, views: dict[str, Callable[[], None]]) -> None:
    """A page of several views: one control chooses which is drawn (only that one runs), and the
    link carries the choice as `key`."""
    names = list(views)
    session.keep_valid(key, names, names[0])
    with st.container(key=registry.VIEW_CHOICE):
        chosen = st.segmented_control("View", names, key=key, required=True, label_visibility="collapsed")
    views[chosen or names[0]]()


def forward(url_path: str) -> None:
    """An address from before a merge (registry.FORWARDS): open the page that absorbed it, on its view.
    The link's settings were read into the session when it opened (session.init_session)."""
    session.entry_script_ran()
    old = registry.forward_at(url_path)
    setting, value = old.view
    st.session_state[setting] = value
    st.switch_page(registry.by_title(old.to).script)


def page_model() -> Model:
    """The model, for a page that reads its weights too; when it cannot be loaded, the page stops
    after `current_model` said why. After `page_run` it is the model that made the run."""
    model = current_model()
    if model is None:
        st.stop()
    return model
