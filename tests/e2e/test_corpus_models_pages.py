"""End to end: the Corpus page shows a progress bar while it runs and then its maps, and a click on a head
opens it on the Attention page with a sentence of the corpus; a non-default model (paraphrase-MiniLM-L3)
loads on the Models and Compare pages and draws its heatmaps."""

from __future__ import annotations

import shutil

import pytest

from bench.browser import ARTIFACTS, CHART, FIRST_RUN_TIMEOUT, MAIN, PAGES, App
from encoder.loading import BUNDLED
from encoder.loading.bundled import CACHE_ENV, is_installed

# Sentences of the corpus test: enough that the run lasts a few seconds (the bar must be seen), few
# enough to keep the test short.
SENTENCES = [f"Sentence number {i} talks about the {w} near the old {p}." for i, (w, p) in enumerate(
    (w, p) for w in ("river", "market", "station", "garden", "library", "bridge")
    for p in ("church", "school", "harbour", "mill", "tower", "square", "castle"))]


def charts_drawn(app: App) -> int:
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    return app.assert_healthy()


def test_corpus_shows_progress_then_maps_and_a_click_opens_the_head(app: App):
    app.open(PAGES["corpus"][1], charts=False)
    app.assert_no_exception()
    app.rerun_after(lambda: app.page.get_by_text("Paste sentences", exact=True).click(), charts=False)
    area = app.page.locator(f"{MAIN} textarea")
    area.fill("\n".join(SENTENCES))
    app.rerun_after(lambda: area.press("Control+Enter"), charts=False)
    app.page.get_by_role("button", name="Run on the corpus").click()
    bar = app.page.locator(f"{MAIN} [data-testid='stProgress']")
    bar.wait_for(state="visible", timeout=60_000)
    label = bar.inner_text()
    assert "sentences" in label and ("left" in label or "estimating" in label), label
    charts_drawn(app)
    assert app.page.locator(f"{MAIN} [data-testid='stProgress']").count() == 0, "the bar stays after the run"
    drawn = app.chart_text()
    assert f"Entropy of each row, mean over {len(SENTENCES)} sentences" in drawn
    assert "Heads placed by the Jensen" in drawn

    chart = app.page.locator(CHART).filter(has_text="Heads placed by the Jensen")
    chart.scroll_into_view_if_needed()
    point = chart.locator("g.trace.scatter path.point").first
    box = point.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    app.page.mouse.move(x, y)
    app.page.wait_for_timeout(300)
    app.rerun_after(lambda: app.page.mouse.click(x, y), charts=False)
    app.page.wait_for_function(f"location.pathname === {PAGES['attention'][1]!r}", timeout=30_000)
    charts_drawn(app)
    assert app.text_values()[0] in SENTENCES, "the Attention page should show a sentence of the corpus"
    assert "number" in app.chart_text()  # the uncased tokens of the corpus sentence
    assert not app.external_requests, sorted(set(app.external_requests))


@pytest.fixture(scope="module")
def server_with_temporary_cache(browser, serve, tmp_path_factory):
    """A server of its own whose model conversions go to a temporary folder (HEADLIGHT_CACHE_DIR)."""
    if not is_installed(BUNDLED["paraphrase-minilm-l3"]):
        pytest.skip(f"paraphrase-minilm-l3 is not installed: {BUNDLED['paraphrase-minilm-l3'].install_command}")
    pytest.importorskip("onnx", reason="converting paraphrase-minilm-l3 needs onnx (requirements-models.txt)")
    cache = tmp_path_factory.mktemp("e2e-model-cache")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with serve(ARTIFACTS / "streamlit-models.log", {CACHE_ENV: str(cache)}) as base:
            yield base
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_a_non_default_model_loads_and_shows_its_heatmaps(make_app, server_with_temporary_cache):
    app = make_app(server_with_temporary_cache)
    app.open(PAGES["models"][1], charts=False, model="paraphrase-minilm-l3", text="The cat sat on the mat.",
             layer="3", head="2")
    charts_drawn(app)
    assert "paraphrase-MiniLM-L3-v2 · layer 3, head 2" in app.chart_text()
    assert "mat" in app.chart_text()
    sidebar = app.page.locator('[data-testid="stSidebar"]').inner_text()
    assert "paraphrase-MiniLM-L3-v2: BERT, 3 layers × 12 heads, d = 384" in sidebar
    app.visit("compare", charts=False)
    charts_drawn(app)
    drawn = app.chart_text()
    # A is the sidebar's 3-layer model; B defaults to the bundled 6-layer one: layer 3 of 3 faces layer 6 of 6.
    assert "A · paraphrase-MiniLM-L3-v2" in drawn and "B · all-MiniLM-L6-v2 · layer" in drawn
    assert not app.external_requests, sorted(set(app.external_requests))


def test_an_uploaded_csv_with_a_bad_row_is_read_and_the_row_reported(app: App, tmp_path):
    upload = tmp_path / "sentences.csv"
    upload.write_bytes(b"id,text\n1,The cat sat on the mat.\n2,Caf\xe9 au lait is not UTF-8 here.\n"
                       b"3,Where did you park the car?\n4,It rained all week.\n")
    app.open(PAGES["corpus"][1], charts=False)
    app.rerun_after(lambda: app.page.get_by_text("Upload a file", exact=True).click(), charts=False)
    app.rerun_after(lambda: app.page.locator(f"{MAIN} input[type='file']").set_input_files(str(upload)),
                    charts=False)
    app.page.get_by_role("button", name="Run on the corpus").click()
    charts_drawn(app)
    assert "Entropy of each row, mean over 3 sentences" in app.chart_text()
    skipped = app.page.locator(f"{MAIN} [data-testid='stExpander']", has_text="skipped")
    assert skipped.count() == 1 and "1 row skipped" in skipped.inner_text()
