"""Headlight in a notebook, measured in a real JupyterLab in Chromium, with BertViz's head_view beside it.

    python -m bench.notebook                # prints one table (about two minutes)
    python -m bench.notebook --screenshot   # assets/screenshots/notebook.png, the README's picture

Printed: the widget's payload at 16, 128 and 512 tokens; the time from a cell's execution to a drawn
widget at 16 and 512 tokens; a head change in the widget (a key press on the Head slider until the
main heatmap shows the new head); BertViz 1.4.1's head_view on the same model and text: its HTML size
and whether (and when) it draws. BertViz loads require.js and d3 from a CDN; this machine (and
the tests) abort every request outside 127.0.0.1, so that column says what it does offline.

Also the helpers the notebook tests share: a JupyterLab server on loopback with a token and a
temporary root (`jupyter_lab`), a notebook written with nbformat (`write_notebook`) and `Lab`,
which opens it in Chromium and runs its cells through JupyterLab's own commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.app_server import free_port, log_tail
from bench.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
LAB_START_TIMEOUT = 120  # seconds until the server answers
KERNEL_TIMEOUT = 120_000  # ms: a kernel starts and imports torch on a loaded machine
DRAW_TIMEOUT = 180_000  # ms: a cell loads the model, runs it and the widget draws
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:", "file:")

# The widget's main heatmap in cell `index`, drawn (Plotly's SVG with its heatmap image).
DRAWN_JS = """([index, which]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cell = panel && panel.content.widgets[index];
  if (!cell) return false;
  const plots = [...cell.node.querySelectorAll('.hl-chart[data-chart="main"] .hl-plot')];
  const plot = plots[which];
  return !!plot && plot.dataset.drawn === '1' && !!plot.querySelector('.main-svg image, .main-svg g.hm, canvas')
    && plot.getBoundingClientRect().width > 50;
}"""


def _jupyter_env(home: Path) -> dict[str, str]:
    """Every folder Jupyter writes (config, data, runtime, workspaces, settings, IPython) in `home`,
    a temporary folder; the kernel imports Headlight from the checkout. Notebook cells are laid
    out all at once (windowingMode "none"), so a widget below the fold still renders."""
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notices = home / "settings" / "@jupyterlab" / "apputils-extension"
    notices.mkdir(parents=True, exist_ok=True)  # no "get Jupyter news?" toast (it would fetch them)
    (notices / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = dict(os.environ)
    env.update({
        "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "IPYTHONDIR": str(home / "ipython"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the checkout from the kernel's imports
    })
    return env


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, log_path: Path) -> Iterator[tuple[str, str]]:
    """`jupyter lab` on a free loopback port with a random token, serving `root`; yields (base URL,
    token) once it answers. The app is exposed in the page (window.jupyterapp) so that tests can
    run cells with JupyterLab's own commands."""
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
               "--ServerApp.allow_root=True"]  # CI runs as root
    log = log_path.open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_jupyter_env(home), cwd=root,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({process.returncode}):\n{log_tail(log_path)}")
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer in {LAB_START_TIMEOUT} s:\n{log_tail(log_path)}")
            time.sleep(0.5)
        yield base, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells, for the Python 3 kernel."""
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def offline(context) -> list[str]:
    """Abort every request that leaves 127.0.0.1; returns the list of what was aborted."""
    aborted: list[str] = []

    def route(route_, request):
        if request.url.startswith(LOCAL):
            return route_.continue_()
        aborted.append(request.url)
        return route_.abort()

    context.route("**/*", route)
    return aborted


class Lab:
    """One notebook open in JupyterLab in a Chromium page."""

    def __init__(self, page, base: str, token: str, name: str):
        self.page = page
        page.goto(f"{base}/lab/tree/{name}?token={token}", timeout=DRAW_TIMEOUT)
        page.wait_for_function(
            "() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel;"
            " return !!k && k.connectionStatus === 'connected' && k.status === 'idle' && !!p.content"
            " && p.content.widgets.length > 0; }", timeout=KERNEL_TIMEOUT)

    def run_cell(self, index: int) -> float:
        """Start cell `index` (JupyterLab's notebook:run-cell); returns the page's clock then (ms)."""
        return self.page.evaluate(
            "async (index) => { const app = window.jupyterapp; const panel = app.shell.currentWidget;"
            " panel.content.activeCellIndex = index; const start = performance.now();"
            " app.commands.execute('notebook:run-cell'); return start; }", index)

    def wait_idle(self, timeout: float = DRAW_TIMEOUT) -> None:
        self.page.wait_for_function(
            "() => { const p = window.jupyterapp.shell.currentWidget;"
            " return p.sessionContext.session.kernel.status === 'idle'"
            " && !p.content.widgets.some((c) => c.model.executionCount === null && c.promptNode"
            " && c.promptNode.textContent.includes('*')); }", timeout=timeout)

    def wait_drawn(self, index: int, which: int = 0, timeout: float = DRAW_TIMEOUT) -> float:
        """Wait until cell `index`'s widget number `which` has drawn its main heatmap; the page's clock."""
        self.page.wait_for_function(DRAWN_JS, arg=[index, which], timeout=timeout, polling="raf")
        return self.page.evaluate("() => performance.now()")

    def output_text(self, index: int) -> str:
        return self.page.evaluate(
            "(index) => { const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];"
            " return [...cell.node.querySelectorAll('.jp-OutputArea-output')].map((o) => o.innerText).join('\\n'); }",
            index)

    def wait_output(self, index: int, text: str, timeout: float = DRAW_TIMEOUT) -> str:
        self.page.wait_for_function(
            "([index, text]) => { const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];"
            " const outputs = [...cell.node.querySelectorAll('.jp-OutputArea-output')];"
            " return outputs.some((o) => o.innerText.includes(text)); }",
            arg=[index, text], timeout=timeout)
        return self.output_text(index)

    def cell(self, index: int):
        """A locator for cell `index`'s node."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)


def click_head(lab: Lab, index: int, head: int, n_heads: int = 12) -> None:
    """Click head `head`'s thumbnail (0-based) in cell `index`'s widget: the heads grid is four tiles a
    row, 96 px each, 6 px apart and 24 px between rows (figures.attention.layer_heads_grid)."""
    image = lab.cell(index).locator('.hl-chart[data-chart="heads"] .hl-plot image').first
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    rows = -(-n_heads // 4)
    row, column = divmod(head, 4)
    x = box["x"] + (column * 102 + 48) * box["width"] / (4 * 102 - 6)
    y = box["y"] + (row * 120 + 48) * box["height"] / (rows * 120 - 24)
    lab.page.mouse.click(x, y)


# ---------------------------------------------------------------- the benchmark

SHORT = "The animal didn't cross the street because it was too tired."
LONG = " ".join(["The cat sat on the mat and looked at the dog."] * 50)  # cut to 512 tokens


def payload_sizes() -> tuple[dict[int, int], dict[int, int]]:
    """The first message a widget sends (the view and what it draws first) at 16, 128 and 512 tokens,
    and BertViz's head_view HTML at 16 and 128 (at 512 it would be 16 x 128's: its attention
    travels as JSON lists, and building ~0.9 GB of HTML is left out on a shared machine)."""
    import torch
    from bertviz import head_view

    import headlight

    model = headlight.load_model()
    sizes, bertviz = {}, {}
    for n_tokens in (16, 128, 512):
        words = " ".join(["word"] * (n_tokens - 2))
        run = model.run(words)
        assert run.n_tokens == n_tokens, run.n_tokens
        sizes[n_tokens] = len(headlight.Widget(run).payload())
        if n_tokens <= 128:
            layers = [torch.from_numpy(layer.copy())[None] for layer in run.attentions]  # (1, H, T, T) each
            bertviz[n_tokens] = len(head_view(layers, run.tokens, html_action="return").data.encode())
    return sizes, bertviz


BENCH_CELLS = [
    "import headlight, time, torch\nmodel = headlight.load_model()\n"
    f"SHORT = {SHORT!r}\nLONG = {LONG!r}\nlong_run = model.run(LONG)\nshort_run = model.run(SHORT)",
    "w16 = headlight.show(short_run)\nw16",
    "w512 = headlight.show(long_run)\nw512",
    # BertViz's head_view on the same run: attention as (1, H, T, T) tensors per layer, its HTML returned
    "from bertviz import head_view\n"
    "layers = [torch.from_numpy(a.copy())[None] for a in short_run.attentions]\n"
    "html = head_view(layers, short_run.tokens, html_action='return')\n"
    "print('BERTVIZ_BYTES', len(html.data.encode()))\nhtml",
]


def bertviz_drawn_js(index: int) -> str:
    return ("() => { const cell = window.jupyterapp.shell.currentWidget.content.widgets[" + str(index) + "];"
            " return !!cell.node.querySelector('[id^=bertviz] svg rect, [id^=bertviz] svg text'); }")


def main() -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    sizes, bertviz_sizes = payload_sizes()
    with tempfile.TemporaryDirectory(prefix="headlight-bench-nb-") as folder:
        folder = Path(folder)
        (folder / "root").mkdir()
        write_notebook(folder / "root" / "bench.ipynb", BENCH_CELLS)
        with jupyter_lab(folder / "root", folder / "home", folder / "lab.log") as (base, token), \
                sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            aborted = offline(context)
            lab = Lab(context.new_page(), base, token, "bench.ipynb")
            lab.run_cell(0)
            lab.page.wait_for_timeout(500)  # the kernel turns busy
            lab.wait_idle()
            times = {}
            for index, n_tokens in ((1, 16), (2, 512)):
                start = lab.run_cell(index)
                times[n_tokens] = lab.wait_drawn(index) - start
            head_change = {}
            for index, n_tokens in ((1, 16), (2, 512)):
                samples = []
                for step in range(5):
                    slider = lab.cell(index).get_by_role("slider", name="Head")
                    slider.focus()
                    wanted = f"Layer 1, head {step + 2}"
                    start = lab.page.evaluate("() => performance.now()")
                    slider.press("ArrowRight")
                    lab.page.wait_for_function(
                        "([index, title]) => {"
                        " const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];"
                        " const plot = cell.node.querySelector('.hl-chart[data-chart=\"main\"] .hl-plot');"
                        " return plot.layout && plot.layout.title.text === title; }",
                        arg=[index, wanted], polling="raf", timeout=30_000)
                    samples.append(lab.page.evaluate("() => performance.now()") - start)
                    lab.page.wait_for_timeout(300)
                head_change[n_tokens] = sorted(samples)[len(samples) // 2]
            start = lab.run_cell(3)
            bertviz_bytes = int(lab.wait_output(3, "BERTVIZ_BYTES").split("BERTVIZ_BYTES")[1].split()[0])
            try:
                lab.page.wait_for_function(bertviz_drawn_js(3), timeout=30_000)
                bertviz_draw = f"{(lab.page.evaluate('() => performance.now()') - start) / 1000:.2f} s"
            except PlaywrightTimeout:
                bertviz_draw = "never (30 s)"
            bertviz_errors = lab.output_text(3)
            widget_html = lab.page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets[1].node.innerHTML.length")
            context.unroute_all(behavior="ignoreErrors")  # no route left to answer a closing page
            browser.close()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average {' '.join(load)}; Chromium {CHROMIUM}; every request outside 127.0.0.1 aborted "
          f"({len(aborted)} aborted, e.g. {aborted[:3]})")
    print("| | Headlight widget | BertViz 1.4.1 head_view |")
    print("|---|---|---|")
    print(f"| sent to the browser, 16 tokens | {sizes[16] / 1e3:.0f} kB payload + plotly.js once "
          f"({len(_plotly_bytes()) / 1e6:.1f} MB, from the plotly package) | {bertviz_bytes / 1e3:.0f} kB HTML "
          "+ require.js and d3 from a CDN |")
    print(f"| payload, 128 tokens | {sizes[128] / 1e6:.2f} MB | {bertviz_sizes[128] / 1e6:.1f} MB HTML |")
    print(f"| payload, 512 tokens | {sizes[512] / 1e6:.2f} MB | ~{16 * bertviz_sizes[128] / 1e9:.1f} GB "
          "(16 x 128's, not built) |")
    print(f"| cell run → drawn, 16 tokens | {times[16] / 1000:.2f} s | offline: {bertviz_draw} |")
    print(f"| cell run → drawn, 512 tokens | {times[512] / 1000:.2f} s | |")
    print(f"| head change (median of 5), 16 tokens | {head_change[16] / 1000:.3f} s | |")
    print(f"| head change (median of 5), 512 tokens | {head_change[512] / 1000:.3f} s | |")
    print(f"(the 16-token widget's DOM: {widget_html / 1e3:.0f} kB; BertViz's output offline: "
          f"{bertviz_errors[-200:]!r})")


def _plotly_bytes() -> bytes:
    from figures.explorer.widget import plotly_js

    return plotly_js()


SCREENSHOT = ROOT / "assets" / "screenshots" / "notebook.png"


def screenshot(path: Path = SCREENSHOT) -> None:
    """The README's picture: a widget in JupyterLab, offline, as a small palette PNG."""
    import io

    from PIL import Image
    from playwright.sync_api import sync_playwright

    cells = ["import headlight\nmodel = headlight.load_model()\n"
             f"w = headlight.show(model, {SHORT!r}, layer=2, head=6)\nw"]
    with tempfile.TemporaryDirectory(prefix="headlight-shot-") as folder:
        folder = Path(folder)
        (folder / "root").mkdir()
        write_notebook(folder / "root" / "headlight.ipynb", cells)
        with jupyter_lab(folder / "root", folder / "home", folder / "lab.log") as (base, token), \
                sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1250})
            offline(context)
            lab = Lab(context.new_page(), base, token, "headlight.ipynb")
            lab.run_cell(0)
            lab.wait_drawn(0)
            lab.page.wait_for_timeout(1500)  # thumbnails settle their square size
            lab.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
            lab.page.wait_for_timeout(500)
            png = lab.page.screenshot(clip={"x": 0, "y": 0, "width": 1400, "height": 1250})
            context.unroute_all(behavior="ignoreErrors")  # no route left to answer a closing page
            browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((1120, 1000), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    if sys.argv[1:] == ["--screenshot"]:
        screenshot()
    else:
        main()
