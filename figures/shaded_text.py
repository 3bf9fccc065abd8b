"""A text shaded token by token: scores drawn as background colour behind the text itself, readable as
running text (as Inspectus draws attention), with a legend. Generic: attribution scores, attention
weights, anything with one number per character span.

The result is an HTML fragment for `st.html` (never `unsafe_allow_html`). Every character of the
text, every label and every tooltip passes through `html.escape`; the only markup is built here,
and colours are numbers formatted here. Spacing is the text's own: characters between tokens
(spaces, newlines) are copied from the text, not re-joined from tokens.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

MAX_CHARS = 20_000  # a longer text is cut here (and says so): a page of shaded spans stays light
# Red for positive, blue for negative (RdBu's ends), alpha for size: the text stays black on a light
# background at any score, so it reads like a highlighter, not a heatmap.
POSITIVE_RGB = (202, 0, 32)
NEGATIVE_RGB = (5, 113, 176)
MAX_ALPHA = 0.75
FONT_STACK = "Inter, 'Noto Sans', 'Noto Sans CJK SC', 'Noto Color Emoji', sans-serif"


def _background(score: float, scale: float) -> str:
    """The rgba() colour for one score: hue by sign, opacity by |score| / scale (capped at 1)."""
    if not np.isfinite(score) or scale <= 0:
        return "transparent"
    alpha = MAX_ALPHA * min(1.0, abs(score) / scale)
    r, g, b = POSITIVE_RGB if score >= 0 else NEGATIVE_RGB
    return f"rgba({r},{g},{b},{alpha:.3f})"


def _spans(text: str, offsets: Sequence[tuple[int, int] | None], scores: np.ndarray) -> list[tuple[int, int, float]]:
    """(start, end, score) for the tokens that cover characters, in text order, overlaps clipped.

    A token with no characters (a special token such as [CLS], offset (0, 0)) or offsets outside the
    text is left out; where byte-level tokens overlap, the later one starts where the earlier ended.
    """
    spans = []
    for span, score in zip(offsets, scores, strict=True):
        if span is None:
            continue
        start, end = max(0, int(span[0])), min(len(text), int(span[1]))
        if end > start:
            spans.append((start, end, float(score)))
    spans.sort(key=lambda s: (s[0], s[1]))
    clipped, cursor = [], 0
    for start, end, score in spans:
        start = max(start, cursor)
        if end > start:
            clipped.append((start, end, score))
            cursor = end
    return clipped


def shaded_text(text: str, offsets: Sequence[tuple[int, int] | None], scores: Sequence[float] | np.ndarray, *,
                label: str | None = None, scale: float | None = None, signed: bool | None = None,
                names: Sequence[str] | None = None, max_chars: int = MAX_CHARS) -> str:
    """One line: `label` then the text with each token's span shaded by its score.

    text: the text the offsets index into. offsets: one (start, end) character span per score (None
    or an empty span: not drawn). scores: (T,) floats. scale: the |score| drawn at full colour
    (default: the largest |score| among the tokens drawn, so each line uses the whole range; pass one scale for
    lines that must compare). signed: draw negatives in blue (default: whenever a score is < 0).
    names: a per-token name for the tooltip (default: the span's text). Returns an HTML fragment.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)  # (T,)
    if len(offsets) != len(scores):
        raise ValueError(f"{len(offsets)} offsets but {len(scores)} scores.")
    cut = len(text) > max_chars
    text = text[:max_chars]
    spans = _spans(text, offsets, scores)
    drawn = np.array([score for _, _, score in spans])
    finite = drawn[np.isfinite(drawn)]
    if scale is None:  # the tokens drawn set the scale: a large score on [CLS] would wash the words out
        scale = float(np.abs(finite).max()) if finite.size else 0.0
    if signed is None:
        signed = bool((finite < 0).any())
    parts = ['<div class="hl-shaded" style="font-family:', FONT_STACK,
             ';line-height:1.9;margin:0.15em 0;white-space:pre-wrap;overflow-wrap:anywhere">']
    if label is not None:
        parts += ['<span style="display:inline-block;min-width:11em;font-weight:600;margin-right:0.6em">',
                  html.escape(label), "</span>"]
    names_by_start = {}
    if names is not None:
        for span, name in zip(offsets, names, strict=True):
            if span is not None:
                names_by_start.setdefault(int(span[0]), name)
    cursor = 0
    for start, end, score in spans:
        parts.append(html.escape(text[cursor:start]))
        name = names_by_start.get(start, text[start:end])
        tip = html.escape(f"{name}: {score:+.4g}" if signed else f"{name}: {score:.4g}")
        parts += [f'<span title="{tip}" style="background:{_background(score, scale)};border-radius:3px;'
                  'padding:0.05em 0">', html.escape(text[start:end]), "</span>"]
        cursor = end
    parts.append(html.escape(text[cursor:]))
    if cut:
        parts.append(html.escape(f" … (cut at {max_chars:,} characters)"))
    parts.append("</div>")
    return "".join(parts)


def shaded_legend(*, signed: bool, scale_note: str | None = None) -> str:
    """The key to `shaded_text`'s colours: a gradient from the negative end (when signed) to the
    positive end, and an optional note (say how each line is scaled). An HTML fragment."""
    negative = "rgba({},{},{},{})".format(*NEGATIVE_RGB, MAX_ALPHA)
    positive = "rgba({},{},{},{})".format(*POSITIVE_RGB, MAX_ALPHA)
    stops = f"{negative},transparent,{positive}" if signed else f"transparent,{positive}"
    ends = ("− largest", "0", "+ largest") if signed else ("0", "", "largest")
    parts = ['<div class="hl-shaded-legend" style="font-family:', FONT_STACK,
             ';font-size:0.85em;display:flex;align-items:center;gap:0.5em;margin:0.3em 0">',
             f"<span>{html.escape(ends[0])}</span>",
             f'<span style="display:inline-block;width:12em;height:0.9em;border:1px solid #ccc;'
             f'background:linear-gradient(to right,{stops})"></span>',
             f"<span>{html.escape(ends[2])}</span>"]
    if signed:
        parts.append(f"<span>(white = {html.escape(ends[1])})</span>")
    if scale_note:
        parts.append(f"<span>{html.escape(scale_note)}</span>")
    parts.append("</div>")
    return "".join(parts)


def shaded_lines(text: str, offsets: Sequence[tuple[int, int] | None], rows: dict[str, np.ndarray], *,
                 shared_scale: bool = False, names: Sequence[str] | None = None) -> str:
    """Several `shaded_text` lines for one text (one per method), then the legend. shared_scale: one
    scale for every line (their largest |score|) instead of each line's own."""
    values = [np.asarray(v, dtype=np.float64) for v in rows.values()]
    drawn = [np.array([s for _, _, s in _spans(text[:MAX_CHARS], offsets, v)]) for v in values]
    finite = np.concatenate([d[np.isfinite(d)] for d in drawn]) if drawn else np.zeros(0)
    signed = bool((finite < 0).any())
    scale = float(np.abs(finite).max()) if shared_scale and finite.size else None
    lines = [shaded_text(text, offsets, v, label=name, scale=scale, signed=signed, names=names)
             for name, v in zip(rows, values, strict=True)]
    note = "One scale for every line." if shared_scale else "Each line is scaled to its own largest |score|."
    return "".join(lines) + shaded_legend(signed=signed, scale_note=note)
