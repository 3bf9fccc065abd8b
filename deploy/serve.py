"""Several Headlight replicas behind nginx on this machine, started and stopped together.

    python -m deploy.serve --replicas 3 [--port 8500] [--state /var/tmp/headlight-proxy]

Starts N `streamlit run app.py` processes on loopback ports and nginx in front of them on
127.0.0.1:--port (deploy/nginx.conf.template, with sticky sessions, websockets and cache
headers), all as the current user: nginx gets its own prefix, pid file, logs and temporary
folders under --state, so no root is needed. Runs until Ctrl+C or SIGTERM, then stops nginx and
every replica (their process groups, nothing else). Listening beyond loopback (--host 0.0.0.0)
is the operator's explicit choice; the replicas always listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
LOOPBACK = "127.0.0.1"
UPLOAD_MB = 16  # server.maxUploadSize in .streamlit/config.toml
STOP_TIMEOUT = 15.0


class ClusterError(RuntimeError):
    """nginx is missing, its configuration is refused, or a process did not become healthy."""


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which an ordinary user's PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def render_config(listen: str, replica_ports: list[int], state: Path, body_mb: int = UPLOAD_MB + 1) -> str:
    """The nginx configuration for these replicas, from the template."""
    n = len(replica_ports)
    # split_clients shares: equal percentages, the last replica taking the rest ("*").
    splits = "\n".join([f"        {100 / n:.2f}% replica{i};" for i in range(n - 1)] + [f"        * replica{n - 1};"])
    upstreams = "\n".join(f"    upstream replica{i} {{\n        server {LOOPBACK}:{port};\n    }}"
                          for i, port in enumerate(replica_ports))
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in {"@SPLITS@": splits, "@UPSTREAMS@": upstreams, "@LISTEN@": listen, "@STATE@": str(state),
                        "@BODY_MB@": str(body_mb)}.items():
        text = text.replace(name, value)
    return text


@dataclass
class Cluster:
    """N replicas and nginx; `start()` returns when all answer /_stcore/health, `stop()` ends them."""

    replicas: int
    state: Path
    port: int = 8500
    host: str = LOOPBACK
    env: dict[str, str] = field(default_factory=dict)  # added to the replicas' environment
    processes: list[subprocess.Popen] = field(default_factory=list)
    replica_ports: list[int] = field(default_factory=list)
    nginx: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK if self.host == '0.0.0.0' else self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> Cluster:
        binary = nginx_binary()
        if binary is None:
            raise ClusterError("nginx is not installed (Debian: apt-get install nginx-light).")
        self.state.mkdir(parents=True, exist_ok=True)
        self.replica_ports = [free_port() for _ in range(self.replicas)]
        # One cookie secret for all replicas: Streamlit signs its XSRF cookie with it, so a cookie
        # stays valid if a browser is ever moved to another replica.
        shared = {"STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}
        try:
            for index, port in enumerate(self.replica_ports):
                self.processes.append(self._start_replica(port, index, shared))
            config = self.state / "nginx.conf"
            config.write_text(render_config(f"{self.host}:{self.port}", self.replica_ports, self.state))
            command = [binary, "-p", str(self.state), "-c", str(config), "-e", str(self.state / "error.log")]
            checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
            if checked.returncode != 0:
                raise ClusterError(f"nginx refused the configuration: {checked.stderr.strip()}")
            with (self.state / "nginx.out").open("wb") as log:
                self.nginx = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + timeout
            for port, process in zip(self.replica_ports, self.processes, strict=True):
                self._wait(process, f"http://{LOOPBACK}:{port}", deadline, self.state / f"replica-{port}.log")
            self._wait(self.nginx, self.url, deadline, self.state / "error.log")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_replica(self, port: int, index: int, shared: dict[str, str]) -> subprocess.Popen:
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                   f"--server.port={port}", f"--server.address={LOOPBACK}",
                   "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **shared, **self.env}
        with (self.state / f"replica-{port}.log").open("wb") as log:
            return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    @staticmethod
    def _wait(process: subprocess.Popen, url: str, deadline: float, log: Path) -> None:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ClusterError(f"{url} exited with code {process.returncode} (log: {log})")
            with suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
            time.sleep(0.25)
        raise ClusterError(f"{url} was not healthy in time (log: {log})")

    def stop(self) -> None:
        """SIGTERM (nginx: fast shutdown) to each started process group, SIGKILL if it lingers."""
        for process in [p for p in (self.nginx, *self.processes) if p is not None]:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in [p for p in (self.nginx, *self.processes) if p is not None]:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3, help="Streamlit processes (default 3)")
    parser.add_argument("--port", type=int, default=8500, help="the port nginx listens on (default 8500)")
    parser.add_argument("--host", default=LOOPBACK,
                        help="the address nginx listens on (default 127.0.0.1; 0.0.0.0 opens it to the network)")
    parser.add_argument("--state", type=Path, default=Path("/var/tmp/headlight-proxy"),
                        help="folder for nginx's configuration, pid, logs and temporary files, and the replicas' logs")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    cluster = Cluster(args.replicas, args.state.resolve(), args.port, args.host)
    try:
        cluster.start()
        print(f"Headlight: {cluster.url} → {args.replicas} replicas on ports "
              f"{', '.join(map(str, cluster.replica_ports))}; logs in {args.state}. Ctrl+C stops all.", flush=True)
        while all(p.poll() is None for p in (cluster.nginx, *cluster.processes)):
            time.sleep(1.0)
        print("a process exited; stopping the others", flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    except ClusterError as error:
        print(f"could not start: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
