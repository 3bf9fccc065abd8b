"""Pages first: Lab trainings pause while a page of the app runs.

The workers already run at a lower OS priority (pool.py), but the scheduler still gives them a
share of a core while a page runs, and on a small server they share the CPU's caches and memory
bandwidth with it: three causal trainings made everyone else's first Attention view 1.4-1.6x
slower (issue 16 §6, bench/lab_load.py). A training can wait a second without anyone noticing;
a visitor opening a page notices. So the server marks the time its pages run, in one byte that
every worker can read (a shared, anonymous file), and a worker checks it before each training step
and sleeps while it is set.

A class whose pages never stop running must not stall the trainings for good: a worker pauses at
most `MAX_PAUSE` seconds in a row, then trains for at least `GRANT` seconds before it pauses again,
so a training keeps about a tenth of its speed even then.

    server:  with pages_running(): navigation.run()       # any thread; nests and counts
    pool:    flag = PagesFlag(); attach_flag(flag); pass flag.fd to its workers   # pool.py
    worker:  pause = Yielder(PagesFlag.reader(fd)); train_task(..., pause=pause)
"""

from __future__ import annotations

import contextlib
import mmap
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

MAX_PAUSE = 2.0  # seconds a worker waits in a row for pages to finish
GRANT = 0.2  # seconds a worker then trains before it waits again
POLL = 0.005  # seconds between looks at the flag while waiting


class PagesFlag:
    """One byte in an anonymous file: 1 while any page of this server runs, else 0.

    The server writes it (`PagesFlag()`), workers map the same file read-only from its descriptor
    (`PagesFlag.reader(fd)`), which the pool hands them when it starts them.
    """

    def __init__(self) -> None:
        # Held open for the pool's life (closed in close()); unlinked at once: nothing left on disk.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._file.write(b"\0")
        self._file.flush()
        self._map = mmap.mmap(self._file.fileno(), 1)

    @property
    def fd(self) -> int:
        return self._file.fileno()

    def set(self, busy: bool) -> None:
        self._map[0] = 1 if busy else 0

    def close(self) -> None:
        self._map.close()
        self._file.close()

    @staticmethod
    def reader(fd: int) -> Callable[[], bool]:
        """In a worker: a function that says whether a page is running now."""
        view = mmap.mmap(fd, 1, access=mmap.ACCESS_READ)
        return lambda: view[0] != 0


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
            flag.set(self._count > 0)

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
