"""plotly.js starts loading before the Attention page's run (components.preload_plotly, a script from
figures.explorer.preload_js), and the explorer, arriving with the run, waits on that same load: one
copy of plotly.js a page, however many ask (figures/explorer/plotly_loader.js)."""

from __future__ import annotations

from bench.browser import CHART

# Every plotly.js the page asked for (script elements), and when the first was added, in the page's clock.
PLOTLY_SCRIPTS_JS = """() => [...document.querySelectorAll('script[src*="plotly"]')].map((s) => s.src)"""
RECORD_SCRIPTS_JS = """
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.addedNodes) {
    if (node.tagName === 'SCRIPT' && /plotly/.test(node.src || '') && !window.__plotlyAskedAt) {
      window.__plotlyAskedAt = performance.now();
    }
  }
}).observe(document, { childList: true, subtree: true });
"""
# When the explorer's message reached the page: its root carries the number of messages it read.
FIRST_MESSAGE_JS = """() => { const root = document.querySelector('.hl-explorer');
  return root && Number(root.dataset.messages || 0) > 0 ? performance.now() : false; }"""


def test_plotly_js_loads_once_and_before_the_explorers_data(app):
    app.page.context.add_init_script(RECORD_SCRIPTS_JS)
    app.open("/", charts=False, text=" ".join(["The cat sat on the mat."] * 60))
    arrived = app.page.wait_for_function(FIRST_MESSAGE_JS, timeout=120_000).json_value()
    app.page.wait_for_function(f"document.querySelectorAll({CHART!r}).length > 0", timeout=120_000)
    app.wait_for_charts()
    scripts = app.page.evaluate(PLOTLY_SCRIPTS_JS)
    assert len(scripts) == 1, scripts  # the preloader's: the explorer waited on it instead of loading its own
    asked = app.page.evaluate("window.__plotlyAskedAt")
    assert asked is not None and asked < arrived  # asked for before the run's message brought the explorer
    assert app.page.evaluate("typeof window.Plotly.newPlot") == "function"
    assert app.external_requests == []
