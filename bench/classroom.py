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

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.app_server import free_port, proc_status_mb, start_server, stop_server, wait_until_healthy


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


# ---------------------------------------------------------------- a student, headless

TEXT = "The animal didn't cross the street because it was too tired."
STEPS = [4, 5, 7, 14]  # Q·K·V, scores, softmax, next layer: each draws a chart (no question: the chart is shown)


def client_state_message(query: str, port: int, page_hash: str = "", page_name: str = "join",
                         widgets: dict | None = None, fragment: str | None = None) -> bytes:
    """A rerun_script BackMsg as a browser tab sends it: the page (its name, and its hash once the
    server's navigation message gave it), widget values, or a fragment's auto-rerun."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    from bench.streamlit_client import BROWSER_CONTEXT

    message = BackMsg()
    state = message.rerun_script
    state.query_string = query
    state.page_script_hash = page_hash
    state.page_name = page_name
    for name, value in BROWSER_CONTEXT.items():
        setattr(state.context_info, name, value)
    state.context_info.url = f"http://127.0.0.1:{port}/join?{query}"
    state.widget_states.SetInParent()
    for widget_id, value in (widgets or {}).items():
        widget = state.widget_states.widgets.add()
        widget.id = widget_id
        if value is True:
            widget.trigger_value = True
        else:
            widget.string_value = value
    if fragment:
        state.fragment_id = fragment
        state.is_auto_rerun = True
    return message.SerializeToString()


class Tab:
    """One student's tab: what its runs drew (widget ids by label, the step heading) and its
    polling fragment (id, interval), as the frontend would keep them."""

    def __init__(self, socket, port: int, query: str):
        self.socket, self.port, self.query = socket, port, query
        self.page_hash = ""
        self.widgets: dict[str, str] = {}
        self.heading = ""
        self.fragment: tuple[str, float] | None = None
        self.finished: list[tuple[float, str]] = []  # (time, the heading on screen) per full run
        self.errors: list[str] = []
        self.running = False  # a run is going: the frontend's fragment timer waits for it to end

    def fold(self, message) -> str | None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.running = True
        elif kind == "navigation":  # the page the app's st.navigation chose (new_session names app.py)
            self.page_hash = message.navigation.page_script_hash or self.page_hash
        elif kind == "auto_rerun":
            self.fragment = (message.auto_rerun.fragment_id, message.auto_rerun.interval)
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            which = element.WhichOneof("type")
            if which == "heading" and element.heading.body.startswith("Step "):
                self.heading = element.heading.body
            elif which in ("text_input", "button"):
                self.widgets[getattr(element, which).label] = getattr(element, which).id
            elif which == "exception":
                self.errors.append(element.exception.message[:200])
        elif kind == "script_finished":
            self.running = message.script_finished == message.FINISHED_EARLY_FOR_RERUN
            return str(message.script_finished)
        return None

    async def send(self, **options) -> None:
        await self.socket.send(client_state_message(self.query, self.port, self.page_hash, **options))

    async def until_finished(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for frame in self.socket:
            message = ForwardMsg()
            message.ParseFromString(frame)
            status = self.fold(message)
            if status is not None and int(status) != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return

    async def listen(self) -> None:
        """Record every finished full run (a fragment run draws no heading) with its time."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for frame in self.socket:
            message = ForwardMsg()
            message.ParseFromString(frame)
            status = self.fold(message)
            if status is not None and int(status) == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.finished.append((time.perf_counter(), self.heading))

    async def poll(self) -> None:
        """The fragment's auto-rerun, every interval the server asked for."""
        while True:
            if self.fragment is None:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(self.fragment[1])
            if not self.running:
                await self.send(fragment=self.fragment[0])


async def student(port: int, code: str, number: int, ready: asyncio.Event, done: asyncio.Event) -> Tab:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    from bench.streamlit_client import MAX_FRAME_BYTES, stream_url

    query = f"join_code={code}"
    async with connect(stream_url(port), subprotocols=[Subprotocol("streamlit")], max_size=MAX_FRAME_BYTES,
                       proxy=None, ping_interval=None, open_timeout=60) as socket:
        tab = Tab(socket, port, query)
        await tab.send()
        await asyncio.wait_for(tab.until_finished(), 120)
        await tab.send(widgets={tab.widgets["Class code"]: code, tab.widgets["Nickname (optional)"]: f"s{number}",
                                tab.widgets["Join"]: True})
        await asyncio.wait_for(tab.until_finished(), 120)
        if not tab.heading:
            tab.errors.append("joined, but no step shown")
        ready.set()
        listener, poller = asyncio.create_task(tab.listen()), asyncio.create_task(tab.poll())
        await done.wait()
        listener.cancel()
        poller.cancel()
        return tab


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def measure(port: int, pid: int, url: str, n_students: int, changes: int, gap: float) -> dict:
    from classroom.protocol import Classroom
    from classroom.store import RedisStore
    from sources import DEFAULT_SOURCE

    room = Classroom(RedisStore(url), max_students=max(60, n_students + 1))
    teacher = room.start()

    def view(index: int) -> dict:
        step = STEPS[index % len(STEPS)]
        return {"steps": STEPS, "index": index % len(STEPS), "step": step, "text_a": TEXT, "text_b": None,
                "model": DEFAULT_SOURCE, "layer": 1 + index % 6, "head": 1 + index % 12, "token": None,
                "pad_text": "", "revealed": None}

    room.publish(teacher, view(0), None)
    done = asyncio.Event()
    warm = asyncio.Event()
    warm_task = asyncio.create_task(student(port, teacher.code, -1, warm, done))  # loads the model
    await asyncio.wait_for(warm.wait(), 300)
    rss_before, cpu_start = proc_status_mb(pid, "VmRSS"), cpu_seconds(pid)
    joined_at = time.perf_counter()
    readies = [asyncio.Event() for _ in range(n_students)]
    tasks = [asyncio.create_task(student(port, teacher.code, k, readies[k], done)) for k in range(n_students)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 600)
    join_seconds = time.perf_counter() - joined_at
    await asyncio.sleep(gap)
    idle_start, idle_cpu = time.perf_counter(), cpu_seconds(pid)
    await asyncio.sleep(10)  # only the polls
    idle = (cpu_seconds(pid) - idle_cpu) / (time.perf_counter() - idle_start)
    rss_joined = proc_status_mb(pid, "VmRSS")
    published_views: list[tuple[float, str]] = []  # (when, the heading it shows)
    change_cpu, change_start = cpu_seconds(pid), time.perf_counter()
    for index in range(1, changes + 1):
        published_views.append((time.perf_counter(), f"Step {index % len(STEPS) + 1} of {len(STEPS)}"))
        room.publish(teacher, view(index), None)
        await asyncio.sleep(gap)
    busy = (cpu_seconds(pid) - change_cpu) / (time.perf_counter() - change_start)
    rss_after = proc_status_mb(pid, "VmRSS")
    done.set()
    tabs = await asyncio.gather(*tasks)
    await warm_task
    times, missed, missing, slowest = [], 0, set(), []
    for published, expected in published_views:
        first = len(times)
        for number, tab in enumerate(tabs):
            # The steps come round again every len(STEPS) changes: a screen counts only before that.
            horizon = published + (len(STEPS) - 1) * gap
            seen = [t for t, heading in tab.finished if published <= t < horizon and heading.startswith(expected)]
            if seen:
                times.append(seen[0] - published)
            else:
                missed += 1
                missing.add(number)
        slowest.append(max(times[first:], default=float("nan")))
    errors = sorted({f"{sum(e in t.errors for t in tabs)} of {len(tabs)} students: {e}"
                     for tab in tabs for e in tab.errors})
    room.end(teacher)
    return {"times": times, "slowest": slowest, "missed": missed, "missing": len(missing), "errors": errors,
            "join_seconds": join_seconds,
            "rss_before": rss_before, "rss_joined": rss_joined, "rss_after": rss_after, "idle_cpu": idle,
            "busy_cpu": busy, "cpu_total": cpu_seconds(pid) - cpu_start}


# ---------------------------------------------------------------- the README's screenshots


def small_png(path: Path) -> None:
    """Re-save a screenshot with a 256-colour palette: a few tens of kB instead of a few hundred."""
    from PIL import Image

    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


def screenshots(out: Path) -> None:
    """class-projector.png (the teacher's lesson in presentation mode after the reveal, the class's
    answers beside it) and class-phone.png (a student's screen at 400 px), with 12 students."""
    import re

    from playwright.sync_api import sync_playwright

    from bench.browser import CHROMIUM, CHROMIUM_ARGS, MAIN, RUN_COUNTER_JS, App
    from bench.screenshots import HIDE_CHROME
    from classroom.protocol import Classroom
    from classroom.store import RedisStore

    def wait_text(app: App, text: str) -> None:
        app.page.wait_for_function("([s, t]) => document.querySelector(s).innerText.includes(t)", arg=[MAIN, text],
                                   timeout=120_000)

    def click(app: App, name: str, role: str = "button") -> None:
        app.rerun_after(lambda: app.page.locator(MAIN).get_by_role(role, name=name).first.click(), charts=False)

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="headlight-class-") as folder, redis_server(Path(folder)) as url:
        port, log = free_port(), Path(folder) / "streamlit.log"
        server = start_server(port, log, {"HEADLIGHT_CLASS_STORE": url})
        try:
            wait_until_healthy(server, port, log)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                projector = browser.new_context(viewport={"width": 1280, "height": 800})
                phone = browser.new_context(viewport={"width": 400, "height": 1500}, is_mobile=True, has_touch=True)
                for context in (projector, phone):
                    context.add_init_script(RUN_COUNTER_JS)
                teacher, student = App(projector.new_page(), base), App(phone.new_page(), base)
                teacher.open("/walkthrough", charts=False, text=TEXT, walk_lesson="1", walk_steps="0,7",
                             walk_step="1", present="1")
                click(teacher, "Start a class")
                wait_text(teacher, "Join the class: code")
                code = re.search(r"code ([A-Z0-9]{6})", teacher.page.locator(MAIN).inner_text()).group(1)
                room = Classroom(RedisStore(url))
                question = room.snapshot(code).question
                values = [value for value, _ in question.options]
                right = question.accepted[0]
                others = [v for v in values if v != right]
                for number, value in enumerate([right] * 7 + others[:3] + others[:1]):
                    room.answer(room.join(code, "" if number % 3 else f"student {number}"), question.step, value)
                student.open("/join", charts=False, join_code=code)
                student.page.get_by_label("Nickname (optional)").fill("Ada")
                click(student, "Join")
                wait_text(student, "Step 2 of 2")
                student.page.locator(f'{MAIN} [data-testid="stButtonGroup"] button').nth(values.index(right)).click()
                click(student, "Send")
                wait_text(teacher, "12 of 12")
                click(teacher, "Reveal the answer")
                wait_text(student, "You answered")
                for app, name in ((teacher, "class-projector.png"), (student, "class-phone.png")):
                    app.page.wait_for_timeout(2500)  # the charts' drawing and the teacher's next poll
                    app.page.mouse.move(0, 0)
                    path = out / name
                    app.page.screenshot(path=path, animations="disabled",
                                        caret="hide", style=HIDE_CHROME)
                    small_png(path)
                    print(f"{path}  {path.stat().st_size / 1e3:.0f} kB")
                browser.close()
        finally:
            stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--changes", type=int, default=8)
    parser.add_argument("--gap", type=float, default=5.0, help="seconds between the teacher's changes")
    parser.add_argument("--screenshots", type=Path, help="write the README's two class screenshots here instead")
    args = parser.parse_args()
    if args.screenshots:
        screenshots(args.screenshots)
        return
    with tempfile.TemporaryDirectory(prefix="headlight-class-") as folder, redis_server(Path(folder)) as url:
        port = free_port()
        log = Path(folder) / "streamlit.log"
        server = start_server(port, log, {"HEADLIGHT_CLASS_STORE": url})
        try:
            wait_until_healthy(server, port, log)
            load_before = Path("/proc/loadavg").read_text().split()[:3]
            result = asyncio.run(measure(port, server.pid, url, args.students, args.changes, args.gap))
            load_after = Path("/proc/loadavg").read_text().split()[:3]
        finally:
            stop_server(server)
    n, times = args.students, result["times"]
    from classroom.screens import POLL_SECONDS

    print(f"A class in step: {n} students, {args.changes} changes of the teacher's view {args.gap:g} s apart, "
          f"students poll every {POLL_SECONDS:g} s; load average {' '.join(load_before)} before, "
          f"{' '.join(load_after)} after (2 cores)")
    if times:
        print(f"  teacher's change -> student's page run finished with the new step: p50 "
              f"{statistics.median(times):.2f} s, p95 {percentile(times, 0.95):.2f} s, max {max(times):.2f} s "
              f"({len(times)} screens; {result['missed']} missed, by {result['missing']} students)")
    print("  the last student's screen, change by change: " + ", ".join(f"{t:.2f}" for t in result["slowest"]) + " s")
    print(f"  {n} joined in {result['join_seconds']:.1f} s")
    print(f"  server CPU: {result['idle_cpu'] * 100:.1f}% of a core while the class only polls "
          f"({result['idle_cpu'] * 100 / n:.2f}% per student); {result['busy_cpu'] * 100:.0f}% while the "
          f"teacher changes the view every {args.gap:g} s ({result['busy_cpu'] * 100 / n:.1f}% per student)")
    print(f"  server memory: {result['rss_before']:.0f} MB before the students, {result['rss_joined']:.0f} MB with "
          f"{n} joined, {result['rss_after']:.0f} MB after the changes: "
          f"{(result['rss_after'] - result['rss_before']) / n:.1f} MB per student")
    if result["errors"]:
        print("  errors:", *result["errors"], sep="\n    ")


if __name__ == "__main__":
    main()
