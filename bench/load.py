"""How the app holds when a class uses it at once: N browser sessions on one server, one model.

    python -m bench.load [--sessions 1 8 30] [--repeats 3] [--shared-link] [--session-timeout 120]
                         [--total-timeout 1200]
    python -m bench.load --lab [--rounds 3]   # first views alone and during three Lab trainings
    python -m bench.load --school [--replicas 3] [--sessions 90] [--repeats 1]   # through nginx

Starts its own `streamlit run app.py` on a free loopback port (log in the temp folder), waits
for /_stcore/health, runs one warm-up session (it loads the model into the shared cache), then
for each N opens N sessions at the same moment. Each is a real browser session as Streamlit
sees it: a websocket on /_stcore/stream speaking Streamlit's protobuf protocol
(bench/streamlit_client.py), opening the Attention page with its own text in the query string
(with --shared-link, one text for the whole round, as a class opening a link the teacher shared)
(`?text=Student 17 asks…&model=bundled`), so every session runs the encoder and draws its
figures. Time-to-result runs from opening the socket (what a student waits for after pressing
Enter in the address bar) to the `script_finished` of the session's run. Errors: exceptions or
error boxes on the page, a compile error, a disconnect, no result within the session timeout,
or a page without a Plotly chart. Sessions stay open until the whole round has its results.

--shared-link also prints the class verdict: p95 of the largest N (30: a class) against
CLASS_TARGET_S. --school runs the same sessions through the deploy/ recipe instead: --replicas
Streamlit processes behind nginx (deploy/serve.py), each warmed up directly, then --sessions
(default 90) at once through the proxy, which spreads them by its sticky cookie; it prints the
table with the replicas' CPU summed, how many sessions each replica served (nginx's access
log), and the verdict 0 errors.

Each N runs --repeats rounds with fresh texts (so the run cache never answers), and the
percentiles pool the rounds. What a real browser also waits for and this bench leaves out: the
HTTP download of the page and its JavaScript, and drawing the figures.

Prints, per N: p50, p95 (nearest rank) and max time-to-result, errors, charts per session, data
per session, the server's CPU time per session and the CPU time this load generator (on the
same cores) used for the N, and
the server's resident memory (VmRSS) with a round's sessions open; then the ratio
p95(N = largest) / p50(N = 1) against the target "p95 at 30 sessions within 10× p50 at 1
session", and the server's memory before and after. The server is stopped at the end, also on
errors and Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.app_server import (
    HOST,
    ServerNotReady,
    free_port,
    proc_status_mb,
    start_server,
    stop_server,
    wait_until_healthy,
)
from bench.streamlit_client import SessionResult, open_tab

TARGET_RATIO = 10.0
CLASS_TARGET_S = 1.0  # issue 18: 30 simultaneous first views of one shared link, p95 server-side


@dataclass(frozen=True)
class RoundSummary:
    n_sessions: int
    results: list[SessionResult]
    server_cpu_seconds: float
    client_cpu_seconds: float
    rss_mb_with_sessions_open: float


# --- the server --------------------------------------------------------------------------------

def own_cpu_seconds() -> float:
    """CPU time of this process (the load generator shares the machine's cores with the server)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc/<pid>/stat."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(after_name[11]), int(after_name[12])
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


# --- the sessions ------------------------------------------------------------------------------

def student_text(student: int, n_sessions: int, round_index: int, shared: bool = False) -> str:
    """A different text (about 30 tokens) for every student, class size and round: no cache hits.
    shared: one text for the whole class in a round, as when a teacher shares one link."""
    who = "A shared link" if shared else f"Student {student}"
    return (f"{who} of {n_sessions} in round {round_index} asks why the cat sat on mat "
            f"number {0 if shared else student}, and whether the tired animal crossed the street after all.")


def page_query(text: str) -> str:
    return urlencode({"text": text, "model": "bundled"})


def with_chart_check(result: SessionResult) -> SessionResult:
    if result.seconds is not None and result.charts < 1:
        result.page_errors.append("no Plotly chart on the page")
        result.seconds = None
    return result


async def run_round(port: int, server_pid: int, n_sessions: int, round_index: int,
                    session_timeout: float, shared: bool = False) -> tuple[list[SessionResult], float]:
    """Open n_sessions tabs at once; return their results and the server's RSS with all still open."""
    results: list[SessionResult] = []
    all_arrived, release = asyncio.Event(), asyncio.Event()

    async def student(index: int) -> None:
        query = page_query(student_text(index, n_sessions, round_index, shared))
        async with open_tab(port, query, f"N={n_sessions} #{index}", session_timeout) as result:
            results.append(with_chart_check(result))
            if len(results) == n_sessions:
                all_arrived.set()
            await release.wait()

    tasks = [asyncio.create_task(student(index)) for index in range(1, n_sessions + 1)]
    try:
        async with asyncio.timeout(session_timeout + 30):
            await all_arrived.wait()
        rss_mb = proc_status_mb(server_pid, "VmRSS")
    finally:
        release.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]
    return results, rss_mb


async def measure(port: int, server_pid: int, n_sessions: int, repeats: int,
                  session_timeout: float, shared: bool = False) -> RoundSummary:
    server_cpu_before, client_cpu_before = cpu_seconds(server_pid), own_cpu_seconds()
    results: list[SessionResult] = []
    rss_mb = 0.0
    for round_index in range(1, repeats + 1):
        round_cpu_before = cpu_seconds(server_pid)
        round_results, round_rss = await run_round(port, server_pid, n_sessions, round_index, session_timeout,
                                                   shared)
        print(f"  N={n_sessions} round {round_index}: {describe_round(round_results)}, server CPU "
              f"{cpu_seconds(server_pid) - round_cpu_before:.2f} s, RSS {round_rss:.0f} MB with the sessions open",
              flush=True)
        results += round_results
        rss_mb = max(rss_mb, round_rss)
        await asyncio.sleep(1.0)  # let the server close the round's sessions
    return RoundSummary(n_sessions, results, cpu_seconds(server_pid) - server_cpu_before,
                        own_cpu_seconds() - client_cpu_before, rss_mb)


def describe_round(results: list[SessionResult]) -> str:
    times = [result.seconds for result in results if result.seconds is not None]
    slowest = f"{max(times):.2f} s" if times else "-"
    return f"{len(times)}/{len(results)} ok, slowest {slowest}"


async def warm_up(port: int, session_timeout: float) -> SessionResult:
    query = page_query("Warm-up: the first run loads the model into the shared cache.")
    async with open_tab(port, query, "warm-up", session_timeout) as result:
        return with_chart_check(result)


# --- the report --------------------------------------------------------------------------------

def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def seconds_of(summary: RoundSummary) -> list[float]:
    return [result.seconds for result in summary.results if result.seconds is not None]


def charts_text(summary: RoundSummary) -> str:
    counts = [result.charts for result in summary.results]
    low, high = min(counts), max(counts)
    return f"{low}" if low == high else f"{low}–{high}"


def summary_row(summary: RoundSummary) -> str:
    times = seconds_of(summary)
    errors = sum(1 for result in summary.results if result.errors)
    mb_each = statistics.mean(result.bytes_received for result in summary.results) / 1e6
    server_cpu_each = summary.server_cpu_seconds / len(summary.results)
    timing = (f"{statistics.median(times):>7.2f} {nearest_rank(times, 0.95):>7.2f} {max(times):>7.2f}"
              if times else f"{'-':>7} {'-':>7} {'-':>7}")
    return (f"{summary.n_sessions:>4} {len(summary.results):>8} {timing} {errors:>6} "
            f"{charts_text(summary):>14} {mb_each:>10.3f} {server_cpu_each:>19.2f} "
            f"{summary.client_cpu_seconds:>12.1f} {summary.rss_mb_with_sessions_open:>11.0f}")


def print_table(summaries: list[RoundSummary]) -> None:
    print(f"{'N':>4} {'sessions':>8} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'errors':>6} "
          f"{'charts/session':>14} {'MB/session':>10} {'server CPU s/session':>19} {'client CPU s':>12} "
          f"{'RSS MB open':>11}")
    for summary in summaries:
        print(summary_row(summary))


def print_errors(summaries: list[RoundSummary]) -> None:
    messages = Counter(f"N={summary.n_sessions}: {error}" for summary in summaries
                       for result in summary.results for error in result.errors)
    for message, count in messages.most_common(20):
        print(f"  {count:>3} × {message}")


def print_class_verdict(summaries: list[RoundSummary]) -> None:
    """A class opening one shared link: p95 of the largest N against CLASS_TARGET_S."""
    largest = max(summaries, key=lambda summary: summary.n_sessions)
    times = seconds_of(largest)
    if not times:
        print("class: no successful sessions")
        return
    p95 = nearest_rank(times, 0.95)
    verdict = "met" if p95 <= CLASS_TARGET_S else "NOT met"
    print(f"class: p95 of {largest.n_sessions} simultaneous first views of one link = {p95:.2f} s "
          f"(target ≤ {CLASS_TARGET_S:.1f} s: {verdict}); server CPU "
          f"{largest.server_cpu_seconds / len(largest.results):.3f} s per first view")


def print_verdict(summaries: list[RoundSummary], load_average: float) -> None:
    by_n = {summary.n_sessions: summary for summary in summaries}
    largest = max(by_n)
    if 1 not in by_n or largest == 1 or not seconds_of(by_n[1]) or not seconds_of(by_n[largest]):
        print("ratio: needs successful runs at N = 1 and at a larger N")
        return
    p50_one = statistics.median(seconds_of(by_n[1]))
    p95_many = nearest_rank(seconds_of(by_n[largest]), 0.95)
    ratio = p95_many / p50_one
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio p95(N={largest}) / p50(N=1) = {p95_many:.2f} s / {p50_one:.2f} s = {ratio:.1f}×  "
          f"(target: p95 at 30 sessions ≤ {TARGET_RATIO:.0f}× p50 at 1 session: {verdict})")
    if load_average > (os.cpu_count() or 1):
        print(f"note: the machine was busy (load average {load_average:.1f} on {os.cpu_count()} cores), which "
              "slows the N = 1 sessions most: the ratio is unreliable")


# --- main --------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 30],
                        help="class sizes to try, each opened at once (default: 1 8 30)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds per class size (default: 3, so that p50 at N = 1 is not a single sample)")
    parser.add_argument("--session-timeout", type=float, default=120.0,
                        help="seconds a session may take from opening its socket to its result")
    parser.add_argument("--total-timeout", type=float, default=1200.0,
                        help="seconds the whole bench may take, server start included")
    parser.add_argument("--lab", action="store_true",
                        help="instead: first views alone and while three Lab trainings run (bench/lab_load.py)")
    parser.add_argument("--shared-link", action="store_true",
                        help="every session of a round opens the same text, as a class opening one shared link")
    parser.add_argument("--school", action="store_true",
                        help="through nginx in front of --replicas Streamlit processes (deploy/serve.py)")
    parser.add_argument("--replicas", type=int, default=3, help="with --school: Streamlit processes (default 3)")
    args = parser.parse_args()
    if args.school and "--sessions" not in sys.argv[1:]:
        args.sessions = [90]
    if args.school and "--repeats" not in sys.argv[1:]:
        args.repeats = 1
    if min(args.sessions) < 1 or args.repeats < 1:
        parser.error("--sessions and --repeats must be at least 1")
    return args


async def run_bench(args: argparse.Namespace, port: int, server_pid: int) -> list[RoundSummary]:
    warm = await warm_up(port, args.session_timeout)
    took = "no result" if warm.seconds is None else f"{warm.seconds:.2f} s"
    print(f"warm-up session (loads the model): {took}, "
          f"{warm.charts} charts, errors: {warm.errors or 'none'}; "
          f"server RSS {proc_status_mb(server_pid, 'VmRSS'):.0f} MB", flush=True)
    summaries = []
    for n_sessions in args.sessions:
        summary = await measure(port, server_pid, n_sessions, args.repeats, args.session_timeout, args.shared_link)
        summaries.append(summary)
    return summaries


def interrupt_on_signals() -> None:
    """Ctrl+C and SIGTERM raise KeyboardInterrupt, so the server is stopped on the way out (also
    when the bench was started in the background, where a shell makes it ignore SIGINT)."""
    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    if "--lab" in sys.argv[1:]:
        # Everyone else's first view while three Lab trainings run, against alone, in Chromium:
        # bench/lab_load.py (its other flags pass through, e.g. --rounds 3).
        from bench import lab_load

        sys.argv.remove("--lab")
        lab_load.main()
        return
    args = parse_args()
    interrupt_on_signals()
    if args.school:
        from bench import school

        school.main(args)
        return
    started = time.perf_counter()
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"headlight-bench-load-{port}.log"
    load_average = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load_average:.1f} (other work on these cores "
          "slows every session)", flush=True)
    print(f"server: streamlit run app.py on http://{HOST}:{port}, log {log_path}", flush=True)
    server = start_server(port, log_path)
    try:
        wait_until_healthy(server, port, log_path)
        rss_before = proc_status_mb(server.pid, "VmRSS")
        print(f"server healthy after {time.perf_counter() - started:.1f} s, RSS {rss_before:.0f} MB", flush=True)
        time_left = args.total_timeout - (time.perf_counter() - started)
        summaries = asyncio.run(asyncio.wait_for(run_bench(args, port, server.pid), time_left))
        print()
        print_table(summaries)
        print_errors(summaries)
        print_verdict(summaries, max(load_average, os.getloadavg()[0]))
        if args.shared_link:
            print_class_verdict(summaries)
        print(f"server RSS: {rss_before:.0f} MB before (healthy, model not loaded), "
              f"{proc_status_mb(server.pid, 'VmRSS'):.0f} MB after (all sessions closed), "
              f"peak {proc_status_mb(server.pid, 'VmHWM'):.0f} MB")
    except KeyboardInterrupt as interrupt:
        print(f"\ninterrupted ({interrupt}); stopping the server")
        raise SystemExit(130) from None
    except ServerNotReady as error:
        print(f"\nthe server did not start: {error}")
        raise SystemExit(1) from None
    except TimeoutError:
        print(f"\nthe bench ran past --total-timeout {args.total_timeout:.0f} s; stopping the server")
        raise SystemExit(1) from None
    finally:
        stop_server(server)
        print(f"server stopped (exit {server.returncode}); bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
