"""Headlight in a notebook, for real: a JupyterLab server (loopback, a token, a temporary root and
temporary Jupyter folders) and Chromium with every request outside 127.0.0.1 aborted. The widget
draws the explorer's heatmaps; a click on a thumbnail changes the head, which the kernel reads
back; two widgets in one notebook both draw. Then the notebook executed by nbclient and exported
by nbconvert draws its static fallback from a file, offline.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("anywidget")
pytest.importorskip("jupyterlab")
pytest.importorskip("nbclient")

from bench.browser import ARTIFACTS, ROOT, VIEWPORT
from bench.notebook import Lab, click_head, jupyter_lab, offline, write_notebook

TEXT = "The animal didn't cross the street because it was too tired."
OTHER = "A second sentence, in a second widget."
CELLS = [
    "import headlight\nmodel = headlight.load_model()\n"
    f"w = headlight.show(model, {TEXT!r})\nw",
    "print('SELECTED', w.layer, w.head)",
    f"a = headlight.show(model, {OTHER!r})\nb = headlight.show(model.run({TEXT!r}), layer=3, head=2)\n"
    "display(a, b)",
    "w.head = 4  # set from Python: the widget redraws",
    f"r = headlight.show(model, {TEXT!r}, view='rollout', layer=5)\n"
    f"h = headlight.show(model, {TEXT!r}, view='heads')\ndisplay(r, h)",
]
FIGURE_DRAWN_JS = """(index) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
  const figures = [...cell.node.querySelectorAll('.hl-figure')];
  return figures.length === 2 && figures.every((f) => f.querySelector('.main-svg g.hm, .main-svg image, canvas'))
    ? figures.map((f) => f.layout.title.text) : null;
}"""


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """The notebook open in JupyterLab, offline; yields (Lab, the URLs that were aborted)."""
    folder = tmp_path_factory.mktemp("lab")
    (folder / "root").mkdir()
    write_notebook(folder / "root" / "widget.ipynb", CELLS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(folder / "root", folder / "home", ARTIFACTS / "jupyterlab.log") as (base, token):
        context = browser.new_context(viewport=VIEWPORT)
        aborted = offline(context)
        try:
            yield Lab(context.new_page(), base, token, "widget.ipynb"), aborted
        finally:
            context.close()


def main_title(lab: Lab, index: int, which: int = 0) -> str:
    return lab.page.evaluate(
        "([index, which]) => { const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];"
        " const plot = cell.node.querySelectorAll('.hl-chart[data-chart=\"main\"] .hl-plot')[which];"
        " return plot.layout.title.text; }", [index, which])


def wait_title(lab: Lab, index: int, title: str, which: int = 0) -> None:
    lab.page.wait_for_function(
        "([index, which, title]) => { const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];"
        " const plot = cell.node.querySelectorAll('.hl-chart[data-chart=\"main\"] .hl-plot')[which];"
        " return !!plot && !!plot.layout && plot.layout.title.text === title; }",
        arg=[index, which, title], timeout=60_000)


def test_the_widget_draws_offline_and_a_clicked_head_reaches_the_kernel(lab):
    lab, aborted = lab
    lab.run_cell(0)
    lab.wait_drawn(0)
    cell = lab.cell(0)
    assert cell.locator('.hl-chart[data-chart="heads"] .hl-plot image').count() == 1
    assert cell.locator('.hl-chart[data-chart="overview"] .hl-plot image').count() == 1
    assert main_title(lab, 0) == "Layer 1, head 1"
    click_head(lab, 0, 6)  # head 7
    wait_title(lab, 0, "Layer 1, head 7")
    lab.wait_idle()
    lab.run_cell(1)
    assert re.search(r"SELECTED 0 6\b", lab.wait_output(1, "SELECTED")), lab.output_text(1)
    # and the other way: set from Python, drawn in the browser
    lab.run_cell(3)
    wait_title(lab, 0, "Layer 1, head 5")
    # keys on the widget's sliders are the widget's (JupyterLab's shortcuts would swallow arrows)
    slider = lab.cell(0).get_by_role("slider", name="Head")
    slider.focus()
    slider.press("ArrowRight")
    wait_title(lab, 0, "Layer 1, head 6")
    assert not [url for url in aborted if url.startswith(("http://127.0.0.1", "ws://127.0.0.1"))]


def test_two_widgets_in_one_notebook_both_draw(lab):
    lab, _ = lab
    lab.run_cell(2)
    lab.wait_drawn(2, 0)
    lab.wait_drawn(2, 1)
    assert main_title(lab, 2, 0) == "Layer 1, head 1"
    assert main_title(lab, 2, 1) == "Layer 4, head 3"
    errors = lab.page.locator(".hl-error").count()
    assert errors == 0, lab.page.locator(".hl-error").first.inner_text()


def test_the_rollout_and_head_statistics_views_draw(lab):
    lab, _ = lab
    lab.run_cell(4)
    titles = lab.page.wait_for_function(FIGURE_DRAWN_JS, arg=4, timeout=120_000).json_value()
    assert "rollout through layer 6" in titles[0] and "Entropy" in titles[1]


def test_the_example_notebook_runs_and_its_export_draws_the_static_fallback_offline(browser, tmp_path,
                                                                                  monkeypatch):
    """nbclient executes examples/headlight.ipynb (widget state not stored, as JupyterLab saves by
    default), nbconvert exports it to HTML, and Chromium opens the file with every request outside
    127.0.0.1 aborted: each widget's output is save_html's offline page, drawn by the plotly.js inside."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports headlight from the checkout
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    for name in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):  # the kernel's connection file and profile
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    notebook = nbformat.read(ROOT / "examples" / "headlight.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells), "the example is kept without outputs in git"
    NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # runs in tmp_path
    printed = "\n".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "layer 0 head 0" in printed and "attention.html" in printed
    assert (tmp_path / "attention.html").stat().st_size > 1_000_000  # plotly.js inside
    body, _ = HTMLExporter().from_notebook_node(notebook)
    page_path = tmp_path / "example.html"
    page_path.write_text(body, encoding="utf-8")
    assert body.count('class="headlight-static"') == 3  # the explorer, the rollout and the heads widgets
    context = browser.new_context(viewport=VIEWPORT)
    aborted = offline(context)
    try:
        page = context.new_page()
        page.goto(page_path.as_uri())
        frame = page.frame_locator("iframe.headlight-static").first
        frame.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
        assert "layer 1, head 1" in frame.locator(".js-plotly-plot .gtitle").first.text_content()
        assert frame.locator(".js-plotly-plot .hm, .js-plotly-plot .heatmaplayer image").count() >= 1
    finally:
        context.close()
    # nbconvert's page asks a CDN for MathJax and require.js; aborted, and the fallback drew anyway
    assert all(not url.startswith(("file:", "http://127.0.0.1")) for url in aborted)
