"""The view every page shares: the layer, the head (or the mean), the followed token, the view options
(hide [CLS]/[SEP], renormalise, merge subwords) and the readable window, chosen once and honoured by
every page that draws attention or something derived from it.

The session keeps them under the keys links have always carried ("layer", "head", "att_follow",
"att_hide_special", "att_renormalize", "att_merge", "att_window": registry.VIEW_LINK declares the last
five once), in the widgets' terms: layers and heads from 1, the mean as the word "mean". `read` turns
them into one `Selection` in the engine's terms (0-based; the mean is `MEAN_HEAD`), kept valid for a
run; `choose` writes a click back. This module is the only place that converts between the two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException

import url
from encoder.attention_view import MEAN_HEAD, ViewOptions, content_word_position, head_name, window_span
from session import as_int, keep_valid

MEAN_CHOICE = url.MEAN_HEAD  # the head widgets' (and links') word for the mean over a layer's heads
WINDOW_SIZES = (0, 24, 48, 96)  # tokens in the readable window; 0: off
WINDOW_DEFAULT = 48  # every label of a 48-token window fits at 1280 px wide
FOLLOW, WINDOW = "att_follow", "att_window"
HIDE, RENORMALIZE, MERGE = "att_hide_special", "att_renormalize", "att_merge"
OPTION_NAMES = {HIDE: "Hide special tokens", RENORMALIZE: "Renormalise rows", MERGE: "Merge subwords",
                WINDOW: "Readable window"}


@dataclass(frozen=True)
class Selection:
    """What the person chose, in the engine's terms, valid for one run."""

    layer: int  # 0-based
    head: int  # 0-based, or MEAN_HEAD for the mean of the layer's heads
    follow: int  # the followed token's position in the run
    options: ViewOptions
    window: int  # tokens in the readable window; 0: off

    @property
    def where(self) -> str:
        """'layer 3, head 7' (numbered from 1, as on screen)."""
        return f"layer {self.layer + 1}, {head_name(self.head)}"

    def span(self, n_rows: int, center: int | None) -> tuple[int, int] | None:
        """[start, stop) of the readable window around row `center` of a map of `n_rows` rows, or None
        when the window is off or the map is no larger."""
        if not 0 < self.window < n_rows:
            return None
        return window_span(n_rows, center or 0, self.window)


# ---------------------------------------------------------------- kept valid


def _put(key: str, value) -> None:
    """Set a shared value through the session before its widget is drawn, even when unchanged: a widget
    drawn on another page than last run is a new widget to Streamlit, which would start it at its
    default; a value set through the session is what it shows. Once the widget is drawn in this run
    (a page that reads the selection after its controls) Streamlit refuses the write, and the drawn
    value, already valid, stands."""
    with contextlib.suppress(StreamlitAPIException):
        st.session_state[key] = value


def clamp(n_layers: int, n_heads: int, one_head: bool = False) -> None:
    """Bring the selection (1-based, maybe from a link) into the model's range; the URL follows.
    `one_head`: turn the mean into head 1, for views of one head's own arithmetic (its values, its
    output projection, its Q·K). Call before the layer and head widgets are drawn."""
    session = st.session_state
    head = session.get("head", 1)
    _put("layer", min(max(as_int(session.get("layer"), 1), 1), n_layers))
    _put("head", (1 if one_head else head) if head == MEAN_CHOICE else min(max(as_int(head, 1), 1), n_heads))


def head_of(choice) -> int:
    """A head widget's value (1-based, or "mean") as the engine's head (0-based, or MEAN_HEAD)."""
    return MEAN_HEAD if choice == MEAN_CHOICE else int(choice) - 1


def choice_of(head: int):
    """The engine's head (0-based, or MEAN_HEAD) as a head widget's value (1-based, or "mean")."""
    return MEAN_CHOICE if head == MEAN_HEAD else head + 1


def layer_and_head() -> tuple[int, int]:
    """The selected layer and head, 0-based; the mean is MEAN_HEAD."""
    return st.session_state.get("layer", 1) - 1, head_of(st.session_state.get("head", 1))


def choose(layer: int, head: int | None = None, follow: int | None = None) -> None:
    """Write a click back (0-based layer and head, MEAN_HEAD for the mean; a token position), before
    the widgets are drawn. A value left None stays as it was."""
    st.session_state.layer = layer + 1
    if head is not None:
        st.session_state.head = choice_of(head)
    if follow is not None:
        st.session_state[FOLLOW] = follow


def followed_token(run) -> int:
    """The token every page follows: kept while this run has it, else the text's first content word
    (the same default on every page). Call before a widget that shows it is drawn."""
    keep_valid(FOLLOW, list(range(run.n_tokens)), content_word_position(run.tokens, run.special, run.word_ids))
    _put(FOLLOW, st.session_state[FOLLOW])
    return st.session_state[FOLLOW]


def _keep_options_valid() -> None:
    session = st.session_state
    for key, default in ((HIDE, False), (RENORMALIZE, True), (MERGE, False)):
        _put(key, session[key] if isinstance(session.get(key), bool) else default)
    _put(WINDOW, session[WINDOW] if session.get(WINDOW) in WINDOW_SIZES else WINDOW_DEFAULT)


def view_options(block: str = "all") -> ViewOptions:
    """The view options as chosen (valid values, defaults where none was chosen)."""
    _keep_options_valid()
    session = st.session_state
    return ViewOptions(session[HIDE], session[RENORMALIZE], session[MERGE], block)


def read(run, one_head: bool = False, block: str = "all") -> Selection:
    """The selection for `run`, kept valid for it (the session, and so the URL, follow)."""
    clamp(run.n_layers, run.n_heads, one_head)
    layer, head = layer_and_head()
    follow = followed_token(run)
    return Selection(layer, head, follow, view_options(block), st.session_state[WINDOW])


# ---------------------------------------------------------------- the shared controls


def head_choices(n_heads: int, mean: bool = True) -> list:
    """The head widget's stops: the mean (as the word "mean") and heads 1..n_heads."""
    return [MEAN_CHOICE, *range(1, n_heads + 1)] if mean else list(range(1, n_heads + 1))


def layer_and_head_sliders(run, mean: bool = True, layer_help: str | None = None) -> tuple[int, int]:
    """The shared Layer and Head sliders (keys "layer", "head"); returns the 0-based choice.
    `mean=False` for views of one head's own arithmetic."""
    clamp(run.n_layers, run.n_heads, one_head=not mean)
    st.select_slider("Layer", options=range(1, run.n_layers + 1), key="layer", width=260, help=layer_help)
    st.select_slider("Head", options=head_choices(run.n_heads, mean), key="head", width=320,
                     help=f"“{MEAN_CHOICE}” averages the layer's heads." if mean else None)
    return layer_and_head()


def follow_picker(run, label: str = "Followed token", width: int = 240) -> int:
    """The followed token's picker (key att_follow, shared by every page); returns its position."""
    followed_token(run)
    labels = run.tokenized.labels
    return st.selectbox(label, range(run.n_tokens), key=FOLLOW, width=width, format_func=lambda i: f"{labels[i]} ·{i}",
                        help="The token every page follows. “it ·10” is the token at position 10, counted from 0.")


def view_options_control(not_here: Mapping[str, str] | None = None) -> ViewOptions:
    """The one "View options" popover every page that draws attention (or something derived from it)
    shows, on the shared keys, so that a choice made on one page holds on all. `not_here` maps an
    option's key (HIDE, RENORMALIZE, MERGE, WINDOW) to why it does not apply on this page: its control
    is disabled and says why (`not_applied` gives the page's one-line caption)."""
    not_here = dict(not_here or {})
    _keep_options_valid()

    def why(key: str, help_text: str) -> str:
        return f"Not on this view: {not_here[key]}" if key in not_here else help_text

    with st.popover("View options", icon=":material/tune:"):
        st.caption("These hold on every page that draws attention.")
        hide = st.toggle("Hide special tokens ([CLS], [SEP])", key=HIDE, disabled=HIDE in not_here,
                         help=why(HIDE, "Drop their rows and columns: they often soak up most of the weight "
                                        "(Clark et al. 2019)."))
        st.toggle("…and renormalise rows to sum to 1", key=RENORMALIZE,
                  disabled=not hide or HIDE in not_here or RENORMALIZE in not_here,
                  help=why(RENORMALIZE, "Rescale each row over the tokens left (only where rows are shares)."))
        st.toggle("Merge subwords into words", key=MERGE, disabled=MERGE in not_here,
                  help=why(MERGE, "Attention to a word is the sum over its pieces; from a word, the mean "
                                  "(Clark et al. 2019)."))
        st.selectbox("Readable window (tokens)", WINDOW_SIZES, key=WINDOW, disabled=WINDOW in not_here,
                     format_func=lambda n: "off" if n == 0 else f"{n} around the followed token",
                     help=why(WINDOW, "On long texts, a span of the map with every token labelled."))
    return view_options()


def not_applied(not_here: Mapping[str, str], n_tokens: int | None = None) -> str | None:
    """One line naming the view options that are switched on but do not apply on this page, and why;
    None when every option that is on applies. The window counts only for a text longer than it
    (`n_tokens`): on a shorter one it would change nothing anywhere, and the note would be noise."""
    session = st.session_state
    on = [key for key in not_here
          if (session.get(key) if key != RENORMALIZE else session.get(HIDE) and session.get(RENORMALIZE))
          and (key != WINDOW or (session.get(WINDOW) and (n_tokens is None or n_tokens > session[WINDOW])))]
    if not on:
        return None
    return "View options not applied here: " + "; ".join(f"{OPTION_NAMES[key].lower()}, {not_here[key]}"
                                                         for key in on) + "."


# Why the followed token is not in a view (the Attention page's explorer writes them in the browser).
HIDDEN_NOTES = {"special": "Special tokens are hidden (View options), so the token you follow is not in this view.",
                "block": "The pair block {block} leaves out the token you follow (it is in the other sentence)."}


def hidden_note(run, position: int, block: str = "all") -> str:
    """Why the followed token is not in the view: hidden as a special token, or in the other sentence."""
    if st.session_state.get(HIDE) and run.special[position]:
        return HIDDEN_NOTES["special"]
    return HIDDEN_NOTES["block"].format(block=block)
