"""A session keeps no run alive: once the shared, byte-bounded caches let a run go, nothing a page
left in the session (a fragment, a widget's callback, and through them the page's globals) may
hold it. Otherwise each visitor's run lives as long as the session, which no budget bounds
(issue 16, finding 5: 200 visitors of 450-token texts took the server to 6 GB)."""

from __future__ import annotations

import gc

import pytest
from apptest import app_test

import state
from encoder import Run
from encoder.attention_view import AttentionView

# The pages whose sessions hold a callback or a fragment, and so the page's globals.
PAGES_WITH_CALLBACKS = ["attention", "minimal_pairs"]


def alive(kind: type, text: str) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, kind) and text in _text_of(o)]


def _text_of(o) -> str:
    run = o if isinstance(o, Run) else None
    if run is not None:
        return f"{run.text_a} {run.text_b}"
    return " ".join(o.query_labels) if isinstance(o, AttentionView) else ""


@pytest.mark.parametrize("page", PAGES_WITH_CALLBACKS)
def test_a_session_holds_no_run_once_the_caches_let_it_go(page):
    text = f"Zebras graze near the {page.replace('_', ' ')} river at dawn."
    at = app_test(page, text=text, pair=text.replace("Zebras", "Horses") if page == "minimal_pairs" else None)
    assert not at.exception
    assert alive(Run, "Zebras"), "the page should have run the text (else this test proves nothing)"
    state.run_cache().clear()
    state.explorer_cache().clear()
    held = alive(Run, "Zebras")
    assert not held, f"{page}: the session still holds {len(held)} run(s) of its text"
    assert not alive(AttentionView, "zebras") and not alive(AttentionView, "Zebras")
    assert at.session_state is not None  # the session itself is still alive: it was what had to let go
