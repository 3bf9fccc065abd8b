"""Shaded text drawn in the browser: `shaded.js` draws a `figures.shaded_text` message (host-neutral),
`streamlit.js` is the app's component (components.shaded_text), which reads the page's clicks on the
widgets that choose the view and draws it at once (issue 18 §1)."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def module_js(host: str = "streamlit") -> str:
    """The shaded text as one ES module: the drawing, then the host's adapter."""
    return "\n".join(path.read_text(encoding="utf-8") for path in (FOLDER / "shaded.js", FOLDER / f"{host}.js"))
