"""Pages first (encoder.lab.priority): a Lab worker waits before each training step while a page
of the server runs, at most MAX_PAUSE seconds in a row, then trains GRANT seconds before waiting
again; the flag crosses into the worker process as one shared byte."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from encoder.lab.messages import training_spec
from encoder.lab.pool import PoolSettings, TrainingPool
from encoder.lab.priority import GRANT, MAX_PAUSE, PagesFlag, Yielder, pages_running

TIMEOUT = 180.0  # s: a worker's start imports torch, on a shared, loaded machine
LONG = training_spec("reverse", seed=0, n_layers=1, n_heads=2, d_model=16, steps=2000, causal=True)


class FakeTime:
    """A clock that moves only when the yielder sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_page_running_means_no_wait():
    fake = FakeTime()
    Yielder(lambda: False, fake.clock, fake.sleep)()
    assert fake.now == 100.0


def test_a_worker_waits_until_the_page_ends():
    fake = FakeTime()
    busy_until = 100.3  # the page runs 0.3 s more
    yielder = Yielder(lambda: fake.now < busy_until, fake.clock, fake.sleep)
    yielder()
    assert busy_until <= fake.now < busy_until + 0.05
    assert yielder.paused_seconds == fake.now - 100.0


def test_pages_that_never_end_pause_a_worker_for_max_pause_then_grant_it_time():
    fake = FakeTime()
    yielder = Yielder(lambda: True, fake.clock, fake.sleep)
    yielder()  # waits the longest pause, then is free for GRANT seconds
    assert MAX_PAUSE <= fake.now - 100.0 < MAX_PAUSE + 0.05
    paused_at = fake.now
    yielder()  # within the grant: no wait
    assert fake.now == paused_at
    fake.now += GRANT  # the grant spent on training steps
    yielder()  # waits again
    assert fake.now - (paused_at + GRANT) >= MAX_PAUSE


def test_pages_running_counts_nested_and_concurrent_runs_into_the_flag():
    flag = PagesFlag(after=0.0)
    read = PagesFlag.reader(flag.fd)
    from encoder.lab.priority import attach_flag, detach_flag

    attach_flag(flag)
    try:
        assert not read()
        entered, leave = threading.Event(), threading.Event()

        def other_session() -> None:
            with pages_running():
                entered.set()
                leave.wait(10)

        thread = threading.Thread(target=other_session)
        thread.start()
        entered.wait(10)
        with pages_running():
            assert read()
        assert read()  # the other session's page still runs
        leave.set()
        thread.join(10)
        assert not read()
        try:
            with pages_running():
                raise RuntimeError("a page failed")
        except RuntimeError:
            pass
        assert not read()  # a page that raised still ends its mark
    finally:
        detach_flag(flag)
        flag.close()


def test_the_flag_crosses_into_another_process():
    flag = PagesFlag(after=0.0)
    try:
        script = ("import sys; from encoder.lab.priority import PagesFlag; "
                  "print(PagesFlag.reader(int(sys.argv[1]))())")
        seen = []
        for busy in (True, False):
            flag.set(busy)
            done = subprocess.run([sys.executable, "-c", script, str(flag.fd)], pass_fds=[flag.fd],
                                  capture_output=True, text=True, timeout=120, check=True)
            seen.append(done.stdout.strip())
        assert seen == ["True", "False"]
    finally:
        flag.close()


def test_workers_keep_waiting_a_moment_after_the_last_page_while_the_browser_draws_it():
    flag = PagesFlag(after=0.3)
    read = PagesFlag.reader(flag.fd)
    try:
        assert not read()  # a new flag: no page ahead
        flag.set(True)
        assert read()
        flag.set(False)  # the last page run ended
        assert read()  # its charts are being drawn
        time.sleep(0.35)
        assert not read()
    finally:
        flag.close()


def step_of(job) -> int:
    status = job.status()
    assert status.state == "running", status
    return 0 if status.progress is None else status.progress.step


def test_a_training_makes_no_step_while_a_page_runs_and_goes_on_after():
    pool = TrainingPool(PoolSettings(workers=1, max_waiting=1, idle_timeout=60, niceness=0))
    try:
        job = pool.submit(LONG)
        deadline = time.monotonic() + TIMEOUT
        while job.status().progress is None or job.status().progress.step < 20:  # started and stepping
            assert time.monotonic() < deadline, job.status()
            time.sleep(0.05)
        with pages_running():
            time.sleep(0.3)  # the worker finishes the step it was in, and its next report arrives
            held = step_of(job)
            time.sleep(MAX_PAUSE * 0.6)  # well within one pause
            assert step_of(job) <= held + 10  # at most one logged report more (log_every = 10 steps)
        before = step_of(job)
        deadline = time.monotonic() + 30
        while step_of(job) < before + 30:  # it trains again once the page has ended
            assert time.monotonic() < deadline, job.status()
            time.sleep(0.05)
        job.cancel()
    finally:
        pool.shutdown()
