"""A class in step, measured (issue 22): 30 students follow a teacher; how long from the teacher's
change to each student's screen (p50, p95), and the server's CPU and memory per student.

    python -m bench.classroom [--students 30] [--changes 8]

Starts its own Redis (loopback, a temporary folder, no persistence) and one Streamlit server
whose class store is that Redis. The teacher is this process: it starts a class and publishes
views through `classroom.protocol`, as the teacher's lesson page does at each of its reruns. The
students are headless Streamlit sessions (`bench.streamlit_client`'s protocol): each opens the Join
page, submits the code, and then does what a browser tab does with the page's polling fragment:
reruns it every `run_every` seconds and, when the fragment asks for a full rerun, runs the page.
A student's screen has changed when the run after the publish has drawn the new step's heading.
The time excludes the teacher's own page run before the publish (the Walk-through's rerun, about
0.3-1 s; bench/interactions.py measures it) and the browser's drawing of the chart.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench.app_server import free_port


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, its files in `folder`, nothing saved;
    yields its redis:// address and stops it after."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                "--save", "", "--appendonly", "no"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
