"""A text shaded token by token: scores drawn as background colour behind the text itself, readable as
running text (as Inspectus draws attention), with a legend. Generic: attribution scores, attention
weights, anything with one number per character span.

Drawn in the browser (figures/shaded/shaded.js, the app's component `components.shaded_text`): this
module builds its message, a JSON-safe dict, and holds the colours, which it sends in the message.
The browser sets every character of the text, every label and every tooltip as text, never as HTML;
its spacing is the text's own (characters between tokens are copied from the text, not re-joined
from tokens). A message can hold several views of one text (`views`), one per choice of the page's
widgets (`controls`): a click on one of them is drawn at once from the scores held (issue 18 §1).

The message: `style` (the colours, `font`, `font_px`); `texts`, each {"text", "spans": [[start, end,
token], ...] (the characters each token shades, in text order, overlaps clipped), "cut": what a cut
text says, or ""}; `names` (per token, for the tooltip; null: the span's own text); `vectors` (name:
one score per token, null where not finite); `views` (key: {"title", "lines": [{"label", "text" (an
index into texts), "vector", "scale"}], "signed", "note"}); `controls` ([{"key": a widget's key,
"labels": {button text: value}}]); `shown` ({widget key: value}). A view's key is its controls'
values joined by "|" (`view_key`), "" without controls.

Every shaded text of the app is drawn this way, the corpus search's hits included (one renderer, so
one set of colours and one rule for what reaches the page as text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_CHARS = 20_000  # a longer text is cut here (and says so): a page of shaded spans stays light
# Red for positive, blue for negative (RdBu's ends), alpha for size: the text stays black on a light
# background at any score, so it reads like a highlighter, not a heatmap.
POSITIVE_RGB = (202, 0, 32)
NEGATIVE_RGB = (5, 113, 176)
MAX_ALPHA = 0.75
FONT_STACK = "Inter, 'Noto Sans', 'Noto Sans CJK SC', 'Noto Color Emoji', sans-serif"
PRESENTING_PX = 18  # the text's size in presentation mode, as the page's body text there (ui.PRESENT_CSS)
SIGNIFICANT = 6  # digits kept of each score: the tooltip shows 4
STYLE = {"positive": list(POSITIVE_RGB), "negative": list(NEGATIVE_RGB), "max_alpha": MAX_ALPHA,
         "font": FONT_STACK}


def background(score: float, scale: float) -> str:
    """The rgba() colour shaded.js draws for one score: hue by sign, opacity by |score| / scale
    (capped at 1), the opacity to 3 decimals. What the browser's colours are tested against."""
    if score is None or not np.isfinite(score) or scale <= 0:
        return "transparent"
    alpha = MAX_ALPHA * min(1.0, abs(score) / scale)
    r, g, b = POSITIVE_RGB if score >= 0 else NEGATIVE_RGB
    return f"rgba({r},{g},{b},{alpha:.3f})"


def drawn_spans(text: str, offsets: Sequence[tuple[int, int] | None]) -> list[list[int]]:
    """[start, end, token] for the tokens that cover characters of `text`, in text order, overlaps
    clipped. A token with no characters (a special token such as [CLS], offset (0, 0) or None) or
    offsets outside the text is left out; where byte-level tokens overlap, the later one starts where
    the earlier ended."""
    spans = []
    for token, span in enumerate(offsets):
        if span is None:
            continue
        start, end = max(0, int(span[0])), min(len(text), int(span[1]))
        if end > start:
            spans.append((start, end, token))
    spans.sort()
    clipped, cursor = [], 0
    for start, end, token in spans:
        start = max(start, cursor)
        if end > start:
            clipped.append([start, end, token])
            cursor = end
    return clipped


def text_part(text: str, offsets: Sequence[tuple[int, int] | None], max_chars: int = MAX_CHARS) -> dict:
    """One entry of a message's `texts`: the text (cut at `max_chars`, and said) and its drawn spans."""
    cut = len(text) > max_chars
    text = text[:max_chars]
    return {"text": text, "spans": drawn_spans(text, offsets),
            "cut": f" … (cut at {max_chars:,} characters)" if cut else ""}


def json_scores(scores: Sequence[float] | np.ndarray) -> list[float | None]:
    """(T,) scores as JSON numbers to `SIGNIFICANT` digits, None where not finite."""
    return [float(f"{s:.{SIGNIFICANT}g}") if np.isfinite(s) else None
            for s in np.asarray(scores, dtype=np.float64).reshape(-1)]


def _drawn_scores(texts: list[dict], line: dict, vectors: dict[str, list]) -> np.ndarray:
    """The finite scores a line draws (its text's spans only: a large score on [CLS] must not set the scale)."""
    vector, spans = vectors[line["vector"]], texts[line["text"]]["spans"]
    if spans and max(token for _, _, token in spans) >= len(vector):
        raise ValueError(f"Vector {line['vector']!r} has {len(vector)} scores; its text draws token "
                         f"{max(token for _, _, token in spans)}.")
    drawn = [vector[token] for _, _, token in spans]
    return np.array([s for s in drawn if s is not None], dtype=np.float64)


def view(title: str, lines: Sequence[tuple[str | None, int, str]], *, scale: float | str | None = None,
         signed: bool | None = None, note: str = "") -> dict:
    """One entry of a message's `views`: `lines` as (label or None, text index, vector name). scale: a
    number for every line; "shared" for one scale, the largest |score| the lines draw; None for each
    line's own largest |score| (each line then uses the whole range). signed: draw negatives in blue
    (None: whenever a line draws a score < 0). `message` settles the scales."""
    return {"title": title, "lines": [{"label": label, "text": int(text), "vector": vector}
                                      for label, text, vector in lines],
            "scale": scale, "signed": signed, "note": note}


def _settle(entry: dict, texts: list[dict], vectors: dict[str, list]) -> dict:
    """A `view` with each line's scale and the view's signedness decided."""
    drawn = [_drawn_scores(texts, line, vectors) for line in entry["lines"]]
    everything = np.concatenate(drawn) if drawn else np.zeros(0)
    largest = float(np.abs(everything).max()) if everything.size else 0.0
    lines = []
    for line, scores in zip(entry["lines"], drawn, strict=True):
        if entry["scale"] is None:
            scale = float(np.abs(scores).max()) if scores.size else 0.0
        else:
            scale = largest if entry["scale"] == "shared" else float(entry["scale"])
        lines.append({**line, "scale": float(f"{scale:.{SIGNIFICANT}g}")})
    signed = bool((everything < 0).any()) if entry["signed"] is None else bool(entry["signed"])
    return {"title": entry["title"], "lines": lines, "signed": signed, "note": entry["note"]}


def view_key(values: Sequence[str]) -> str:
    """The key of the view drawn for these control values (in `controls`' order)."""
    return "|".join(str(value) for value in values)


def message(texts: Sequence[dict], vectors: dict[str, Sequence[float] | np.ndarray], views: dict[str, dict], *,
            names: Sequence[str] | None = None, controls: Sequence[tuple[str, dict[str, str]]] = (),
            shown: dict[str, str] | None = None, font_px: int | None = None) -> dict:
    """The message shaded.js draws (the module's docstring lists its keys). texts: `text_part`s;
    vectors: name -> (T,) scores, T the tokens the spans index; views: key -> `view`; controls:
    (widget key, {button text: value}) for the widgets whose clicks choose the view; shown: each
    control's value now (the view drawn is `view_key` of them); font_px: the text's size (None: the page's)."""
    texts = list(texts)
    held = {name: json_scores(scores) for name, scores in vectors.items()}
    shown = dict(shown or {})
    key = view_key([shown[widget] for widget, _ in controls])
    if key not in views:
        raise ValueError(f"No view for {shown}.")
    return {"style": {**STYLE, "font_px": None if font_px is None else int(font_px)}, "texts": texts,
            "names": None if names is None else [str(name) for name in names], "vectors": held,
            "views": {k: _settle(v, texts, held) for k, v in views.items()},
            "controls": [{"key": widget, "labels": dict(labels)} for widget, labels in controls], "shown": shown}


def lines_message(text: str, offsets: Sequence[tuple[int, int] | None], rows: dict[str, np.ndarray], *,
                  shared_scale: bool = False, names: Sequence[str] | None = None) -> dict:
    """One text drawn once per row of scores (one per method), each labelled with its name, then one
    legend. shared_scale: one scale for every line (their largest |score|) instead of each line's own."""
    vectors = {f"row{i}": np.asarray(v, dtype=np.float64) for i, v in enumerate(rows.values())}
    note = "One scale for every line." if shared_scale else "Each line is scaled to its own largest |score|."
    lines = [(name, 0, f"row{i}") for i, name in enumerate(rows)]
    return message([text_part(text, offsets)], vectors,
                   {"": view("", lines, scale="shared" if shared_scale else None, note=note)},
                   names=names)


def run_texts(run) -> tuple[list[dict], list[tuple[str | None, int]]]:
    """A run's text as a message's `texts`, each sentence of a pair its own text (its tokens' offsets
    index into it; special tokens have no characters), and each line's (label, text index): "A" and
    "B" for a pair, no label for one text."""
    parts = [("A", run.tokenized.text_a, 0)] + ([("B", run.tokenized.text_b, 1)] if run.is_pair else [])
    texts = [text_part(text, [None if run.special[i] or run.segment_ids[i] != segment else offset
                              for i, offset in enumerate(run.tokenized.offsets)])
             for _, text, segment in parts]
    return texts, [(name if run.is_pair else None, index) for index, (name, _, _) in enumerate(parts)]
