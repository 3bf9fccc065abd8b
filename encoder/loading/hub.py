"""Fetching a model from the Hugging Face Hub, within a byte limit, into a cache of bounded size.

The order matters: the repository's file list with sizes first (one small request), refused
when what we would fetch is over the limit; then config.json alone, checked against the load
limits; only then the weights and the tokenizer. A repository whose config describes a giant
model costs one listing and one config.json, never its weights.

The files go to a cache folder of Headlight's own (under the cache folder, see bundled.py), not
the user's Hugging Face cache, so that its size can be bounded: after each fetch the least
recently used repositories are deleted until the cache is within its budget.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import threading
from pathlib import Path

from .bundled import cache_root
from .errors import ModelLoadError
from .limits import LoadLimits

# "org/name": letters, digits, '-', '_', '.'; no '..' or '--'; no leading or trailing separator.
_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
HUB_ID = re.compile(rf"^(?!.*\.\.)(?!.*--){_HUB_NAME}/{_HUB_NAME}$")
# What a model needs, and nothing that could run code (no *.py, no pickles).
HUB_FILES = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
             "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]
HUB_MAX_ENV, HUB_MAX_MB = "HEADLIGHT_HUB_MAX_MB", 600  # one repository's files, at most
HUB_CACHE_ENV, HUB_CACHE_MB = "HEADLIGHT_HUB_CACHE_MB", 2048  # every fetched repository together
# One fetch at a time per process, and no eviction while a fetched folder is being loaded.
HUB_LOCK = threading.RLock()
MB = 1024 * 1024


def hub_max_bytes() -> int:
    return _megabytes(HUB_MAX_ENV, HUB_MAX_MB) * MB


def hub_cache_bytes() -> int:
    return _megabytes(HUB_CACHE_ENV, HUB_CACHE_MB) * MB


def hub_cache_dir() -> Path:
    return cache_root() / "hub"


def _megabytes(env: str, default: int) -> int:
    """A positive whole number of megabytes from the environment; the default when unset or not one."""
    value = os.environ.get(env, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def download_from_hub(repo_id: str, max_bytes: int | None = None, cache_dir: str | Path | None = None,
                      limits: LoadLimits | None = None, cache_budget: int | None = None) -> Path:
    """Fetch config, tokenizer and safetensors files (nothing else) of a Hub repository; its folder.

    max_bytes: the most its files may weigh together ($HEADLIGHT_HUB_MAX_MB, 600 MB, when None);
    cache_dir: where (Headlight's hub cache when None); limits: what config.json must meet
    before the weights are fetched; cache_budget: the cache's size in bytes
    ($HEADLIGHT_HUB_CACHE_MB, 2048 MB, when None). The endpoint is $HF_ENDPOINT, read at each
    call (huggingface_hub reads it once, at import).
    """
    if not HUB_ID.match(repo_id):
        raise ModelLoadError(f"'{repo_id}' is not a Hub id of the form 'org/name'.")
    max_bytes = hub_max_bytes() if max_bytes is None else max_bytes
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    budget = hub_cache_bytes() if cache_budget is None else cache_budget
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
    with HUB_LOCK:
        revision, sizes = _wanted_files(repo_id, endpoint)
        total = sum(sizes.values())
        if total > max_bytes:
            raise ModelLoadError(f"{repo_id} is {_mb(total)} of weights and tokenizer, more than the "
                                 f"{_mb(max_bytes)} this server fetches from the Hub.")
        trim_cache(cache, budget - total, keep=repo_id)
        folder = _fetch(repo_id, "config.json", revision, cache, endpoint).parent
        from . import check_config  # the loader's own checks; imported here, as the loader imports us

        check_config(folder, repo_id, limits)
        for filename in sorted(sizes.keys() - {"config.json"}):
            _fetch(repo_id, filename, revision, cache, endpoint)
        fetched = sum((folder / f).stat().st_size for f in sizes)
        if fetched > max_bytes:  # the listing understated the sizes: keep nothing of it
            _evict(_repo_folder(cache, repo_id))
            raise ModelLoadError(f"{repo_id} sent {_mb(fetched)}, more than its listing said and more than "
                                 f"the {_mb(max_bytes)} this server fetches from the Hub.")
        repo_folder = _repo_folder(cache, repo_id)
        if repo_folder.is_dir():
            os.utime(repo_folder)  # last used now: eviction goes by this time
        trim_cache(cache, budget, keep=repo_id)
        return folder


def _wanted_files(repo_id: str, endpoint: str | None) -> tuple[str, dict[str, int]]:
    """The repository's commit and the sizes of the files we would fetch (top level, HUB_FILES)."""
    try:
        from huggingface_hub import HfApi

        info = HfApi(endpoint=endpoint).model_info(repo_id, files_metadata=True)
    except Exception as exc:  # offline, unknown repo, gated repo, rate limit...
        raise _unreachable(repo_id, exc) from exc
    sizes: dict[str, int] = {}
    for sibling in info.siblings or []:
        name = sibling.rfilename
        if "/" in name or not any(fnmatch.fnmatchcase(name, pattern) for pattern in HUB_FILES):
            continue
        size = sibling.size if sibling.size is not None else getattr(sibling.lfs, "size", None)
        if not isinstance(size, int) or size < 0:
            raise ModelLoadError(f"The Hub does not say how large {name} of {repo_id} is, so it is not fetched.")
        sizes[name] = size
    if "config.json" not in sizes:
        raise ModelLoadError(f"{repo_id} has no config.json on the Hub.")
    if not info.sha:
        raise ModelLoadError(f"The Hub gave no commit for {repo_id}.")
    return info.sha, sizes


def _fetch(repo_id: str, filename: str, revision: str, cache: Path, endpoint: str | None) -> Path:
    """One file at the listed commit (so every file comes from the same version of the repository)."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache, endpoint=endpoint))
    except Exception as exc:
        raise _unreachable(repo_id, exc) from exc


def _unreachable(repo_id: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"Could not fetch '{repo_id}' from the Hugging Face Hub ({type(exc).__name__}). "
        "Check the id and the network, or download the folder and give its path."
    )


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / MB:,.0f} MB" if n_bytes >= MB else f"{n_bytes / MB:.2f} MB"


def _repo_folder(cache: Path, repo_id: str) -> Path:
    """Where huggingface_hub keeps a model repository under `cache`."""
    return cache / ("models--" + repo_id.replace("/", "--"))


def trim_cache(cache: Path, budget: int, keep: str | None = None) -> None:
    """Delete the least recently used repositories until the cache holds at most `budget` bytes
    (`keep`'s repository is never deleted, even when it alone is over)."""
    if not cache.is_dir():
        return
    kept = _repo_folder(cache, keep) if keep else None
    repos = sorted((p for p in cache.glob("models--*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    sizes = {p: _size(p) for p in repos}
    total = sum(sizes.values())
    for repo in repos:
        if total <= budget:
            break
        if repo != kept:
            _evict(repo)
            total -= sizes[repo]


def _size(folder: Path) -> int:
    """Bytes of the regular files under `folder` (snapshots are links to blobs: counted once)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def _evict(repo: Path) -> None:
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(repo.parent / ".locks" / repo.name, ignore_errors=True)
