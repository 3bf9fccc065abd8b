"""The Attention page's explorer in Chromium: a layer or head change is drawn in the browser, with
no rerun of the page, and still reaches the URL and the other pages; the numbers it draws are the
run's (exactly on short texts; on long ones the colours within the quantization bound and hover to
the four decimals it prints); a layer not yet sent arrives on demand."""

from __future__ import annotations

import re

import numpy as np

from bench.browser import MAIN, App
from encoder.attention_view import ViewOptions, view_row

TEXT = "The animal didn't cross the street because it was too tired."
LONG_TEXT = " ".join(["The cat sat on the mat and looked at the dog."] * 50)  # cut to 512 tokens
MAIN_PLOT = f'{MAIN} .hl-chart[data-chart="main"] .hl-plot'

# The main heatmap as drawn: its z, hover values (customdata) and title, read from Plotly's graph div.
DRAWN_JS = f"""() => {{
  const plot = document.querySelector({MAIN_PLOT!r});
  const trace = plot.data[0];
  const rows = (m) => m ? Array.from(m, (row) => Array.from(row)) : null;
  return {{z: rows(trace.z), hover: rows(trace.customdata), title: plot.layout.title.text,
           state: plot.closest('.hl-chart').dataset.state}};
}}"""

# The followed token's chart once drawn for the layer (its data-layer ends with `layer`) with exact
# hover values over `columns` keys: those values and the followed position; else null.
TOKEN_HOVER_JS = f"""([layer, columns]) => {{
  const plot = document.querySelector({MAIN!r} + ' .hl-chart[data-chart="token"] .hl-plot');
  const hover = plot && plot._fullData && plot._fullData[0] && plot._fullData[0].customdata;
  if (!hover || !(plot.dataset.layer || '').endsWith(layer) || hover[0].length !== columns) return null;
  const box = document.querySelector({MAIN_PLOT!r}).closest('[data-chart]');
  return {{hover: Array.from(hover, (row) => Array.from(row)), follow: Number(box.dataset.follow)}};
}}"""
# The followed token's chart as drawn: its z (heads x keys), title and the followed position.
TOKEN_DRAWN_JS = f"""() => {{
  const plot = document.querySelector({MAIN!r} + ' .hl-chart[data-chart="token"] .hl-plot');
  const box = document.querySelector({MAIN_PLOT!r}).closest('[data-chart]');
  return {{z: Array.from(plot.data[0].z, (row) => Array.from(row)), title: plot.layout.title.text,
           follow: Number(box.dataset.follow)}};
}}"""


def open_explorer(app: App, **params: str) -> None:
    app.open("/", charts=False, **params)
    app.page.wait_for_selector(f"{MAIN_PLOT}.js-plotly-plot", timeout=90_000)
    app.assert_healthy()


def press(app: App, slider: str, key: str = "ArrowRight") -> None:
    control = app.page.get_by_role("slider", name=slider)
    control.focus()
    control.press(key)


def drawn(app: App, title: str, state: str = "exact") -> dict:
    """Wait until the main heatmap shows `title` with numbers in `state`, then read it."""
    app.page.wait_for_function(
        f"([t, s]) => {{ const p = document.querySelector({MAIN_PLOT!r}); return p && p.layout && "
        "p.layout.title.text === t && p.closest('.hl-chart').dataset.state === s; }",
        arg=[title, state], timeout=30_000)
    return app.page.evaluate(DRAWN_JS)


def test_a_head_change_is_drawn_in_the_browser_and_reaches_the_url_and_other_pages(app: App, model):
    open_explorer(app, text=TEXT, layer="2", head="4")
    # Marks on the page's elements: a rerun of the whole page would rebuild the explorer, and
    # Streamlit's caption above it would be drawn again.
    app.page.evaluate(f"() => {{ document.querySelector({MAIN_PLOT!r}).__kept = true; }}")
    press(app, "Head")
    shown = drawn(app, "Layer 2, head 5")
    np.testing.assert_array_equal(np.asarray(shown["z"], np.float32), model.run(TEXT).attentions[1, 4])
    assert shown["hover"] is None, "short texts are drawn from exact float32: hover reads z"
    app.wait_for_query(layer="2", head="5")
    assert app.page.evaluate(f"() => document.querySelector({MAIN_PLOT!r}).__kept === true"), (
        "the explorer was rebuilt: the page reran instead of drawing in the browser")
    press(app, "Layer", "ArrowLeft")
    drawn(app, "Layer 1, head 5")
    # the followed token's chart took the new layer's numbers (in place: the view is the same)
    token = app.page.evaluate(TOKEN_DRAWN_JS)
    np.testing.assert_array_equal(np.asarray(token["z"], np.float32),
                                  model.run(TEXT).attentions[0, :, token["follow"]])
    assert "layer 1" in token["title"].lower(), token["title"]
    press(app, "Head", "Home")  # the slider's first stop is the mean of the heads
    mean = drawn(app, "Layer 1, mean of all heads")
    np.testing.assert_allclose(np.asarray(mean["z"]), model.run(TEXT).attentions[0].mean(0), atol=1e-6)
    app.wait_for_query(layer="1", head="mean")
    # another page opens on the same layer and head
    app.visit("qk")
    app.wait_for_query(layer="1")
    assert app.query()["head"] in {"mean", "1"}  # Q·K shows one head's arithmetic: the mean becomes head 1


# Every websocket message the page sends, by the page's clock (performance.now()).
WEBSOCKET_SENDS_JS = """(() => {
  window.__wsSent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) { window.__wsSent.push(performance.now()); return send.call(this, data); };
})();"""
# After `since`: when the first message left and when the explorer's first draw began.
SEND_AND_DRAW_JS = """(since) => ({
  sent: window.__wsSent.find((t) => t > since),
  drawn: (performance.getEntriesByType('measure').find((e) => e.name === 'hl-draw' && e.startTime > since)
          || {}).startTime,
})"""


def test_a_layer_key_press_reaches_the_server_before_it_is_drawn(make_app):
    """A slider's key press fires "input" (drawn, not sent: it could be a drag), then "change" (sent):
    the draw waits behind Streamlit's send, so the fragment's rerun runs while the browser draws."""
    app = make_app()
    app.page.context.add_init_script(WEBSOCKET_SENDS_JS)
    open_explorer(app, text=TEXT, layer="2", head="4")
    for key, title in (("ArrowRight", "Layer 3, head 4"), ("ArrowLeft", "Layer 2, head 4")):
        since = app.page.evaluate("performance.now()")
        press(app, "Layer", key)
        drawn(app, title)
        order = app.page.evaluate(SEND_AND_DRAW_JS, since)
        assert order["sent"] is not None and order["drawn"] is not None, order
        assert order["sent"] < order["drawn"], f"the draw ran before the change was sent: {order}"
    app.wait_for_query(layer="2", head="4")


def test_clicking_a_thumbnail_opens_its_head_without_a_rerun(app: App):
    open_explorer(app, text=TEXT, layer="1", head="1")
    before = app.runs()
    heads = app.page.locator(f'{MAIN} .hl-chart[data-chart="heads"] .hl-plot')
    image = heads.locator("image").first.bounding_box()
    # four tiles a row, 96 px each, 6 px apart and 24 px between rows (for the names): head 7 is
    # row 1, column 2 of a 402 x 336 px canvas
    x = image["x"] + (2 * 102 + 48) * image["width"] / (4 * 102 - 6)
    y = image["y"] + (1 * 120 + 48) * image["height"] / (3 * 120 - 24)
    app.page.mouse.click(x, y)
    drawn(app, "Layer 1, head 7")
    app.wait_for_query(layer="1", head="7")
    assert app.runs() - before <= 1, "one run at most (the explorer's fragment), not the page's"


def test_a_long_text_draws_quantized_colours_exact_hover_and_fetches_a_layer_on_demand(app: App, model):
    open_explorer(app, text=LONG_TEXT, layer="2", head="3")
    run = model.run(LONG_TEXT)
    assert run.n_tokens == 512
    first = drawn(app, "Layer 2, head 3")
    truth = run.attentions[1, 2]
    hover = np.asarray(first["hover"])
    np.testing.assert_allclose(hover, truth, atol=5e-5 + 1e-7)  # hover prints four decimals: those are exact
    z = np.asarray(first["z"])
    kept = truth >= 1e-3 * truth.max()
    assert np.max(np.abs(z - truth)[kept] / truth[kept]) < 0.03, "colours within the quantization bound"
    press(app, "Layer")  # layer 3 was not sent with the page: it arrives on demand
    third = drawn(app, "Layer 3, head 3")
    np.testing.assert_allclose(np.asarray(third["hover"]), run.attentions[2, 2], atol=5e-5 + 1e-7)
    app.wait_for_query(layer="3", head="3")
    # the followed token's chart, every head of the layer: its hover exact too (set in place when the
    # values come after the colours, not drawn again)
    token = app.page.wait_for_function(TOKEN_HOVER_JS, arg=["|2", 512], timeout=30_000).json_value()
    np.testing.assert_allclose(np.asarray(token["hover"]), run.attentions[2][:, token["follow"], :],
                               atol=5e-5 + 1e-7)
    # a head of a layer it holds is drawn at once from the quantized weights, then the exact hover
    # values reach it in place; what hover prints over a cell: the weight of the cell it names
    press(app, "Head")
    drawn(app, "Layer 3, head 4")
    area = app.page.locator(f"{MAIN_PLOT} .nsewdrag").first  # the plot area, where hover reads the mouse
    box = area.bounding_box()
    head = run.attentions[2, 3]
    named = []
    for row in (100, 250, 400):  # over each row's largest weight, where 3 % would show in the 4 decimals
        column = int(head[row].argmax())
        area.hover(position={"x": (column + 0.5) / 512 * box["width"], "y": (row + 0.5) / 512 * box["height"]},
                   force=True)  # scrolled into view first
        label = app.page.locator(f"{MAIN} .hoverlayer .hovertext").first
        label.wait_for(timeout=10_000)
        text = label.text_content()
        query, key = (int(i) for i in re.findall(r"·(\d+)", text)[:2])
        printed = float(re.search(r"weight: ([0-9.]+)", text).group(1))
        assert printed == round(float(head[query, key]), 4), text
        named.append(float(head[query, key]))
    assert max(named) > 0.01, f"hover named only tiny weights, which quantization would print alike: {named}"
    # [CLS]/[SEP] hidden: drawn at once from the codes held, the exact values follow from the server
    # and reach the token's chart in place
    app.page.get_by_role("button", name="View options").click()
    app.page.get_by_text("Hide special tokens ([CLS], [SEP])", exact=True).click()
    hidden = app.page.wait_for_function(TOKEN_HOVER_JS, arg=["|2", 510], timeout=30_000).json_value()
    rows = view_row(run, run.attentions, ViewOptions(hide_special=True), hidden["follow"])  # (L, H, K')
    np.testing.assert_allclose(np.asarray(hidden["hover"]), rows[2], atol=5e-5 + 1e-7)


def test_colours_change_in_the_browser_and_reach_the_url(app: App):
    open_explorer(app, text=TEXT, layer="2", head="4")
    app.page.evaluate(f"() => {{ document.querySelector({MAIN_PLOT!r}).__kept = true; }}")
    overview = app.page.locator(f'{MAIN} .hl-chart[data-chart="overview"] image').first
    before = overview.get_attribute("href")
    app.page.get_by_role("radio", name="log").click()
    app.page.wait_for_function(
        f"() => document.querySelector({MAIN_PLOT!r}).data[0].colorbar.title.text === 'log colour'", timeout=10_000)
    app.page.get_by_label("Colour scale").select_option("Magma")
    app.wait_for_query(att_log="log", att_scale="Magma")
    scale = app.page.evaluate(f"() => document.querySelector({MAIN_PLOT!r}).data[0].colorscale")
    assert scale[-1][1] == "rgb(252, 253, 191)", f"Magma ends in pale yellow: {scale[-1]}"  # plotly's Magma
    assert overview.get_attribute("href") != before, "the thumbnails took the new palette"
    assert app.page.evaluate(f"() => document.querySelector({MAIN_PLOT!r}).__kept === true"), (
        "the explorer was rebuilt: the page reran instead of recolouring in the browser")
    legend = app.page.locator(f"{MAIN_PLOT} .cbtitle text").first.text_content()
    assert legend == "log colour"
