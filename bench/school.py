"""`python -m bench.load --school`: many first views at once through nginx and several replicas.

The deploy/ recipe as an operator runs it (deploy/serve.py: N Streamlit processes on loopback,
nginx in front with sticky sessions), then bench/load.py's sessions through the proxy's port:
each is a websocket without a cookie, so nginx gives it a new one and hashes it onto a replica,
as it does a new browser. Reports the table of bench/load.py with the replicas' CPU summed,
how many sessions each replica served (from nginx's access log) and the verdict: 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.app_server import proc_status_mb
from bench.load import (
    RoundSummary,
    cpu_seconds,
    describe_round,
    own_cpu_seconds,
    print_errors,
    print_table,
    run_round,
    seconds_of,
    warm_up,
)
from deploy.serve import Cluster, ClusterError, free_port

STREAM_LINE = re.compile(r" -> (\S+) \d+ \"GET /_stcore/stream")


def sessions_per_replica(access_log: Path) -> Counter:
    """Replica address -> websockets it served (nginx logs each when it closes)."""
    return Counter(match[1] for line in access_log.read_text().splitlines() if (match := STREAM_LINE.search(line)))


async def school(cluster: Cluster, n_sessions: int, repeats: int, session_timeout: float,
                 shared: bool) -> RoundSummary:
    for port in cluster.replica_ports:  # each replica loads the model once, before the class arrives
        warm = await warm_up(port, session_timeout)
        print(f"warm-up on replica :{port}: {'no result' if warm.seconds is None else f'{warm.seconds:.2f} s'}",
              flush=True)
    pids = [process.pid for process in cluster.processes]
    server_before, client_before = sum(map(cpu_seconds, pids)), own_cpu_seconds()
    results, rss_mb = [], 0.0
    for round_index in range(1, repeats + 1):
        round_results, _ = await run_round(cluster.port, pids[0], n_sessions, round_index, session_timeout, shared)
        rss_mb = max(rss_mb, sum(proc_status_mb(pid, "VmRSS") for pid in pids))
        print(f"  N={n_sessions} round {round_index}: {describe_round(round_results)}", flush=True)
        results += round_results
        await asyncio.sleep(1.0)
    return RoundSummary(n_sessions, results, sum(map(cpu_seconds, pids)) - server_before,
                        own_cpu_seconds() - client_before, rss_mb)


def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    state = Path(tempfile.mkdtemp(prefix="headlight-school-"))
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          flush=True)
    cluster = Cluster(args.replicas, state, free_port())
    try:
        cluster.start()
        print(f"nginx on {cluster.url} in front of {args.replicas} replicas "
              f"({', '.join(map(str, cluster.replica_ports))}); state in {state}; "
              f"ready after {time.perf_counter() - started:.1f} s", flush=True)
        summaries = [asyncio.run(school(cluster, n, args.repeats, args.session_timeout, args.shared_link))
                     for n in args.sessions]
    except ClusterError as error:
        print(f"the recipe did not start: {error}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the replicas and nginx")
        raise SystemExit(130) from None
    finally:
        cluster.stop()
    time.sleep(0.5)
    print()
    print_table(summaries)
    print_errors(summaries)
    print("sessions per replica:", dict(sessions_per_replica(state / "access.log")))
    errors = sum(1 for summary in summaries for result in summary.results if result.errors)
    times = [t for summary in summaries for t in seconds_of(summary)]
    print(f"school: {sum(len(s.results) for s in summaries)} sessions over {args.replicas} replicas, "
          f"{errors} errors (target 0: {'met' if errors == 0 else 'NOT met'}); load average after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; bench took {time.perf_counter() - started:.0f} s"
          + ("" if times else "; no successful sessions"))
