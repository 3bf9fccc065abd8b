"""How the explorer draws a change of view at 512 tokens, in Chromium: the views one click away are
prepared in idle time (figures/explorer/view.js `prepareNeighbours`) and draw the same thumbnails
as the view opened from a link; a view change keeps Plotly's margins from the labels' measured
widths instead of its automargin pass (explorer.js `measuredMargins`), and no label is cut off."""

from __future__ import annotations

from bench.browser import MAIN, App

LONG_TEXT = " ".join(["The unbelievably tired cat sat on the mat and looked at the dog."] * 40)  # cut to 512
EXPLORER = f"{MAIN} .hl-explorer"
HIDE, MERGE = "Hide special tokens ([CLS], [SEP])", "Merge subwords into words"

# Every layer held, nothing awaiting the host, and the idle plan of views one click away done.
READY_JS = f"""() => {{
  const root = document.querySelector({EXPLORER!r});
  const slider = root && root.querySelector('input[aria-label="Layer"]');
  return !!slider && Number(root.dataset.layers) === Number(slider.max) && root.dataset.pending === '0'
    && root.dataset.prepared === '1';
}}"""
# The view the main map shows ("000all": as captured), once nothing awaits the host.
SHOWN_VIEW_JS = f"""(view) => {{
  const root = document.querySelector({EXPLORER!r});
  const box = root && root.querySelector('.hl-chart[data-chart="main"]');
  return !!box && box.dataset.view === view && root.dataset.pending === '0';
}}"""
HEADS_IMAGE_JS = f"""() => document.querySelector('{EXPLORER} .hl-chart[data-chart="heads"] .imagelayer image')
  .getAttribute('href')"""
# The layer's heads as drawn: the image's address, the title, and how many images the grid holds.
HEADS_GRID_JS = f"""() => {{
  const plot = document.querySelector('{EXPLORER} .hl-chart[data-chart="heads"] .hl-plot');
  const images = plot.querySelectorAll('.imagelayer image');
  return {{ image: images[0].getAttribute('href'), images: images.length,
           title: plot.querySelector('.gtitle').textContent }};
}}"""
# Per drawn heatmap: its margins as drawn, then as Plotly's automargin makes them, and any tick
# label whose box leaves the chart's SVG.
MARGINS_JS = f"""async () => {{
  const out = {{}};
  for (const plot of document.querySelectorAll('{EXPLORER} .hl-chart .hl-plot')) {{
    const name = plot.closest('.hl-chart').dataset.chart;
    if (!['main', 'window', 'token'].includes(name) || !plot._fullLayout) continue;
    const svg = plot.querySelector('.main-svg').getBoundingClientRect();
    const cut = [...plot.querySelectorAll('.xtick text, .ytick text')].filter((label) => {{
      const box = label.getBoundingClientRect();
      return box.left < svg.left - 1 || box.right > svg.right + 1 || box.top < svg.top - 1
        || box.bottom > svg.bottom + 1;
    }}).map((label) => label.textContent);
    const drawn = {{ ...plot._fullLayout._size }};
    await window.Plotly.relayout(plot, {{ 'xaxis.automargin': true, 'yaxis.automargin': true }});
    const auto = plot._fullLayout._size;
    out[name] = {{ l: drawn.l - auto.l, b: drawn.b - auto.b, cut }};
  }}
  return out;
}}"""


def open_long_text(app: App, **params: str) -> None:
    app.open("/", charts=False, text=LONG_TEXT, **params)
    app.page.wait_for_function(READY_JS, timeout=120_000)


def click_option(app: App, label: str, view: str) -> None:
    """A View options toggle, clicked in its popover; waits until the map shows `view`."""
    app.page.get_by_role("button", name="View options").click()
    app.page.get_by_text(label, exact=True).click()
    app.page.wait_for_function(SHOWN_VIEW_JS, arg=view, timeout=30_000)
    app.page.keyboard.press("Escape")


def test_a_view_prepared_ahead_draws_the_thumbnails_of_the_view_opened_from_a_link(make_app):
    ahead = make_app()
    open_long_text(ahead)
    click_option(ahead, HIDE, "110all")  # hidden and renormalised (the page's default renormalise)
    prepared = ahead.page.evaluate(HEADS_IMAGE_JS)
    direct = make_app()
    open_long_text(direct, att_hide_special="1")
    direct.page.wait_for_function(SHOWN_VIEW_JS, arg="110all", timeout=30_000)
    assert prepared == direct.page.evaluate(HEADS_IMAGE_JS)
    for app in (ahead, direct):
        app.assert_healthy()


def test_a_layer_change_swaps_the_heads_grid_for_the_one_a_link_to_that_layer_draws(make_app):
    """The heads grid's image is swapped in place and its title relaid out (grids.js), not the grid
    drawn anew: the result is the grid a page opened on that layer draws."""
    moved = make_app()
    open_long_text(moved, layer="2", head="1")
    before = moved.page.evaluate(HEADS_GRID_JS)
    slider = moved.page.get_by_role("slider", name="Layer")
    slider.focus()
    slider.press("ArrowRight")
    moved.page.wait_for_function(f"""() => document.querySelector('{EXPLORER} .hl-chart[data-chart="main"] .gtitle')
      .textContent.startsWith('Layer 3') && document.querySelector({EXPLORER!r}).dataset.pending === '0'""",
                                 timeout=30_000)
    after = moved.page.evaluate(HEADS_GRID_JS)
    direct = make_app()
    open_long_text(direct, layer="3", head="1")
    opened = direct.page.evaluate(HEADS_GRID_JS)
    assert before["title"] == "All heads of layer 2" and before["image"] != after["image"]
    assert after == opened and opened["title"] == "All heads of layer 3" and opened["images"] == 1
    for app in (moved, direct):
        app.assert_healthy()


def test_a_view_change_keeps_margins_that_fit_its_labels(make_app):
    app = make_app()
    open_long_text(app)
    for label, view in ((MERGE, "001all"), (HIDE, "111all")):
        click_option(app, label, view)
        app.page.wait_for_function(READY_JS, timeout=30_000)
    margins = app.page.evaluate(MARGINS_JS)
    assert set(margins) == {"main", "window", "token"}
    for name, got in margins.items():
        assert got["cut"] == [], name
        # as Plotly's own automargin makes them, give or take a few px (never more than 1 px tighter)
        assert -1 <= got["l"] <= 4 and -1 <= got["b"] <= 4, (name, got)
    app.assert_healthy()


# Whether Plotly's automargin drew the main map's row labels.
MAIN_AXES_JS = f"""() => {{
  const plot = document.querySelector('{EXPLORER} .hl-chart[data-chart="main"] .hl-plot');
  return {{ automargin: plot.layout.yaxis.automargin }};
}}"""


def test_a_new_text_starts_from_the_margins_before_and_they_fit_its_labels(make_app):
    app = make_app()
    app.open("/", charts=False, text="A cat sat.")
    app.page.wait_for_function(READY_JS, timeout=120_000)
    assert app.page.evaluate(MAIN_AXES_JS)["automargin"] is not False  # the first draw measured its labels
    app.commit_text(LONG_TEXT, charts=False)  # 512 rows with longer labels: the margins must grow
    app.page.wait_for_function(f"() => document.querySelector('{EXPLORER} .hl-chart[data-chart=\"main\"]')"
                               "?.dataset.rows === '512'", timeout=120_000)
    app.page.wait_for_function(READY_JS, timeout=120_000)
    assert app.page.evaluate(MAIN_AXES_JS)["automargin"] is False  # drawn from the kept margins, no automargin pass
    margins = app.page.evaluate(MARGINS_JS)
    for name, got in margins.items():
        assert got["cut"] == [], name
        assert -1 <= got["l"] <= 4 and -1 <= got["b"] <= 4, (name, got)
    app.assert_healthy()


def test_a_returning_visitor_draws_from_the_margins_kept_in_the_browser(make_app):
    """The margins a page measured are kept in the browser's storage: the next page load of the
    explorer draws from them (no automargin pass), and they fit its labels. Storage that is not
    what the explorer wrote (another app's, edited by hand) is ignored: Plotly measures again."""
    app = make_app()
    open_long_text(app)
    assert app.page.evaluate(MAIN_AXES_JS)["automargin"] is not False  # an empty storage: measured
    stored = app.page.evaluate("() => JSON.parse(localStorage.getItem('headlight-explorer-margins'))")
    assert set(stored["desk"]) == {"main", "window", "token"}, stored
    bogus = {"desk": {"main": {**stored["desk"]["main"], "l": -40}, "token": "none"}, "present": []}
    app.page.evaluate("(v) => localStorage.setItem('headlight-explorer-margins', JSON.stringify(v))", bogus)
    open_long_text(app)  # a new page load and session in the same browser
    assert app.page.evaluate(MAIN_AXES_JS)["automargin"] is not False, "a bad stored margin was used"
    open_long_text(app)
    assert app.page.evaluate(MAIN_AXES_JS)["automargin"] is False  # drawn from the stored margins
    margins = app.page.evaluate(MARGINS_JS)
    for name, got in margins.items():
        assert got["cut"] == [], name
        assert -1 <= got["l"] <= 4 and -1 <= got["b"] <= 4, (name, got)
    app.assert_healthy()
