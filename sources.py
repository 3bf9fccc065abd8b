"""Which models a link may name on this server: the bundled ones, a folder *name* in the operator's
models folder, and a Hub id where the operator allows the Hub. Everything a link names is checked
here before anything is loaded, fetched or echoed back (issue 16)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import ui
from encoder import ModelLoadError
from encoder.loading import DEFAULT_MODEL

# Operators set these: a folder whose subfolders are models a link may name, and whether Hub
# ids may be fetched. The Hub is off unless the operator turns it on (HEADLIGHT_ALLOW_HUB=1) or
# lists the repositories visitors may fetch (HEADLIGHT_HUB_MODELS="org/name,org2/*"): otherwise
# any link could make the server download and hold gigabytes. HEADLIGHT_ALLOW_HUB=0 wins over a list.
MODELS_DIR_ENV = "HEADLIGHT_MODELS_DIR"
ALLOW_HUB_ENV = "HEADLIGHT_ALLOW_HUB"
HUB_MODELS_ENV = "HEADLIGHT_HUB_MODELS"
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
FOLDER, HUB = "folder:", "hub:"
DEFAULT_SOURCE = DEFAULT_MODEL
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def models_dir() -> Path | None:
    value = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


def hub_allowed() -> bool:
    """Whether this server fetches any Hub model for its visitors (off unless the operator said so)."""
    switch = os.environ.get(ALLOW_HUB_ENV, "").strip().lower()
    if switch in _NO:
        return False
    return switch in _YES or bool(hub_models())


def hub_models() -> list[str]:
    """The operator's allow-list of Hub ids ("org/name", or "org/*" for all of an org's); empty: none set."""
    return [item.strip().lower() for item in os.environ.get(HUB_MODELS_ENV, "").split(",") if item.strip()]


def hub_listed(repo: str) -> bool:
    """Whether `repo` may be fetched: any id when no list is set, else only those the list names
    (Hub ids are case-insensitive, so the comparison is too)."""
    listed = hub_models()
    if not listed:
        return True
    org = repo.lower().split("/")[0]
    return repo.lower() in listed or f"{org}/*" in listed


def bundled_names() -> list[str]:
    """The named models whose packages are installed, the default first (`encoder.loading.available_models`)."""
    from encoder.loading import available_models

    return [DEFAULT_MODEL] + [m.name for m in available_models() if m.installed and m.name != DEFAULT_MODEL]


def folder_names() -> list[str]:
    """The models an operator put in the models folder (subfolders with a config.json)."""
    root = models_dir()
    if root is None or not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file()
                  and _FOLDER_NAME.match(p.name))


def resolve_source(source: str) -> str | Path:
    """What `load_model` gets for a source a session (or a link) names.

    Only three kinds exist: a bundled model's name, a folder *name* inside the operator's models
    folder, and a Hub id when the Hub is allowed. Anything else, and a folder that does not
    exist, gets the same answer, so a link cannot tell which paths exist on the server.
    """
    unavailable = ModelLoadError(f"The model “{source}” is not available on this server.")
    if source in bundled_names():
        return source
    if source.startswith(FOLDER):
        name, root = source.removeprefix(FOLDER), models_dir()
        if root is None or not _FOLDER_NAME.match(name) or name not in folder_names():
            raise unavailable
        return root / name
    if source.startswith(HUB):
        repo = source.removeprefix(HUB)
        if not _HUB_ID.match(repo) or ".." in repo or "--" in repo:
            raise unavailable
        if not hub_allowed():
            raise ModelLoadError("This server does not fetch models from the Hugging Face Hub.")
        if not hub_listed(repo):
            raise ModelLoadError(f"This server fetches only the Hub models its operator listed, and “{repo}” "
                                 "is not one of them.")
        return repo
    raise unavailable


def normalize_source(source: str | None) -> str:
    """Old links said model=bundled; empty means the default."""
    source = (source or "").strip()
    return DEFAULT_SOURCE if source in ("", "bundled") else source


def unavailable_reason(source: str) -> str | None:
    """Why a source a link (or a stale session) names cannot be used on this server, in one
    sentence, or None when it can. The sentence names the source only when it is a plain model
    name or Hub id: a path-like value is not echoed back, so a link cannot make the page print it."""
    try:
        resolve_source(source)
    except ModelLoadError:
        pass
    else:
        return None
    name = source.removeprefix(FOLDER).removeprefix(HUB)
    plain = _FOLDER_NAME.match(name) or _HUB_ID.match(name)
    named = f"The model “{ui.markdown_literal(name)}”" if plain else "The model the link names"
    if source.startswith(HUB) and not hub_allowed():
        return f"{named} is on the Hugging Face Hub, and this server does not fetch models from there."
    return f"{named} is not available on this server."
