"""The Lab's training pool (encoder.lab.pool): worker processes, a queue with a limit, cancel and
stop, a dead worker replaced, idle and abandoned jobs cancelled; and the plain-data messages."""

from __future__ import annotations

import gc
import os
import signal
import time

import numpy as np
import pytest

from encoder.lab import train_task
from encoder.lab.messages import result_from_message, result_message, training_spec
from encoder.lab.pool import JobStatus, PoolBusy, PoolSettings, TrainingPool

TIMEOUT = 180.0  # s: a worker's start imports torch, on a shared, loaded machine
IDLE = 4.0  # s without a status() call before the test pool cancels a job
SHORT = training_spec("reverse", seed=3, n_layers=1, n_heads=2, d_model=16, steps=20, snapshot_every=10)
# Causal reverse never reaches the 99% that stops a run early: this one runs until stopped.
LONG = training_spec("reverse", seed=0, n_layers=1, n_heads=2, d_model=16, steps=2000, causal=True)


@pytest.fixture(scope="module")
def pool():
    pool = TrainingPool(PoolSettings(workers=1, max_waiting=2, idle_timeout=IDLE, niceness=0))
    yield pool
    pool.shutdown()
    assert pool.counts()["workers"] == 0  # every worker exited


def wait_for(job, states: set[str], timeout: float = TIMEOUT, seen: list[JobStatus] | None = None,
             also=()) -> JobStatus:
    """Poll (as the page does) until the job is in one of `states`; every status seen is kept. The
    jobs `also` are polled too, so that the idle timeout leaves them alone meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        for other in also:
            other.status()
        status = job.status()
        if seen is not None:
            seen.append(status)
        if status.state in states:
            return status
        assert time.monotonic() < deadline, f"job still {status.state} after {timeout:.0f} s"
        time.sleep(0.05)


def running_with_progress(job) -> JobStatus:
    deadline = time.monotonic() + TIMEOUT
    while True:
        status = wait_for(job, {"running", "done", "failed"})
        assert status.state == "running", status
        if status.progress is not None:
            return status
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_second_job_waits_its_turn_then_runs_and_both_match_a_direct_run(pool):
    # 200 steps (not 20): long enough for the poll to see it running
    second_spec = {**SHORT, "seed": 4, "steps": 200}
    first, second = pool.submit(SHORT), pool.submit(second_spec)
    seen = [second.status()]
    assert seen[0].state == "waiting" and seen[0].ahead == 1, seen[0]  # the first is ahead, queued or running
    done = wait_for(second, {"done", "failed"}, seen=seen, also=[first])
    assert done.state == "done", done.error
    assert first.status().state == "done"
    states = [s.state for s in seen]
    assert "running" in states, states  # it waited, then ran
    assert all(s.ahead == 0 for s in seen if s.state == "running")
    direct = train_task(**second_spec)
    assert done.result.steps == direct.steps and done.result.accuracy == pytest.approx(direct.accuracy)
    np.testing.assert_allclose(done.result.snapshots.attention, direct.snapshots.attention, atol=1e-5)
    assert [e.step for e in done.progress.history] == [e.step for e in direct.history]


def test_cancel_takes_a_queued_job_out_and_stop_ends_a_running_one_early(pool):
    running, queued = pool.submit(LONG), pool.submit(SHORT)
    wait_for(running, {"running"}, also=[queued])
    assert queued.status().state == "waiting"
    queued.cancel()
    assert queued.status().state == "cancelled"
    assert pool.counts()["waiting"] == 0
    later = pool.submit(SHORT)
    assert later.status().ahead == 1  # only the running job is ahead of it now
    running.stop()
    stopped = wait_for(running, {"done", "failed"}, timeout=60, also=[later])
    assert stopped.state == "done" and stopped.result.stopped_by == "callback", stopped.error
    assert stopped.result.steps < 2000
    assert wait_for(later, {"done", "failed"}).state == "done"


def test_the_queue_has_a_limit(pool):
    running = pool.submit(LONG)
    running_with_progress(running)
    queued = [pool.submit(SHORT), pool.submit(SHORT)]  # no wait: the idle timeout cannot strike
    with pytest.raises(PoolBusy, match="busy"):
        pool.submit(SHORT)
    for job in [*queued, running]:
        job.cancel()
    assert pool.counts()["waiting"] == 0


def test_a_killed_worker_fails_its_job_with_a_sentence_and_is_replaced(pool):
    job = pool.submit(LONG)
    running_with_progress(job)
    restarts = pool.restarts
    (pid,) = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    failed = wait_for(job, {"done", "failed"}, timeout=60)
    assert failed.state == "failed" and "stopped unexpectedly" in failed.error, failed
    after = pool.submit(SHORT)
    assert wait_for(after, {"done", "failed"}).state == "done"
    assert pool.restarts == restarts + 1 and pool.worker_pids() != [pid]


def test_a_job_nobody_polls_or_holds_is_cancelled(pool):
    running = pool.submit(LONG)
    running_with_progress(running)
    forgotten = pool.submit(SHORT)
    time.sleep(IDLE + 1)  # nobody asks about either: both are cancelled, and the worker is freed
    assert running.status().state == "cancelled" and forgotten.status().state == "cancelled"
    wait_until_idle(pool)

    holder = pool.submit(LONG)
    running_with_progress(holder)
    del holder  # a session that ended: its state, and the handle in it, collected
    gc.collect()
    wait_until_idle(pool, within=IDLE - 1)  # sooner than the idle timeout would


def wait_until_idle(pool, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while pool.counts() != {"waiting": 0, "running": 0, "workers": 1}:
        assert time.monotonic() < deadline, f"the pool still has work: {pool.counts()}"
        time.sleep(0.05)


def test_settings_come_from_the_environment():
    assert PoolSettings.from_environment({}) == PoolSettings(
        workers=max(1, (os.cpu_count() or 2) // 2), max_waiting=8, idle_timeout=120.0, niceness=10)
    assert PoolSettings.from_environment({"HEADLIGHT_LAB_WORKERS": "3", "HEADLIGHT_LAB_QUEUE": "0"}).workers == 3
    with pytest.raises(ValueError, match="HEADLIGHT_LAB_WORKERS must be at least 1"):
        PoolSettings.from_environment({"HEADLIGHT_LAB_WORKERS": "0"})
    with pytest.raises(ValueError, match="whole number"):
        PoolSettings.from_environment({"HEADLIGHT_LAB_QUEUE": "many"})


def test_a_result_crosses_as_plain_data_and_comes_back_whole():
    result = train_task("sort", seed=1, n_layers=1, n_heads=2, d_model=16, steps=20, stop_at=None)
    message = result_message(result)
    assert plain(message), "only numbers, strings, None, lists, dicts and numpy arrays may cross"
    back = result_from_message(message)
    assert back.task == result.task and back.config == result.config and back.settings == result.settings
    assert back.history == result.history and back.stopped_by == result.stopped_by
    np.testing.assert_array_equal(back.snapshots.attention, result.snapshots.attention)
    inputs = result.task.encode("31415926")[None]
    import torch

    with torch.no_grad():
        np.testing.assert_array_equal(back.model(torch.from_numpy(inputs)).numpy(),
                                      result.model.eval()(torch.from_numpy(inputs)).numpy())
    with pytest.raises(ValueError, match="Unknown training settings: stop_at"):
        training_spec("reverse", stop_at=0.5)


def plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str | np.ndarray | np.integer | np.floating)
