"""`Model.run(text)` -> `Run`: the contract between the engine and everything visual.

A Run holds numpy arrays only, so it can be cached, pickled by Streamlit and shared between
threads without keeping tensors (or the graph behind them) alive. Its arrays are read-only:
one cached Run serves every browser session, so nothing may write into it.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from .batching import length_sorted_batches, pad_batch
from .capture import layer_major, projections_per_head
from .config import EncoderConfig
from .model import Encoder
from .modules import EmbeddingParts, factored_value_output_norms, head_factors
from .tokenize import TextTokenizer, Tokenized


class _FromTokenized:
    """`run.tokens` reads `run.tokenized.tokens`: the tokenizer's fields, without copying them."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, run: Run | None, owner: type | None = None):
        return self if run is None else getattr(run.tokenized, self.name)


@dataclass(frozen=True, eq=False)
class Run:
    """Everything one forward pass shows. L = layers, H = heads, T = tokens, D = d_model, Dh = D / H."""

    model_name: str
    tokenized: Tokenized  # tokens, ids, segment ids, word ids, offsets, ... (read through below)
    attentions: np.ndarray  # float32 (L, H, T, T); row = query, column = key; rows sum to 1
    hidden_states: np.ndarray  # float32 (L + 1, T, D); [0] is the embedding output
    # ‖v_j W_O^h‖: the length token j's value reaches the residual stream with, per head; times
    # α_ij it is Kobayashi et al.'s (2020) value-weighted attention. float32 (L, H, T).
    value_output_norms: np.ndarray
    token_embeddings: np.ndarray  # float32 (T, D), before position and segment are added
    position_embeddings: np.ndarray  # float32 (T, D)
    segment_embeddings: np.ndarray | None  # float32 (T, D), or None without segments
    # Per-head projections, float32 (L, H, T, Dh) each; None unless asked for (`qkv=True`).
    queries: np.ndarray | None = None
    keys: np.ndarray | None = None
    values: np.ndarray | None = None
    # A token-classification model's predicted label per token (specials included), else None.
    token_labels: list[str] | None = None
    causal: bool = False  # attentions are masked above the diagonal: draw those cells as masked

    text_a = _FromTokenized()  # the text as read: control characters removed
    text_b = _FromTokenized()
    tokens = _FromTokenized()  # special tokens included
    ids = _FromTokenized()
    segment_ids = _FromTokenized()  # 0 for text A, 1 for text B
    word_ids = _FromTokenized()  # word index within its own text; None for special tokens
    offsets = _FromTokenized()  # character span within its own text
    special = _FromTokenized()
    labels = _FromTokenized()  # tokens as people read them: ‿ continues a word, ␣ is a space before
    truncated = _FromTokenized()
    n_tokens_before_truncation = _FromTokenized()

    def __post_init__(self) -> None:
        for array in self._arrays():
            array.setflags(write=False)

    def _arrays(self) -> list[np.ndarray]:
        return [v for f in fields(self) if isinstance(v := getattr(self, f.name), np.ndarray)]

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (what a cache of runs pays for this one)."""
        return sum(a.nbytes for a in self._arrays())

    @property
    def n_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def is_pair(self) -> bool:
        return self.text_b is not None

    @property
    def has_qkv(self) -> bool:
        return self.queries is not None

    def future_mask(self) -> np.ndarray | None:
        """bool (T, T), True where a causal model could not look (key after query); None if not causal."""
        if not self.causal:
            return None
        return np.triu(np.ones((self.n_tokens, self.n_tokens), dtype=bool), k=1)

    def truncation_message(self) -> str | None:
        """A sentence for people, or None when nothing was cut."""
        if not self.truncated:
            return None
        cut = self.n_tokens_before_truncation - self.n_tokens
        return (
            f"The text made {self.n_tokens_before_truncation} tokens but {self.model_name} reads "
            f"at most {self.n_tokens}; the last {cut} tokens were cut."
        )


def encoder_value_output_norms(encoder: Encoder, values: torch.Tensor) -> torch.Tensor:
    """‖v_j W_O^h‖ for every layer, head and token of `encoder`: values (..., L, H, T, Dh) -> (..., L, H, T).

    What `Run.value_output_norms` holds (Kobayashi et al. 2020, eq. 5, without the bias), from each
    layer's output projection through `modules.factored_value_output_norms` and its cached
    triangular factors (`modules.head_factors`).
    """
    return factored_value_output_norms(values, _stacked_factors(encoder))  # factors (L, H, Dh, Dh)


# encoder -> (its layers' cached factors, them stacked): the stack is reused while each layer's
# `head_factors` hands back the same tensor, that is while no weight has changed.
_STACKED_FACTORS: weakref.WeakKeyDictionary[Encoder, tuple[list[torch.Tensor], torch.Tensor]] = (
    weakref.WeakKeyDictionary())


def _stacked_factors(encoder: Encoder) -> torch.Tensor:
    """(L, H, Dh, Dh): every layer's `head_factors`, one slot per application (ALBERT's shared layer L times)."""
    n_heads = encoder.config.n_heads
    factors = [head_factors(layer.attention.out.weight, n_heads) for layer in encoder.layers]
    if any(f.requires_grad for f in factors):
        return torch.stack(factors)  # training: keep the graph, cache nothing
    cached = _STACKED_FACTORS.get(encoder)
    if cached is not None and len(cached[0]) == len(factors) and all(
            a is b for a, b in zip(cached[0], factors, strict=True)):
        return cached[1]
    with torch.inference_mode(False), torch.no_grad():  # a normal tensor, usable outside inference mode
        stacked = torch.stack(factors)
    _STACKED_FACTORS[encoder] = (factors, stacked)
    return stacked


class RecycledMemory:
    """CPU memory for runs' large arrays that reuses the blocks of runs nobody holds any more.

    Why: fresh memory is not free. glibc takes allocations of more than a few MB (all above 32 MB)
    straight from the kernel and gives them back when freed, and the kernel maps and zeroes each
    page on first write: about 0.3 ms a MB here, so at 512 tokens the 75 MB of attention weights
    cost 25 ms of a 220 ms run, on every run. transformers' forward allocates its weights one
    layer at a time, small enough for glibc to keep and reuse; this does the same for our
    one-piece buffers.

    When a block is free: each hand-out is a numpy view of its block, `lease`, from which the
    tensor is made (torch.from_numpy). torch's storage keeps `lease` alive while any tensor, view
    or `.numpy()` array made from it lives, so once `lease` is collected nothing can read the
    block, and a finalizer puts it back. Sizes are rounded up to eighths of a power of two (at most
    12.5 % more), so runs of similar lengths share blocks. At most `keep_bytes` of idle blocks are
    kept, the oldest dropped first. Thread-safe.
    """

    SMALLEST = 1 << 20  # bytes; below this, torch.empty: glibc keeps and reuses small blocks itself
    ALIGNMENT = 64  # bytes, as torch aligns its own CPU allocations (kernels may depend on it)

    # 96 MB holds a 512-token run's attention (75 MB, 80 MB as a size class), where most of the gain
    # is; more would add to a server's peak memory on top of its run cache (issue 16's 1.5 GB bound).
    def __init__(self, keep_bytes: int = 96 << 20) -> None:
        self.keep_bytes = keep_bytes
        self._idle: dict[int, np.ndarray] = {}  # id -> uint8 block, oldest first
        self._lock = threading.Lock()

    def empty(self, shape: Sequence[int], *, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None) -> torch.Tensor:
        """An uninitialised tensor, like torch.empty(shape, dtype=, device=)."""
        nbytes = math.prod(shape) * dtype.itemsize
        if torch.device(device or "cpu").type != "cpu" or nbytes < self.SMALLEST:
            return torch.empty(shape, dtype=dtype, device=device)
        block = self._take(_size_class(nbytes))
        lease = block[:nbytes]
        weakref.finalize(lease, self._give_back, block).atexit = False
        return torch.from_numpy(lease).view(dtype).view(tuple(shape))

    def stack(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        """torch.stack(tensors, dim=1) into memory from `empty`: n of (B, ...) -> (B, n, ...)."""
        first = tensors[0]
        out = self.empty((first.shape[0], len(tensors), *first.shape[1:]), dtype=first.dtype, device=first.device)
        return torch.stack(tensors, dim=1, out=out)

    def idle_bytes(self) -> int:
        return sum(block.nbytes for block in list(self._idle.values()))

    def release(self) -> int:
        """Let go of every idle block (its memory goes back to the operating system); the bytes let go."""
        with self._lock:
            dropped = sum(block.nbytes for block in self._idle.values())
            self._idle.clear()
        return dropped

    def _take(self, size: int) -> np.ndarray:
        with self._lock:
            for key, block in list(self._idle.items()):
                if block.nbytes == size:
                    del self._idle[key]
                    return block
        raw = np.empty(size + self.ALIGNMENT, dtype=np.uint8)
        start = -raw.ctypes.data % self.ALIGNMENT
        return raw[start: start + size]

    def _give_back(self, block: np.ndarray) -> None:
        # A finalizer runs wherever the last reference went, possibly (through the garbage
        # collector) inside `_take` on this very thread: never wait for the lock, just let the
        # block go when it is busy.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._idle[id(block)] = block
            total = sum(b.nbytes for b in self._idle.values())
            while total > self.keep_bytes:
                total -= self._idle.pop(next(iter(self._idle))).nbytes
        finally:
            self._lock.release()


def _size_class(nbytes: int) -> int:
    """nbytes rounded up to a multiple of an eighth of the power of two below it."""
    step = 1 << max(nbytes.bit_length() - 4, 0)
    return -(-nbytes // step) * step


_MEMORY = RecycledMemory()  # the large arrays of every Model's runs


def release_recycled_memory() -> int:
    """Let go of the blocks kept for runs to come, e.g. once a server's visitors have left (state.py's
    sweep): up to `keep_bytes` would otherwise stay held with nobody running anything."""
    return _MEMORY.release()


class Model:
    """A loaded encoder with its tokenizer. Safe to share between threads: `run` never mutates it.

    token_classifier, id2label: an optional token-classification head (BertForTokenClassification's
    `classifier`, a linear map of the last hidden state to one logit per label); with it, each Run
    carries the arg-max label of every token in `token_labels`.
    """

    def __init__(self, encoder: Encoder, tokenizer: TextTokenizer, name: str, *,
                 token_classifier: nn.Linear | None = None, id2label: Sequence[str] | None = None,
                 family: str = "BERT") -> None:
        if (token_classifier is None) != (id2label is None):
            raise ValueError("A token classifier needs its labels, and labels need a classifier.")
        if token_classifier is not None and token_classifier.out_features != len(id2label):
            raise ValueError(f"The token classifier has {token_classifier.out_features} outputs "
                             f"but {len(id2label)} labels.")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.name = name
        self.family = family  # the loader's family table entry: BERT, RoBERTa, DistilBERT, ...
        self.token_classifier = token_classifier
        self.id2label = None if id2label is None else tuple(id2label)

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    @property
    def device(self) -> torch.device:
        """Where the encoder's weights are, and so where `run` computes (results come back as numpy)."""
        return next(self.encoder.parameters()).device

    def __repr__(self) -> str:
        c = self.config
        return f"Model({self.name!r}, layers={c.n_layers}, heads={c.n_heads}, d_model={c.d_model})"

    def learned_position_table(self) -> np.ndarray | None:
        """The learned position table as a float32 (max_positions, D) copy; None for sinusoids.

        A copy, so that nothing drawn from it can write into the shared (cached) model.
        """
        rows = self.encoder.embeddings.learned_position_rows()  # (P, E): the rows tokens 0, 1, ... read
        return None if rows is None else rows.detach().cpu().numpy().astype(np.float32, copy=True)

    def run(self, text_a: str, text_b: str | None = None, *, qkv: bool = True) -> Run:
        """Tokenize, run the encoder once with attention capture, and return numpy results.

        qkv=False leaves out the per-head queries, keys and values (3 x L x T x D floats, about
        15% of a run): the app's cache of runs asks for them only where a view needs them.
        Raises ValueError for empty text. Text longer than the model's positions is truncated
        and flagged in `Run.truncated`.
        """
        return self._forward([self._tokenize(text_a, text_b)], qkv)[0]

    def run_batch(self, texts: Sequence[str | tuple[str, str | None]], batch_size: int = 32, *,
                  qkv: bool = False) -> list[Run]:
        """`run` for many texts (or (text_a, text_b) pairs) at once, in the order given.

        Texts are sorted by length and cut into batches of `batch_size`; each batch is padded to
        its longest text, and a key-padding mask keeps padded keys at exactly zero weight
        (the tutorial's "padding masks for variable lengths"), so every Run equals `run(text)`
        within float32 rounding. Raises ValueError naming the first unreadable text.
        """
        tokenized = []
        for index, item in enumerate(texts):
            text_a, text_b = (item, None) if isinstance(item, str) else item
            try:
                tokenized.append(self._tokenize(text_a, text_b))
            except ValueError as error:
                raise ValueError(f"Text {index + 1}: {error}") from error
        runs: list[Run | None] = [None] * len(tokenized)
        for batch in length_sorted_batches([len(t) for t in tokenized], batch_size):
            for index, run in zip(batch, self._forward([tokenized[i] for i in batch], qkv), strict=True):
                runs[index] = run
        return runs  # type: ignore[return-value]

    def _tokenize(self, text_a: str, text_b: str | None) -> Tokenized:
        tokenized = self.tokenizer.encode(text_a, text_b)
        # Models without segment embeddings (RoBERTa, DistilBERT) still read pairs: their
        # tokenizer puts separators between the texts, and Embeddings adds no segment row then.
        return tokenized

    def _forward(self, batch: list[Tokenized], qkv: bool) -> list[Run]:
        """One padded forward pass for a batch of tokenized texts, cut back into one Run each."""
        device = self.device
        if len(batch) == 1:  # nothing to pad, so no mask to build or to apply
            only = batch[0]
            ids, mask = torch.tensor(only.ids).unsqueeze(0), None  # (1, T)
            # All-zero segments are what the embeddings assume without any (see Embeddings.parts).
            segments = torch.tensor(only.segment_ids).unsqueeze(0) if any(only.segment_ids) else None
        else:
            ids, mask = pad_batch([t.ids for t in batch], self.config.pad_token_id)  # (B, T) each
            segments, _ = pad_batch([t.segment_ids for t in batch], 0)  # (B, T)
            mask, segments = mask.to(device), segments.to(device)
        # The large arrays the Runs keep go into recycled memory (see RecycledMemory for why), and
        # the encoder's layers write into it as they go: their hidden states, fused Q/K/V
        # projections and attention weights (what `capture_attention` would hand out through hooks;
        # given directly, no hook is registered: 0.2 ms of a 10 ms run at 16 tokens).
        B, T = ids.shape
        L, H, D = len(self.encoder.layers), self.config.n_heads, self.config.d_model
        with torch.inference_mode():
            hidden = _MEMORY.empty((L + 1, B, T, D), device=device)
            projections = _MEMORY.empty((L, B, T, 3 * D), device=device)
            weights = _MEMORY.empty((L, B, H, T, T), device=device)
            output = self.encoder(ids.to(device), None if segments is None else segments.to(device), mask,
                                  hidden_out=hidden, projections_out=projections, weights_out=weights)
            hidden = layer_major(hidden)  # (B, L + 1, T, D)
            attentions = layer_major(weights)  # (B, L, H, T, T)
            # Each (B, L, H, T, Dh): views into the layers' fused projections; a Run without them
            # lets that buffer go.
            queries, keys, values = projections_per_head(projections, H)
            norms = encoder_value_output_norms(self.encoder, values)  # (B, L, H, T)
            projections = {"queries": queries, "keys": keys, "values": values} if qkv else {}
            predicted = None
            if self.token_classifier is not None:  # BertForTokenClassification: Linear(last hidden state)
                predicted = self.token_classifier(output.last_hidden_state).argmax(-1)  # (B, T)
            parts = output.embedding_parts
            if device.type != "cpu":  # results are numpy on the CPU, whatever ran the model
                attentions, hidden, norms = attentions.cpu(), hidden.cpu(), norms.cpu()
                projections = {name: array.cpu() for name, array in projections.items()}
                parts = EmbeddingParts(parts.token.cpu(), parts.position.cpu(),
                                       None if parts.segment is None else parts.segment.cpu())
                predicted = None if predicted is None else predicted.cpu()
        runs = []
        for b, tokenized in enumerate(batch):
            n = len(tokenized)  # real tokens of this row; the rest is padding
            runs.append(Run(
                model_name=self.name,
                tokenized=tokenized,
                attentions=attentions[b, :, :, :n, :n].numpy(),
                hidden_states=hidden[b, :, :n].numpy(),
                value_output_norms=norms[b, :, :, :n].numpy(),
                token_embeddings=parts.token[b, :n].numpy(),
                position_embeddings=parts.position[b, :n].numpy(),
                segment_embeddings=None if parts.segment is None else parts.segment[b, :n].numpy(),
                **{name: array[b, :, :, :n].numpy() for name, array in projections.items()},
                token_labels=None if predicted is None else [self.id2label[i] for i in predicted[b, :n].tolist()],
                causal=self.config.causal,
            ))
        return runs

