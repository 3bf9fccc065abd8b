"""One Lab training worker: a process of its own that trains one run at a time, on one thread, at
a lower OS priority than the server, so a class's trainings wait for spare CPU instead of taking
it from everyone else's pages. The pool (pool.py) starts it as

    python -c "import os, sys; os.nice(N); from encoder.lab.worker import main; main(FD, FLAG)"

with THREAD_VARIABLES set to 1 in its environment, so torch, OpenMP, MKL and OpenBLAS size their
thread pools at one thread when they load; FD is its end of a socket to the server, FLAG the
server's "a page is running" byte (priority.py; -1: none), which it waits on before each step.

Protocol (plain data, see messages.py), over a multiprocessing Connection on that socket:
    server -> worker: ("train", job_id, spec), ("cancel", job_id), ("stop",)
    worker -> server: ("started", job_id), ("progress", job_id, progress),
                      ("done", job_id, result), ("failed", job_id, text)
A cancel stops the run at its next logged step (every 10 steps); the worker then sends "done" with
the model trained so far (stopped_by "callback"), which the server keeps or drops.
"""

from __future__ import annotations

import signal
import traceback
from multiprocessing.connection import Connection

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def main(fd: int, flag_fd: int = -1) -> None:
    # Ctrl+C in the server's terminal reaches its whole process group: the server decides when we
    # stop (a "stop", or the end of the connection when it exits), not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)  # also set by the environment; this holds even if someone overrode it
    from encoder.lab.priority import PagesFlag, Yielder

    serve(Connection(fd), Yielder(PagesFlag.reader(flag_fd)) if flag_fd >= 0 else None)


def serve(connection: Connection, pause=None) -> None:
    """Train what the server sends until it says stop or goes away."""
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the server went away: nothing left to train for
            return
        if message[0] == "stop":
            return
        if message[0] == "train" and not train_one(connection, message[1], message[2], pause):
            return
        # A "cancel" for a run that already ended needs nothing.


def train_one(connection, job_id: int, spec: dict, pause=None) -> bool:
    """Run one training, reporting as it goes; False if the server asked the worker to stop."""
    from encoder.lab.messages import progress_message, result_message
    from encoder.lab.train import train_task

    keep_serving = True

    def on_progress(progress) -> bool:
        nonlocal keep_serving
        connection.send(("progress", job_id, progress_message(progress)))
        while connection.poll():  # what the server said since the last step
            said = connection.recv()
            if said[0] == "stop":
                keep_serving = False
                return True
            if said[0] == "cancel" and said[1] == job_id:
                return True
        return False

    connection.send(("started", job_id))
    try:
        result = train_task(**spec, callback=on_progress, pause=pause)
        reply = ("done", job_id, result_message(result))
    except (EOFError, OSError):
        return False  # the server went away mid-run
    except Exception as error:  # any failure of a run is reported, the worker lives on
        traceback.print_exc()
        reply = ("failed", job_id, f"{type(error).__name__}: {error}")
    if keep_serving:
        connection.send(reply)
    return keep_serving

