"""A bounded pool of Lab training processes, shared by every session of one server.

    from encoder.lab.pool import shared_pool, PoolBusy
    job = shared_pool().submit(training_spec("reverse", steps=300))  # PoolBusy when the queue is full
    status = job.status()  # .state, .ahead (trainings before it), .progress, .result, .error
    job.stop()             # a waiting job leaves the queue; a running one stops at its next logged
                           # step and its result (the model so far) still comes back
    job.cancel()           # the same, and nothing comes back: the job is forgotten

Training in the server's own threads made every other visitor's page several times slower (issue 16
§6): torch's threads and the GIL were shared with the pages. Here each training runs in a worker
process of its own, on one thread, at a lower OS priority; at most `workers` run at once and at
most `max_waiting` wait. Workers and the server exchange only plain data (messages.py) over a
multiprocessing Connection.

A worker is a fresh interpreter (`python -c`, started by subprocess: fork and exec at once, so
nothing of the server's torch threads or Streamlit state is copied). Not multiprocessing's "spawn"
or "forkserver" contexts: both re-run the parent's `__main__` in the child, and in a Streamlit
server `__main__` is the page script (app.py) that Streamlit is running. Starting it ourselves
also lets the thread limits be in the environment before the interpreter starts.

One manager thread owns the workers' connections: it sends jobs and cancels, reads progress,
replaces a worker that died, and cancels a job nobody asked about for `idle_timeout` seconds (a tab
closed mid-run). A job whose handle is garbage-collected (its session ended) is cancelled too.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
from pathlib import Path
from typing import Literal

from .messages import progress_from_message, result_from_message
from .priority import PagesFlag, attach_flag, detach_flag
from .train import Progress, TrainingResult
from .worker import THREAD_VARIABLES

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the encoder package
# Lower the priority first, so that even torch's import in the worker yields to the pages. Not
# SCHED_IDLE: under it a lone teacher's training on a laptop ran only in the gaps the browser's
# drawing left, in bursts (its live view skipped every step between), for others' first views within
# the bench's noise of nice 10 alone (1.50x against 1.57x, bench/lab_load.py).
BOOT = ("import os, sys; os.nice(int(sys.argv[2])); from encoder.lab.worker import main; "
        "main(int(sys.argv[1]), int(sys.argv[3]))")
State = Literal["waiting", "running", "done", "failed", "cancelled"]
POLL_SECONDS = 0.25  # how often the manager looks at idle jobs when no worker says anything
CANCEL_GRACE = 15.0  # seconds a running job may take to honour a cancel before its worker is killed
RESTART_DELAY = 2.0  # seconds between a worker's start and its replacement: one that dies at start-up
# (a broken environment) is retried every two seconds, not in a tight loop
STOP_TIMEOUT = 5.0  # seconds a worker may take to exit at shutdown before it is terminated


class PoolBusy(RuntimeError):
    """As many trainings are waiting as the server allows; the message says so in a sentence."""


@dataclass(frozen=True)
class PoolSettings:
    workers: int
    max_waiting: int
    idle_timeout: float  # seconds without a status() call before a job is cancelled
    niceness: int  # added to the workers' OS priority (higher: less CPU when others want it)

    @staticmethod
    def from_environment(environ: dict[str, str] | None = None) -> PoolSettings:
        """HEADLIGHT_LAB_WORKERS (default: half the cores, at least 1), HEADLIGHT_LAB_QUEUE (8),
        HEADLIGHT_LAB_IDLE_TIMEOUT (120 s), HEADLIGHT_LAB_NICE (10)."""
        environ = os.environ if environ is None else environ
        return PoolSettings(
            workers=_setting(environ, "HEADLIGHT_LAB_WORKERS", max(1, (os.cpu_count() or 2) // 2), 1),
            max_waiting=_setting(environ, "HEADLIGHT_LAB_QUEUE", 8, 0),
            idle_timeout=float(_setting(environ, "HEADLIGHT_LAB_IDLE_TIMEOUT", 120, 1)),
            niceness=_setting(environ, "HEADLIGHT_LAB_NICE", 10, 0))


def _setting(environ, name: str, default: int, least: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}.") from None
    if value < least:
        raise ValueError(f"{name} must be at least {least}, not {value}.")
    return value


@dataclass(frozen=True)
class JobStatus:
    state: State
    ahead: int = 0  # waiting only: trainings before this one (queued before it, and those running
                    # when every worker is busy)
    progress: Progress | None = None  # the latest report (running, and after)
    result: TrainingResult | None = None  # done only
    error: str | None = None  # failed only


@dataclass(eq=False)
class _Job:
    id: int
    spec: dict
    state: State = "waiting"
    progress: dict | None = None  # the latest progress message, decoded when someone asks
    result: TrainingResult | None = None
    error: str | None = None
    seen: float = field(default_factory=time.monotonic)  # last status() call
    stop_requested: bool = False  # stop at the next logged step, keeping the result
    cancel_sent: float | None = None  # when the worker was told to stop this job


def worker_environment() -> dict[str, str]:
    """The server's environment, with one thread for every numeric library (they size their
    thread pools when they load, before any code of ours could) and the package importable."""
    environment = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}, "OMP_WAIT_POLICY": "PASSIVE"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return environment


class _Worker:
    """One process and the server's end of its connection; `job` is what it is training."""

    def __init__(self, niceness: int, flag: PagesFlag) -> None:
        self.niceness = niceness
        self.flag = flag
        self.job: _Job | None = None
        self.start()

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(theirs.fileno()), str(self.niceness), str(self.flag.fd)],
            pass_fds=[theirs.fileno(), self.flag.fd],
            env=worker_environment(), cwd=ROOT, stdin=subprocess.DEVNULL)
        theirs.close()  # the worker holds its own copy; ours would hide its death (no EOF)
        self.connection = Connection(ours.detach())
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(("stop",))
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.connection.close()


class TrainingPool:
    def __init__(self, settings: PoolSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._jobs: dict[int, _Job] = {}  # every job someone may still ask about
        self._waiting: deque[_Job] = deque()
        self._wake_reader, self._wake_writer = Pipe(duplex=False)
        self._closed = False
        self.restarts = 0  # workers replaced after dying
        self._pages_flag = PagesFlag()  # workers pause while a page runs (priority.py)
        attach_flag(self._pages_flag)
        self._workers = [_Worker(settings.niceness, self._pages_flag) for _ in range(settings.workers)]
        self._manager = threading.Thread(target=self._manage, name="headlight-lab-pool", daemon=True)
        self._manager.start()

    # --- what sessions call (any thread) -------------------------------------------------------

    def submit(self, spec: dict) -> TrainingJob:
        """Queue a training (a spec from messages.training_spec); PoolBusy if the queue is full."""
        with self._lock:
            if self._closed:
                raise RuntimeError("The Lab training pool has been shut down.")
            if len(self._waiting) >= self.settings.max_waiting:
                raise PoolBusy(f"The server is busy: {len(self._waiting)} trainings are already waiting. "
                               "Try again in a few minutes.")
            job = _Job(next(self._ids), dict(spec))
            self._jobs[job.id] = job
            self._waiting.append(job)
        self._wake()
        return TrainingJob(self, job.id)

    def status(self, job_id: int) -> JobStatus:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:  # cancelled, or forgotten after nobody asked for it
                return JobStatus("cancelled")
            job.seen = time.monotonic()
            ahead = self._ahead(job)
            state, message, result, error = job.state, job.progress, job.result, job.error
        progress = progress_from_message(message) if message is not None else None
        return JobStatus(state, ahead, progress, result, error)

    def stop(self, job_id: int) -> None:
        """A waiting job leaves the queue (and is forgotten); a running one stops at its next logged
        step and finishes as done, with the model trained so far (stopped_by "callback")."""
        with self._lock:
            job = self._jobs.get(job_id)
            running = job is not None and job.state == "running"
            if running:
                job.stop_requested = True
        if running:
            self._wake()
        else:
            self.cancel(job_id)

    def cancel(self, job_id: int) -> None:
        """Take a waiting job out of the queue, or ask a running one to stop; a finished job is
        forgotten. Safe to call twice, and from a finalizer."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return
            if job.state == "waiting":
                self._waiting.remove(job)
            job.state = "cancelled" if job.state in ("waiting", "running") else job.state
        self._wake()

    def counts(self) -> dict[str, int]:
        """How many jobs wait and run now, and how many workers are alive (for a status line)."""
        with self._lock:
            return {"waiting": len(self._waiting), "running": sum(w.job is not None for w in self._workers),
                    "workers": sum(w.alive() for w in self._workers)}

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def shutdown(self) -> None:
        """Stop the manager, then each worker (a running training is abandoned)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._manager.join(STOP_TIMEOUT)
        for worker in self._workers:
            worker.close()
        detach_flag(self._pages_flag)
        self._pages_flag.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _ahead(self, job: _Job) -> int:
        """Trainings before a waiting `job`: those queued before it, and those running when every
        worker is busy (one of them must end before the queue moves)."""
        if job.state != "waiting":
            return 0
        running = sum(w.job is not None for w in self._workers)
        return self._waiting.index(job) + (running if running >= len(self._workers) else 0)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # shut down meanwhile
            self._wake_writer.send_bytes(b".")

    # --- the manager thread: the only one that touches workers ----------------------------------

    def _manage(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
            # A worker's death shows as its connection ending (EOF): the socket has no other end.
            readers = {w.connection: w for w in self._workers if not w.connection.closed}
            for ready in wait([self._wake_reader, *readers], timeout=POLL_SECONDS):
                if ready is self._wake_reader:
                    self._drain_wake()
                elif ready in readers:
                    self._receive(readers[ready])
            for worker in self._workers:
                if not worker.alive() and time.monotonic() - worker.started >= RESTART_DELAY:
                    self._replace(worker)
            self._expire_idle()
            self._send_cancels()
            self._dispatch()

    def _drain_wake(self) -> None:
        while self._wake_reader.poll():
            self._wake_reader.recv_bytes()

    def _receive(self, worker: _Worker) -> None:
        while True:
            try:
                if not worker.connection.poll():
                    return
                message = worker.connection.recv()
            except (EOFError, OSError):  # it died: the check after this round replaces it
                worker.connection.close()
                worker.kill()  # in case only its end of the socket went; then reap it
                worker.process.wait(STOP_TIMEOUT)
                return
            self._handle(worker, message)

    def _handle(self, worker: _Worker, message: tuple) -> None:
        kind, job_id = message[0], message[1]
        job = worker.job
        if job is None or job.id != job_id:
            return  # a report of a job already replaced
        if kind == "progress":
            with self._lock:
                job.progress = message[2]
        elif kind in ("done", "failed"):
            worker.job = None
            if job.state == "cancelled":
                return  # nobody is waiting for it any more
            result, error = None, message[2] if kind == "failed" else None
            if kind == "done":
                try:
                    result = result_from_message(message[2])
                except Exception as problem:  # a bad result is a failed run, not a dead pool
                    error = f"{type(problem).__name__}: {problem}"
            with self._lock:
                job.result, job.error = result, error
                job.state = "done" if result is not None else "failed"
                job.seen = time.monotonic()  # the idle clock restarts for collecting the result

    def _replace(self, worker: _Worker) -> None:
        """A worker died (killed, out of memory): its job fails with a sentence, a new one starts."""
        job, worker.job = worker.job, None
        code = worker.process.returncode
        worker.connection.close()
        if job is not None and job.state == "running":
            with self._lock:
                job.state = "failed"
                job.error = (f"The training process stopped unexpectedly (exit code {code}). Press Train to try "
                             "again.")
        worker.start()
        self.restarts += 1

    def _expire_idle(self) -> None:
        """Cancel (or forget, when finished) every job nobody has asked about for idle_timeout."""
        deadline = time.monotonic() - self.settings.idle_timeout
        with self._lock:
            stale = [job.id for job in self._jobs.values() if job.seen < deadline]
        for job_id in stale:
            self.cancel(job_id)

    def _send_cancels(self) -> None:
        for worker in self._workers:
            job = worker.job
            if job is None or not (job.state == "cancelled" or job.stop_requested):
                continue
            if job.cancel_sent is None:
                job.cancel_sent = time.monotonic()
                with contextlib.suppress(OSError):  # it died; the next round replaces it
                    worker.connection.send(("cancel", job.id))
            elif time.monotonic() - job.cancel_sent > CANCEL_GRACE:
                worker.kill()  # stuck in a step: the next round replaces the worker

    def _dispatch(self) -> None:
        for worker in self._workers:
            if worker.job is not None or not worker.alive():
                continue
            with self._lock:
                if not self._waiting:
                    return
                job = self._waiting.popleft()
                job.state = "running"
            worker.job = job
            with contextlib.suppress(OSError):  # it died just now: _replace fails the job with a sentence
                worker.connection.send(("train", job.id, job.spec))


class TrainingJob:
    """A session's handle on one training. Dropping the last reference cancels the training, so a
    session that ends (its state collected) does not leave a training running."""

    def __init__(self, pool: TrainingPool, job_id: int) -> None:
        self.id = job_id
        self._pool = pool
        self._finalizer = weakref.finalize(self, pool.cancel, job_id)

    def status(self) -> JobStatus:
        return self._pool.status(self.id)

    def stop(self) -> None:
        """Stop, keeping what a running training learnt so far (it comes back as its result)."""
        self._pool.stop(self.id)

    def cancel(self) -> None:
        self._finalizer()  # runs pool.cancel once, now, and not again when collected


_shared: TrainingPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> TrainingPool:
    """The server's one pool, created on first use (settings from the environment) and shut down
    at interpreter exit. Thread-safe: sessions run on several threads."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TrainingPool(PoolSettings.from_environment())
            atexit.register(_shared.shutdown)
        return _shared
