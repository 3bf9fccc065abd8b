"""The Corpus page's sentence picker for its search and map sections: the example corpus, pasted lines or
an uploaded file, read by `encoder.corpus.read_sentences` with its caps (characters a row, rows, lines)."""

from __future__ import annotations

import io
import logging

import streamlit as st

import session
import state
import ui
from encoder.corpus import read_sentences
from encoder.corpus.reading import EMPTY

SOURCES = ("Example corpus", "Paste sentences", "Upload a file")
MAX_PASTE_CHARS = 200_000
LOG = logging.getLogger(__name__)


def picker(prefix: str, default: int, most: int) -> tuple[str, object, int]:
    """Draws the source widgets (keys `prefix` + _source, _paste, _limit; uploader `prefix` + up);
    returns (source, upload, limit)."""
    session.keep_valid(f"{prefix}_source", list(SOURCES), SOURCES[0])
    st.session_state[f"{prefix}_limit"] = min(max(session.as_int(st.session_state.get(f"{prefix}_limit"), default), 2),
                                              most)
    source = st.radio("Sentences", SOURCES, key=f"{prefix}_source", horizontal=True)
    upload = None
    if source == SOURCES[1]:
        st.text_area("One sentence per line", key=f"{prefix}_paste", height=120, max_chars=MAX_PASTE_CHARS,
                     placeholder="The cat sat on the mat.\nWhere did you park the car?")
    elif source == SOURCES[2]:
        upload = st.file_uploader("A .txt file (one sentence per line) or a .csv file (a 'text' or 'sentence' column)",
                                  type=["txt", "csv"], key=f"{prefix}up_file")
    limit = st.number_input(f"Use at most this many sentences (up to {most:,})", 2, most, key=f"{prefix}_limit")
    return source, upload, int(limit)


def sentences(prefix: str, source: str, upload, limit: int) -> list[str] | None:
    """The first `limit` sentences chosen, or None after saying what is missing (never a traceback)."""
    try:
        if source == SOURCES[0]:
            texts = state.example_corpus().texts
        elif source == SOURCES[1]:
            text = st.session_state.get(f"{prefix}_paste", "")
            if not text.strip():
                ui.show_problem("info", "Paste some sentences, one per line.")
                return None
            texts = read_sentences(io.StringIO(text), kind="txt", max_rows=limit).without(EMPTY).texts
        else:
            if upload is None:
                ui.show_problem("info", "Choose a .txt or .csv file.")
                return None
            upload.seek(0)
            texts = read_sentences(upload, max_rows=limit).texts
    except ValueError as error:
        ui.show_problem("error", "This file cannot be read.", str(error))
        return None
    except Exception:  # anything else a hostile file provokes: one sentence here, the traceback in the log
        LOG.exception("Reading sentences for the Corpus page failed")
        ui.show_problem("error", "These sentences cannot be read. Save them as UTF-8 text and try again.")
        return None
    if not texts:
        ui.show_problem("warning", "No readable sentence in this input.")
        return None
    return list(texts[:limit])
