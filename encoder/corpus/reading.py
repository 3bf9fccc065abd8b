"""Sentences from a .txt file (one per line) or a .csv file (a `text` or `sentence` column, else the first).

Files are streamed: read in chunks of CHUNK_BYTES, decoded incrementally and split into lines as
they arrive, so an upload's memory is its chunk, the rows kept and a few counters, never the whole
file as one string split into millions of strings. A file shared by link must not be able to hold
gigabytes of a server (issue 16: 14.9 million empty lines used to add 3 GB).

Limits, each stated where it applies (the Corpus page says when one was reached):
- MAX_ROW_CHARS characters a row: longer rows are cut there before anything tokenizes them, and
  counted (`Sentences.truncated`).
- `max_rows` readable rows (MAX_ROWS by default): reading stops there (`Sentences.stopped`).
- `max_lines` lines scanned, readable or not (MAX_LINES by default), so a file of blank lines stops
  early rather than being walked to its end.
- A CSV line may hold at most CSV_MAX_LINE_CHARS characters (the csv module's own field limit);
  a longer one, like any csv.Error, refuses the file with a sentence (ValueError).
None for `max_rows` or `max_lines` means no limit (the command line uses that for big corpora).

Rows that cannot be read are counted per reason ("empty", "not valid UTF-8"), with the first
EXAMPLES rows of each, instead of a tuple per row: one badly encoded row is reported and skipped
instead of failing the whole corpus, and an upload of ten thousand lines is not lost to one stray
Latin-1 byte.

Encodings: UTF-8 (with or without a byte-order mark); UTF-16 and UTF-32 when a byte-order mark
says so, and UTF-16 without one when every other byte of mostly-ASCII text is NUL. Any other file
with NUL bytes is refused as binary. Line endings: LF, CRLF and CR alone (old Macs) all end a line;
a form feed or U+2028 inside a line does not.

CSV header rule: a first row with a cell named `text` or `sentence` (any case) is the header and
that column is read. Otherwise the first column is read, and the first row is a header, not a
sentence, when every one of its cells looks like a column name: a short identifier (a letter
first, then letters, digits, spaces, `_`, `-` or `.`, at most 32 characters and 3 words), not a
number, not ending in sentence punctuation. So `review_body,stars` is a header and
`The cat sat.,x` is a sentence; a headerless one-column file whose first row is a bare word or two
(`Hello there`) loses that row to this rule.

Nothing here knows about models, and nothing here imports streamlit.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

KINDS = ("txt", "csv")
TEXT_COLUMNS = ("text", "sentence")  # header names that mark the column to read, case-insensitive
MAX_ROW_CHARS = 2_000  # characters kept of one row; about 500 tokens, the longest a model here reads
MAX_ROWS = 20_000  # readable rows read from one file (the Corpus page's most sentences)
MAX_LINES = 200_000  # lines scanned in one file, empty or not
CSV_MAX_LINE_CHARS = csv.field_size_limit()  # 131,072: no field can be longer, so no line need be
EXAMPLES = 20  # rows named per reason; the rest are counted
CHUNK_BYTES = 1 << 16  # read and decode 64 KiB at a time

EMPTY = "empty"
NOT_UTF8 = "not valid UTF-8"
TRUNCATED = f"longer than {MAX_ROW_CHARS:,} characters, cut there"

ESCAPE_ERRORS = "headlight.escape"
# Bytes that do not decode become lone surrogates U+DC00 + byte (PEP 383's surrogateescape, extended
# to bytes below 0x80 so that it works for UTF-16 and UTF-32 too), so each row can say which byte was bad.
_ESCAPED_BYTE = re.compile("[\udc00-\udcff]")
_NEWLINE = re.compile("\r\n|\r|\n")
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .\-]{0,31}")
_NUMBER = re.compile(r"[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _escape(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start:error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(ESCAPE_ERRORS, _escape)


@dataclass(frozen=True)
class Tally:
    """Rows set aside for one reason: how many, and the first EXAMPLES of them as (row, detail)."""

    reason: str
    count: int
    examples: tuple[tuple[int, str], ...]

    @property
    def rows(self) -> tuple[int, ...]:
        return tuple(row for row, _ in self.examples)

    def sentence(self) -> str:
        """'3 rows were not valid UTF-8 (rows 5, 9 and 12).' or '…(rows 1, 2, …, 20 and 480 more).'"""
        names = [f"{row:,}" for row in self.rows]
        more = self.count - len(names)
        if more > 0:
            names.append(f"{more:,} more")
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
        plural = self.count != 1
        verb = "were" if plural else "was"
        return f"{self.count:,} row{'s' * plural} {verb} {self.reason} (row{'s' * plural} {listed})."


@dataclass
class _Counter:
    """A Tally being filled."""

    reason: str
    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)

    def add(self, row: int, detail: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((row, detail))

    def tally(self) -> Tally:
        return Tally(self.reason, self.count, tuple(self.examples))


@dataclass(frozen=True)
class Sentences:
    """What a file held: the readable sentences, the row each came from, and what was left out.

    `skipped`: one Tally per reason a row was not read ("empty", "not valid UTF-8"), in that order,
    only reasons that occurred. `truncated`: rows cut at MAX_ROW_CHARS (still read). `stopped`: a
    sentence when a limit ended reading before the file did, else "". `header`: the CSV header row's
    cells when the first row was read as one (see the module's rule), else ().
    """

    texts: tuple[str, ...]
    rows: tuple[int, ...]  # 1-based line (.txt) or line where the record starts (.csv), one per text
    skipped: tuple[Tally, ...] = ()
    truncated: Tally | None = None
    stopped: str = ""
    header: tuple[str, ...] = ()
    lines: int = 0  # lines scanned

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_skipped(self) -> int:
        return sum(tally.count for tally in self.skipped)

    def skipped_examples(self) -> list[tuple[int, str]]:
        """(row, reason) of the rows named in `skipped`, by row: at most EXAMPLES per reason."""
        return sorted(example for tally in self.skipped for example in tally.examples)

    def without(self, reason: str) -> Sentences:
        """The same, with one reason's skipped rows no longer reported (blank lines in pasted text)."""
        kept = tuple(tally for tally in self.skipped if tally.reason != reason)
        return Sentences(self.texts, self.rows, kept, self.truncated, self.stopped, self.header, self.lines)

    def notes(self) -> list[str]:
        """What a reader should know beyond the skipped rows: the header, cut rows, a limit reached."""
        notes = []
        if self.header:
            notes.append(f"Row 1 was read as the CSV's header ({', '.join(self.header)}), not as a sentence.")
        if self.truncated is not None:
            notes.append(self.truncated.sentence())
        if self.stopped:
            notes.append(self.stopped)
        return notes


def read_sentences(source: str | Path | BinaryIO | TextIO, kind: str | None = None, *,
                   max_rows: int | None = MAX_ROWS, max_lines: int | None = MAX_LINES) -> Sentences:
    """Read sentences from a path or an open file (such as Streamlit's UploadedFile), streaming it.

    kind is "txt" or "csv"; without it the file name's extension decides (a file object's `name`).
    Empty rows and rows that are not valid UTF-8 are skipped and counted in `Sentences.skipped`;
    rows are cut at MAX_ROW_CHARS; reading stops after `max_rows` readable rows or `max_lines`
    lines (None: no limit). An open file is read from where it stands and left open.
    Raises ValueError, with a sentence, for any other kind of file, a binary file or a CSV the csv
    module cannot read.
    """
    kind = _kind_of(source, kind)
    if isinstance(source, str | Path):
        with Path(source).open("rb") as file:
            return _read(_text_chunks(file), kind, max_rows, max_lines)
    return _read(_text_chunks(source), kind, max_rows, max_lines)


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


# --- bytes to text -------------------------------------------------------------------------------------

def _text_chunks(source: BinaryIO | TextIO) -> Iterator[str]:
    """The file as decoded text, CHUNK_BYTES at a time, without its byte-order mark."""
    first = source.read(CHUNK_BYTES)
    if isinstance(first, str):  # a text stream (pasted text): already decoded
        chunk = first.removeprefix("\ufeff")
        while chunk:
            yield chunk
            chunk = source.read(CHUNK_BYTES)
        return
    encoding = _encoding(first)
    decoder = codecs.getincrementaldecoder(encoding)(errors=ESCAPE_ERRORS)
    chunk = first
    while chunk:
        if encoding == "utf-8-sig" and b"\0" in chunk:
            raise ValueError(_BINARY)
        text = decoder.decode(chunk)
        if text:
            yield text
        chunk = source.read(CHUNK_BYTES)
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest


_BINARY = ("This file looks like a binary file, not text: it holds NUL bytes and no UTF-16 or UTF-32 "
           "byte-order mark. Save it as UTF-8 text (.txt or .csv).")


def _encoding(head: bytes) -> str:
    """The codec for a file that starts with `head`: from its byte-order mark, else UTF-8."""
    # UTF-32 first: its little-endian mark begins with UTF-16's.
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"  # the codec reads the mark and its byte order
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\0" in head:
        # UTF-16 without a mark: ASCII-heavy text has a NUL in every other byte.
        even, odd = head[0::2], head[1::2]
        if len(head) >= 4 and len(head) % 2 == 0:
            if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
                return "utf-16-le"
            if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
                return "utf-16-be"
        raise ValueError(_BINARY)
    return "utf-8-sig"  # reads plain UTF-8 too, and drops a UTF-8 byte-order mark


# --- text to lines -------------------------------------------------------------------------------------

def _lines(chunks: Iterable[str], max_chars: int) -> Iterator[tuple[str, bool]]:
    """Each line, without its ending, at most `max_chars` long, and whether it was longer.

    LF, CRLF and CR end a line; nothing else does (str.splitlines would also split at a form feed
    or U+2028, which can sit inside a sentence). A line is never held beyond `max_chars`, so one
    15 MB line costs no more than a short one.
    """
    parts: list[str] = []
    kept, cut, carry, seen = 0, False, "", False
    for chunk in chunks:
        chunk = carry + chunk
        carry = ""
        if chunk.endswith("\r"):  # it may be half of a CRLF split across chunks
            chunk, carry = chunk[:-1], "\r"
        start = 0
        for match in _NEWLINE.finditer(chunk):
            piece = chunk[start:match.start()]
            if len(piece) > max_chars - kept:
                piece, cut = piece[:max_chars - kept], True
            parts.append(piece)
            yield "".join(parts), cut
            parts, kept, cut, seen = [], 0, False, False
            start = match.end()
        piece = chunk[start:]
        if piece:
            seen = True
            if len(piece) > max_chars - kept:
                piece, cut = piece[:max_chars - kept], True
            parts.append(piece)
            kept += len(piece)
    if carry or seen:  # a last line ended by a lone CR, or by the end of the file
        yield "".join(parts), cut


# --- rows ----------------------------------------------------------------------------------------------

def _read(chunks: Iterator[str], kind: str, max_rows: int | None, max_lines: int | None) -> Sentences:
    texts: list[str] = []
    rows: list[int] = []
    empty, bad, truncated = _Counter(EMPTY), _Counter(NOT_UTF8), _Counter(TRUNCATED)
    stopped = ""
    header: tuple[str, ...] = ()
    records = _txt_records(chunks) if kind == "txt" else _csv_records(chunks)
    lines = 0
    try:
        for row, value, cut, last_line, first_row in records:
            lines = last_line
            if first_row is not None:
                header = first_row
                continue
            if max_lines is not None and row > max_lines:
                stopped = (f"Reading stopped after {max_lines:,} lines (Headlight reads at most {max_lines:,} "
                           f"lines of a file, empty ones included); the rest of the file was not read.")
                lines = max_lines
                break
            if len(value) > MAX_ROW_CHARS:
                value, cut = value[:MAX_ROW_CHARS], True
            escaped = _ESCAPED_BYTE.search(value)
            if escaped:
                byte = ord(escaped.group()) - 0xDC00
                bad.add(row, f"{NOT_UTF8} (byte 0x{byte:02x} at character {escaped.start() + 1})")
            elif not value.strip():
                empty.add(row, EMPTY)
            elif max_rows is not None and len(texts) == max_rows:  # stop at a readable row beyond the cap
                stopped = (f"Reading stopped at line {row - 1:,} after {max_rows:,} readable rows (at most "
                           f"{max_rows:,} are read); the rest of the file was not read.")
                lines = row - 1
                break
            else:
                texts.append(value.strip())
                rows.append(row)
                if cut:
                    truncated.add(row, TRUNCATED)
    finally:
        records.close()
    skipped = tuple(counter.tally() for counter in (empty, bad) if counter.count)
    return Sentences(tuple(texts), tuple(rows), skipped, truncated.tally() if truncated.count else None,
                     stopped, header, lines)


# (row where the record starts, its text, whether it was cut, its last line, the header's cells or None)
Record = tuple[int, str, bool, int, tuple[str, ...] | None]


def _txt_records(chunks: Iterable[str]) -> Iterator[Record]:
    for number, (line, cut) in enumerate(_lines(chunks, MAX_ROW_CHARS), start=1):
        yield number, line, cut, number, None


def _csv_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines for csv.reader, each with a newline (quoted fields may span lines), none too long."""
    for number, (line, cut) in enumerate(_lines(chunks, CSV_MAX_LINE_CHARS), start=1):
        if cut:
            raise ValueError(f"Line {number:,} of this CSV is longer than {CSV_MAX_LINE_CHARS:,} characters, "
                             f"the most a CSV line may hold here; a CSV of sentences has shorter lines.")
        yield line + "\n"


def _csv_records(chunks: Iterable[str]) -> Iterator[Record]:
    """(line where the record starts, the chosen cell, False, its last line, header or None) per record."""
    reader = csv.reader(_csv_lines(chunks))
    column = None
    start = 1
    try:
        for cells in reader:
            if column is None:
                names = [cell.strip().lower() for cell in cells]
                named = [names.index(name) for name in TEXT_COLUMNS if name in names]
                column = named[0] if named else 0
                if named or _looks_like_header(cells):  # a header row is not a sentence
                    start = reader.line_num + 1
                    if not named:  # a guessed header is worth a word; a named column speaks for itself
                        yield 1, "", False, reader.line_num, tuple(cell.strip() for cell in cells[:10])
                    continue
            yield start, cells[column] if column < len(cells) else "", False, reader.line_num, None
            start = reader.line_num + 1
    except csv.Error as error:
        raise ValueError(f"This CSV cannot be read at line {reader.line_num:,}: {error}.") from None


def _looks_like_header(cells: list[str]) -> bool:
    """Every cell a column name: a short identifier, not a number, not a sentence (see the module)."""
    def name_like(cell: str) -> bool:
        cell = cell.strip()
        return (bool(_COLUMN_NAME.fullmatch(cell)) and not _NUMBER.fullmatch(cell)
                and len(cell.split()) <= 3 and not cell.endswith((".", "?", "!")))
    return bool(cells) and all(name_like(cell) for cell in cells)


__all__ = ["CSV_MAX_LINE_CHARS", "EXAMPLES", "KINDS", "MAX_LINES", "MAX_ROWS", "MAX_ROW_CHARS", "Sentences",
           "Tally", "read_sentences"]
