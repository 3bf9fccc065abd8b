"""Models and runs: the only module that caches.

A model is cached once per source for every session (`st.cache_resource`). Runs, and the Attention
page's packed explorers, are kept in shared caches bounded by bytes, not by count: a 512-token run
holds about 80 MB of arrays and a 16-token one 0.1 MB, so a count bound either wastes memory or
evicts short runs for nothing. Nothing a session keeps (its fragments, its callbacks) may hold a
run or a view: the caches' budgets then bound the server's memory, not the number of sessions.
Runs are read-only (their arrays refuse writes), so sharing one between sessions is safe.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from encoder import Model, Run, load_model
from encoder.loading import LoadLimits
from encoder.run import release_recycled_memory
from session import as_int
from sources import resolve_source

EXAMPLES_FILE = Path(__file__).resolve().parent / "assets" / "examples.json"
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
# At most MODELS_KEPT models are kept at once, each at most this many MB of weights: SmolLM2-135M,
# the largest bundled model, is 538 MB as float32.
MODEL_MAX_MB_ENV = "HEADLIGHT_MODEL_MAX_MB"
MODEL_MAX_MB = 1024
MODELS_KEPT = 3
DEVICE_ENV = "HEADLIGHT_DEVICE"
RUN_CACHE_ENV = "HEADLIGHT_RUN_CACHE_MB"
RUN_CACHE_MB = 384
EXPLORER_CACHE_ENV = "HEADLIGHT_EXPLORER_CACHE_MB"
EXPLORER_CACHE_MB = 192
# Cached runs and explorers nobody asked for in this long are dropped (checked every SWEEP_SECONDS),
# as Streamlit drops a closed tab's session after server.disconnectedSessionTTL (120 s).
CACHE_IDLE_ENV = "HEADLIGHT_CACHE_IDLE_S"
CACHE_IDLE_SECONDS = 120
SWEEP_SECONDS = 15


# ---------------------------------------------------------------- models


def model_limits() -> LoadLimits:
    """The caps a model must meet on this server, checked before anything of it is built or fetched:
    the engine's shape caps, and at most HEADLIGHT_MODEL_MAX_MB of float32 weights (4 bytes a
    parameter), so the MODELS_KEPT models kept at once stay within a stated budget."""
    return LoadLimits(max_parameters=budget_bytes(MODEL_MAX_MB_ENV, MODEL_MAX_MB) // 4)


def get_model(source: str) -> Model:
    """One shared model per source for every session (never mutated by a run), on the operator's
    device (HEADLIGHT_DEVICE: "cuda", "cuda:1", "mps"; the CPU when unset). A device this machine
    lacks is refused as a ModelLoadError sentence, which the pages show."""
    return _model(source, os.environ.get(DEVICE_ENV, "").strip() or None)


@st.cache_resource(max_entries=MODELS_KEPT, show_spinner="Loading the model…")
def _model(source: str, device: str | None) -> Model:
    model = load_model(resolve_source(source), limits=model_limits(), device=device)
    freeze_long_lived_objects()
    return model


def freeze_long_lived_objects() -> None:
    """Move every object alive now (the imported libraries, the models) out of the reach of
    Python's cyclic garbage collector, after collecting what is already garbage.

    A full collection walks every tracked object: with torch, Streamlit and a model loaded, each
    took 120-260 ms of the GIL on this project's 2-core machine, several per minute under a class,
    and stalled every session at once (bench/load.py --shared-link: p95 of 30 first views 1.04-1.11 s
    in rounds with one, 0.60-0.77 s without). Frozen objects are still freed when their last
    reference goes; only cycles among them wait for the next model load, which unfreezes and
    collects first, so a session that ended before a load is not kept for good."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


# ---------------------------------------------------------------- runs


class ByteBudgetCache:
    """Least-recently-used entries, at most `budget` bytes in all (each entry's `nbytes`), and none
    unused for longer than `idle_seconds` (see `drop_idle`); thread-safe.

    An entry larger than the whole budget is returned but not kept.
    """

    def __init__(self, budget: int, idle_seconds: float = float("inf"), clock: Callable[[], float] = time.monotonic):
        self.budget, self.idle_seconds, self._clock = budget, idle_seconds, clock
        self._entries: OrderedDict[tuple, tuple[object, float]] = OrderedDict()  # key -> (entry, last use)
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}  # one lock per key being built

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple):
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries[key] = (found[0], self._clock())
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: tuple, entry) -> None:
        size = entry.nbytes
        with self._lock:
            if key in self._entries or size > self.budget:
                return
            self._entries[key] = (entry, self._clock())
            self._bytes += size
            while self._bytes > self.budget:
                _, (evicted, _) = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def drop_idle(self) -> int:
        """Drop the entries unused for `idle_seconds`; returns how many bytes that freed. The
        caches serve sessions that show the same text at the same time (a class on one link):
        once nobody has asked for a run for a while, the memory is worth more than the entry."""
        cutoff = self._clock() - self.idle_seconds
        freed = 0
        with self._lock:
            while self._entries:
                key, (entry, used) = next(iter(self._entries.items()))
                if used > cutoff:  # least recently used first: the rest are newer
                    break
                del self._entries[key]
                freed += entry.nbytes
            self._bytes -= freed
        return freed

    def get_or_build(self, key: tuple, build: Callable[[], object]):
        """The entry for `key`, built (once, however many sessions ask at the same moment: a class
        opening one link) and kept when missing."""
        entry = self.get(key)
        if entry is not None:
            return entry
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            entry = self.get(key)
            if entry is None:
                entry = build()
                self.put(key, entry)
        with self._lock:
            self._building.pop(key, None)
        return entry


def budget_bytes(variable: str, default_mb: int) -> int:
    """An operator's budget in MB from the environment (at least 1 MB), in bytes."""
    return max(as_int(os.environ.get(variable), default_mb), 1) * 1024 * 1024


@st.cache_resource
def run_cache() -> ByteBudgetCache:
    return _swept(ByteBudgetCache(budget_bytes(RUN_CACHE_ENV, RUN_CACHE_MB), idle_seconds()))


@st.cache_resource
def explorer_cache() -> ByteBudgetCache:
    return _swept(ByteBudgetCache(budget_bytes(EXPLORER_CACHE_ENV, EXPLORER_CACHE_MB), idle_seconds()))


def idle_seconds() -> float:
    return max(as_int(os.environ.get(CACHE_IDLE_ENV), CACHE_IDLE_SECONDS), 1)


def _swept(cache: ByteBudgetCache) -> ByteBudgetCache:
    """Start the thread that drops `cache`'s idle entries every SWEEP_SECONDS and hands what that
    freed back to the operating system."""
    def sweep() -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            if cache.drop_idle():
                release_free_memory()

    threading.Thread(target=sweep, name="headlight-cache-sweep", daemon=True).start()
    return cache


@functools.cache
def _glibc():
    """glibc, or None where the C library is another (musl, macOS): its allocator then decides."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except (OSError, TypeError):
        return None


@functools.cache
def tune_allocator() -> None:
    """Once per server process: at most two glibc malloc arenas, and blocks of 1 MB or more always
    mapped on their own (so freeing one returns it to the operating system at once).

    By default glibc gives each thread that allocates an arena of its own (up to 8 per core), and
    raises its mmap threshold each time a large block is freed, so that later large blocks (a
    layer's attention, a payload) come from the arenas too; with a Streamlit thread per session,
    freed runs stay as holes in many arenas. Measured with bench/memory.py before the sessions
    stopped holding their runs: 20 visitors of 450-token texts left the server at 2,171 MB with
    glibc's defaults, at 1,954 MB with these settings."""
    m_mmap_threshold, m_arena_max = -3, -8  # glibc's malloc.h
    libc = _glibc()
    if libc is not None:
        libc.mallopt(m_arena_max, 2)
        libc.mallopt(m_mmap_threshold, 1024 * 1024)


def release_free_memory() -> None:
    """Give freed heap memory back to the operating system (glibc's malloc_trim; elsewhere nothing).

    glibc keeps what Python and numpy free in its arenas, one per thread that allocated it, and
    Streamlit runs every session's script on a thread of its own: without the trim, the server's
    resident memory stays at its peak long after the runs it held are gone. The engine's blocks kept
    for runs to come go first (encoder.run.release_recycled_memory)."""
    release_recycled_memory()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def get_run(source: str, text_a: str, text_b: str | None, qkv: bool = False) -> Run:
    """The run of a text on a model, from the shared cache or computed (and kept).

    qkv=True asks for the per-head queries, keys and values too (the views that explain Q·K).
    """
    key = (source, text_a, text_b, qkv)
    run = run_cache().get(key)
    if run is None:
        with st.spinner("Running the encoder…", show_time=False):
            run = run_cache().get_or_build(key, lambda: get_model(source).run(text_a, text_b, qkv=qkv))
    return run


@st.cache_data(max_entries=32, show_spinner=False)
def _attention_flow(_attentions, run_key: tuple, fusion: str, residual: float):
    from encoder.analysis import attention_flow

    return attention_flow(_attentions, fusion, residual)


def get_attention_flow(run: Run, n_layers: int, fusion: str = "mean", residual: float = 0.5):
    """Attention flow (T, T) through the run's first `n_layers` layers, kept per text and setting:
    its T² max-flows take seconds, and every widget change reruns the page."""
    key = (run.model_name, run.text_a, run.text_b, n_layers)
    return _attention_flow(run.attentions[:n_layers], key, fusion, residual)


@st.cache_data
def examples() -> list[dict]:
    """Example inputs from assets/examples.json: [{"title", "text", "pair"?}]."""
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- Learn pages (walk-through, ablation)
# Cached getters the Walk-through and Ablation pages need: the padding demo, the trained sentiment
# classifier, a run with heads switched off and every head's effect. Each is shared by all sessions
# (cache_resource: the results are read-only and hold no session state).


@st.cache_resource(max_entries=16, show_spinner=False)
def get_padding_demo(source: str, text_a: str, text_b: str, layer: int, head: int):
    """`encoder.walkthrough.padding_demo` of two texts on a model (0-based layer and head)."""
    from encoder.walkthrough import padding_demo

    return padding_demo(get_model(source), text_a, text_b, layer, head)


@st.cache_resource(max_entries=3, show_spinner=False)
def get_sentence_classifier(source: str):
    """(the default sentiment classifier on this model, seconds its training took), trained once
    per model for every session."""
    import time

    from encoder.heads import default_sentence_classifier

    start = time.perf_counter()
    classifier = default_sentence_classifier(get_model(source), seed=0)
    return classifier, time.perf_counter() - start


@st.cache_resource(max_entries=16, show_spinner=False)
def get_ablated_run(source: str, text_a: str, text_b: str | None, off: tuple[tuple[int, int], ...]) -> Run:
    """The run of a text with the heads in `off` (0-based (layer, head) pairs) switched off."""
    from encoder.ablation import ablated_run

    return ablated_run(get_model(source), text_a, text_b, off)


@st.cache_resource(max_entries=16, show_spinner=False)
def get_head_effects(source: str, text: str, with_classifier: bool = True):
    """`encoder.ablation.head_effects` of a text: every head switched off alone, ranked by its
    effect on the sentence embedding and (with_classifier) on the sentiment classifier."""
    from encoder.ablation import head_effects

    model = get_model(source)
    if not with_classifier:
        return head_effects(model, text)
    classifier, _ = get_sentence_classifier(source)
    return head_effects(model, text, classifier, list(classifier.labels))


# ---------------------------------------------------------------- Corpus, Models and Compare pages
# What the model picker and the Models page say about the named models (read from the bundled
# registry, no model loaded), and the example corpus the Corpus page offers. Corpus results are
# per person and live in that person's st.session_state, not here.

CORPUS_FILE = Path(__file__).resolve().parent / "assets" / "corpus.txt"


def model_infos():
    """`encoder.loading.available_models()`: every named model, installed or not (which packages are
    installed is looked up at most every 30 s there: about 0.06 ms a call)."""
    from encoder.loading import available_models

    return available_models()


def model_info(source: str):
    """The named model's `ModelInfo`, or None for a folder or Hub model."""
    return next((info for info in model_infos() if info.name == source), None)


@st.cache_resource(show_spinner=False)
def example_corpus():
    """The sentences of assets/corpus.txt (`encoder.corpus.read_sentences`); shared, read-only (tuples)."""
    from encoder.corpus import read_sentences

    return read_sentences(CORPUS_FILE)


# ---------------------------------------------------------------- Task heads page
# The task heads reading a chosen layer's features (0 = the embeddings, n_layers = the encoder's
# output, the tutorial's choice), each with the seconds its training took. Trained once per model,
# layer and seed for every session (the heads are read-only after training).


@st.cache_resource(max_entries=8, show_spinner=False)
def get_layer_classifier(source: str, layer: int, seed: int = 0):
    """(the sentiment classifier on `layer`'s features, seconds its training took)."""
    import time

    from encoder.heads import default_sentence_classifier

    model = get_model(source)
    if layer == model.config.n_layers and seed == 0:  # the one the Ablation page trains: share it
        return get_sentence_classifier(source)
    start = time.perf_counter()
    classifier = default_sentence_classifier(model, seed=seed, layer=layer)
    return classifier, time.perf_counter() - start


@st.cache_resource(max_entries=8, show_spinner=False)
def get_tagger(source: str, layer: int, seed: int = 0):
    """(the NER tagger on `layer`'s features, seconds its training took)."""
    import time

    from encoder.heads import default_tagger

    start = time.perf_counter()
    tagger = default_tagger(get_model(source), seed=seed, layer=layer)
    return tagger, time.perf_counter() - start


@st.cache_resource(max_entries=32, show_spinner=False)
def get_prepared(key: tuple, _build: Callable[[], object]):
    """A small value a page prepares from a run for the browser (a message of a few tens of kB),
    built once per `key` (naming the run and what the value depends on) and shared by every session:
    the caller must not change it. `_build` makes it; its leading underscore keeps it out of the key."""
    return _build()


def get_explorer(key: tuple, build: Callable[[], object]):
    """The Attention page's packed explorer (figures.explorer.Explorer) for one view, built once and
    shared by every session showing it: a class opening the same link builds it once. `key` names
    the run and every view option; `build` makes it. Kept within the explorers' byte budget: an
    explorer holds its view's arrays (the run's own, or a renormalised or merged copy)."""
    return explorer_cache().get_or_build(key, build)
