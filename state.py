"""App state: the only module that caches (st.cache_*) or reads and writes the URL.

The URL holds what a shared link must reproduce: the text, the second sentence, the model, the
layer and the head (the page is the URL's path). Everything else stays in the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from encoder import Model, ModelLoadError, Run, load_model

BUNDLED = "bundled"
MAX_TEXT_CHARS = 50_000  # the text area refuses more; the model reads at most 512 tokens anyway
MAX_URL_TEXT = 4_000  # longer texts stay out of the URL (browsers and proxies cap URL length)
URL_KEYS = ("text", "pair", "model", "layer", "head")
EXAMPLES_FILE = Path(__file__).resolve().parent / "assets" / "examples.json"
MEAN_HEAD = "mean"  # the head selector's extra choice: the mean over a layer's heads
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def get_model(source: str) -> Model:
    """One shared model per source for every session (never mutated by a run)."""
    return load_model(None if source == BUNDLED else source)


@st.cache_data(max_entries=16, show_spinner="Running the encoder…")
def get_run(source: str, text_a: str, text_b: str | None) -> Run:
    """Runs are cached by model and text, as numpy only. At most 16 are kept: a 512-token run
    holds about 95 MB of arrays, and recomputing an evicted one takes a tenth of a second."""
    return get_model(source).run(text_a, text_b)


@st.cache_data
def examples() -> list[dict]:
    """Example inputs from assets/examples.json: [{"title", "text", "pair"?}]."""
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Input:
    text_a: str
    text_b: str | None
    source: str


def init_session() -> None:
    """On a session's first run, take the shared state from the URL."""
    if st.session_state.get("_from_url_done"):
        return
    params = st.query_params
    session = st.session_state
    session.setdefault("text", _from_url(params.get("text", DEFAULT_TEXT)))
    session.setdefault("pair", _from_url(params.get("pair", "")))
    source = params.get("model", BUNDLED).strip() or BUNDLED
    session.setdefault("model_kind", (
        "Bundled" if source == BUNDLED else "Local folder" if Path(source).expanduser().exists()
        or source.startswith(("/", ".", "~")) else "Hugging Face Hub"
    ))
    session.setdefault("model_path", "" if source == BUNDLED else source)
    for key in ("layer", "head"):
        value = params.get(key, "1")
        session.setdefault(key, value if value == MEAN_HEAD else _as_int(value, 1))
    st.session_state._from_url_done = True


def _from_url(text: str) -> str:
    """A URL value made safe for a text box: capped, and unencodable lone surrogates made '?'."""
    return text[:MAX_TEXT_CHARS].encode("utf-8", "replace").decode("utf-8")


WIDGET_PREFIXES = ("att_", "emb_", "pos_")  # each page prefixes its widget keys
SIDEBAR_KEYS = ("text", "pair", "model_kind", "model_path", "layer", "head")


def keep_widget_state() -> None:
    """Write every widget value back into the session before the widgets are drawn.

    Streamlit forgets a widget's value on a run where the widget is not drawn (another page),
    or where its identity changed (the first run of a fresh server starts in Streamlit's legacy
    pages/ mode, see `entry_script_ran`); a value set through the session survives both, so
    page settings and typed text are never lost.
    """
    for key in list(st.session_state.keys()):
        if key in SIDEBAR_KEYS or key.startswith(WIDGET_PREFIXES):
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


def current_input() -> Input:
    entry_script_ran()
    kind = st.session_state.get("model_kind", "Bundled")
    path = st.session_state.get("model_path", "").strip()
    source = BUNDLED if kind == "Bundled" or not path else path
    pair = st.session_state.get("pair", "")
    return Input(st.session_state.get("text", ""), pair if pair.strip() else None, source)


def sync_url(current: Input) -> None:
    """Write the shared state into the URL so a copied link opens the same view."""
    wanted = {"model": current.source}
    if len(current.text_a) <= MAX_URL_TEXT:
        wanted["text"] = current.text_a
    if current.text_b and len(current.text_b) <= MAX_URL_TEXT:
        wanted["pair"] = current.text_b
    for key in ("layer", "head"):
        if key in st.session_state:
            wanted[key] = str(st.session_state[key])
    if {k: st.query_params.get(k) for k in URL_KEYS if k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)


_MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|<>~$:")


def markdown_literal(text: str) -> str:
    """Text that st.caption / st.write show exactly as typed: Markdown characters escaped.
    For names people choose (a model folder, a Hub id) inside our own sentences."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in text)


def show_problem(kind: str, headline: str, detail: str | None = None) -> None:
    """A message box in our words, with any detail (which may quote a path, an id or a model
    name the person typed) shown as plain text, never as Markdown."""
    getattr(st, kind)(headline, icon={"error": ":material/error:", "warning": ":material/warning:",
                                      "info": ":material/info:"}[kind])
    if detail:
        st.text(detail)


def current_run() -> Run | None:
    """The run for the sidebar's input, or None after telling the person why there is none."""
    current = current_input()
    try:
        get_model(current.source)
    except ModelLoadError as error:
        show_problem("error", "The model could not be loaded.", str(error))
        return None
    if not current.text_a.strip():
        show_problem("info", "Type a sentence in the sidebar (or pick an example) to see its attention.")
        return None
    try:
        run = get_run(current.source, current.text_a, current.text_b)
    except ValueError as error:  # nothing readable in the text, a pair on a model without segments
        show_problem("warning", "This text cannot be shown.", str(error))
        return None
    if run.truncated:  # the sentence names the model, which the person may have chosen
        show_problem("warning", "The text is longer than the model reads.", run.truncation_message())
    return run


def clamp_layer_and_head(n_layers: int, n_heads: int) -> None:
    """Bring the selection (1-based, maybe from a link) into the model's range.

    Call before the layer and head widgets are drawn.
    """
    layer = st.session_state.get("layer", 1)
    st.session_state.layer = min(max(_as_int(layer, 1), 1), n_layers)
    head = st.session_state.get("head", 1)
    if head != MEAN_HEAD:
        st.session_state.head = min(max(_as_int(head, 1), 1), n_heads)


def layer_and_head() -> tuple[int, int]:
    """The selected layer and head as 0-based indices; head -1 is the mean of the heads."""
    head = st.session_state.get("head", 1)
    return st.session_state.get("layer", 1) - 1, -1 if head == MEAN_HEAD else head - 1


def select_layer_and_head(layer: int, head: int | None = None) -> None:
    """Set the selection from a click (0-based; head -1 is the mean), before widgets are drawn."""
    st.session_state.layer = layer + 1
    if head is not None:
        st.session_state.head = MEAN_HEAD if head < 0 else head + 1


def _as_int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default
