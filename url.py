"""The URL: the only module that reads or writes `st.query_params`.

A link carries what reproduces a view: the text (and second sentence), the model, the layer and
the head, and the current page's own settings (registry.Page.link). Long texts travel
compressed; a text too long even for that is left out, and both the person making the link and
the person opening it are told.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import MutableMapping
from urllib.parse import quote

import streamlit as st

import registry

MAX_TEXT_CHARS = 50_000  # the text box's limit
PLAIN_LIMIT = 2_000  # up to this many URL characters a text travels as itself, readable in the link
# Beyond, it travels zlib-compressed in URL-safe base64. Streamlit's server (Tornado) refuses
# request lines over 64 KiB, and some proxies cap URLs lower; 32,000 characters leave room.
MAX_LINK_CHARS = 32_000
SHARED_KEYS = ("text", "pair", "model", "layer", "head", "present")
TEXT_KEYS = ("text", "pair")
COMPRESSED = "z"  # ?textz=... holds the compressed text
DROPPED = "_dropped"  # ?text_dropped=12345: the text (that many characters) did not fit
MEAN_HEAD = "mean"


def text_params(name: str, text: str) -> dict[str, str]:
    """URL parameters for one text: plain, compressed, or a note that it did not fit."""
    if len(quote(text, safe="")) <= PLAIN_LIMIT:
        return {name: text}
    packed = base64.urlsafe_b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii").rstrip("=")
    if len(packed) <= MAX_LINK_CHARS:
        return {name + COMPRESSED: packed}
    return {name + DROPPED: str(len(text))}


def text_from_params(params: MutableMapping[str, str], name: str) -> tuple[str | None, int | None]:
    """(text, None) from a link, or (None, n) when the link says an n-character text was left out.

    A damaged compressed text reads as absent rather than failing the page.
    """
    if name + COMPRESSED in params:
        packed = params[name + COMPRESSED]
        try:
            raw = zlib.decompressobj().decompress(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)),
                                                  MAX_TEXT_CHARS * 4)
            return clean(raw.decode("utf-8", "replace")), None
        except (ValueError, zlib.error):
            return None, None
    if name in params:
        return clean(params[name]), None
    if name + DROPPED in params:
        # Only a length a text box could have held: a link saying "-5" or "10^30" is no text at all.
        length = _as_int(params[name + DROPPED], 0)
        return None, length if 0 < length <= MAX_TEXT_CHARS else None
    return None, None


def clean(text: str) -> str:
    """A URL value made safe for a text box: capped, and unencodable lone surrogates made '?'."""
    return text[:MAX_TEXT_CHARS].encode("utf-8", "replace").decode("utf-8")


def read_setting(raw: str, spec: type | registry.Setting) -> object:
    """A page setting from its URL string, by the registry's type and bounds; ValueError if it
    isn't one (a word where a number goes, NaN, a number out of bounds, too long a list)."""
    setting = registry.setting(spec)
    if setting.kind is bool:
        if raw not in ("0", "1"):
            raise ValueError(raw)
        return raw == "1"
    if setting.kind is str:
        return raw
    if setting.kind is list:
        values = [int(v) for v in raw.split(",") if v != ""]
        if len(values) > setting.max_items:
            raise ValueError(f"{len(values)} values")
    else:
        values = [setting.kind(raw)]
    for value in values:
        # `not low <= value <= high` is also true of NaN, which compares false to everything.
        if not setting.low <= value <= setting.high:
            raise ValueError(raw)
    return values if setting.kind is list else values[0]


def write_setting(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ",".join(str(int(v)) for v in value)
    return str(value)


def read_link(session: MutableMapping) -> list[str]:
    """Fill the session from the link it was opened with (first run only); returns notes for the
    person about what the link could not carry."""
    params = st.query_params
    notes = []
    for name in TEXT_KEYS:
        text, dropped = text_from_params(params, name)
        if text is not None:
            session.setdefault(name, text)
        elif dropped:
            notes.append(f"The link was made for a {dropped:,}-character text, too long to fit in a link; "
                         "paste the text to see it.")
        elif name + DROPPED in params:
            notes.append(f"The link's value for {name + DROPPED} was not used: it must be a length in characters.")
    for old in registry.FORWARDS:  # an old page's own setting that lives elsewhere now
        for source, target in old.moves:
            if params.get(source, "").strip() and not session.get(target, "").strip():
                session[target] = clean(params[source])[:MAX_TEXT_CHARS]
    if "model" in params:
        session.setdefault("model_source", params["model"].strip())
    params = renamed(params)
    for key in ("layer", "head"):
        if key in params:
            value = params[key]
            session.setdefault(key, value if value == MEAN_HEAD else _as_int(value, 1))
    # Presentation mode is the whole app's; links made before said att_present (the Attention page's).
    for key in ("present", "att_present"):
        if params.get(key) in ("0", "1"):
            session.setdefault("present", params[key] == "1")
    for key, setting in registry.link_settings().items():
        if key in params:
            try:
                session.setdefault(key, read_setting(params[key], setting))
            except ValueError:  # the page keeps its default, and the person is told which value
                notes.append(f"The link's value for {key} was not used: it must be {setting.describe()}.")
    for old, target in registry.RETIRED.items():
        if params.get(old, "").strip():
            session.setdefault(target, params[old].strip())
            notes.append(f"The link's {old} was not used: a second model is compared side by side on "
                         "Models › Compare two models, which opens with it.")
    return notes


def renamed(params: MutableMapping[str, str]) -> dict[str, str]:
    """The link's parameters with the settings that moved to the shared view (registry.RENAMED) under
    their new names; a value the link gives under the new name wins."""
    moved = {key: value for key, value in params.items()}
    for old, new in registry.RENAMED.items():
        if old in moved and new not in moved:
            moved[new] = moved[old]
    return moved


def fit_notes(text_a: str, text_b: str | None) -> list[str]:
    """What a link made now would leave out, said before anyone copies it."""
    return [f"This text ({len(text):,} characters) is too long to fit in a link: a copied link will open "
            "without it." for name, text in (("text", text_a), ("pair", text_b or ""))
            if text and name + DROPPED in text_params(name, text)]


def write_link(current, page: registry.Page, session: MutableMapping) -> None:
    """Put the current view into the URL: `current` is a session.Input (text_a, text_b, source)."""
    wanted = {"model": current.source}
    for name, text in (("text", current.text_a), ("pair", current.text_b or "")):
        if text:
            wanted |= text_params(name, text)
    for key in ("layer", "head"):
        if key in session:
            wanted[key] = str(session[key])
    if session.get("present"):
        wanted["present"] = "1"
    for key in {**registry.VIEW_LINK, **page.link}:  # the shared view on every page, then the page's own
        if session.get(key) is not None:
            wanted[key] = write_setting(session[key])
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def _as_int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default
