"""Which parts of a text the model cannot read: the characters behind its unknown tokens.

A WordPiece vocabulary turns what it has no pieces for into one [UNK] token: an emoji, a rare
CJK character, or a word longer than the tokenizer's per-word limit (100 characters for BERT).
The model then sees the same vector for all of them, so the person should know. Offsets map
each [UNK] back to its characters in its own text.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tokenize import Tokenized

UNKNOWN_TOKENS = frozenset({"[UNK]", "<unk>"})  # BERT-style and SentencePiece/BPE spellings
PREVIEW_CHARS = 40  # a 20,000-character word is quoted by its start and its length


@dataclass(frozen=True)
class UnreadableSpan:
    segment: int  # 0 for the text, 1 for the second sentence
    start: int  # character offsets in that text, end exclusive
    end: int
    text: str

    def describe(self, pair: bool = False) -> str:
        """One line of plain text (to be shown with st.text, never as Markdown or HTML)."""
        shown = self.text if len(self.text) <= PREVIEW_CHARS else self.text[:PREVIEW_CHARS] + "…"
        where = ("second sentence, " if self.segment == 1 else "first sentence, ") if pair else ""
        length = "" if len(self.text) <= PREVIEW_CHARS else f", {len(self.text):,} characters"
        place = f"character {self.end}" if self.end - self.start == 1 else f"characters {self.start + 1}–{self.end}"
        return f"“{shown}” ({where}{place}{length})"


def unreadable_spans(tokenized: Tokenized, unknown: frozenset[str] = UNKNOWN_TOKENS) -> list[UnreadableSpan]:
    """The character spans of the text that became unknown tokens, adjacent ones joined, in order."""
    spans: list[UnreadableSpan] = []
    for token, (start, end), segment, special in zip(tokenized.tokens, tokenized.offsets, tokenized.segment_ids,
                                                     tokenized.special, strict=True):
        if special or token not in unknown or end <= start:
            continue
        text = tokenized.text_b if segment == 1 and tokenized.text_b is not None else tokenized.text_a
        last = spans[-1] if spans else None
        if last is not None and last.segment == segment and last.end == start:  # one run of unknown text
            spans[-1] = UnreadableSpan(segment, last.start, end, text[last.start:end])
        else:
            spans.append(UnreadableSpan(segment, start, end, text[start:end]))
    return spans
