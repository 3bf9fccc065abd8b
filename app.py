"""Headlight: type text, see what every attention head looks at.

Run with:  streamlit run app.py
"""

from __future__ import annotations

import streamlit as st

import registry
import session
import sources
import state
import ui
import url
from encoder.lab.priority import pages_running

session.init_session(state.DEFAULT_TEXT)
# An emoji icon: a Material icon here makes the browser fetch the favicon from Google's font CDN.
# Presentation mode starts with the sidebar folded away, so the page has the whole projector.
st.set_page_config(page_title="Headlight", page_icon="🔦", layout="wide",
                   initial_sidebar_state="collapsed" if ui.presenting() else "auto")
state.tune_allocator()  # once per process: see there why a server of many sessions needs it
session.keep_widget_state()

MODEL_KINDS = {"Bundled": "ready offline", "Models folder": "set up by whoever runs this server",
               "Hugging Face Hub": "org/name, needs the network"}


def use_example() -> None:
    chosen = st.session_state.get("example")
    for example in state.examples():
        if example["title"] == chosen:
            st.session_state.text = example["text"]
            st.session_state.pair = example.get("pair", "")


def model_picker() -> None:
    """Bundled models, the operator's models folder, or a Hub id: never a path on the server."""
    kinds = ["Bundled"] + (["Models folder"] if sources.folder_names() else []) + (
        ["Hugging Face Hub"] if sources.hub_allowed() else [])
    source = sources.normalize_source(st.session_state.get("model_source"))
    refused = sources.unavailable_reason(source)
    if refused:  # said once, above the page; the default model is shown instead
        default = state.model_info(sources.DEFAULT_SOURCE)
        st.session_state.setdefault("_link_notes", []).append(
            f"{refused} Showing {default.display_name if default else sources.DEFAULT_SOURCE} instead.")
        source = st.session_state.model_source = sources.DEFAULT_SOURCE
        st.session_state.pop("model_kind", None)
    if "model_kind" not in st.session_state or st.session_state.model_kind not in kinds:
        st.session_state.model_kind = ("Models folder" if source.startswith(sources.FOLDER) else
                                       "Hugging Face Hub" if source.startswith(sources.HUB) else "Bundled")
    kind = st.radio("Source", kinds, key="model_kind", captions=[MODEL_KINDS[k] for k in kinds])
    if kind == "Bundled":
        names = sources.bundled_names()
        infos = {info.name: info for info in state.model_infos()}
        chosen = st.selectbox("Model", names, index=names.index(source) if source in names else 0,
                              format_func=lambda name: infos[name].display_name,  # the caption below says more
                              help="The named models whose packages are installed (requirements-models.txt "
                                   "adds three); the Models page lists them all.")
    elif kind == "Models folder":
        names = sources.folder_names()
        current = source.removeprefix(sources.FOLDER)
        chosen = sources.FOLDER + st.selectbox("Model", names, index=names.index(current) if current in names else 0)
    else:
        hub_id = source.removeprefix(sources.HUB) if source.startswith(sources.HUB) else ""
        typed = st.text_input("Hub id", value=hub_id, placeholder="org/name")
        chosen = sources.HUB + typed.strip() if typed.strip() else source
    st.session_state.model_source = chosen
    info = state.model_info(chosen)
    if info is not None:  # what the model is, before it loads; visible below the closed expander too
        kv = f" ({info.n_kv_heads} key/value)" if info.n_kv_heads != info.n_heads else ""
        st.sidebar.caption(f"**{ui.markdown_literal(info.display_name)}**: {info.family}, {info.n_layers} layers × "
                           f"{info.n_heads} heads{kv}, d = {info.d_model}, {info.n_parameters / 1e6:.1f} M parameters, "
                           f"licence {info.licence}.")
        if info.licence.startswith("CC-BY"):  # the licence asks for credit wherever the model is used
            # The credit's first sentence (author, source, licence); the Models page shows all of it.
            st.sidebar.caption(ui.markdown_literal(info.attribution.split(". ")[0] + "."))
    label = info.display_name if info else chosen.removeprefix(sources.FOLDER).removeprefix(sources.HUB)
    import contextlib

    from encoder import ModelLoadError

    # Load here, under a spinner people can see (the first load of a converted model takes tens of
    # seconds); a failure is left for the page to explain (opening.current_model).
    with st.sidebar.spinner(f"Loading {ui.markdown_literal(label)}…"), contextlib.suppress(ModelLoadError):
        state.get_model(chosen)


sections: dict[str, list] = {}
for page in registry.PAGES:
    sections.setdefault(page.section, []).append(
        st.Page(page.script, title=page.title, icon=page.icon, url_path=page.url_path, default=page.default))
for old in registry.FORWARDS:  # addresses from before the merges: hidden from the menus, they forward
    sections[registry.by_title(old.to).section].append(
        st.Page(old.script, title=old.title, url_path=old.url_path, visibility="hidden"))
navigation = st.navigation(sections, position="top")
uses = registry.by_title(navigation.title).uses

with st.sidebar:
    st.title(":material/highlight: Headlight")
    st.caption("What every attention head of a Transformer encoder looks at.")
    if uses == "text":
        st.text_area("Text", key="text", height=150, max_chars=url.MAX_TEXT_CHARS,
                     help="Press Ctrl+Enter (⌘+Enter on a Mac) or Run to see it.")
        st.text_area("Second sentence (optional, makes a pair)", key="pair", height=70,
                     max_chars=url.MAX_TEXT_CHARS,
                     help="With two sentences the model reads them as a pair: [CLS] A [SEP] B [SEP].")
        st.button("Run", type="primary", icon=":material/play_arrow:", width="stretch")
        st.selectbox("Or try an example", [e["title"] for e in state.examples()], index=None,
                     key="example", on_change=use_example, placeholder="Choose an example…")
    else:  # the text stays in the session (session.keep_widget_state) for the pages that read it
        st.info(f"The {navigation.title} page does not read the text typed on the other pages"
                + ("; it reads its own sentences through the model below." if uses == "model" else
                   ", nor the model: it trains a small Transformer of its own." if navigation.title == "Lab" else
                   ", nor the model: it shows the class's, as the teacher set them."), icon=":material/info:")
    if uses != "nothing":
        with st.expander("Model", icon=":material/memory:"):
            model_picker()
    st.toggle("Presentation mode", key="present",
              help="Large text and charts that fit the screen, on every page, for a projector. The link carries "
                   "it; fold the sidebar away with « at its top.")
if ui.presenting():
    st.html(ui.PRESENT_CSS)

current = session.current_input()
for note in [*st.session_state.pop("_link_notes", []), *url.fit_notes(current.text_a, current.text_b)]:
    ui.show_problem("warning", note)
try:
    with pages_running():  # Lab trainings pause meanwhile: pages first (encoder/lab/priority.py)
        navigation.run()
finally:  # after the page, so values it corrected (a layer out of range) reach the URL too
    url.write_link(session.current_input(), registry.by_title(navigation.title), st.session_state)
