"""Where a class lives: one JSON document per class, in this process's memory or in Redis.

A store knows nothing of teachers or students (that is `classroom.protocol`); it keeps documents
bounded and expiring:
- every document is JSON text (never pickle: a shared Redis must not be able to run code here)
  of at most `max_bytes`, so `max_classes × max_bytes` is the budget the server's memory covers;
- a class left idle (no write) for `idle_seconds` is gone: Redis expires the keys, the memory store
  sweeps on every call;
- `version` is a separate small value, so the students' polling reads a number, not the document.

Writes are read-modify-write through `update(code, change)`: under a lock in memory, and in Redis
under WATCH/MULTI, retried when another replica wrote in between (thirty students answering at once).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# One class: 60 students (≤ 300 bytes each), their answers at the lesson's 7 question steps (≤ 250 bytes each)
# and the view (a text of ≤ 4,000 characters and its tokens as answer options) fit with room to spare.
MAX_CLASS_BYTES = 256 * 1024
PREFIX = "headlight:class:"


class ClassFull(RuntimeError):
    """The server holds its maximum number of classes."""


class TooLarge(RuntimeError):
    """A class document would exceed the store's byte cap."""


@dataclass(frozen=True)
class Limits:
    max_classes: int = 20
    idle_seconds: float = 2 * 3600.0
    max_bytes: int = MAX_CLASS_BYTES

    @property
    def budget_bytes(self) -> int:
        """The most the class documents can hold at once (the memory budget states it)."""
        return self.max_classes * self.max_bytes


def _encode(doc: dict, limits: Limits) -> str:
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > limits.max_bytes:
        raise TooLarge(f"a class holds at most {limits.max_bytes // 1024} KiB")
    return text


class MemoryStore:
    """The embedded default: one shared object per server process (st.cache_resource holds it)."""

    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._docs: dict[str, tuple[str, float]] = {}  # code -> (JSON text, last write)

    def _sweep(self) -> None:
        now = self._clock()
        for code in [c for c, (_, at) in self._docs.items() if now - at > self.limits.idle_seconds]:
            del self._docs[code]

    def create(self, code: str, doc: dict) -> bool:
        """Store a new class; False if the code is taken. ClassFull at the limit."""
        text = _encode(doc, self.limits)
        with self._lock:
            self._sweep()
            if code in self._docs:
                return False
            if len(self._docs) >= self.limits.max_classes:
                raise ClassFull
            self._docs[code] = (text, self._clock())
            return True

    def read(self, code: str) -> dict | None:
        with self._lock:
            self._sweep()
            entry = self._docs.get(code)
        return None if entry is None else json.loads(entry[0])

    def version(self, code: str) -> int | None:
        doc = self.read(code)
        return None if doc is None else int(doc.get("version", 0))

    def update(self, code: str, change: Callable[[dict], dict]) -> dict | None:
        """Apply `change` to the document (it may raise to refuse); None if the class is gone."""
        with self._lock:
            self._sweep()
            entry = self._docs.get(code)
            if entry is None:
                return None
            doc = change(json.loads(entry[0]))
            self._docs[code] = (_encode(doc, self.limits), self._clock())
            return doc

    def delete(self, code: str) -> None:
        with self._lock:
            self._docs.pop(code, None)

    def count(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._docs)

    def bytes_held(self) -> int:
        with self._lock:
            return sum(len(text.encode()) for text, _ in self._docs.values())


class RedisStore:
    """Classes shared by replicas: `HEADLIGHT_CLASS_STORE=redis://host:port/db`.

    Keys: <prefix><code> the JSON document, <prefix><code>:v its version, and <prefix>index, a
    sorted set of codes by last write (the per-server limit counts it, after dropping codes whose
    document expired). Both keys of a class expire together after the idle time.
    """

    def __init__(self, url: str, limits: Limits = Limits(), prefix: str = PREFIX):
        import redis  # only where Redis is chosen

        self.limits = limits
        self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5,
                                           socket_connect_timeout=5)
        self._watch_error = redis.WatchError
        self._prefix = prefix

    def _key(self, code: str) -> str:
        return f"{self._prefix}{code}"

    def _ttl(self) -> int:
        return max(1, int(self.limits.idle_seconds))

    def _live_count(self) -> int:
        index = self._key("index")
        codes = self._redis.zrange(index, 0, -1)
        if not codes:
            return 0
        with self._redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.exists(self._key(code))
            alive = pipe.execute()
        gone = [code for code, exists in zip(codes, alive, strict=True) if not exists]
        if gone:
            self._redis.zrem(index, *gone)
        return len(codes) - len(gone)

    def create(self, code: str, doc: dict) -> bool:
        text = _encode(doc, self.limits)
        index = self._key("index")
        with self._redis.pipeline() as pipe:
            for _ in range(50):
                try:
                    pipe.watch(index, self._key(code))
                    if pipe.exists(self._key(code)):
                        pipe.unwatch()
                        return False
                    if self._live_count() >= self.limits.max_classes:
                        pipe.unwatch()
                        raise ClassFull
                    pipe.multi()
                    pipe.set(self._key(code), text, ex=self._ttl())
                    pipe.set(self._key(code) + ":v", int(doc.get("version", 0)), ex=self._ttl())
                    pipe.zadd(index, {code: time.time()})
                    pipe.execute()
                    return True
                except self._watch_error:
                    continue
        raise RuntimeError("the class store is too busy")

    def read(self, code: str) -> dict | None:
        text = self._redis.get(self._key(code))
        return None if text is None else json.loads(text)

    def version(self, code: str) -> int | None:
        value = self._redis.get(self._key(code) + ":v")
        return None if value is None else int(value)

    def update(self, code: str, change: Callable[[dict], dict]) -> dict | None:
        key = self._key(code)
        with self._redis.pipeline() as pipe:
            for _ in range(200):  # a burst of answers: each retry sees the others' writes
                try:
                    pipe.watch(key)
                    text = pipe.get(key)
                    if text is None:
                        pipe.unwatch()
                        return None
                    doc = change(json.loads(text))
                    encoded = _encode(doc, self.limits)
                    pipe.multi()
                    pipe.set(key, encoded, ex=self._ttl())
                    pipe.set(key + ":v", int(doc.get("version", 0)), ex=self._ttl())
                    pipe.zadd(self._key("index"), {code: time.time()})
                    pipe.execute()
                    return doc
                except self._watch_error:
                    continue
        raise RuntimeError("the class store is too busy")

    def delete(self, code: str) -> None:
        self._redis.delete(self._key(code), self._key(code) + ":v")
        self._redis.zrem(self._key("index"), code)

    def count(self) -> int:
        return self._live_count()


def open_store(setting: str | None, limits: Limits = Limits()) -> MemoryStore | RedisStore:
    """The store a setting names: empty or "memory" for this process, redis://… for Redis."""
    setting = (setting or "").strip()
    if not setting or setting == "memory":
        return MemoryStore(limits)
    if setting.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(setting, limits)
    raise ValueError("HEADLIGHT_CLASS_STORE is empty, 'memory' or a redis:// address")
