"""Corpus statistics: reading files, streaming means equal to a hand loop, the CLI, and Ray equal to one process."""

from __future__ import annotations

import io
import weakref

import numpy as np
import pandas as pd
import pytest

from encoder.analysis import STATISTICS, head_statistics
from encoder.corpus import corpus_head_map, corpus_statistics, read_sentences
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
    assert [row for row, _ in sentences.skipped] == [2, 3, 5]
    assert sentences.skipped[0][1] == "empty"
    assert sentences.skipped[2][1] == "not valid UTF-8 (byte 0xff at character 5)"


def test_csv_reads_the_named_column_with_multiline_records():
    data = b'id,Sentence\n1,"Hello there."\n2,"Two\nlines."\n3,\n4,"Last, with a comma."\n'
    upload = io.BytesIO(data)
    upload.name = "upload.CSV"  # what Streamlit's UploadedFile carries
    sentences = read_sentences(upload)
    assert sentences.texts == ("Hello there.", "Two\nlines.", "Last, with a comma.")
    assert sentences.rows == (2, 3, 6)  # the line each record starts on
    assert sentences.skipped == ((5, "empty"),)


def test_csv_without_a_text_header_reads_the_first_column():
    sentences = read_sentences(io.StringIO("One sentence.,x\nAnother one.,y\n"), kind="csv")
    assert sentences.texts == ("One sentence.", "Another one.") and sentences.rows == (1, 2)


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
