"""The explorer's view options, applied in the browser (figures/explorer/transform.js, charts.js),
against the engine's own functions: the real JavaScript runs in Chromium on a real run's attention,
and every number must equal `encoder.attention_view.map_view` to the four decimals hover prints,
every tile code `figures.attention._tile_canvas`'s, and every label, tick, height and title the
Python figure functions give the same view (issue 18 §1: hide, renormalise, merge and pair blocks
as browser transforms)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoder.attention_view import PAIR_BLOCKS, ViewOptions, map_view, row_of_position, segment_b_start, window_span
from figures import attention as figs
from figures import explorer
from figures.attention import _tile_canvas
from figures.common import plotly_text
from figures.explorer.packer import token_table

HOVER_DECIMALS = 0.5e-4 + 1e-6  # "%{z:.4f}": the same four printed decimals, give or take float32's last digit
SHORT = "Unbelievably, the tokenizer's behaviour surprised everyone at the meeting."
PAIR = ("The cat sat on the mat.", "Nobody expected it, unsurprisingly.")


@pytest.fixture(scope="module")
def page(browser):
    """A blank page with the explorer's host-neutral JavaScript loaded as a classic script."""
    tab = browser.new_page()
    tab.set_content("<html><body></body></html>")
    core = "\n".join((explorer.FOLDER / name).read_text(encoding="utf-8") for name in explorer.CORE_JS)
    tab.add_script_tag(content=core)
    yield tab
    tab.close()


def all_options(run):
    for hide in (False, True):
        for renormalize in ((False, True) if hide else (True,)):
            for merge in (False, True):
                for block in PAIR_BLOCKS if run.is_pair else ("all",):
                    yield ViewOptions(hide, renormalize, merge, block)


def shown(options: ViewOptions, follow: int = 0, window: int = 0) -> dict:
    return {"hide": options.hide_special, "renormalize": options.renormalize, "merge": options.merge_subwords,
            "block": options.block, "follow": follow, "window": window}


TRANSFORM_JS = """([tokens, shape, floats, options]) => {
  const [nHeads, nTokens] = shape;
  const layout = viewLayout(tokens, options);
  if (!layout) return null;
  const held = { floats: new Float32Array(floats) };
  const heads = transformLayer(layout, rowReader(held, nTokens), nHeads, nTokens);
  return { heads: Array.from(heads), queries: layout.queryGroups, keys: layout.keyGroups,
           queryLabels: layout.queryLabels, keyLabels: layout.keyLabels, rescale: layout.rescale };
}"""


@pytest.mark.parametrize("texts", [(SHORT,), PAIR], ids=["one text", "a pair"])
def test_the_browser_applies_every_view_option_as_map_view_does(page, model, texts):
    run = model.run(*texts)
    tokens = token_table(run)
    layer = 2
    heads = run.attentions[layer]  # (H, T, T)
    checked = 0
    for options in all_options(run):
        got = page.evaluate(TRANSFORM_JS, [tokens, heads.shape[:2], heads.ravel().tolist(), shown(options)])
        try:
            expected = map_view(run, heads, options)
        except ValueError:  # hiding left nothing: the browser says so too
            assert got is None
            continue
        assert got["queries"] == expected.query_positions and got["keys"] == expected.key_positions, options
        assert got["queryLabels"] == expected.query_labels and got["keyLabels"] == expected.key_labels, options
        assert got["rescale"] == expected.renormalized
        values = np.asarray(got["heads"], np.float32).reshape(expected.weights.shape)
        difference = np.abs(values - expected.weights).max()
        assert difference < HOVER_DECIMALS, (options, difference)
        # the printed decimals themselves
        assert np.abs(np.round(values.astype(np.float64), 4) - np.round(expected.weights.astype(np.float64), 4)).max() \
            <= 1e-4 + 1e-9
        checked += 1
    assert checked >= (4 if not run.is_pair else 20)


def test_quantized_layers_transform_within_the_colour_scales_error(page, model):
    """Long texts travel as 7-bit codes of each row against its largest ordinary weight: read through
    `rowReader`, hidden, renormalised and merged, the weights keep about the codes' 2.8 % (hover
    reads exact values the server sends for the head shown)."""
    run = model.run(" ".join(["Unbelievably", "surprising", "tokenizers", "behave"] * 12))
    heads = run.attentions[1]
    special = [p for p in range(run.n_tokens) if run.special[p]]
    codes, maxima, specials = explorer.quantize_heads(heads, special)
    script = """([tokens, shape, codes, scales, levels, decades, options]) => {
      const header = { shape: [1, ...shape], levels, decades, tokens };
      const bytes = new Uint8Array(new Float32Array(scales).buffer);
      const held = { ...decodeCodes(header, new Uint8Array(codes), bytes) };
      const layout = viewLayout(tokens, options);
      return Array.from(transformLayer(layout, rowReader(held, shape[1]), shape[0], shape[1]));
    }"""
    options = ViewOptions(hide_special=True, renormalize=True, merge_subwords=True)
    expected = map_view(run, heads, options).weights
    scales = np.concatenate([maxima.ravel(), specials.ravel()])
    got = np.asarray(page.evaluate(script, [token_table(run), heads.shape[:2], codes.ravel().tolist(),
                                            scales.tolist(), explorer.LEVELS, float(explorer.DECADES),
                                            shown(options)]), np.float32).reshape(expected.shape)
    top = expected.max(axis=(1, 2), keepdims=True)
    # Each weight keeps its code's 2.8 %, and renormalising divides by a row sum that does too: so
    # within two half-steps (6 %), plus, for a word's cell that sums pieces each just under the codes'
    # floor (1e-3 x its row's maximum), a few thousandths of the head's maximum: the darkest colours.
    assert np.all(np.abs(got - expected) <= 0.06 * expected + 5e-3 * top)
    bright = expected >= 1e-2 * top
    assert np.median(np.abs(got - expected)[bright] / expected[bright]) < 0.02


TILES_JS = """([tokens, shape, floats, options, sizes, grids, tile]) => {
  const [nHeads, nTokens] = shape;
  const layout = viewLayout(tokens, options);
  const pooled = pooledHeads(layout, rowReader({ floats: new Float32Array(floats) }, nTokens), nHeads, nTokens, sizes);
  const heads = tileCanvas(pooled[grids.heads.px], nHeads, grids.heads, tile.levels, tile.decades, tile.background);
  const mean = meanOfHeads(pooled[grids.heads.px], nHeads);
  const means = tileCanvas(mean, 1, { ...grids.heads, cols: 1 }, tile.levels, tile.decades, tile.background);
  return { heads: Array.from(heads.codes), width: heads.width, height: heads.height, mean: Array.from(means.codes) };
}"""


@pytest.mark.parametrize("n_words", [8, 60], ids=["a short text", "longer than a tile"])
def test_thumbnails_painted_in_the_browser_are_the_servers_tiles(page, model, n_words):
    run = model.run(" ".join(["Unbelievably", "the", "tokenizers", "behave"] * (n_words // 4)))
    layer = 3
    options = ViewOptions(hide_special=True, renormalize=True, merge_subwords=True)
    view = map_view(run, run.attentions[layer:layer + 1], options)
    heads_meta = json.loads(figs.layer_heads_grid(view, 0, 0).to_json())["layout"]["meta"]["tiles"]
    tile = {"levels": figs.TILE_CODES, "decades": 3.0, "background": figs.BACKGROUND}
    got = page.evaluate(TILES_JS, [token_table(run), run.attentions.shape[1:3], run.attentions[layer].ravel().tolist(),
                                   shown(options), [heads_meta["px"], figs.OVERVIEW_TILE_PX], {"heads": heads_meta},
                                   tile])
    canvas, _ = _tile_canvas(view.weights[0], heads_meta["cols"], heads_meta["px"], False, figs.NORMAL)
    codes = np.asarray(got["heads"], np.uint8).reshape(got["height"], got["width"])
    assert codes.shape == canvas.shape
    # Equal codes, but for a weight that sits on a rounding edge between two (float32 against float64)
    assert np.mean(codes != canvas) < 0.002 and np.abs(codes.astype(int) - canvas).max() <= 1
    mean_canvas, _ = _tile_canvas(view.weights[0].mean(0)[None], 1, heads_meta["px"], False, figs.NORMAL)
    mean_codes = np.asarray(got["mean"], np.uint8).reshape(mean_canvas.shape)
    assert np.mean(mean_codes != mean_canvas) < 0.002 and np.abs(mean_codes.astype(int) - mean_canvas).max() <= 1


FIGURE_JS = """([header, template, windowTemplate, tokenTemplate, tokens, options, zFlat, layer, head]) => {
  const layout = viewLayout(tokens, options);
  const nRows = layout.queryGroups.length, nCols = layout.keyGroups.length;
  const z = []; for (let r = 0; r < nRows; r++) z.push(Array.from(zFlat.slice(r * nCols, (r + 1) * nCols)));
  const isPair = tokens.segment.some((s) => s === 1);
  const followRow = rowOfPosition(layout.queryGroups, options.follow);
  const rowSpan = windowSpan(nRows, followRow ?? 0, options.window);
  const keyCenter = rowOfPosition(layout.keyGroups, options.follow);
  const colSpan = windowSpan(nCols, keyCenter === null ? rowSpan[0] + Math.floor(options.window / 2) : keyCenter,
    options.window);
  const shape = { queryLabels: layout.queryLabels, keyLabels: layout.keyLabels, window: [rowSpan, colSpan],
                  bStart: isPair && options.block === "all" ? segmentBStart(tokens, layout.queryGroups) : null };
  const colour = { legend: "linear colour", colorscale: [] };
  const main = mainFigure(header, template, shape, z, "t", colour, null);
  const zw = z.slice(rowSpan[0], rowSpan[1]).map((row) => row.slice(colSpan[0], colSpan[1]));
  const w = windowFigure(header, windowTemplate, shape, zw, colour, null);
  const title = tokenTitle(header, layout.queryLabels[followRow], options.follow, layer);
  const token = tokenFigure(header, tokenTemplate, shape, [], title, colour, null);
  const pick = (f) => ({ x: f.data[0].x, y: f.data[0].y, height: f.layout.height, title: f.layout.title.text,
    xaxis: { tickvals: f.layout.xaxis.tickvals, ticktext: f.layout.xaxis.ticktext },
    yaxis: { tickvals: f.layout.yaxis.tickvals, ticktext: f.layout.yaxis.ticktext }, shapes: f.layout.shapes || [] });
  return { main: pick(main), window: pick(w), token: pick(token), spans: [rowSpan, colSpan], followRow,
           visible: visibleColumns(layout) };
}"""


def pick(figure) -> dict:
    f = json.loads(figure.to_json())
    return {"x": f["data"][0]["x"], "y": f["data"][0]["y"], "height": f["layout"]["height"],
            "title": f["layout"]["title"]["text"],
            "xaxis": {k: f["layout"]["xaxis"].get(k) for k in ("tickvals", "ticktext")},
            "yaxis": {k: f["layout"]["yaxis"].get(k) for k in ("tickvals", "ticktext")},
            "shapes": f["layout"].get("shapes", [])}


@pytest.mark.parametrize("texts", [(" ".join(["Unbelievably, <b>tokenizers</b> behave."] * 12),), PAIR],
                         ids=["a long text", "a pair"])
def test_the_browsers_charts_have_the_python_figures_labels_sizes_and_titles(page, model, texts):
    run = model.run(*texts)
    packed = explorer.Explorer(run, explorer.ExplorerOptions(sizes=figs.NORMAL, texts={}), "x")
    header = packed.header
    templates = [json.loads(header[name]) for name in ("main", "window", "token")]
    follow = next(p for p in range(run.n_tokens) if not run.special[p] and run.word_ids[p] is not None) + 3
    window = 24
    for options in all_options(run):
        try:
            view = map_view(run, run.attentions[:1], options)
        except ValueError:
            continue
        follow_row = row_of_position(view.query_positions, follow)
        if follow_row is None:
            continue
        layer = 0
        matrix = view.weights[0, 0]
        got = page.evaluate(FIGURE_JS, [header, *templates, header["tokens"], shown(options, follow, window),
                                        matrix.ravel().tolist(), layer, 0])
        b_start = segment_b_start(view.query_positions, run.segment_ids) if run.is_pair and options.block == "all" \
            else None
        main = pick(figs.head_heatmap(view, layer, 0, block=options.block, b_start=b_start))
        main["title"] = got["main"]["title"]  # the title is the packer's (titles), tested with the protocol
        assert got["main"] == main, options
        rows = window_span(len(view.query_labels), follow_row, window)
        key_center = row_of_position(view.key_positions, follow)
        cols = window_span(len(view.key_labels), rows[0] + window // 2 if key_center is None else key_center, window)
        assert got["spans"] == [list(rows), list(cols)]
        assert got["window"] == pick(figs.window_heatmap(view, layer, 0, rows, cols)), options
        token = pick(figs.token_across_heads(view, layer, follow_row, position=follow))
        token["title"] = plotly_text(token["title"])  # the packer sends titles escaped for Plotly
        for part in ("x", "xaxis", "title"):
            assert got["token"][part] == token[part], (options, part)
        assert got["visible"] == [sum(1 for g in view.key_positions if min(g) <= max(row))
                                  for row in view.query_positions]
