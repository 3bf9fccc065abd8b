"""plotly.js for the Attention page's explorer: copied from the plotly package into the static
folder once, whole, dated for browsers to keep it, and a clear error where that folder cannot be
written."""

from __future__ import annotations

import os
from pathlib import Path

import plotly
import pytest

import components
from deploy import plotly_bundle

SOURCE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def test_plotly_js_is_copied_once_from_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(components, "STATIC", tmp_path / "static")
    url = components.plotly_js_url.__wrapped__()
    copied = tmp_path / "static" / "plotly.min.js"
    # relative: it holds under any server.baseUrlPath; the version: an upgrade changes the URL
    assert url == f"app/static/plotly.min.js?v={plotly_bundle.installed_version()}"
    assert copied.read_bytes() == SOURCE.read_bytes()
    assert copied.stat().st_mtime == plotly_bundle.SERVED_MTIME, "dated long ago, for browsers to keep it"
    copy = copied.stat().st_ino
    os.utime(copied, (1, 1))
    components.plotly_js_url.__wrapped__()
    assert copied.stat().st_ino == copy, "an up-to-date copy is left alone"
    assert copied.stat().st_mtime == plotly_bundle.SERVED_MTIME, "and dated again"
    assert sorted(p.name for p in (tmp_path / "static").iterdir()) == ["plotly.min.js"]  # no staging file left


def test_a_folder_that_cannot_be_written_is_an_error(tmp_path, monkeypatch):
    """The page turns this OSError into a message (pages/attention.py)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the static folder's parent should be")
    monkeypatch.setattr(components, "STATIC", blocker / "static")
    with pytest.raises(OSError):
        components.plotly_js_url.__wrapped__()
