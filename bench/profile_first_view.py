"""Where a first view's server CPU goes: py-spy samples the app's server while a class opens one link.

    python -m bench.profile_first_view [--sessions 30] [--rounds 3] [--top 25]

Starts `streamlit run app.py` (bench/app_server.py), warms it up, then records it with py-spy
(`pip install py-spy`; it reads the process from outside, so the server runs unchanged) while
--rounds rounds of --sessions simultaneous first views of one shared link run (bench/load.py's
sessions). Prints the server's CPU per first view and the functions holding the most samples,
by own time and by inclusive time within the sessions' script threads, with the repository's
files named relative to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.app_server import ROOT, free_port, start_server, stop_server, wait_until_healthy
from bench.load import cpu_seconds, run_round, warm_up


def frames_of(line: str) -> tuple[list[str], int]:
    """One line of py-spy's raw (collapsed) output: "frame;frame;... count"."""
    stack, _, count = line.rpartition(" ")
    frames = [frame.replace(str(ROOT) + "/", "") for frame in stack.split(";")]
    return frames, int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("needs py-spy: pip install py-spy")
    folder = Path(tempfile.mkdtemp(prefix="headlight-profile-"))
    port = free_port()
    server = start_server(port, folder / "server.log")
    try:
        wait_until_healthy(server, port, folder / "server.log")
        asyncio.run(warm_up(port, 120.0))
        raw = folder / "profile.txt"
        recorder = subprocess.Popen([spy, "record", "--pid", str(server.pid), "--rate", "250", "--format", "raw",
                                     "--output", str(raw), "--threads", "--nonblocking"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        before = cpu_seconds(server.pid)
        for round_index in range(1, args.rounds + 1):
            asyncio.run(run_round(port, server.pid, args.sessions, round_index, 120.0, shared=True))
        spent = cpu_seconds(server.pid) - before
        recorder.send_signal(2)  # py-spy writes its file on SIGINT
        recorder.wait(60)
    finally:
        stop_server(server)
    views = args.sessions * args.rounds
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; server CPU {spent:.2f} s for "
          f"{views} first views = {spent / views * 1e3:.1f} ms each")
    own, inclusive, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        frames, count = frames_of(line)
        if not frames or "idle" in frames[-1]:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    for title, counter in (("own time", own), ("inclusive", inclusive)):
        print(f"\nby {title} (% of {total} samples with the CPU busy or waiting on the GIL):")
        for frame, count in counter.most_common(args.top):
            print(f"{100 * count / max(total, 1):5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()
