"""Hostile Corpus uploads (issue 16, findings 2, 4 and 10): each file a visitor could send (≤ 16 MB,
Streamlit's upload limit) is read with bounded memory, within the stated limits, and the Corpus page
answers it with a sentence, never a traceback.

Memory is measured in a subprocess that loads encoder/corpus/reading.py alone (it imports only the
standard library), so the peak it reports is the reading's own and not torch's: peak RSS (VmHWM)
minus the RSS before reading. Before streaming, 14.9 million empty lines added about 2.7 GB here.
No wall-clock asserts: the machine is shared.
"""

from __future__ import annotations

import codecs
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from encoder.corpus.reading import MAX_LINES, MAX_ROW_CHARS, MAX_ROWS

ROOT = Path(__file__).resolve().parents[1]
READING = ROOT / "encoder" / "corpus" / "reading.py"
MEMORY_BOUND_MB = 300  # the stated bound for one upload of ≤ 16 MB (README, "On a server")
SIZE = 15_000_000  # bytes: just under Streamlit's 16 MB upload limit

# Reads one file as the Corpus page does (an in-memory upload with a name, like Streamlit's
# UploadedFile) and prints what came back with the peak memory growth, as JSON.
PROBE = r"""
import importlib.util, io, json, sys
spec = importlib.util.spec_from_file_location("reading", sys.argv[1])
reading = importlib.util.module_from_spec(spec)
sys.modules["reading"] = reading
spec.loader.exec_module(reading)
upload = io.BytesIO(open(sys.argv[2], "rb").read())
upload.name = sys.argv[2]

def status(key):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith(key)) / 1024

before = status("VmRSS:")
try:
    sentences = reading.read_sentences(upload)
    result = dict(n_texts=len(sentences.texts), longest=max(map(len, sentences.texts), default=0),
                  first=sentences.texts[:2], rows=sentences.rows[:2], stopped=sentences.stopped,
                  lines=sentences.lines, header=sentences.header, notes=sentences.notes(),
                  skipped={t.reason: t.count for t in sentences.skipped},
                  named=max((len(t.examples) for t in sentences.skipped), default=0))
except Exception as error:
    result = dict(error=type(error).__name__, message=str(error))
result["growth_mb"] = status("VmHWM:") - before
print(json.dumps(result))
"""


def hostile_files() -> dict[str, bytes]:
    sentence = "The committee postponed its decision until March.\n"
    return {
        "sentence_and_empty_lines.txt": b"The cat sat on the mat.\n" + b"\n" * 14_900_000,
        "blank_lines.txt": b"\n" * SIZE,
        "one_line.txt": b"word " * (SIZE // 5),
        "utf16.txt": codecs.BOM_UTF16_LE + (sentence * (SIZE // 100)).encode("utf-16-le"),
        "cr_only.txt": ("Short line here.\r" * (SIZE // 17)).encode(),
        "no_text_column.csv": b"review_body,stars\n" + b"A fine film with a slow start.,5\n" * (SIZE // 34),
        "huge_field.csv": b'id,text\n1,"' + b"x" * SIZE + b'"\n',
        "binary.txt": b"\x89PNG\r\n\x1a\n" + b"\0\1\2\3" * (SIZE // 4),
    }


@pytest.fixture(scope="module")
def read_back(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("hostile")
    results = {}
    for name, data in hostile_files().items():
        path = folder / name
        path.write_bytes(data)
        del data
        done = subprocess.run([sys.executable, "-c", PROBE, str(READING), str(path)], capture_output=True,
                              text=True, check=True, timeout=300)
        results[name] = json.loads(done.stdout)
        path.unlink()
    return results


def within_bound(result: dict) -> dict:
    assert result["growth_mb"] < MEMORY_BOUND_MB, result
    return result


@pytest.mark.parametrize("name", ["sentence_and_empty_lines.txt", "blank_lines.txt"])
def test_millions_of_empty_lines_stay_within_the_memory_bound(read_back, name):
    within_bound(read_back[name])  # before streaming: +2.7 GB each


def test_empty_lines_are_counted_and_reading_stops_at_the_line_limit(read_back):
    one = within_bound(read_back["sentence_and_empty_lines.txt"])
    assert one["n_texts"] == 1 and one["first"] == ["The cat sat on the mat."]
    assert one["lines"] == MAX_LINES and f"{MAX_LINES:,} lines" in one["stopped"]
    assert one["skipped"] == {"empty": MAX_LINES - 1} and one["named"] == 20  # counted, 20 named
    blank = within_bound(read_back["blank_lines.txt"])
    assert blank["n_texts"] == 0 and blank["skipped"] == {"empty": MAX_LINES} and blank["stopped"]


def test_one_huge_line_is_cut_before_tokenizing(read_back):
    line = within_bound(read_back["one_line.txt"])
    assert line["n_texts"] == 1 and line["longest"] <= MAX_ROW_CHARS
    assert any(f"longer than {MAX_ROW_CHARS:,} characters" in note for note in line["notes"])


def test_utf16_and_cr_only_files_are_read_as_lines(read_back):
    utf16 = within_bound(read_back["utf16.txt"])
    assert utf16["first"] == ["The committee postponed its decision until March."] * 2
    assert utf16["n_texts"] == MAX_ROWS and f"{MAX_ROWS:,} readable rows" in utf16["stopped"]
    cr = within_bound(read_back["cr_only.txt"])
    assert cr["first"] == ["Short line here."] * 2 and cr["rows"] == [1, 2] and cr["n_texts"] == MAX_ROWS


def test_a_csv_header_without_a_text_column_is_not_a_sentence(read_back):
    csv = within_bound(read_back["no_text_column.csv"])
    assert csv["header"] == ["review_body", "stars"] and csv["rows"] == [2, 3]
    assert csv["first"] == ["A fine film with a slow start."] * 2


def test_a_huge_csv_field_and_a_binary_file_are_refused_with_a_sentence(read_back):
    huge = within_bound(read_back["huge_field.csv"])
    assert huge["error"] == "ValueError" and "131,072 characters" in huge["message"]
    binary = within_bound(read_back["binary.txt"])
    assert binary["error"] == "ValueError" and "looks like a binary file" in binary["message"]


# --- the Corpus page: one sentence for whatever a file provokes, never a traceback ---------------------

def upload_on_page(monkeypatch, data: bytes, name: str):
    """The Corpus page with `data` as its upload. AppTest cannot drive st.file_uploader, so the widget is
    stood in for by what it returns in the browser: a BytesIO with the file's name (Streamlit's
    UploadedFile is one). The e2e suite uploads through the real widget."""
    import streamlit
    from apptest import app_test

    upload = io.BytesIO(data)
    upload.name = name
    monkeypatch.setattr(streamlit, "file_uploader", lambda *args, **kwargs: upload)
    at = app_test("corpus", corp_source="Upload a file", corp_sample=8)
    at.button(key="corpbtn_run").click().run()
    assert not at.exception, at.exception
    return at


def page_messages(at) -> str:
    return " ".join(str(element.value) for kind in ("error", "warning", "info", "text")
                    for element in at.get(kind))


@pytest.mark.parametrize(("data", "name", "said"), [
    (b'id,text\n1,"' + b"x" * 200_000 + b'"\n', "huge.csv", "longer than 131,072 characters"),
    (b'text\n"' + b"x\n" * 70_000 + b'"\n', "open-quote.csv", "field larger than field limit"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "picture.txt", "looks like a binary file"),
], ids=["huge-field", "open-quote", "binary"])
def test_the_page_refuses_a_hostile_file_in_one_sentence(monkeypatch, data, name, said):
    at = upload_on_page(monkeypatch, data, name)
    text = page_messages(at)
    assert "This file cannot be read." in text and said in text
    assert "Traceback" not in text and "/" not in text.split("This file cannot be read.")[1][:200]


def test_the_page_catches_what_the_reader_did_not_foresee(monkeypatch):
    import csv

    import encoder.corpus

    def raising(*args, **kwargs):
        raise csv.Error("line contains NUL")

    monkeypatch.setattr(encoder.corpus, "read_sentences", raising)
    at = upload_on_page(monkeypatch, b"A sentence.\n", "a.txt")
    assert "This file cannot be read: reading it failed." in page_messages(at)


def test_the_page_says_what_the_reader_did_and_keeps_little(monkeypatch):
    rows = [f"Sentence number {i} is here." for i in range(30)]
    data = ("review,stars\n" + "".join(f"{row},5\n" for row in rows[:3]) + ",\n" * 25 + "x" * 3000 + ",1\n"
            + "".join(f"{row},4\n" for row in rows[3:])).encode("utf-16")
    at = upload_on_page(monkeypatch, data, "reviews.csv")
    text = page_messages(at)
    assert "Row 1 was read as the CSV's header (review, stars)" in text
    assert f"1 row was longer than {MAX_ROW_CHARS:,} characters, cut there (row 30)" in text
    assert "25 rows were empty (rows 5, 6" in text and "and 5 more" in text
    (expander,) = [e for e in at.get("expander") if "skipped" in e.proto.label]
    assert expander.proto.label.startswith("25 rows skipped")
    result = at.session_state["_corp_result"]
    assert result.stats.attrs["n_sentences"] == 31
    # The session keeps the statistics and the sentences a click opens, not the file's texts.
    assert len(result.examples) <= 8 and not hasattr(result, "texts")
