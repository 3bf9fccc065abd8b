"""Corpus: every head's statistics averaged over many sentences (Clark et al. 2019), as layers × heads maps,
and the heads placed by the Jensen–Shannon distance of their attention. Clicks open a head on the
Attention page with a sentence of the corpus where that head is most focused.

The numbers come from `encoder.corpus` (batched, streamed); the results are this person's alone and
live in their session. An upload is streamed by `read_sentences` with its limits (characters a row, rows,
lines scanned; see encoder/corpus/reading.py), and the session keeps only the statistics and the few
sentences the heads' clicks open, never the file's texts, so what a visitor's upload holds is bounded.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass

import pandas as pd
import streamlit as st

import opening
import selection
import session
import state
import ui
from encoder.analysis import STATISTICS, head_patterns
from encoder.corpus import CorpusHeadMap, Sentences, corpus_head_map, corpus_statistics, read_sentences, seconds_left
from encoder.corpus.reading import EMPTY, EXAMPLES, MAX_LINES, MAX_ROW_CHARS
from encoder.export import csv_text
from figures import corpus as figures
from figures.heads import STATISTIC_NAMES

ATTENTION_PAGE = "pages/attention.py"
RESULT = "_corp_result"  # this session's last results (a CorpusResult)
OPEN_FLAG = "_corp_open_head"  # set by a click's callback; the page then switches (not allowed in a callback)
SOURCES = ("Example corpus", "Paste sentences", "Upload a file")
MAX_SENTENCES = 20_000  # about 5 minutes at the 15 ms a sentence measured on 2 busy cores; also the most rows read
MAX_PASTE_CHARS = 1_000_000  # a pasted corpus is held in the session: about 1 MB at most
DEFAULT_LIMIT = 2_000
SAMPLE_SIZES = [8, 16, 32, 64, 128]


@dataclass(frozen=True)
class CorpusResult:
    source: str  # the model's source, as the sidebar names it
    model_name: str
    examples: dict[int, str]  # the sentences a click can open (head_map.example's indices), not all of them
    stats: pd.DataFrame  # corpus_statistics + head_patterns
    head_map: CorpusHeadMap
    n_skipped: int  # rows the file reader or the model could not read
    skipped: tuple[tuple[int, str], ...]  # (row, reason): the reader's first rows of each reason, the model's all
    reasons: tuple[str, ...]  # the reader's count for each reason, as sentences
    notes: tuple[str, ...]  # what else the reader did: a header row, rows cut, a limit reached
    seconds: float


LOG = logging.getLogger(__name__)
UPLOAD_HELP = (
    f"Up to the server's upload limit (16 MB). UTF-8, or UTF-16/UTF-32 with a byte-order mark; any line ending. "
    f"Rows that are empty or not UTF-8 are skipped and counted. Rows longer than {MAX_ROW_CHARS:,} characters are "
    f"cut there; at most {MAX_SENTENCES:,} readable rows (or the number set below) and {MAX_LINES:,} lines are "
    "read. In a .csv the column named 'text' or 'sentence' is read, else the first; without such a column the "
    "first row is taken as a header when every cell looks like a column name (short, no sentence punctuation, "
    "not a number)."
)


def gathered_sentences(source: str, upload, limit: int) -> Sentences | None:
    """The first `limit` sentences the person chose, or None after saying what is missing."""
    if source == SOURCES[0]:
        return state.example_corpus()
    if source == SOURCES[1]:
        text = st.session_state.get("corp_paste", "")
        if not text.strip():
            ui.show_problem("info", "Paste some sentences, one per line.")
            return None
        # Blank lines between pasted paragraphs are not worth a report.
        return read_sentences(io.StringIO(text), kind="txt", max_rows=limit).without(EMPTY)
    if upload is None:
        ui.show_problem("info", "Choose a .txt file (one sentence per line) or a .csv file (a 'text' or 'sentence' "
                                "column, else the first column).")
        return None
    try:
        upload.seek(0)  # a second run reads the same upload again from its start
        return read_sentences(upload, max_rows=limit)
    except ValueError as error:  # what read_sentences says about a file it refuses
        ui.show_problem("error", "This file cannot be read.", str(error))
    except Exception:  # anything else a hostile file provokes: one sentence here, the traceback in the log
        LOG.exception("Reading an uploaded corpus failed")
        ui.show_problem("error", "This file cannot be read: reading it failed. Save it as UTF-8 text (.txt, one "
                                 "sentence per line, or .csv) and upload it again.")
    return None


def run_corpus(sentences: Sentences, limit: int, sample_size: int) -> None:
    """Statistics over the first `limit` sentences and the head map of a sample, with a progress bar that
    says the time left; the results go into the session."""
    source = session.current_input().source
    model = opening.current_model()
    if model is None:
        return
    texts, rows = sentences.texts[:limit], sentences.rows[:limit]
    bar = st.progress(0.0, text="Starting…")
    started = time.perf_counter()

    def progress(phase: str, share: tuple[float, float]):
        phase_start = time.perf_counter()

        def report(done: int, total: int) -> None:
            left = seconds_left(done, total, time.perf_counter() - phase_start)
            fraction = share[0] + (share[1] - share[0]) * (done / total if total else 1.0)
            when = "estimating the time left…" if left is None else f"about {left:.0f} s left"
            bar.progress(min(fraction, 1.0), text=f"{phase}: {done:,} of {total:,} sentences · {when}")
        return report

    # A sentence of the head map costs about twice one of the statistics (measured: 26 ms against 15 ms on
    # the example corpus, 2 busy cores), so the bar gives each phase its share of the expected time.
    weight = len(texts) / (len(texts) + 2 * min(sample_size, len(texts)))
    stats = corpus_statistics(model, texts, progress=progress("Statistics", (0.0, weight)), row_numbers=rows)
    try:
        head_map = corpus_head_map(model, texts, sample_size=sample_size, row_numbers=rows,
                                   progress=progress("Head map", (weight, 1.0)))
    except ValueError as error:
        bar.empty()
        ui.show_problem("warning", "No sentence of the corpus could be read.", str(error))
        return
    bar.empty()
    model_skipped = stats.attrs["skipped"]  # at most `limit` rows: the model's, each named
    skipped = tuple(sorted({*sentences.skipped_examples(), *model_skipped}))
    reasons = tuple(tally.sentence() for tally in sentences.skipped)
    examples = {i: texts[i] for i in set(head_map.example.tolist()) if i >= 0}  # −1: a head with no example
    st.session_state[RESULT] = CorpusResult(source, model.name, examples, head_patterns(stats), head_map,
                                            sentences.n_skipped + len(model_skipped), skipped, reasons,
                                            tuple(sentences.notes()), time.perf_counter() - started)


def open_clicked(chart_key: str) -> None:
    """Open the clicked head on the Attention page, with the sentence where it is most focused."""
    points = st.session_state[chart_key].selection.points
    result: CorpusResult | None = st.session_state.get(RESULT)
    if not points or result is None:
        return
    layer, head = points[0]["customdata"][:2]
    n_heads = int(result.stats["head"].max()) + 1
    example = result.examples.get(int(result.head_map.example[layer * n_heads + head]))
    if example is None:
        return
    st.session_state.text = example
    st.session_state.pair = ""
    st.session_state.model_source = result.source  # the model the statistics are about
    selection.choose(int(layer), int(head))
    st.session_state[OPEN_FLAG] = True


opening.page_header(":material/library_books: Corpus",
                    "Head statistics from one sentence are anecdotes: here each head's statistics are averaged over "
                    "many sentences (Clark et al. 2019, “What Does BERT Look At?”), on the model chosen in the "
                    "sidebar. Click a cell or a point to open that head on the Attention page.")
if st.session_state.pop(OPEN_FLAG, False):
    st.switch_page(ATTENTION_PAGE)

# The other views of a corpus live in pages/parts/corpus_*.py; only the chosen one runs.
SECTIONS = ("Head statistics", "Similar contexts", "Query–key map", "By label")
session.keep_valid("corp_section", list(SECTIONS), SECTIONS[0])
section = st.segmented_control("View", SECTIONS, key="corp_section", label_visibility="collapsed")
if section == SECTIONS[1]:
    from pages.parts import corpus_contexts

    corpus_contexts.render()
    st.stop()
if section == SECTIONS[2]:
    from pages.parts import corpus_qk_map

    corpus_qk_map.render()
    st.stop()
if section == SECTIONS[3]:
    from pages.parts import corpus_labels

    corpus_labels.render()
    st.stop()


session.keep_valid("corp_source", list(SOURCES), SOURCES[0])
session.keep_valid("corp_sample", SAMPLE_SIZES, 32)
session.keep_valid("corp_statistic", list(STATISTICS), "entropy")
limit = session.as_int(st.session_state.get("corp_limit"), DEFAULT_LIMIT)
st.session_state.corp_limit = min(max(limit, 10), MAX_SENTENCES)
upload = None  # the uploaded file, when that is the source
with st.container(border=True):
    source = st.radio("Sentences", SOURCES, key="corp_source", horizontal=True)
    if source == SOURCES[0]:
        st.caption(f"{len(state.example_corpus()):,} sentences written for Headlight (assets/corpus.txt): everyday "
                   "prose, questions, names, numbers and lists.")
    elif source == SOURCES[1]:
        st.text_area("One sentence per line", key="corp_paste", height=160, max_chars=MAX_PASTE_CHARS,
                     placeholder="The cat sat on the mat.\nWhere did you park the car?")
    else:
        # The widget's return value, not session state: the same object either way, and a test can stand in for it.
        upload = st.file_uploader("A .txt file (one sentence per line) or a .csv file (a 'text' or 'sentence' "
                                  "column)", type=["txt", "csv"], key="corpup_file", help=UPLOAD_HELP)
    columns = st.columns([1, 1, 1], gap="medium", vertical_alignment="bottom")
    with columns[0]:
        limit = st.number_input("Use at most this many sentences", 10, MAX_SENTENCES, step=100,
                                key="corp_limit", help=f"The first ones of the list, at most {MAX_SENTENCES:,}; a file "
                                                       "is read no further. Statistics run at about 60 sentences a "
                                                       "second on 2 cores.")
    with columns[1]:
        sample = st.select_slider("Sentences for the head map", SAMPLE_SIZES, key="corp_sample",
                                  help="The distances between every pair of heads are measured on a seeded random "
                                       "sample, which bounds their time.")
    with columns[2]:
        clicked = st.button("Run on the corpus", key="corpbtn_run", type="primary", icon=":material/play_arrow:",
                            width="stretch")

if clicked:
    sentences = gathered_sentences(source, upload, int(limit))
    if sentences is not None:
        if not sentences.texts:
            ui.show_problem("warning", "No readable sentence in this input.")
        else:
            run_corpus(sentences, int(limit), int(sample))

result: CorpusResult | None = st.session_state.get(RESULT)
if result is None:
    st.info("Choose the sentences and press **Run on the corpus**.", icon=":material/info:")
    st.stop()

stats, head_map = result.stats, result.head_map
n_layers, n_heads = int(stats["layer"].max()) + 1, int(stats["head"].max()) + 1
n_sentences = stats.attrs["n_sentences"]
st.caption(f"{result.model_name} · {n_sentences:,} sentences of about {stats.attrs.get('n_tokens', 0)} tokens · "
           f"head map from {len(head_map.sample)} of them · {result.seconds:.1f} s.")
if result.source != session.current_input().source:
    ui.show_problem("info", "These results are for another model than the sidebar's; clicking a head switches the "
                            "sidebar back to that model. Run again to measure the sidebar's model.", result.model_name)
if result.notes:
    ui.show_problem("info", "How the file was read:", "\n".join(result.notes))  # may quote its header: plain text
if result.n_skipped:
    count = result.n_skipped
    with st.expander(f"{count:,} row{'s' * (count != 1)} skipped", icon=":material/warning:"):
        if result.reasons:
            st.text("\n".join(result.reasons))
        st.dataframe(pd.DataFrame(result.skipped, columns=["row", "reason"]), hide_index=True, height=200)
        if count > len(result.skipped):
            st.caption(f"The first {EXAMPLES} rows of each reason the file had are listed; the others are counted.")

st.subheader("Statistics, layer by layer")
statistic = st.selectbox("Statistic", STATISTICS, key="corp_statistic", width=360,
                         format_func=lambda name: STATISTIC_NAMES[name][0])
title, unit = STATISTIC_NAMES[statistic]
values = stats[statistic].to_numpy().reshape(n_layers, n_heads)  # (L, H): rows are ordered layer, then head
ui.chart(figures.statistic_heatmap(values, title, unit, n_sentences), "chart_corpus_statistic",
         on_select=lambda: open_clicked("chart_corpus_statistic"),
         caption="Entropy is in nats (a uniform row over T tokens has ln T); masses are the mean share of each "
                 "row; distance is the attention-weighted |i − j| in tokens. Each cell is a mean over sentences.")

st.subheader("Heads that attend alike sit together")
ui.chart(figures.head_map_scatter(head_map.xy, head_map.layer, head_map.head, stats["pattern"].tolist(),
                                  stats["reason"].tolist(), len(head_map.sample)),
         "chart_corpus_head_map", on_select=lambda: open_clicked("chart_corpus_head_map"),
         caption="Distance between two heads = the Jensen–Shannon divergence between their attention rows, "
                 "averaged over the sampled sentences (Clark et al. §6); multidimensional scaling (scikit-learn) "
                 "draws those distances in 2-D. Colour is the pattern the corpus means show. Clicking a head opens "
                 "it on the sentence of the sample where it is most focused.")

table = stats.assign(layer=stats["layer"] + 1, head=stats["head"] + 1)
st.download_button("Statistics (CSV)", lambda: csv_text(table), "corpus-head-statistics.csv", "text/csv",
                   key="dl_corpus_statistics", on_click="ignore", icon=":material/table_view:",
                   help="One row per head (layers and heads counted from 1), with its pattern and the rule behind it.")
