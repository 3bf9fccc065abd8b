"""Similar contexts (exBERT's corpus search, Hoover et al. 2020): the k nearest tokens of a corpus as a table
with links, and as their sentences with the matched token shaded by its cosine. Pure presentation: the
hits come from `encoder.corpus.nearest_contexts`, the links from the app's URL helpers.

The sentences are visitors' text: the table holds plain strings (Streamlit's dataframe renders no
markup) and the shaded list is a `figures.shaded_text` message, which the browser draws as text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .shaded_text import message, text_part, view

CONTEXT_CHARS = 60  # characters kept on each side of the matched token in the table


def results_table(hits: pd.DataFrame, spans: np.ndarray, links: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per hit, best first: rank, cosine, the context before, the token as written, the context after,
    the sentence's number (from 1) and, with links, a link that opens it."""
    before, word, after = [], [], []
    for sentence, (start, end) in zip(hits["sentence"], np.asarray(spans).reshape(-1, 2), strict=True):
        left, right = sentence[:start], sentence[end:]
        before.append(("…" if len(left) > CONTEXT_CHARS else "") + left[-CONTEXT_CHARS:])
        word.append(sentence[start:end])
        after.append(right[:CONTEXT_CHARS] + ("…" if len(right) > CONTEXT_CHARS else ""))
    table = pd.DataFrame({
        "rank": np.arange(1, len(hits) + 1), "cosine": hits["cosine"].to_numpy().round(4),
        "before": before, "token": word, "after": after, "sentence": hits["sentence_index"].to_numpy() + 1,
    })
    if links is not None:
        table["open"] = list(links)
    return table


def marked_sentences(hits: pd.DataFrame, spans: np.ndarray) -> dict:
    """Each hit's sentence with its matched token shaded by the cosine (one scale, 0 to 1), labelled with
    its rank and cosine; then the legend. A `figures.shaded_text` message for `components.shaded_text`."""
    texts, vectors, lines = [], {}, []
    for rank, (sentence, span, cosine) in enumerate(
            zip(hits["sentence"], np.asarray(spans).reshape(-1, 2), hits["cosine"], strict=True), start=1):
        texts.append(text_part(sentence, [tuple(span)]))  # one token: the matched one
        vectors[f"hit{rank}"] = [float(cosine)]
        lines.append((f"{rank}. cosine {cosine:.3f}", rank - 1, f"hit{rank}"))
    return message(texts, vectors, {"": view("", lines, scale=1.0, signed=False,
                                             note="The matched token, shaded by its cosine.")})
