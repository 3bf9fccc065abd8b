"""Corpus statistics: reading files, streaming means equal to a hand loop, the CLI, and Ray equal to one process."""

from __future__ import annotations

import io
import weakref

import numpy as np
import pandas as pd
import pytest

from encoder.analysis import STATISTICS, head_statistics
from encoder.corpus import Tally, corpus_head_map, corpus_statistics, read_sentences
from encoder.corpus.reading import CHUNK_BYTES, EXAMPLES, MAX_ROW_CHARS
from encoder.corpus.statistics import seconds_left

SENTENCES = [
    "The cat sat on the mat.",
    "Why do leaves turn red in autumn?",
    '"I will be there by noon," she said.',
    "Marie Curie won two Nobel Prizes.",
    "The train leaves at 7:45 from platform 3, not 4.",
    "Rain.",
    "A far longer sentence, with commas, subwords like unbelievably, and numbers such as 1984 in it.",
    "Bees dance to tell each other where the flowers are.",
    "Émile a mangé 3 croissants à Paris.",
    "Can you pass the salt, please?",
    "The committee postponed its decision until March.",
]


@pytest.fixture(scope="module")
def expected(model):
    """The reference: head_statistics of each single run of SENTENCES, averaged by pandas."""
    frames = [head_statistics(model.run(text)) for text in SENTENCES]
    return pd.concat(frames).groupby(["layer", "head"], as_index=False)[list(STATISTICS)].mean()


# --- reading -------------------------------------------------------------------------------------------

def test_txt_rows_skip_empty_and_badly_encoded_lines(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("\ufeffFirst line.\r\n\n  \nCaf\xe9 ok.\n".encode() + b"Bad \xff byte.\nLast one.\n")
    sentences = read_sentences(path)
    assert sentences.texts == ("First line.", "Café ok.", "Last one.")
    assert sentences.rows == (1, 4, 6)
    empty, bad = sentences.skipped
    assert (empty.reason, empty.count, empty.rows) == ("empty", 2, (2, 3))
    assert bad.examples == ((5, "not valid UTF-8 (byte 0xff at character 5)"),)
    assert sentences.n_skipped == 3 and sentences.skipped_examples() == [(2, "empty"), (3, "empty"), bad.examples[0]]
    assert bad.sentence() == "1 row was not valid UTF-8 (row 5)."
    assert sentences.notes() == [] and sentences.lines == 6


def test_skipped_rows_are_counted_with_the_first_few_named():
    data = b"".join(b"Good.\n\nBad \xfe.\n" for _ in range(30))
    sentences = read_sentences(io.BytesIO(data), kind="txt")
    empty, bad = sentences.skipped
    assert empty.count == bad.count == 30 and len(sentences.texts) == 30
    assert empty.rows == tuple(range(2, 2 + 3 * EXAMPLES, 3))  # 20 named, the other 10 counted
    assert empty.sentence().startswith("30 rows were empty (rows 2, 5, 8,") and empty.sentence().endswith(
        "56, 59 and 10 more).")
    assert sentences.without("empty").skipped == (bad,)


def test_line_endings_cr_lf_and_crlf_but_not_form_feed_or_line_separator():
    data = "One.\rTwo.\r\nThree\x0cstill three\u2028same.\nFour.\r\rSix.".encode()
    sentences = read_sentences(io.BytesIO(data), kind="txt")
    assert sentences.texts == ("One.", "Two.", "Three\x0cstill three\u2028same.", "Four.", "Six.")
    assert sentences.rows == (1, 2, 3, 4, 6)


class Trickle(io.RawIOBase):
    """A binary stream that hands out at most `step` bytes a read and refuses to be read whole."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step, self.position, self.sizes = data, step, 0, []

    def readable(self):
        return True

    def read(self, size=-1):
        assert size is not None and size > 0, "the file must be read in chunks, never whole"
        self.sizes.append(size)
        chunk = self.data[self.position:self.position + min(size, self.step)]
        self.position += len(chunk)
        return chunk


def test_reading_streams_in_chunks_and_lines_cross_chunk_boundaries():
    text = "Première phrase.\r\nDeuxième, un peu plus longue.\rTroisième.\n" * 50
    for encoding in ("utf-8", "utf-16", "utf-32"):
        stream = Trickle(text.encode(encoding), step=7)  # cuts CRLF pairs and multi-byte characters in two
        sentences = read_sentences(stream, kind="txt")
        assert sentences.texts == ("Première phrase.", "Deuxième, un peu plus longue.", "Troisième.") * 50, encoding
        assert max(stream.sizes) <= CHUNK_BYTES


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_unicode_encodings_by_byte_order_mark(encoding):
    text = "Émile a mangé.\nWhy?\n"
    # utf-16, utf-32 and utf-8-sig write their own byte-order mark; the -le/-be codecs need it written.
    data = ("\ufeff" + text).encode(encoding) if encoding.startswith("utf-16-") else text.encode(encoding)
    if encoding.startswith("utf-16-"):  # without its mark, the NULs of every other byte say UTF-16
        assert read_sentences(io.BytesIO(data[2:]), kind="txt").texts == ("Émile a mangé.", "Why?")
    sentences = read_sentences(io.BytesIO(data), kind="txt")
    assert sentences.texts == ("Émile a mangé.", "Why?") and not sentences.skipped


def test_a_binary_file_is_refused_in_a_sentence():
    with pytest.raises(ValueError, match="looks like a binary file"):
        read_sentences(io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x10"), kind="txt")
    with pytest.raises(ValueError, match="looks like a binary file"):  # a NUL far into a UTF-8 file too
        read_sentences(Trickle(b"Fine.\n" * 20_000 + b"\x00", 1 << 16), kind="txt")


def test_rows_are_cut_before_tokenizing_and_limits_stop_reading():
    long = "word " * 1_000  # 5,000 characters
    sentences = read_sentences(io.StringIO(f"Short.\n{long}\n\n\nA.\nB.\nC.\n"), kind="txt", max_rows=3)
    assert sentences.texts[1] == long[:MAX_ROW_CHARS].strip() and sentences.truncated.rows == (2,)
    assert sentences.texts == ("Short.", sentences.texts[1], "A.") and sentences.lines == 5
    assert sentences.stopped.startswith("Reading stopped at line 5 after 3 readable rows")
    assert sentences.notes() == [f"1 row was longer than {MAX_ROW_CHARS:,} characters, cut there (row 2).",
                                 sentences.stopped]
    few = read_sentences(io.StringIO("\n" * 50 + "Late.\n"), kind="txt", max_lines=10)
    assert few.texts == () and few.skipped[0].count == 10 and "after 10 lines" in few.stopped
    unlimited = read_sentences(io.StringIO("\n" * 50 + "Late.\n"), kind="txt", max_lines=None, max_rows=None)
    assert unlimited.texts == ("Late.",) and not unlimited.stopped
    # A row exactly at the limit is not cut; the cap needs no readable row after it to be reached quietly.
    exact = read_sentences(io.StringIO("x" * MAX_ROW_CHARS + "\nA.\n\n"), kind="txt", max_rows=2)
    assert exact.truncated is None and not exact.stopped


def test_csv_reads_the_named_column_with_multiline_records():
    data = b'id,Sentence\n1,"Hello there."\n2,"Two\nlines."\n3,\n4,"Last, with a comma."\n'
    upload = io.BytesIO(data)
    upload.name = "upload.CSV"  # what Streamlit's UploadedFile carries
    sentences = read_sentences(upload)
    assert sentences.texts == ("Hello there.", "Two\nlines.", "Last, with a comma.")
    assert sentences.rows == (2, 3, 6)  # the line each record starts on
    assert sentences.skipped == (Tally("empty", 1, ((5, "empty"),)),)
    assert sentences.header == ()  # a named column needs no word


def test_csv_without_a_text_header_reads_the_first_column():
    sentences = read_sentences(io.StringIO("One sentence.,x\nAnother one.,y\n"), kind="csv")
    assert sentences.texts == ("One sentence.", "Another one.") and sentences.rows == (1, 2)


@pytest.mark.parametrize(("first", "header"), [
    ("review_body,stars", True), ("Review text", True), ("col.1,label-2", True),
    ("Hello there.", False), ("1,2", False), ("-3.5e2,x", False), ("What now?", False),
    ("A sentence that goes on for more than three words", False), (",x", False),
])
def test_csv_header_rule(first, header):
    sentences = read_sentences(io.StringIO(f"{first}\nThe cat sat.,5\n"), kind="csv")
    assert (sentences.header != ()) is header
    assert sentences.texts[-1] == "The cat sat." and len(sentences.texts) == (1 if header else 2) - (first[0] == ",")
    if header:
        assert sentences.notes()[0].startswith("Row 1 was read as the CSV's header (")


def test_csv_errors_become_sentences():
    with pytest.raises(ValueError, match=r"This CSV cannot be read at line .*field larger than field limit"):
        read_sentences(io.StringIO('text\n"' + "x\n" * 70_000 + '"\n'), kind="csv")
    with pytest.raises(ValueError, match="Line 2 of this CSV is longer than 131,072 characters"):
        read_sentences(io.StringIO("text\n" + "x" * 200_000 + "\n"), kind="csv")
    long_cell = read_sentences(io.StringIO("text\n" + "y" * 5_000 + "\n"), kind="csv")
    assert long_cell.texts == ("y" * MAX_ROW_CHARS,) and long_cell.truncated.count == 1


def test_other_file_kinds_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"\.txt files .* \.csv files .* not \.xlsx"):
        read_sentences(tmp_path / "book.xlsx")
    with pytest.raises(ValueError, match="txt or csv"):
        read_sentences(io.BytesIO(b"no name"))


# --- streaming statistics ------------------------------------------------------------------------------

class CountingModel:
    """The real model, watched: how many texts each run_batch gets, and how many Runs are still alive then."""

    def __init__(self, model):
        self.model, self.tokenizer = model, model.tokenizer
        self.batch_sizes, self.alive_at_call, self._runs = [], [], []

    def run_batch(self, texts, batch_size=32, **options):
        self.alive_at_call.append(sum(ref() is not None for ref in self._runs))
        self.batch_sizes.append(len(texts))
        runs = self.model.run_batch(texts, batch_size, **options)
        self._runs += [weakref.ref(run) for run in runs]
        return runs

    def run(self, *args, **options):
        raise AssertionError("corpus statistics must go through run_batch")


def test_means_equal_a_hand_loop_and_bad_rows_are_reported(model, expected):
    texts = [*SENTENCES[:5], "   ", *SENTENCES[5:], 42, "\x00\x01"]
    stats = corpus_statistics(model, texts, batch_size=4, row_numbers=range(10, 10 + len(texts)))
    assert list(stats.columns) == list(head_statistics(model.run("x")).columns)
    assert len(stats) == model.config.n_layers * model.config.n_heads
    np.testing.assert_array_equal(stats[["layer", "head"]], expected[["layer", "head"]])
    np.testing.assert_allclose(stats[list(STATISTICS)], expected[list(STATISTICS)], atol=1e-5)
    assert stats.attrs["n_sentences"] == len(SENTENCES)
    assert [row for row, _ in stats.attrs["skipped"]] == [15, 22, 23]
    reasons = dict(stats.attrs["skipped"])
    assert "empty" in reasons[15] and reasons[22] == "not text (int)" and "control characters" in reasons[23]


def test_streams_one_batch_at_a_time_with_progress(model, expected):
    watched, calls = CountingModel(model), []
    stats = corpus_statistics(watched, SENTENCES, batch_size=3, progress=lambda *call: calls.append(call))
    assert watched.batch_sizes == [3, 3, 3, 2]  # never all texts at once
    assert watched.alive_at_call == [0] * 4  # each batch's runs (and attention maps) are gone before the next
    assert calls == [(0, 11), (3, 11), (6, 11), (9, 11), (11, 11)]
    np.testing.assert_allclose(stats[list(STATISTICS)], expected[list(STATISTICS)], atol=1e-5)


def test_nothing_readable_gives_an_empty_table(model):
    stats = corpus_statistics(model, ["", "  "])
    assert stats.empty and list(stats.columns) == ["layer", "head", *STATISTICS]
    assert stats.attrs["n_sentences"] == 0 and len(stats.attrs["skipped"]) == 2


def test_seconds_left():
    assert seconds_left(0, 10, 5.0) is None
    assert seconds_left(5, 20, 10.0) == pytest.approx(30.0)
    assert seconds_left(20, 20, 10.0) == 0


def test_head_map_is_clark_distances_over_the_sample(model):
    from encoder.analysis import head_distances, head_map

    texts = [SENTENCES[0], "", SENTENCES[3], SENTENCES[5], SENTENCES[9]]
    whole = corpus_head_map(model, texts, sample_size=10, batch_size=2)
    readable = [0, 2, 3, 4]
    runs = [model.run(texts[i]) for i in readable]
    assert whole.sample == tuple(readable) and [row for row, _ in whole.skipped] == [2]
    np.testing.assert_allclose(whole.distances, head_distances([run.attentions for run in runs]), atol=1e-6)
    np.testing.assert_array_equal(whole.xy, head_map(whole.distances))
    assert whole.xy.shape == (72, 2) and (whole.layer[13], whole.head[13]) == (1, 1)
    # Each head's example is the sentence where its entropy is the smallest share of ln T.
    focus = np.stack([head_statistics(run)["entropy"].to_numpy() / np.log(run.n_tokens) for run in runs])  # (S, 72)
    chosen = focus[[readable.index(i) for i in whole.example], np.arange(72)]
    np.testing.assert_allclose(chosen, focus.min(axis=0), atol=1e-6)
    sampled = corpus_head_map(model, texts, sample_size=2, seed=3)
    assert len(sampled.sample) + len(sampled.skipped) == 2 and set(sampled.sample) <= set(readable)


# --- the command line ----------------------------------------------------------------------------------

def test_cli_writes_parquet_and_csv(model, expected, tmp_path, monkeypatch, capsys):
    import encoder.loading
    from encoder.corpus.__main__ import main

    monkeypatch.setattr(encoder.loading, "load_model", lambda source=None: model)  # loaded once per session
    source = tmp_path / "in.txt"
    source.write_text("\n".join([*SENTENCES[:4], "", *SENTENCES[4:]]) + "\n", encoding="utf-8")
    assert main([str(source), "--out", str(tmp_path / "stats.parquet"), "--batch-size", "3"]) == 0
    assert main([str(source), "--out", str(tmp_path / "stats.csv")]) == 0
    from_parquet = pd.read_parquet(tmp_path / "stats.parquet")
    from_csv = pd.read_csv(tmp_path / "stats.csv")
    for table in (from_parquet, from_csv):
        np.testing.assert_allclose(table[list(STATISTICS)], expected[list(STATISTICS)], atol=1e-5)
    assert from_parquet.attrs["n_sentences"] == 11 and from_parquet.attrs["skipped"] == [[5, "empty"]]
    err = capsys.readouterr().err
    assert "skipped row 5: empty" in err and "11/11 sentences" in err
    with pytest.raises(SystemExit):
        main([str(source), "--out", str(tmp_path / "stats.json")])


# --- Ray: the same numbers from a local 2-worker cluster -----------------------------------------------

def test_ray_equals_the_single_process(model):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-scale.txt")
    from encoder.corpus.ray_engine import ray_corpus_statistics

    texts = [f"{sentence} ({number})" for number in range(4) for sentence in SENTENCES[:10]]  # 40 texts
    texts[7] = ""
    calls = []
    by_ray = ray_corpus_statistics(texts, None, batch_size=8, workers=2,
                                   progress=lambda done, total: calls.append((done, total)))
    single = corpus_statistics(model, texts, batch_size=8)
    np.testing.assert_array_equal(by_ray[["layer", "head"]], single[["layer", "head"]])
    np.testing.assert_allclose(by_ray[list(STATISTICS)], single[list(STATISTICS)], atol=1e-5)
    assert by_ray.attrs == single.attrs and by_ray.attrs["skipped"][0][0] == 8
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (40, 40) and len(calls) > 2
