"""Sentences from a .txt file (one per line) or a .csv file (a `text` or `sentence` column, else the first).

Files are read as bytes and decoded row by row, so one badly encoded row is reported and skipped
instead of failing the whole corpus: an upload of ten thousand lines should not be lost to one
stray Latin-1 byte. Nothing here knows about models.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

KINDS = ("txt", "csv")
TEXT_COLUMNS = ("text", "sentence")  # header names that mark the column to read, case-insensitive
# Bytes that are not UTF-8 survive decoding with "surrogateescape" as lone surrogates
# U+DC80..U+DCFF (PEP 383), so each row can say which byte was bad.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Sentences:
    """What a file held: the readable sentences, the row each came from, and the rows left out."""

    texts: tuple[str, ...]
    rows: tuple[int, ...]  # 1-based line (.txt) or line where the record starts (.csv), one per text
    skipped: tuple[tuple[int, str], ...]  # (row, reason), in file order

    def __len__(self) -> int:
        return len(self.texts)


def read_sentences(source: str | Path | BinaryIO | TextIO, kind: str | None = None) -> Sentences:
    """Read sentences from a path or an open file (such as Streamlit's UploadedFile).

    kind is "txt" or "csv"; without it the file name's extension decides (a file object's `name`).
    Empty rows and rows that are not valid UTF-8 are skipped and listed in `Sentences.skipped`.
    Raises ValueError for any other kind of file.
    """
    kind = _kind_of(source, kind)
    if isinstance(source, str | Path):
        data: bytes | str = Path(source).read_bytes()
    else:
        data = source.read()
    text = data if isinstance(data, str) else data.decode("utf-8", errors="surrogateescape")
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the first sentence
    records = _txt_records(text) if kind == "txt" else _csv_records(text)
    texts, rows, skipped = [], [], []
    for row, value in records:
        reason = _problem(value)
        if reason:
            skipped.append((row, reason))
        else:
            texts.append(value.strip())
            rows.append(row)
    return Sentences(tuple(texts), tuple(rows), tuple(skipped))


def _kind_of(source: object, kind: str | None) -> str:
    if kind is None:
        name = str(source) if isinstance(source, str | Path) else str(getattr(source, "name", "") or "")
        kind = Path(name).suffix.lower().lstrip(".")
        if not kind:
            raise ValueError("Say whether the sentences are txt or csv: the file has no name to tell from.")
    kind = kind.lower().lstrip(".")
    if kind not in KINDS:
        raise ValueError(
            f"Headlight reads .txt files (one sentence per line) or .csv files (a 'text' or 'sentence' "
            f"column, else the first column), not .{kind}."
        )
    return kind


def _txt_records(text: str) -> list[tuple[int, str]]:
    # split("\n"), not splitlines(): a form feed or U+2028 inside a sentence does not start a new one.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [(number, line.removesuffix("\r")) for number, line in enumerate(lines, start=1)]


def _csv_records(text: str) -> list[tuple[int, str]]:
    """(line where the record starts, the chosen cell) for every data record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, str]] = []
    column = None
    start = 1
    for cells in reader:
        if column is None:
            header = [cell.strip().lower() for cell in cells]
            named = [header.index(name) for name in TEXT_COLUMNS if name in header]
            column = named[0] if named else 0
            if named:  # a header row names the column; it is not a sentence
                start = reader.line_num + 1
                continue
        records.append((start, cells[column] if column < len(cells) else ""))
        start = reader.line_num + 1
    return records


def _problem(value: str) -> str | None:
    """Why a row cannot be read, or None when it can."""
    bad = _ESCAPED_BYTE.search(value)
    if bad:
        byte = ord(bad.group()) - 0xDC00
        return f"not valid UTF-8 (byte 0x{byte:02x} at character {bad.start() + 1})"
    if not value.strip():
        return "empty"
    return None
