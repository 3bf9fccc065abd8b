"""The Learn pages' numbers: the walk-through's steps and their explanations, the lesson's
questions with answers read from the live numbers, and the few summaries the walk-through and
ablation pages draw.

Everything is deterministic (no sampling): the same text on the same model gives the same
questions and the same answers on every machine, so a teacher's shared lesson link shows a
class exactly what the teacher prepared. Pure engine code: numpy in, numpy and strings out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .analysis.head_statistics import OFFSET_THRESHOLD, is_punctuation
from .walkthrough import Walkthrough


@dataclass(frozen=True)
class Step:
    key: str
    title: str


# The order a course teaches the encoder (Vaswani et al. 2017, §3.1–3.4), issue 9 §1.
STEPS: tuple[Step, ...] = (
    Step("tokens", "Tokens and ids"),
    Step("token_embeddings", "Token embeddings"),
    Step("positions", "Positions and segments added"),
    Step("layer_norm", "LayerNorm"),
    Step("qkv", "Queries, keys and values"),
    Step("scores", "Scores QKᵀ/√d_k"),
    Step("mask", "The mask (and padding)"),
    Step("softmax", "Softmax"),
    Step("weighted_values", "The weighted values"),
    Step("concatenated", "The heads concatenated"),
    Step("output_projection", "The output projection"),
    Step("residual_attention", "Residual and LayerNorm"),
    Step("feed_forward", "Feed-forward"),
    Step("residual_feed_forward", "Residual and LayerNorm again"),
    Step("next_layer", "The next layer"),
)
STEP_KEYS = tuple(step.key for step in STEPS)


@dataclass(frozen=True)
class Facts:
    """The sizes and settings the explanations quote (no user text: the paragraphs are Markdown)."""

    n_tokens: int
    d_model: int
    n_heads: int
    d_head: int
    d_ff: int
    layer: int  # 0-based
    head: int  # 0-based
    n_layers: int
    token_scale: float
    norm_first: bool
    has_segments: bool
    causal: bool
    activation: str
    recomposition_error: float


def facts(walk: Walkthrough, n_layers: int, causal: bool, activation: str) -> Facts:
    t, d = walk.layer_input.shape
    return Facts(n_tokens=t, d_model=d, n_heads=d // walk.queries.shape[1], d_head=walk.queries.shape[1],
                 d_ff=walk.feed_forward_hidden.shape[1], layer=walk.layer, head=walk.head, n_layers=n_layers,
                 token_scale=walk.token_scale, norm_first=walk.norm_first,
                 has_segments=walk.segment_embeddings is not None, causal=causal, activation=activation,
                 recomposition_error=walk.recomposition_error)


def explanation(key: str, f: Facts) -> str:
    """One paragraph for a step, with this model's sizes filled in (Markdown, our words only)."""
    scale = (f"This model multiplies them by √d_model = {f.token_scale:.2f}, as the paper's encoder does (§3.4)."
             if f.token_scale != 1 else
             f"The paper's encoder multiplies them by √d_model = {np.sqrt(f.d_model):.2f} (§3.4); this model, "
             "like BERT, does not scale them (its embedding LayerNorm sets their size instead).")
    layer, head = f.layer + 1, f.head + 1
    ln_where = ("This model is pre-LN: it normalises *before* each sublayer and adds the raw sum."
                if f.norm_first else "As in the paper and BERT (post-LN), the LayerNorm comes *after* the sum.")
    texts = {
        "tokens": f"The tokenizer cuts the text into {f.n_tokens} tokens: whole words, pieces of words "
                  "(`##` marks a piece that continues a word) and special tokens ([CLS] at the start, [SEP] at "
                  "the end of each sentence). Each token is a row number, its *id*, in the model's vocabulary.",
        "token_embeddings": f"Each id picks one row of the embedding table: a vector of d_model = {f.d_model} "
                            f"learned numbers per token. The same word always gets the same row. {scale}",
        "positions": "Attention by itself ignores order, so a position vector is added to each token's vector "
                     "(learned rows here, sinusoids in the paper, §3.5)"
                     + (", and a segment vector says which sentence a token belongs to" if f.has_segments else "")
                     + ". The three are simply added, number by number.",
        "layer_norm": f"LayerNorm rescales each token's {f.d_model} numbers to mean 0 and standard deviation 1, "
                      "then applies a learned scale and shift per dimension. It keeps the numbers in a range "
                      "where training is stable (Ba et al. 2016).",
        "qkv": f"Head {head} of layer {layer} multiplies each token's vector by three learned matrices and gets "
               f"three vectors of d_k = d_model / heads = {f.d_model} / {f.n_heads} = {f.d_head} numbers: a "
               "query (what the token looks for), a key (what it offers) and a value (what it passes on) (§3.2.2).",
        "scores": f"Every query is compared with every key by a dot product, divided by √d_k = {np.sqrt(f.d_head):.2f} "
                  "so that the scores do not grow with d_k and the softmax does not saturate (eq. 1). Row = query, "
                  "column = key; red pushes attention up, blue down.",
        "mask": ("The mask says which keys a query may see: here each token sees itself and the tokens before it "
                 "(a causal mask). " if f.causal else
                 "A single text has nothing to hide: every query may see every key. ")
                + "In a batch, shorter texts are padded to the longest with [PAD] tokens, and the mask marks the "
                  "padded keys as ones a real token may not look at, before the softmax.",
        "softmax": "The softmax turns each row of scores into weights that are positive and sum to 1: how much "
                   "of each token's value the query takes. These are the attention maps the other pages draw.",
        "weighted_values": f"Each token's output from this head is the weighted sum of all value vectors, "
                           f"with the weights of its row: {f.n_tokens} × {f.d_head} numbers.",
        "concatenated": f"All {f.n_heads} heads do this in parallel, each with its own matrices; their outputs are "
                        f"put side by side, one block of columns per head. The columns of head {head} are exactly "
                        "the weighted values above.",
        "output_projection": f"One more learned matrix W_O ({f.d_model} × {f.d_model}) mixes the heads' outputs "
                             "into one vector per token (§3.2.2). This is attention's contribution to the token.",
        "residual_attention": "The contribution is *added* to the token's input (the residual connection, He et al. "
                              "2016), so attention only nudges the vector. " + ln_where,
        "feed_forward": f"Each token then goes alone through a two-layer network: {f.d_model} → {f.d_ff} numbers, "
                        f"a {f.activation.upper()}, and back to {f.d_model} (§3.3). No token looks at another here.",
        "residual_feed_forward": "Again the result is added to the input and normalised. That is one encoder "
                                 f"layer; recomputing every stage from the weights reproduces the model's own "
                                 f"output of layer {layer} to within {f.recomposition_error:.1e}.",
        "next_layer": (f"Layer {layer}'s output is layer {layer + 1}'s input; the same stages repeat with new weights, "
                       f"{f.n_layers} times in all. The bars show how much each token's vector turned in this layer."
                       if f.layer + 1 < f.n_layers else
                       f"This was the last of {f.n_layers} layers: its output is the encoder's output, which task "
                       "heads (a sentence classifier, a token tagger) read. The bars show how much each token's "
                       "vector turned in this layer."),
    }
    return texts[key]


# ---------------------------------------------------------------- summaries the pages draw


def token_norms(matrix: np.ndarray) -> np.ndarray:
    """(T, N) -> (T,) the length of each token's vector."""
    return np.linalg.norm(np.asarray(matrix, dtype=np.float64), axis=-1).astype(np.float32)


def row_mean_std(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, D) -> ((T,), (T,)): each token's mean and standard deviation over its D numbers
    (what LayerNorm sets to 0 and 1 before its learned scale and shift)."""
    m = np.asarray(matrix, dtype=np.float64)
    return m.mean(axis=-1).astype(np.float32), m.std(axis=-1).astype(np.float32)


def token_turn(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(T, D), (T, D) -> (T,) 1 − cos(before_t, after_t): how far each token's vector turned."""
    a, b = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return (1 - cos).astype(np.float32)


def active_share(hidden: np.ndarray) -> np.ndarray:
    """(T, d_ff) -> (T,) the share of feed-forward units a token switches on (output > 0)."""
    return (np.asarray(hidden) > 0).mean(axis=-1).astype(np.float32)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, N) cosine similarities."""
    v = np.asarray(vectors, dtype=np.float64)
    unit = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return unit @ unit.T


def concatenated_window(n_heads: int, d_head: int, head: int) -> tuple[int, int]:
    """Columns [start, stop) of the concatenated heads to draw: the chosen head and one neighbour
    on each side, so the picture shows where one head's block ends and the next begins."""
    first, last = max(head - 1, 0), min(head + 1, n_heads - 1)
    return first * d_head, (last + 1) * d_head


# ---------------------------------------------------------------- questions


@dataclass(frozen=True)
class Question:
    step: str  # the STEPS key it is asked at
    prompt: str  # may quote tokens of the text: show it literally
    answer: str
    detail: str
    # The head the question is about (0-based), chosen from this text's numbers; None when it is about
    # no one head. The walk-through opens the step on it.
    layer: int | None = None
    head: int | None = None
    # The facts the answer gives (a number, a quoted word): none may appear before the reveal.
    values: tuple[str, ...] = ()
    # How a class answers on its own screens (classroom): "choice" (one of `options`), "token" (a
    # position of the text, also in `options`) or "number"; options are (value, label) pairs and
    # `accepted` the values counted as right.
    kind: str = ""
    options: tuple[tuple[str, str], ...] = ()
    accepted: tuple[str, ...] = ()


def _content_positions(tokens: Sequence[str], special: Sequence[bool]) -> list[int]:
    return [i for i, (t, s) in enumerate(zip(tokens, special, strict=True)) if not s and not is_punctuation(t)]


PRONOUNS = ("it", "its", "they", "them", "their", "he", "him", "his", "she", "her", "this", "that", "which", "who")


def attention_query(tokens: Sequence[str], special: Sequence[bool], weights: np.ndarray) -> int | None:
    """The query the lesson asks about: the first pronoun (the classic 'what does "it" refer to'),
    else the content token whose row puts the most weight on one non-special key (weights: one
    head's (T, T), or (L, H, T, T) for the most in any head); None if the text has no content token."""
    content = _content_positions(tokens, special)
    if not content:
        return None
    for i in content:
        if tokens[i].lower() in PRONOUNS:
            return i
    allowed = ~np.asarray(special)
    rows = np.asarray(weights)[..., content, :][..., allowed]  # (..., N, K)
    peaks = rows.reshape(-1, len(content), rows.shape[-1]).max(axis=(0, 2))  # (N,)
    return content[int(np.argmax(peaks))]  # argmax takes the first of equal peaks: deterministic


def _other_words(special: Sequence[bool], query: int) -> np.ndarray:
    """(T,) bool: the keys an answer about `query` may name, special tokens and the query itself left out."""
    allowed = ~np.asarray(special, dtype=bool)
    allowed[query] = False
    return allowed


def question_heads(tokens: Sequence[str], special: Sequence[bool], attentions: np.ndarray,
                   statistics: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """The (layer, head), 0-based, each head-specific question is about, chosen from this text's numbers.

    scores: the head with the strongest previous-token pattern (the largest `prev`, Clark et al.'s
    statistic), so the question has something to find; softmax: the head in which the asked-about
    token puts the most weight on one other word. A teacher's link opens each step on its head.
    """
    heads: dict[str, tuple[int, int]] = {}
    if len(statistics):
        best = statistics.iloc[int(np.argmax(statistics["prev"].to_numpy()))]
        heads["scores"] = (int(best["layer"]), int(best["head"]))
    attentions = np.asarray(attentions)
    query = attention_query(tokens, special, attentions)
    if query is not None:
        others = _other_words(special, query)
        if others.any():
            peaks = attentions[:, :, query][..., others].max(axis=-1)  # (L, H)
            layer, head = np.unravel_index(int(np.argmax(peaks)), peaks.shape)
            heads["softmax"] = (int(layer), int(head))
    return heads


def lesson_questions(tokens: Sequence[str], special: Sequence[bool], walk: Walkthrough,
                     statistics: pd.DataFrame, position_table: np.ndarray | None = None,
                     padded_key_weight: float | None = None, position: int = 10,
                     attentions: np.ndarray | None = None) -> dict[str, Question]:
    """The lesson's questions, keyed by step, with answers read from this text's numbers.

    tokens/special: the run's; statistics: `head_statistics(run)`; position_table: (P, D) the
    model's position vectors (None for rotary models: no position question); padded_key_weight:
    from `padding_demo` (None: no padding question); attentions: the run's (L, H, T, T), from which
    the head-specific questions pick their head (`question_heads`; without it, the walk's head).
    Steps without a question are absent. No question's step text or prompt states its answer.
    """
    labels = list(tokens)
    questions: dict[str, Question] = {}
    layer = walk.layer + 1
    if attentions is None:  # only the walk's head is known: every head question is about it
        attentions = np.zeros((walk.layer + 1, walk.head + 1, *walk.weights.shape))
        attentions[walk.layer, walk.head] = walk.weights
        statistics = statistics[(statistics["layer"] == walk.layer) & (statistics["head"] == walk.head)]
    heads = question_heads(tokens, special, attentions, statistics)

    # Token embeddings: the two different tokens whose table rows point the most alike.
    content = _content_positions(tokens, special)
    distinct = list(dict.fromkeys(labels[i] for i in content))
    if len(distinct) >= 2:
        first = {t: labels.index(t) for t in distinct}
        cos = cosine_matrix(walk.token_embeddings[[first[t] for t in distinct]])  # (N, N)
        np.fill_diagonal(cos, -np.inf)
        a, b = np.unravel_index(int(np.argmax(cos)), cos.shape)
        a, b = sorted((int(a), int(b)))
        questions["token_embeddings"] = Question(
            "token_embeddings", "Which two different words of this text have the most similar token embeddings?",
            f"“{distinct[a]}” and “{distinct[b]}”",
            f"Cosine {cos[a, b]:.2f} (1 = same direction). Compared across {len(distinct)} different words, "
            "punctuation and special tokens left out; the table knows nothing of this sentence yet.",
            values=(f"“{distinct[a]}” and “{distinct[b]}”",),
            kind="choice", options=tuple((t, t) for t in distinct), accepted=(distinct[a], distinct[b]))

    # Positions: the row of the position table most like row `position`.
    if position_table is not None and len(position_table) > 2:
        p = min(position, len(position_table) - 2)
        table = np.asarray(position_table, dtype=np.float64)  # (P, D)
        cos = table @ table[p] / np.maximum(np.linalg.norm(table, axis=-1) * np.linalg.norm(table[p]), 1e-12)
        cos[p] = -np.inf  # (P,): every position against position p, itself left out
        best = int(np.argmax(cos))
        questions["positions"] = Question(
            "positions", f"Which position's vector will look most like position {p}'s?",
            f"Position {best}",
            f"Cosine {cos[best]:.2f}, out of all {len(position_table)} positions the model knows (counting from 0). "
            "Neighbouring positions get similar vectors, so nearby words look near.",
            values=(f"position {best}",), kind="number", accepted=(str(best),))

    # Scores: does this head look at the previous token (Clark et al. 2019, §3.1)? Asked of the head
    # with the strongest previous-token pattern on this text, so there is a pattern to predict.
    if "scores" in heads:
        q_layer, q_head = heads["scores"]
        row = statistics[(statistics["layer"] == q_layer) & (statistics["head"] == q_head)].iloc[0]
        previous = float(row["prev"])
        verdict = "Yes" if previous >= OFFSET_THRESHOLD else "No"
        questions["scores"] = Question(
            "scores", f"Will head {q_head + 1} of layer {q_layer + 1} look mostly at the previous token?",
            f"{verdict}: on average {previous:.0%} of a token's attention goes to the token just before it",
            f"Clark et al. (2019) call a head a previous-token head at {OFFSET_THRESHOLD:.0%} or more (their "
            "statistic: the weight on the previous token summed over all tokens and divided by their number; "
            f"the first token has none). On itself: {float(row['self']):.0%}; on the next token: "
            f"{float(row['next']):.0%}. Of all heads, this one looks back the most on this text.",
            layer=q_layer, head=q_head, values=(f"{previous:.0%}",),
            kind="choice", options=(("Yes", "Yes"), ("No", "No")), accepted=(verdict,))

    # Mask: what a real token gives a padded key.
    if padded_key_weight is not None:
        questions["mask"] = Question(
            "mask", "In a padded batch, how much attention will a real token give a [PAD] key?",
            f"Exactly {padded_key_weight:g}",
            "Padded keys get a score of −∞ before the softmax, and e^−∞ = 0, so the real tokens' numbers do not "
            f"change. The largest weight any real query gave a [PAD] key in the demo batch is {padded_key_weight:g}.",
            values=(f"{padded_key_weight:g}",), kind="number", accepted=(f"{padded_key_weight:g}",))

    # Softmax: where one query's attention goes, in the head where it goes most to one other word.
    query = attention_query(tokens, special, attentions)
    if "softmax" in heads and query is not None:
        q_layer, q_head = heads["softmax"]
        row_weights = np.asarray(attentions[q_layer, q_head, query], dtype=np.float64)
        masked = np.where(_other_words(special, query), row_weights, -np.inf)
        best = int(np.argmax(masked))
        overall = int(np.argmax(row_weights))
        extra = ("" if overall == best else
                 f" Counting special tokens and itself too, the largest weight, {row_weights[overall]:.2f}, goes "
                 f"to {labels[overall]} (position {overall}).")
        questions["softmax"] = Question(
            "softmax", f"In head {q_head + 1} of layer {q_layer + 1}, which other word will “{labels[query]}” "
                       f"(position {query}) attend to most?",
            f"“{labels[best]}” (position {best}), with weight {row_weights[best]:.2f}",
            "Special tokens such as [CLS] and [SEP] are left out of the answer, and so is the word itself: many "
            "heads park attention there when they have nothing to do. Of all heads, this one gives "
            f"“{labels[query]}” its largest weight on one other word." + extra,
            layer=q_layer, head=q_head, values=(f"“{labels[best]}” (position {best})",), kind="token",
            options=tuple((str(i), f"“{labels[i]}” ({i})") for i in np.flatnonzero(_other_words(special, query))),
            accepted=(str(best),))

    # Concatenation: a sum to do in one's head.
    n_heads, d_head = walk.concatenated.shape[1] // walk.queries.shape[1], walk.queries.shape[1]
    questions["concatenated"] = Question(
        "concatenated", f"Each of the {n_heads} heads gives every token {d_head} numbers. How many numbers does a "
                        "token have once the heads are concatenated?",
        f"{n_heads} × {d_head} = {walk.concatenated.shape[1]}",
        "Exactly d_model: that is why d_k is chosen as d_model / heads, so the residual sum fits (§3.2.2).",
        values=(str(walk.concatenated.shape[1]),), kind="number", accepted=(str(walk.concatenated.shape[1]),))

    # Next layer: which token did this layer change most?
    turn = token_turn(walk.layer_input, walk.layer_output)  # (T,)
    most = int(np.argmax(turn))
    questions["next_layer"] = Question(
        "next_layer", f"Which token's vector will layer {layer} turn the most?",
        f"“{labels[most]}” (position {most})",
        f"1 − cosine between its vector before and after the layer: {turn[most]:.3f}; the median token "
        f"turned {float(np.median(turn)):.3f}.",
        values=(f"“{labels[most]}” (position {most})",), kind="token",
        options=tuple((str(i), f"“{t}” ({i})") for i, t in enumerate(labels)), accepted=(str(most),))
    return questions
