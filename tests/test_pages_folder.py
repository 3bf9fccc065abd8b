"""pages/ as Streamlit's legacy multipage mode sees it on a fresh server's first request
(pages/README.md): exactly the registry's pages and old addresses, each under its file's name."""

from __future__ import annotations

from pathlib import Path

from streamlit.source_util import page_icon_and_name

import registry

PAGES_FOLDER = Path(__file__).resolve().parents[1] / "pages"


def legacy_addresses() -> set[str]:
    """The addresses the legacy mode gives pages/: every top-level *.py but __init__.py, named as
    Streamlit names it (streamlit.runtime.scriptrunner.script_runner._mpa_v1)."""
    scripts = [p for p in PAGES_FOLDER.glob("*.py") if not p.name.startswith(".") and p.name != "__init__.py"]
    return {page_icon_and_name(script)[1] for script in scripts}


def test_the_legacy_mode_sees_exactly_the_registrys_addresses():
    """A stray module at the top of pages/ would be a page a fresh server runs alone, without app.py;
    a missing file would be an address its first request cannot open."""
    expected = {page.url_path for page in registry.PAGES} | {old.url_path for old in registry.FORWARDS}
    assert legacy_addresses() == expected

