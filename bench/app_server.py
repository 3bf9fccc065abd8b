"""Start `streamlit run app.py` on a free loopback port, wait until it is healthy, stop it.

Shared by the load benchmark and the browser tests, so both run the app exactly as the README's
command does, with the flags a headless test needs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STOP_TIMEOUT = 15.0


class ServerNotReady(RuntimeError):
    """The server exited or did not answer /_stcore/health in time; the message has the log tail."""


def free_port() -> int:
    """A port the OS says is free now (bind to port 0); the server takes it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(port: int, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run app.py` from the repo root, in its own process group, logging to log_path
    (a file, not a pipe: a full pipe would block the server); `env` is added to its environment."""
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
               f"--server.port={port}", f"--server.address={HOST}", "--browser.gatherUsageStats=false",
               "--server.fileWatcherType=none"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def proc_status_mb(pid: int | str, field_name: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM) in MB; pid "self" is this process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field_name} in /proc/{pid}/status")


def is_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until_healthy(server: subprocess.Popen, port: int, log_path: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerNotReady(f"streamlit exited with code {server.returncode} before it was ready "
                                 f"({log_path}):\n{log_tail(log_path)}")
        if is_healthy(port):
            return
        time.sleep(0.25)
    raise ServerNotReady(f"streamlit was not healthy after {timeout:.0f} s ({log_path}):\n{log_tail(log_path)}")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (only what we started), SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(STOP_TIMEOUT)
