"""Headlight in a notebook: one package name that cannot clash with other installed packages.

    import headlight
    model = headlight.load_model()             # the bundled all-MiniLM-L6-v2, offline
    headlight.show(model, "The cat sat on the mat.")

Re-exports only (../ARCHITECTURE: `headlight/` has no logic of its own): `load_model` is
`encoder.load_model`; `show` and `Widget` are the explorer's notebook host
(`figures/explorer/widget.py`); `save_html` is `encoder.export.save_html`.
"""

from encoder import load_model
from encoder.export import save_html
from figures.explorer.widget import Widget, show

__all__ = ["Widget", "load_model", "save_html", "show"]
