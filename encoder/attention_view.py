"""Pure transforms of captured attention: the options the views offer, as array functions.

Every function takes and returns numpy arrays; none knows about Streamlit or Plotly.
Attention arrays are (..., Q, K): row = query, column = key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from .run import Run

PairBlock = Literal["all", "A→A", "A→B", "B→A", "B→B"]
PAIR_BLOCKS: tuple[PairBlock, ...] = ("all", "A→A", "A→B", "B→A", "B→B")


# One encoding of "a head or the mean" in Python, engine to pages: a head is its 0-based index, and
# MEAN_HEAD stands for the mean over a layer's heads. (Widgets and links say "mean": selection.py
# converts; the explorer's wire protocol uses the same -1, figures/explorer/PROTOCOL.md.)
MEAN_HEAD = -1


def head_or_mean(maps: np.ndarray, layer: int, head: int) -> np.ndarray:
    """(L, H, ...) -> (...): one head's map, or for MEAN_HEAD the mean over the layer's heads."""
    return maps[layer].mean(axis=0) if head == MEAN_HEAD else maps[layer, head]


def head_name(head: int) -> str:
    """'head 3' (numbered from 1, as on screen), or 'mean of all heads'."""
    return "mean of all heads" if head == MEAN_HEAD else f"head {head + 1}"


@dataclass(frozen=True)
class ViewOptions:
    """What every page's "View options" choose, applied to any token × token map of a run.

    hide_special drops [CLS]/[SEP] rows and columns; renormalize then rescales each kept row of a
    distribution to sum to 1 again; merge_subwords pools pieces into words (Clark et al. 2019 §4.1);
    block keeps one block of a sentence pair (queries of one sentence, keys of one)."""

    hide_special: bool = False
    renormalize: bool = True
    merge_subwords: bool = False
    block: PairBlock = "all"

    @property
    def renormalizes(self) -> bool:
        """Whether rows are rescaled: only once special tokens are hidden (the model's own rows
        already sum to 1)."""
        return self.hide_special and self.renormalize


AS_CAPTURED = ViewOptions()  # every token, rows as the model gave them


@dataclass(frozen=True)
class AttentionView:
    """A map prepared for drawing: weights (..., Q, K) with a label per query and key.

    query_positions / key_positions give, for each row / column, the token positions in the
    run it stands for (one position per token, several when subwords are merged into words).
    renormalized: whether each row was rescaled to sum to 1 over the keys left.
    """

    weights: np.ndarray  # float32 (..., Q, K); (L, H, Q, K) for a run's attention
    query_labels: list[str]
    key_labels: list[str]
    query_positions: list[list[int]]
    key_positions: list[list[int]]
    renormalized: bool = False


@dataclass(frozen=True)
class ScoreView:
    """A per-token score vector (an attribution) prepared for drawing: scores (..., N) with a label
    and the run's token positions for each of the N entries."""

    scores: np.ndarray  # float (..., N)
    labels: list[str]
    positions: list[list[int]]


def head_average(weights: np.ndarray) -> np.ndarray:
    """(L, H, Q, K) -> (L, Q, K): the mean over heads."""
    return weights.mean(axis=1)


def renormalize_rows(weights: np.ndarray) -> np.ndarray:
    """Rescale each row to sum to 1; all-zero rows stay zero."""
    sums = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)


def _as_index(positions: list[int]) -> slice | list[int]:
    """A run of consecutive positions as a slice (numpy then gives a view, not a copy: hiding
    [CLS] and [SEP] at a text's ends keeps one run), else the list itself."""
    if positions and positions == list(range(positions[0], positions[-1] + 1)):
        return slice(positions[0], positions[-1] + 1)
    return positions


def select_tokens(weights: np.ndarray, queries: list[int], keys: list[int]) -> np.ndarray:
    """(..., T, T) -> (..., len(queries), len(keys)); a view (no copy) when each is a run of
    consecutive positions, as when everything is kept or only the text's end tokens are hidden."""
    rows, cols = _as_index(queries), _as_index(keys)
    if isinstance(rows, slice) and isinstance(cols, slice):
        return weights[..., rows, cols]
    if isinstance(rows, slice):
        return weights[..., rows, :][..., cols]
    if isinstance(cols, slice):
        return weights[..., rows, cols]
    rows, cols = np.ix_(queries, keys)  # (Q, 1), (1, K): broadcast to (Q, K)
    return weights[..., rows, cols]


def word_groups(word_ids: list[int | None], segment_ids: list[int], keep: list[int]) -> list[list[int]]:
    """Group kept token positions into words: consecutive tokens of one word in one segment.

    Special tokens (word id None) stay groups of their own.
    """
    groups: list[list[int]] = []
    previous: tuple[int, int] | None = None
    for position in keep:
        word = word_ids[position]
        key = None if word is None else (segment_ids[position], word)
        if key is not None and key == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
        previous = key
    return groups


def merge_groups(weights: np.ndarray, query_groups: list[list[int]], key_groups: list[list[int]],
                 to_words: str = "sum") -> np.ndarray:
    """Pool token attention into groups, following Clark et al. (2019, §4.1) for words:

    attention *to* a word is the sum over its pieces (so rows still sum to what they did),
    attention *from* a word is the mean over its pieces. `to_words="mean"` pools keys by their
    mean too: for scores that are not shares (Q·K logits), where a sum would mean nothing.
    """
    pooled = _pool(weights, key_groups, -1, to_words)  # (..., T, K')
    return _pool(pooled, query_groups, -2, "mean")  # (..., Q', K')


def _pool(weights: np.ndarray, groups: list[list[int]], axis: int, how: str) -> np.ndarray:
    """Sum or mean each group of positions along `axis`. Groups of words are runs of the kept
    positions, so the kept positions are taken once (a view when they are consecutive) and each
    run reduced in one pass (np.add.reduceat), rather than one copy of the map per group."""
    taken = [p for g in groups for p in g]
    index = _as_index(taken)
    selected = weights[(..., index, slice(None))] if axis == -2 else weights[..., index]
    sizes = np.array([len(g) for g in groups])
    if (sizes == 1).all():
        return selected
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    summed = np.add.reduceat(selected, starts, axis=selected.ndim + axis)
    if how == "sum":
        return summed
    shape = [1] * summed.ndim
    shape[axis] = len(groups)
    return summed / sizes.reshape(shape).astype(summed.dtype)


def group_label(run: Run, group: list[int]) -> str:
    """The surface text of a group of tokens (the word as typed), or the token's readable label
    for one piece ("##ing" -> "‿ing", byte-level "Ġword" -> "␣word": `Tokenized.labels`)."""
    if len(group) == 1:
        return run.tokenized.labels[group[0]]
    segment = run.segment_ids[group[0]]
    text = run.text_b if segment == 1 and run.text_b is not None else run.text_a
    start, end = run.offsets[group[0]][0], run.offsets[group[-1]][1]
    return text[start:end] if end > start else "".join(run.tokens[p].removeprefix("##") for p in group)


def block_positions(run: Run, block: PairBlock) -> tuple[list[int], list[int]]:
    """Query and key positions of one block of a sentence pair (segment A = 0, B = 1)."""
    everything = list(range(run.n_tokens))
    if block == "all" or not run.is_pair:
        return everything, everything
    in_segment = {s: [p for p in everything if run.segment_ids[p] == s] for s in (0, 1)}
    source, target = block.split("→")
    return in_segment[source == "B"], in_segment[target == "B"]


def kept_positions(run: Run, options: ViewOptions) -> tuple[list[int], list[int]]:
    """The query and key positions a view keeps (its block, without special tokens when hidden);
    ValueError when hiding leaves nothing."""
    queries, keys = block_positions(run, options.block)
    if options.hide_special:
        queries = [p for p in queries if not run.special[p]]
        keys = [p for p in keys if not run.special[p]]
        if not queries or not keys:
            raise ValueError("Nothing is left once the special tokens are hidden.")
    return queries, keys


def groups_of(run: Run, positions: list[int], merge_subwords: bool) -> list[list[int]]:
    """Each kept position alone, or grouped into words."""
    return word_groups(run.word_ids, run.segment_ids, positions) if merge_subwords else [[p] for p in positions]


def map_view(run: Run, maps: np.ndarray, options: ViewOptions = AS_CAPTURED, *,
             distribution: bool = True) -> AttentionView:
    """Apply the view options to any (..., T, T) token × token map of `run` (its attention, rollout,
    value-weighted norms, a minimal pair's maps, Q·K scores), in the order that keeps each meaningful.

    Hiding special tokens drops their rows and columns ([CLS] and [SEP] often soak up most of the
    weight, Clark et al. 2019 §3); renormalising then rescales each row to sum to 1 over the
    tokens left. That means something only for a `distribution` (rows of shares that summed to 1):
    scores such as Q·K logits or a difference of two maps are never rescaled (the view says
    `renormalized=False`), and their pieces are pooled by the mean, not summed. Merging subwords
    pools pieces into words. A pair block keeps only the queries of one sentence and the keys of
    one sentence, without renormalising, so the share of attention that crosses between the
    sentences stays visible.

    The Attention page's explorer applies the same steps in the browser (figures/explorer/transform.js).
    """
    if maps.shape[-2:] != (run.n_tokens, run.n_tokens):
        raise ValueError(f"A map of {maps.shape[-2:]} is not token × token for {run.n_tokens} tokens.")
    queries, keys = kept_positions(run, options)
    query_groups = groups_of(run, queries, options.merge_subwords)
    key_groups = groups_of(run, keys, options.merge_subwords)
    rescale = distribution and options.renormalizes
    return AttentionView(
        weights=view_weights(run, maps, queries, query_groups, key_groups, rescale, distribution),
        query_labels=[group_label(run, g) for g in query_groups],
        key_labels=[group_label(run, g) for g in key_groups],
        query_positions=query_groups,
        key_positions=key_groups,
        renormalized=rescale,
    )


def row_scales(run: Run, rows: np.ndarray) -> np.ndarray:
    """(..., Q, T) rows -> (..., Q, 1) float32: 1 / each row's sum over the non-special keys (0 for
    a row with nothing there). That sum is the row's total minus the few special columns, in
    float64 (the difference loses digits in float32 when [CLS] and [SEP] hold most of the row), so
    no copy of the rows is made for it."""
    specials = [p for p in range(run.n_tokens) if run.special[p]]
    sums = (rows.sum(axis=-1, dtype=np.float64) - rows[..., specials].sum(axis=-1, dtype=np.float64))[..., None]
    return np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0).astype(np.float32)


def view_weights(run: Run, maps: np.ndarray, queries: list[int], query_groups: list[list[int]],
                 key_groups: list[list[int]], rescale: bool, distribution: bool) -> np.ndarray:
    """`map_view`'s numbers: (..., T, T) -> (..., Q', K') float32, contiguous. `run` may be anything
    with a run's n_tokens and special (the explorer's reader passes its token table)."""
    keys = [p for group in key_groups for p in group]
    # Each kept row is renormalised over every non-special key, so a pair block still shows its share.
    scale = row_scales(run, maps[..., queries, :]) if rescale else None  # (..., Q, 1)
    if any(len(group) > 1 for group in query_groups + key_groups):
        weights, query_groups_rows = maps, query_groups
        if scale is not None:  # words are pooled from renormalised rows
            weights = maps[..., queries, :] * scale  # (..., Q, T)
            row_of = {position: row for row, position in enumerate(queries)}
            query_groups_rows = [[row_of[p] for p in group] for group in query_groups]
        merged = merge_groups(weights, query_groups_rows, key_groups, "sum" if distribution else "mean")
    else:
        merged = select_tokens(maps, queries, keys)
        if scale is not None:
            merged = merged * scale  # a new array: `merged` may be a view of the run's own
    return np.ascontiguousarray(merged, dtype=np.float32)


def view_row(run: Run, maps: np.ndarray, options: ViewOptions, position: int, *,
             distribution: bool = True) -> np.ndarray | None:
    """The row of `map_view(run, maps, options)` that stands for token `position` (..., K'), built
    from that token's rows alone (the explorer's followed token, for every layer at once); None
    when the view hides the token."""
    queries, keys = kept_positions(run, options)
    query_groups = groups_of(run, queries, options.merge_subwords)
    row = row_of_position(query_groups, position)
    if row is None:
        return None
    group = query_groups[row]
    key_groups = groups_of(run, keys, options.merge_subwords)
    weights = view_weights(run, maps, group, [group], key_groups, distribution and options.renormalizes,
                           distribution)  # (..., 1, K'): the view of this one row
    return np.ascontiguousarray(weights[..., 0, :])


def attention_view(
    run: Run,
    hide_special: bool = False,
    renormalize: bool = True,
    merge_subwords: bool = False,
    block: PairBlock = "all",
) -> AttentionView:
    """`map_view` of the run's own attention (L, H, T, T)."""
    return map_view(run, run.attentions, ViewOptions(hide_special, renormalize, merge_subwords, block))


def kept_map(maps: np.ndarray, keep: list[int], renormalize: bool) -> np.ndarray:
    """(..., T, T) -> (..., N, N): only the `keep` rows and columns of a map on slots that are not a run's
    tokens (a minimal pair's aligned words), each row rescaled to sum to 1 over them when `renormalize`.
    NaN cells (a slot one text lacks) stay NaN and count as 0; a row with nothing left stays as it was."""
    kept = np.array(select_tokens(maps, keep, keep), dtype=np.float64)  # a copy: never scale the caller's
    if renormalize:
        sums = np.nansum(kept, axis=-1, keepdims=True)  # (..., N, 1)
        np.divide(kept, sums, out=kept, where=sums > 0)
    return kept


def score_view(run: Run, scores: np.ndarray, options: ViewOptions = AS_CAPTURED) -> ScoreView:
    """Apply hide and merge to per-token scores (..., T) (an attribution, one row of a map): special
    tokens dropped when hidden, and a word's score the sum of its pieces', as Clark et al. (2019,
    §4.1) sum attention *to* a word. Scores are not renormalised: a method's scores need not be
    shares, and rescaling would change how methods compare. The block does not apply (no query)."""
    if scores.shape[-1] != run.n_tokens:
        raise ValueError(f"{scores.shape[-1]} scores for {run.n_tokens} tokens.")
    _, keys = kept_positions(run, replace(options, block="all"))
    groups = groups_of(run, keys, options.merge_subwords)
    pooled = np.array(_pool(scores, groups, -1, "sum"))  # (..., N), a copy: never the caller's array
    return ScoreView(pooled, [group_label(run, g) for g in groups], groups)


# ---------------------------------------------------------------- reading a view


def row_of_position(groups: list[list[int]], position: int) -> int | None:
    """The row (or column) of a view that stands for a token position of the run, or None when
    the view hides it. Following a token by its position, not its row, keeps the same token in
    view when hiding or merging moves the rows."""
    return next((row for row, group in enumerate(groups) if position in group), None)


def segment_b_start(groups: list[list[int]], segment_ids: list[int]) -> int | None:
    """The first row of a view that belongs to sentence B (segment 1), or None without one."""
    return next((row for row, group in enumerate(groups) if segment_ids[group[0]] == 1), None)


def row_sum_ranges(weights: np.ndarray) -> np.ndarray:
    """(L, H, Q, K) -> (L, H + 1, 2): (smallest, largest) row sum of every head, then of the layer's
    mean in the last slot, so index [layer, head] holds MEAN_HEAD (-1, the mean) too."""
    sums = weights.sum(axis=-1, dtype=np.float64)  # (L, H, Q), without a float64 copy of the weights
    sums = np.concatenate([sums, sums.mean(axis=1, keepdims=True)], axis=1)  # (L, H + 1, Q)
    return np.stack([sums.min(axis=-1), sums.max(axis=-1)], axis=-1)


def window_span(n_rows: int, center: int, size: int) -> tuple[int, int]:
    """[start, stop) of `size` consecutive rows around `center`, moved inside 0..n_rows."""
    size = max(1, min(size, n_rows))
    start = min(max(center - size // 2, 0), n_rows - size)
    return start, start + size


# Function words a first-time reader would not choose to follow (English; other languages simply
# fall through to their first word).
_FUNCTION_WORDS_TEXT = (
    "a an the this that these those it its he she they we you i me him her them us my your our their "
    "is are was were be been being am do does did have has had will would can could shall should may might "
    "must and or but nor so yet for of in on at by to from with about into over under as than then if "
    "not no too very because while when where which who whom what how")
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split(" "))


def content_word_position(tokens: list[str], special: list[bool], word_ids: list[int | None]) -> int:
    """The position of the first token that starts a content word (alphabetic, at least three
    letters, not a function word); else the first non-special token; else 0."""
    readable = [p for p, is_special in enumerate(special) if not is_special]
    for position in readable:
        token = tokens[position]
        starts_word = position == 0 or word_ids[position] != word_ids[position - 1]
        if starts_word and token.isalpha() and len(token) >= 3 and token.lower() not in FUNCTION_WORDS:
            return position
    return readable[0] if readable else 0
