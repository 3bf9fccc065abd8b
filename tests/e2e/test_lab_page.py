"""End to end: the Lab page in Chromium. Training a tiny model for a few steps redraws the held-out
example's attention while it trains, and the heatmap's numbers change from one refresh to the next."""

from __future__ import annotations

import json

from bench.browser import CHART, FIRST_RUN_TIMEOUT, MAIN, PAGES, App

# A tiny model trained for 200 steps, redrawn every 10: 20 live redraws in a few seconds.
TINY = dict(lab_task="reverse", lab_layers="1", lab_heads="2", lab_d_model="16", lab_steps="200", lab_refresh="10",
            lab_seed="0")
TRAINED_TIMEOUT = 300_000  # ms: training on a loaded 2-core machine

# The drawn charts' titles, and the first heatmap of the chart whose title starts with the argument:
# read from the Plotly graph divs (tags stripped: Streamlit wraps titles in <b>), i.e. what the browser drew.
TITLES_JS = """
() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
        .map(g => ((g.layout && g.layout.title && g.layout.title.text) || '').replace(/<[^>]*>/g, ''))
"""
HEATMAP_JS = """
(start) => {
  const title = g => ((g.layout && g.layout.title && g.layout.title.text) || '').replace(/<[^>]*>/g, '');
  const graph = [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
    .find(g => title(g).startsWith(start));
  if (!graph || !graph.data) return null;
  // _fullData holds the arrays Plotly drew, decoded from the base64 typed arrays Streamlit sends.
  const trace = (graph._fullData || []).find(t => t.type === 'heatmap');
  if (!trace || !trace.z || trace.z.length === undefined) return null;
  const rows = Array.from(trace.z, r => (r && r.length !== undefined) ? Array.from(r) : r);
  return JSON.stringify({title: title(graph), z: rows});
}
"""
# Every 50 ms, keep the attention grid the page shows if it differs from the last one kept: the
# live redraws come and go faster than a test could poll from Python.
RECORD_JS = """
([heatmap, start]) => {
  const read = eval(heatmap);
  window.__grids = [];
  window.__recorder = setInterval(() => {
    const seen = read(start);
    if (seen !== null && window.__grids[window.__grids.length - 1] !== seen) window.__grids.push(seen);
  }, 50);
}
"""
TRAINED_JS = ("() => document.querySelector('[data-testid=\"stMain\"]').innerText"
              ".includes('Replay: how the pattern formed')")


# Long enough to span several of the page's one-second polls of the worker: a causal model never
# reaches the 99% that stops a run early, and 200 steps of the tiny one took a fraction of a second.
LIVE = TINY | {"lab_steps": "2000", "lab_causal": "1"}


def test_training_redraws_the_attention_as_it_changes(app: App):
    app.open(PAGES["lab"][1], charts=False, **LIVE)
    app.page.wait_for_selector(CHART, timeout=FIRST_RUN_TIMEOUT)
    app.assert_healthy()
    assert any(title.startswith("What to look for") for title in app.page.evaluate(TITLES_JS))

    app.page.evaluate(RECORD_JS, [HEATMAP_JS, "Held-out example"])
    app.page.locator(MAIN).get_by_role("button", name="Train").click()
    app.page.wait_for_function(TRAINED_JS, timeout=TRAINED_TIMEOUT)
    app.assert_healthy()
    app.page.wait_for_timeout(500)
    recorded = app.page.evaluate("() => { clearInterval(window.__recorder); return window.__grids; }")
    grids = [json.loads(g) for g in recorded]
    titles = [g["title"] for g in grids]
    assert len(set(titles)) >= 3, f"expected live redraws while training, saw {titles}"
    first, last = grids[0], grids[-1]
    assert first["title"] != last["title"], titles  # an early live redraw (the browser may skip some) and the end
    assert len(first["z"]) == 8 and len(first["z"][0]) == 8, first["z"]  # query x key, 8 digits
    assert first["z"] != last["z"], "the attention should change as the model trains"
    final = json.loads(app.page.evaluate(HEATMAP_JS, "Held-out example"))  # the replay, at the last step
    assert final == last and "steps · " in final["title"]
    assert not app.external_requests, sorted(set(app.external_requests))
