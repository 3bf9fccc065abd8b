"""The run cache (bounded by bytes) and model sources (nothing a link names can probe the server)."""

from __future__ import annotations

import gc
import weakref

import pytest

import sources
import state
from encoder import ModelLoadError


def test_run_cache_is_bounded_by_bytes_least_recently_used_first(model):
    runs = {n: model.run("word " * n, qkv=False) for n in (5, 40, 80)}
    sizes = {n: r.nbytes for n, r in runs.items()}
    cache = state.ByteBudgetCache(budget=sizes[40] + sizes[80])
    cache.put(("a",), runs[40])
    cache.put(("b",), runs[80])
    assert len(cache) == 2 and cache.nbytes == sizes[40] + sizes[80]
    assert cache.get(("a",)) is runs[40]  # "a" is now the most recently used
    cache.put(("c",), runs[5])  # over budget: "b", the least recently used, goes
    assert cache.get(("b",)) is None and cache.get(("a",)) is runs[40] and cache.get(("c",)) is runs[5]
    assert cache.nbytes == sizes[40] + sizes[5] <= cache.budget
    tiny = state.ByteBudgetCache(budget=sizes[5] - 1)
    tiny.put(("x",), runs[5])  # larger than the whole budget: not kept
    assert len(tiny) == 0 and tiny.nbytes == 0


def test_entries_nobody_used_for_the_idle_time_are_dropped(model):
    now = [0.0]
    cache = state.ByteBudgetCache(budget=10**9, idle_seconds=120, clock=lambda: now[0])
    old, recent = model.run("old text", qkv=False), model.run("recent text", qkv=False)
    cache.put(("old",), old)
    now[0] = 100.0
    cache.put(("recent",), recent)
    now[0] = 150.0
    assert cache.drop_idle() == old.nbytes  # unused for 150 s; "recent" for 50 s only
    assert cache.get(("old",)) is None and cache.get(("recent",)) is recent
    assert cache.nbytes == recent.nbytes
    now[0] = 260.0  # the get above at 150 s counts as a use: 110 s idle, kept
    assert cache.drop_idle() == 0 and len(cache) == 1
    now[0] = 271.0
    assert cache.drop_idle() == recent.nbytes and cache.nbytes == 0 and len(cache) == 0


def test_a_class_asking_for_one_entry_at_once_builds_it_once():
    import threading
    import time

    class Entry:
        nbytes = 10

    built = []
    cache = state.ByteBudgetCache(budget=1000)

    def build():
        built.append(1)
        time.sleep(0.2)  # long enough for every other thread to arrive while it builds
        return Entry()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_build(("one link",), build)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len(results) == 8 and len({id(r) for r in results}) == 1


def test_get_run_serves_every_caller_the_same_cached_run():
    first = state.get_run(sources.DEFAULT_SOURCE, "Shared between sessions.", None)
    assert state.get_run(sources.DEFAULT_SOURCE, "Shared between sessions.", None) is first
    assert first.queries is None  # the app asks for Q/K/V only where a view needs them
    assert state.get_run(sources.DEFAULT_SOURCE, "Shared between sessions.", None, qkv=True).queries is not None


def test_a_link_cannot_tell_which_paths_exist(tmp_path, monkeypatch):
    """Sources are names, never paths; every unavailable one gets the same words."""
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "config.json").write_text("{}")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "config.json").write_text("{}")
    monkeypatch.setenv(sources.MODELS_DIR_ENV, str(models))
    assert sources.folder_names() == ["tiny"]
    assert sources.resolve_source("folder:tiny") == models / "tiny"
    messages = set()
    for source in ["/etc", str(tmp_path / "secret"), "folder:../secret", "folder:missing", "folder:/etc",
                   "folder:tiny/../../secret", "../../etc/passwd", "hub:../x", "hub:org/na me", "bundled-ish"]:
        with pytest.raises(ModelLoadError) as info:
            sources.resolve_source(source)
        messages.add(str(info.value).replace(source, "<source>"))
    assert messages == {"The model “<source>” is not available on this server."}


def test_an_offline_server_refuses_hub_ids(monkeypatch):
    monkeypatch.setenv(sources.ALLOW_HUB_ENV, "0")
    with pytest.raises(ModelLoadError, match="does not fetch models from the Hugging Face Hub"):
        sources.resolve_source("hub:org/name")
    monkeypatch.setenv(sources.ALLOW_HUB_ENV, "1")
    assert sources.resolve_source("hub:org/name") == "org/name"
    assert sources.normalize_source("bundled") == sources.normalize_source("") == sources.DEFAULT_SOURCE


def test_a_device_the_server_lacks_is_said_on_the_page(monkeypatch):
    """HEADLIGHT_DEVICE names where the app's models run; one this machine lacks is one sentence."""
    import torch
    from apptest import app_test, messages

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the refusal cannot be shown here")
    monkeypatch.setenv("HEADLIGHT_DEVICE", "cuda")
    at = app_test(None, text="Dogs bark loudly at night.")
    assert not at.exception
    assert "this machine has no CUDA GPU" in messages(at)


def test_long_lived_objects_leave_the_collector_and_come_back_at_the_next_freeze():
    class Node:
        pass

    kept = Node()
    kept.itself = kept  # a cycle: only the cyclic collector can free it
    gone = weakref.ref(kept)
    try:
        state.freeze_long_lived_objects()
        assert gc.get_freeze_count() > 0
        del kept
        gc.collect()
        assert gone() is not None  # frozen: a collection no longer walks it (nor frees it)
        state.freeze_long_lived_objects()  # the next model load unfreezes and collects first
        assert gone() is None
    finally:
        gc.unfreeze()
