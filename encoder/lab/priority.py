"""Pages first: Lab trainings pause while a page of the app runs, and while the browser draws it.

The workers already run at a lower OS priority (pool.py), but the scheduler still gives them a
share of a core while a page runs, and on a small server they share the CPU's caches and memory
bandwidth with it: three causal trainings made everyone else's first Attention view 1.4-1.6x
slower (issue 16 §6, bench/lab_load.py). A training can wait a second without anyone noticing;
a visitor opening a page notices. So the server marks the time its pages run, and the moments
after (`AFTER_PAGE`: the browser then draws what the run sent, often on the same machine), in a
shared, anonymous file every worker can read; a worker checks it before each training step and
sleeps while the mark lies ahead.

A class whose pages never stop running must not stall the trainings for good: a worker pauses at
most `MAX_PAUSE` seconds in a row, then trains for at least `GRANT` seconds before it pauses again,
so a training keeps about a tenth of its speed even then.

    server:  with pages_running(): navigation.run()       # any thread; nests and counts
    pool:    flag = PagesFlag(); attach_flag(flag); pass flag.fd to its workers   # pool.py
    worker:  pause = Yielder(PagesFlag.reader(fd)); train_task(..., pause=pause)
"""

from __future__ import annotations

import contextlib
import math
import mmap
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

MAX_PAUSE = 2.0  # seconds a worker waits in a row for pages to finish
GRANT = 0.2  # seconds a worker then trains before it waits again
POLL = 0.005  # seconds between looks at the flag while waiting
AFTER_PAGE = 1.5  # seconds the workers keep waiting after the last page run ended: its charts are drawn
_MARK = struct.Struct("<d")  # the moment until which workers wait, in time.monotonic() seconds


class PagesFlag:
    """The moment until which Lab workers wait, in an anonymous file: infinity while a page of this
    server runs, then `after` seconds past the end of the last one.

    time.monotonic() is CLOCK_MONOTONIC on Linux, one clock for every process of the machine, so the
    server's mark means the same in a worker. The server writes it (`PagesFlag()`); workers map the
    same file read-only from its descriptor (`PagesFlag.reader(fd)`), handed to them at start.
    """

    def __init__(self, after: float = AFTER_PAGE) -> None:
        self.after = after
        # Held open for the pool's life (closed in close()); unlinked at once: nothing left on disk.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._file.write(_MARK.pack(0.0))
        self._file.flush()
        self._map = mmap.mmap(self._file.fileno(), _MARK.size)

    @property
    def fd(self) -> int:
        return self._file.fileno()

    def set(self, busy: bool) -> None:
        """A page runs (wait until further notice), or the last one just ended (wait `after` more)."""
        self._map[:] = _MARK.pack(math.inf if busy else time.monotonic() + self.after)

    def close(self) -> None:
        self._map.close()
        self._file.close()

    @staticmethod
    def reader(fd: int) -> Callable[[], bool]:
        """In a worker: a function that says whether workers should wait now."""
        view = mmap.mmap(fd, _MARK.size, access=mmap.ACCESS_READ)
        return lambda: time.monotonic() < _MARK.unpack(view[:])[0]


class _PagesRunning:
    """How many page runs are under way in this server (session threads), mirrored in the flags
    of the pools that listen (one in the app; tests start several)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._flags: set[PagesFlag] = set()

    def attach(self, flag: PagesFlag) -> None:
        with self._lock:
            self._flags.add(flag)
            if self._count > 0:  # else the flag's start, 0.0, already says "no page ahead"
                flag.set(True)

    def detach(self, flag: PagesFlag) -> None:
        with self._lock:
            self._flags.discard(flag)

    def change(self, by: int) -> None:
        with self._lock:
            self._count += by
            for flag in self._flags:
                flag.set(self._count > 0)


_PAGES = _PagesRunning()


@contextlib.contextmanager
def pages_running() -> Iterator[None]:
    """Mark a page run (any thread, nesting allowed): Lab trainings wait until every one has ended."""
    _PAGES.change(+1)
    try:
        yield
    finally:
        _PAGES.change(-1)


def attach_flag(flag: PagesFlag) -> None:
    """A pool's flag, written from now on."""
    _PAGES.attach(flag)


def detach_flag(flag: PagesFlag) -> None:
    """A pool shut down: its flag is no longer written (the pool closes it)."""
    _PAGES.detach(flag)


class Yielder:
    """Called before each training step in a worker: waits while a page runs, within the bounds
    above. `clock` and `sleep` are replaceable for tests."""

    def __init__(self, page_running: Callable[[], bool], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.page_running = page_running
        self.clock, self.sleep = clock, sleep
        self.free_until = 0.0  # after a capped pause, train without waiting until then
        self.paused_seconds = 0.0  # in total, for the record

    def __call__(self) -> None:
        if not self.page_running():
            return
        now = self.clock()
        if now < self.free_until:
            return
        start = now
        while self.page_running() and now - start < MAX_PAUSE:
            self.sleep(POLL)
            now = self.clock()
        self.paused_seconds += now - start
        if now - start >= MAX_PAUSE:
            self.free_until = now + GRANT
