"""Similar contexts across a corpus: exBERT's corpus search (Hoover et al. 2020), on any model here.

    from encoder.corpus import build_context_index, nearest_contexts
    index = build_context_index(model, sentences)             # every layer, with progress(done, total)
    nearest_contexts(index, sentence_index=3, token_index=5, layer=4, k=10)
    nearest_contexts(index, 3, 5, layer=2, mode="attention")  # tokens whose attention behaves alike

Two kinds of vectors per non-special token of every sentence:
- "hidden": the token's hidden state at each layer (`layer` indexes `run.hidden_states`, 0 = the
  embedding output), L2-normalised, so the inner product is the cosine. exBERT searches the same
  way (by the token's context embedding at one layer).
- "attention": the token's attention signature at each attention layer (`layer` indexes
  `run.attentions`, 0 = the first layer): for each head, the SIGNATURE features of the token's own
  attention row (its query's distribution over keys): normalised entropy, mass on [CLS], on the
  other specials ([SEP]), on punctuation, on the previous token, itself and the next token, and
  the mean signed offset Σ_j α_ij (j − i) in tokens. Each of the H·8 features is z-scored over the
  indexed tokens (so entropies in nats and offsets in tokens weigh like masses), then
  L2-normalised: the cosine compares how two tokens spread their attention, head by head.

Search: faiss (faiss-cpu), `IndexScalarQuantizer` with fp16 codes (or `IndexFlatIP` for float32)
and the inner product: an exact, brute-force scan in SIMD, no training, no approximation. At 2,000
sentences (~40,000 tokens × 384) a scan is a few milliseconds, so an approximate index (IVF, HNSW)
would only trade exactness for nothing; faiss rather than scikit-learn's brute NearestNeighbors
because faiss scans fp16 codes directly, where scikit-learn would upcast the whole layer to
float64 on every query (123 MB at 40,000 tokens). The k candidates (with a margin) are re-ranked
by the exact cosine of their stored vectors, so a token's own hit is 1 within float32 rounding.

Memory bound (`ContextIndex.nbytes`): n_tokens × (n_hidden_layers × D + n_attention_layers × H × 8)
× 2 bytes in float16 (× 4 in float32), plus 16 bytes of position per token: for MiniLM-L6
(7 × 384 + 6 × 96 features) 6.5 KB a token, 260 MB for 40,000 tokens in float16. Runs are
streamed in length-sorted batches (`statistics.measure_by_length`): at most one batch of attention
maps is alive while building.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analysis import token_classes
from ..run import Model, Run
from .statistics import Progress, measure_by_length

MODES = ("hidden", "attention")
SIGNATURE = ("entropy", "cls", "sep", "punct", "prev", "self", "next", "offset")  # per head, in this order
STD_FLOOR = 1e-6  # a feature constant over the corpus (e.g. a mass that is always 0) is left at 0, not divided by 0
MARGIN = 8  # extra candidates re-ranked by the exact cosine, so fp16 rounding cannot drop a true neighbour


def attention_signature(attentions: np.ndarray, tokens: Sequence[str], special: Sequence[bool]) -> np.ndarray:
    """Each token's attention signature: float32 (L, T, H · 8), the SIGNATURE features of its query row per head.

    attentions: (L, H, T, T), rows sum to 1. Entropy is in nats over ln T (1 = uniform; 0 for T = 1);
    offsets are in tokens. Clark et al. (2019) average these over queries to describe a head; here
    they are kept per query to describe a token.
    """
    a = np.asarray(attentions, dtype=np.float64)
    n_layers, n_heads, n_tokens, _ = a.shape
    cls_mask, sep_mask, _, punct_mask = token_classes(tokens, special)
    positions = np.arange(n_tokens)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(a > 0, a * np.log(a), 0.0).sum(-1)  # (L, H, T)
    entropy = entropy / np.log(n_tokens) if n_tokens > 1 else np.zeros_like(entropy)

    def diagonal(offset: int) -> np.ndarray:  # α[i, i + offset], 0 where that key does not exist
        out = np.zeros((n_layers, n_heads, n_tokens))
        rows = positions[(positions + offset >= 0) & (positions + offset < n_tokens)]
        out[..., rows] = a[..., rows, rows + offset]
        return out

    features = [entropy, a[..., cls_mask].sum(-1), a[..., sep_mask].sum(-1), a[..., punct_mask].sum(-1),
                diagonal(-1), diagonal(0), diagonal(1), a @ positions - positions]  # each (L, H, T)
    stacked = np.stack(features, axis=-1)  # (L, H, T, 8)
    return stacked.transpose(0, 2, 1, 3).reshape(n_layers, n_tokens, n_heads * len(SIGNATURE)).astype(np.float32)


@dataclass(frozen=True)
class SentenceVectors:
    """What one sentence adds to the index: its non-special tokens' positions and vectors."""

    positions: np.ndarray  # int32 (n,): positions in run.tokens
    tokens: tuple[str, ...]
    offsets: np.ndarray  # int32 (n, 2): character spans in the sentence
    hidden: np.ndarray  # float32 or float16 (len(layers), n, D), L2-normalised
    signature: np.ndarray | None  # float32 (len(attention_layers), n, H · 8), raw (z-scored at the end)

    @classmethod
    def of_run(cls, run: Run, layers: Sequence[int], attention_layers: Sequence[int], dtype) -> SentenceVectors:
        keep = np.flatnonzero(~np.asarray(run.special, dtype=bool))
        hidden = np.asarray(run.hidden_states[list(layers)][:, keep], dtype=np.float32)  # (Lh, n, D)
        hidden = hidden / np.maximum(np.linalg.norm(hidden, axis=-1, keepdims=True), 1e-12)
        signature = None
        if attention_layers:
            signature = attention_signature(run.attentions[list(attention_layers)], run.tokens, run.special)[:, keep]
        offsets = np.asarray([run.offsets[i] for i in keep], dtype=np.int32).reshape(-1, 2)
        return cls(keep.astype(np.int32), tuple(run.tokens[i] for i in keep), offsets, hidden.astype(dtype),
                   signature)


@dataclass(frozen=True, eq=False)
class ContextIndex:
    """Token vectors of a corpus, one faiss index per (mode, layer). Build with `build_context_index`."""

    model_name: str
    sentences: tuple[str, ...]
    layers: tuple[int, ...]  # hidden-state layers indexed (0 = embedding output)
    attention_layers: tuple[int, ...]  # attention layers indexed (0 = first layer); () without the mode
    starts: np.ndarray  # int64 (n_sentences + 1,): sentence s owns index rows starts[s]:starts[s + 1]
    positions: np.ndarray  # int32 (N,): each row's position in run.tokens
    tokens: tuple[str, ...]  # (N,)
    offsets: np.ndarray  # int32 (N, 2)
    searchers: dict = field(repr=False)  # (mode, layer) -> faiss index over L2-normalised vectors
    signature_mean: np.ndarray | None = None  # float32 (len(attention_layers), H · 8): the z-score's centre
    signature_std: np.ndarray | None = None
    skipped: tuple[tuple[int, str], ...] = ()  # (sentence index, reason) of sentences the model could not read
    dtype: str = "float16"

    @property
    def n_tokens(self) -> int:
        return len(self.positions)

    @property
    def nbytes(self) -> int:
        """Bytes held: the vectors (faiss codes) and the per-token positions (token strings not counted)."""
        codes = sum(int(s.ntotal) * int(s.sa_code_size()) for s in self.searchers.values())
        return codes + self.positions.nbytes + self.offsets.nbytes + self.starts.nbytes

    def row(self, sentence_index: int, token_index: int) -> int:
        """The index row of a token, or ValueError saying why there is none (a special token is not indexed)."""
        if not 0 <= sentence_index < len(self.sentences):
            raise ValueError(f"Sentence {sentence_index} is not in this index ({len(self.sentences)} sentences).")
        begin, end = int(self.starts[sentence_index]), int(self.starts[sentence_index + 1])
        found = np.flatnonzero(self.positions[begin:end] == token_index)
        if not found.size:
            raise ValueError(f"Token {token_index} of sentence {sentence_index} is not indexed: special tokens, "
                             "positions past the sentence's end and unreadable sentences are not.")
        return begin + int(found[0])

    def sentence_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, rows, side="right") - 1

    def vectors(self, mode: str, layer: int, rows: np.ndarray) -> np.ndarray:
        """The stored (normalised, z-scored for attention) vectors of `rows` at one layer: float32 (n, dim)."""
        return self.searchers[self._key(mode, layer)].reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def _key(self, mode: str, layer: int) -> tuple[str, int]:
        if mode not in MODES:
            raise ValueError(f"mode is one of {MODES}, not {mode!r}.")
        kept = self.layers if mode == "hidden" else self.attention_layers
        if layer not in kept:
            what = "hidden-state layers (0 = embeddings)" if mode == "hidden" else "attention layers (0 = first)"
            raise ValueError(f"Layer {layer} is not indexed for {mode!r}; the index holds {what} {list(kept)}.")
        return mode, layer


def _searcher(vectors: np.ndarray, dtype: str):
    import faiss

    dim = vectors.shape[1]
    if dtype == "float16":
        searcher = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    else:
        searcher = faiss.IndexFlatIP(dim)
    searcher.add(np.ascontiguousarray(vectors, dtype=np.float32))  # fp16 codes need no training
    return searcher


def assemble(model_name: str, sentences: Sequence[str], parts: dict[int, SentenceVectors | str],
             layers: Sequence[int], attention_layers: Sequence[int], dtype: str) -> ContextIndex:
    """The index from each sentence's vectors (or the reason it was skipped), in sentence order."""
    order = range(len(sentences))
    kept = [parts[i] if isinstance(parts.get(i), SentenceVectors) else None for i in order]
    skipped = tuple((i, parts.get(i, "not read")) for i in order if kept[i] is None)
    sizes = np.array([0 if p is None else len(p.positions) for p in kept], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    present = [p for p in kept if p is not None]
    if not present or starts[-1] == 0:
        raise ValueError("No token of these sentences could be indexed.")
    searchers, mean, std = {}, None, None
    for k, layer in enumerate(layers):  # one layer at a time: one float32 copy alive, not L
        searchers["hidden", layer] = _searcher(np.concatenate([p.hidden[k] for p in present]), dtype)
    if attention_layers:
        means, stds = [], []
        for k, layer in enumerate(attention_layers):
            raw = np.concatenate([p.signature[k] for p in present]).astype(np.float64)  # (N, H · 8)
            centre, spread = raw.mean(0), np.maximum(raw.std(0), STD_FLOOR)
            scored = (raw - centre) / spread
            scored /= np.maximum(np.linalg.norm(scored, axis=1, keepdims=True), 1e-12)
            searchers["attention", layer] = _searcher(scored, dtype)
            means.append(centre)
            stds.append(spread)
        mean, std = np.asarray(means, np.float32), np.asarray(stds, np.float32)
    return ContextIndex(
        model_name=model_name, sentences=tuple(sentences), layers=tuple(layers),
        attention_layers=tuple(attention_layers), starts=starts,
        positions=np.concatenate([p.positions for p in present]),
        tokens=tuple(t for p in present for t in p.tokens),
        offsets=np.concatenate([p.offsets for p in present]),
        searchers=searchers, signature_mean=mean, signature_std=std, skipped=skipped, dtype=dtype)


def _layers(model: Model, layers: Sequence[int] | None, attention: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    n_layers = model.config.n_layers
    hidden = tuple(range(n_layers + 1)) if layers is None else tuple(int(layer) for layer in layers)
    bad = [layer for layer in hidden if not 0 <= layer <= n_layers]
    if bad:
        raise ValueError(f"Hidden-state layers run from 0 (embeddings) to {n_layers}, not {bad}.")
    if not attention:
        return hidden, ()
    if layers is None:
        return hidden, tuple(range(n_layers))
    # Attention layer ℓ makes hidden state ℓ + 1: index the attention layers behind the chosen hidden ones.
    return hidden, tuple(sorted({h - 1 for h in hidden if h > 0}))


def build_context_index(model: Model, sentences: Sequence[str], layers: Sequence[int] | None = None,
                        progress: Progress | None = None, *, attention: bool = True, dtype: str = "float16",
                        batch_size: int = 32) -> ContextIndex:
    """Index every non-special token of `sentences` (every layer by default) for `nearest_contexts`.

    layers: hidden-state layers (0 = embedding output); the attention mode indexes the attention
    layers that produce them (all by default). Runs are batched (`Model.run_batch` through
    `measure_by_length`, length-sorted); `progress(done, total)` counts sentences. Unreadable
    sentences are skipped and listed in `index.skipped`. dtype: "float16" (default, half the
    memory; cosines within ~1e-3 of float32 ones) or "float32".
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype is float16 or float32, not {dtype!r}.")
    sentences = list(sentences)
    hidden, attention_layers = _layers(model, layers, attention)
    storage = np.float16 if dtype == "float16" else np.float32

    def measure(run: Run) -> SentenceVectors:
        return SentenceVectors.of_run(run, hidden, attention_layers, storage)

    parts = dict(measure_by_length(model, sentences, measure, batch_size, progress))
    return assemble(model.name, sentences, parts, hidden, attention_layers, dtype)


def search(index: ContextIndex, queries: np.ndarray, mode: str, layer: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, rows), each (n, k), best first, for normalised query vectors (n, dim) at one layer.

    faiss scans every stored vector; the k + MARGIN best are re-ranked by the exact cosine of
    their stored values (float32 arithmetic), so rounding in the fp16 scan cannot reorder them.
    """
    searcher = index.searchers[index._key(mode, layer)]
    k = max(1, min(int(k), searcher.ntotal))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    _, candidates = searcher.search(queries, min(k + MARGIN, searcher.ntotal))  # (n, k + MARGIN)
    cosines, rows = [], []
    for query, found in zip(queries, candidates, strict=True):
        found = found[found >= 0]
        stored = searcher.reconstruct_batch(found)  # (m, dim)
        exact = stored @ query / np.maximum(np.linalg.norm(stored, axis=1) * np.linalg.norm(query), 1e-12)
        exact = np.clip(exact, -1.0, 1.0)  # float32 rounding can put a vector's cosine with its twin at 1 + 1e-7
        best = np.argsort(-exact, kind="stable")[:k]
        cosines.append(exact[best])
        rows.append(found[best])
    return np.asarray(cosines), np.asarray(rows)


def nearest_contexts(index: ContextIndex, sentence_index: int, token_index: int, layer: int, k: int = 10,
                     mode: str = "hidden") -> pd.DataFrame:
    """The k tokens of the corpus whose contexts are most alike at `layer`, best first (the token itself first).

    token_index is a position in `model.run(sentence).tokens`; for mode "hidden", `layer` indexes
    `run.hidden_states` (0 = embedding output) and the cosine is between hidden states; for
    "attention" it indexes `run.attentions` and the cosine is between attention signatures.
    Returns a DataFrame: sentence_index, token_index, token, cosine, sentence.
    """
    row = index.row(sentence_index, token_index)
    query = index.vectors(mode, layer, np.array([row]))
    cosines, rows = search(index, query, mode, layer, k)
    # Exact ties are common (at layer 0 the same token at the same position has the same vector in every
    # sentence), so the query token is put first by rule, with its own cosine, rather than left to tie order.
    others = rows[0] != row
    own = 1.0  # a vector's cosine with itself
    rows = np.concatenate([[row], rows[0][others]])[: len(rows[0])]
    cosines = np.concatenate([[own], cosines[0][others]])[: len(rows)]
    return hits_frame(index, rows, cosines)


def query_vector(index: ContextIndex, run: Run, token_index: int, layer: int, mode: str = "hidden") -> np.ndarray:
    """The vector a token of any run (a text outside the corpus too) is searched with: float32 (1, dim),
    made as the index's own (normalised hidden state; signature z-scored by the corpus's mean and spread)."""
    index._key(mode, layer)
    if not 0 <= token_index < run.n_tokens:
        raise ValueError(f"Token {token_index} is not in this text ({run.n_tokens} tokens).")
    if mode == "hidden":
        vector = np.asarray(run.hidden_states[layer, token_index], dtype=np.float64)
    else:
        k = index.attention_layers.index(layer)
        raw = attention_signature(run.attentions[[layer]], run.tokens, run.special)[0, token_index]
        vector = (raw - index.signature_mean[k]) / index.signature_std[k]
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)[None]


def nearest_to_run(index: ContextIndex, run: Run, token_index: int, layer: int, k: int = 10,
                   mode: str = "hidden") -> pd.DataFrame:
    """`nearest_contexts` for a token of any run of the same model (the sidebar's text, say): the k tokens
    of the corpus most alike at `layer`, best first, as the same DataFrame."""
    if run.model_name != index.model_name:
        raise ValueError(f"This index was built with {index.model_name}, not {run.model_name}.")
    cosines, rows = search(index, query_vector(index, run, token_index, layer, mode), mode, layer, k)
    return hits_frame(index, rows[0], cosines[0])


def hits_frame(index: ContextIndex, rows: np.ndarray, cosines: np.ndarray) -> pd.DataFrame:
    sentence = index.sentence_of(rows)
    return pd.DataFrame({
        "sentence_index": sentence.astype(np.int64),
        "token_index": index.positions[rows].astype(np.int64),
        "token": [index.tokens[r] for r in rows],
        "cosine": np.asarray(cosines, dtype=np.float64),
        "sentence": [index.sentences[s] for s in sentence],
    })


def spans(index: ContextIndex, hits: pd.DataFrame) -> np.ndarray:
    """int (n, 2): the character span of each hit's token in its sentence (to mark it)."""
    rows = [index.row(s, t) for s, t in zip(hits["sentence_index"], hits["token_index"], strict=True)]
    return index.offsets[rows] if rows else np.zeros((0, 2), dtype=np.int32)
