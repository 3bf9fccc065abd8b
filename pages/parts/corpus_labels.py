"""Statistics split by a label: a CSV with a label column (sentiment, source, language) gives each head's
statistics per label value, the difference between two labels, and which differences a permutation test
finds larger than chance (Benjamini–Hochberg over the statistic's heads). The CSV is read streamed with the
corpus reader's caps; the session keeps the per-sentence statistics only (2.9 KB a sentence for MiniLM)."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

import opening
import session
import ui
from encoder.analysis import STATISTICS
from encoder.corpus.label_split import LabelSplit, compare_labels, label_means, read_labelled, split_by_label
from encoder.export import csv_text
from figures import label_split as figures
from figures.heads import STATISTIC_NAMES

SPLIT = "_corp_label_split"  # this session's LabelSplit
EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "sentiment.csv"
SOURCES = ("Example: sentiment.csv", "Upload a CSV")
MOST = 5_000  # rows read: about a minute and a half on 2 cores, 15 MB of statistics
PERMUTATIONS = (200, 1_000, 5_000)
ALPHAS = (0.01, 0.05, 0.1)
LOG = logging.getLogger(__name__)


def run_split(source: str, upload, column: str) -> None:
    model = opening.current_model()
    if model is None:
        return
    try:
        if source == SOURCES[0]:
            labelled = read_labelled(EXAMPLE, column, max_rows=MOST)
        else:
            if upload is None:
                ui.show_problem("info", "Choose a .csv file with a header row.")
                return
            upload.seek(0)
            labelled = read_labelled(upload, column, max_rows=MOST)
    except ValueError as error:
        ui.show_problem("error", "This file cannot be read.", str(error))
        return
    except Exception:  # anything else a hostile file provokes: one sentence here, the traceback in the log
        LOG.exception("Reading a labelled corpus failed")
        ui.show_problem("error", "This file cannot be read. Save it as a UTF-8 .csv with a header row.")
        return
    if not labelled.texts:
        ui.show_problem("warning", "No row had both a text and a label.")
        return
    bar, progress = ui.progress_bar("Statistics")
    split = split_by_label(model, labelled.texts, labelled.labels, progress=progress, row_numbers=labelled.rows)
    bar.empty()
    st.session_state[SPLIT] = split
    skipped = [f"{count:,} rows: {reason}" for reason, count in labelled.skipped.items()]
    skipped += [f"row {row}: {reason}" for row, reason in split.skipped[:20]]
    st.session_state["_corp_label_notes"] = tuple(skipped) + labelled.notes


def render() -> None:
    st.caption("Each head's statistics (Clark et al. 2019) per value of a label column, the difference between two "
               "labels, and a permutation test: the labels are shuffled among the two groups' sentences, and a "
               "difference is marked when it is larger than the shuffles make it, after a Benjamini–Hochberg "
               "correction over the statistic's heads (the share of false marks is expected to stay under the "
               "chosen level).")
    with st.container(border=True):
        session.keep_valid("corp_lab_source", list(SOURCES), SOURCES[0])
        source = st.radio("Labelled sentences", SOURCES, key="corp_lab_source", horizontal=True)
        upload = None
        if source == SOURCES[1]:
            upload = st.file_uploader(f"A .csv with a header: a 'text' or 'sentence' column and a label column (at "
                                      f"most {MOST:,} rows are read)", type=["csv"], key="corp_labup_file")
        columns = st.columns([2, 1], vertical_alignment="bottom")
        column = columns[0].text_input("Label column", "label", max_chars=64, key="corp_lab_column")
        clicked = columns[1].button("Split by label", key="corpbtn_lab_run", type="primary",
                                    icon=":material/call_split:")
    if clicked:
        run_split(source, upload, column)
    split: LabelSplit | None = st.session_state.get(SPLIT)
    if split is None:
        st.info("Choose a labelled CSV and press **Split by label**.", icon=":material/info:")
        return
    counts = split.counts
    st.caption(" · ".join(f"{ui.markdown_literal(label)}: {count:,} sentences" for label, count in counts.items()))
    if notes := st.session_state.get("_corp_label_notes"):
        with st.expander("Rows not read", icon=":material/warning:"):
            st.text("\n".join(notes))
    if len(counts) < 2:
        ui.show_problem("info", "This column holds one label value: there is nothing to compare.")
        return
    names = list(counts)
    columns = st.columns(4, vertical_alignment="bottom")
    session.keep_valid("corp_lab_a", names, names[0])
    session.keep_valid("corp_lab_b", names, names[1])
    a = columns[0].selectbox("Label A", names, key="corp_lab_a")
    b = columns[1].selectbox("Label B", names, key="corp_lab_b")
    session.keep_valid("corp_lab_perm", list(PERMUTATIONS), 1_000)
    permutations = columns[2].select_slider("Shuffles", PERMUTATIONS, key="corp_lab_perm")
    session.keep_valid("corp_lab_alpha", list(ALPHAS), 0.05)
    alpha = columns[3].select_slider("False discovery rate", ALPHAS, key="corp_lab_alpha")
    wanted = (id(split), a, b, int(permutations), float(alpha))
    kept = st.session_state.get("_corp_label_compared")
    if kept is None or kept[0] != wanted:  # the shuffles are seeded: the same choice gives the same table
        try:
            kept = (wanted, compare_labels(split, a, b, int(permutations), float(alpha)))
        except ValueError as error:
            ui.show_problem("info", "These two labels cannot be compared.", str(error))
            return
        st.session_state["_corp_label_compared"] = kept
    frame = kept[1]
    session.keep_valid("corp_lab_statistic", list(STATISTICS), "entropy")
    statistic = st.selectbox("Statistic", STATISTICS, key="corp_lab_statistic", width=360,
                             format_func=lambda name: STATISTIC_NAMES[name][0])
    title, unit = STATISTIC_NAMES[statistic]
    rows = frame[frame["statistic"] == statistic]
    n_layers, n_heads = split.values.shape[2:]
    shape = (n_layers, n_heads)
    fig = figures.difference_heatmap(rows["difference"].to_numpy().reshape(shape),
                                     rows["significant"].to_numpy().reshape(shape),
                                     rows["q_value"].to_numpy().reshape(shape), a, b, title, unit, float(alpha))
    ui.chart(fig, "chart_corpus_label_difference",
             caption=f"{int(frame['significant'].sum())} of {len(frame)} (statistic, head) differences are marked "
                     f"across all statistics; {int(rows['significant'].sum())} for this one ({permutations:,} "
                     "shuffles, seeded). Most statistics depend on sentence length (entropy grows with ln T, "
                     "masses on [CLS] and [SEP] shrink), so labels whose sentences differ in length differ for "
                     "that reason too.")
    table = frame.assign(layer=frame["layer"] + 1, head=frame["head"] + 1)
    st.download_button("Differences (CSV)", lambda: csv_text(table), "corpus-label-differences.csv", "text/csv",
                       key="dl_corpus_label_differences", on_click="ignore", icon=":material/table_view:")
    means = label_means(split)
    st.download_button("Statistics per label (CSV)", lambda: csv_text(means.assign(layer=means["layer"] + 1,
                                                                                    head=means["head"] + 1)),
                       "corpus-label-statistics.csv", "text/csv", key="dl_corpus_label_means", on_click="ignore",
                       icon=":material/table_view:")
