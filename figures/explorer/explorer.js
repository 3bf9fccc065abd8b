// Headlight's attention explorer: draws the Attention page's charts in the browser, so a change of
// layer, head, colour, followed token or view option (hide [CLS]/[SEP], renormalise, merge subwords,
// a pair's block, the window) needs no server work before it shows. packer.py packs what it is sent
// (PROTOCOL.md has the format; payload.js reads it); transform.js applies the view options to the
// attention held here and view.js keeps the view shown, charts.js fills the Plotly templates from
// figures/attention.py, grids.js paints the thumbnails, colours.js recolours. These files are
// joined with one host adapter into one module
// (figures.explorer.module_js: streamlit.js for the app, widget.js for notebooks). Text from the
// model or the person (tokens) reaches the page only as textContent or inside Plotly's escaped labels.

const instances = new Map(); // component key -> the instance's state
const views = new Map(); // explorer id -> the view: shape, tokens, templates (sent once per id)
const layerCache = new Map(); // explorer id -> Map(layer -> the layer as held: payload.js decodeLayer)
const KEPT_VIEWS = 4; // views (texts) kept in the browser
const STREAM_AFTER_MS = 1500; // a long text's other layers are asked for this long after its first view

function element(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

function chartBox(parent, name) {
  const box = element("div", "hl-chart", parent);
  box.dataset.chart = name;
  const plot = element("div", "hl-plot", box);
  const caption = element("p", "hl-caption", parent);
  return { box, plot, caption };
}

function slider(parent, name, min, max) {
  const label = element("label", "hl-slider", parent);
  const head = element("span", "hl-slider-label", label);
  element("span", "", head).textContent = name;
  const value = element("output", "hl-slider-value", head);
  const input = element("input", "", label);
  Object.assign(input, { type: "range", min, max, step: 1 });
  input.setAttribute("aria-label", name);
  return { input, value };
}

// The explorer's DOM: built for a view, and again when the window comes or goes (it takes the
// place of the layer's heads beside the main map).
function build(root, inst, withWindow) {
  root.replaceChildren();
  inst.builtWithWindow = withWindow;
  inst.drawn = null;
  inst.drawnShape = null;
  const header = inst.header;
  const [nLayers, nHeads] = header.shape;
  const controls = element("div", "hl-controls", root);
  inst.layerSlider = slider(controls, "Layer", 1, nLayers);
  inst.headSlider = slider(controls, "Head", 0, nHeads);
  inst.headSlider.input.title = "0 (“mean”) averages the layer's heads.";
  buildColourControls(inst, controls);
  const move = () => select(inst, Number(inst.layerSlider.input.value) - 1, headOf(inst.headSlider.input.value));
  for (const s of [inst.layerSlider, inst.headSlider]) {
    s.input.addEventListener("input", () => { inst.dragging = true; move(); });
    s.input.addEventListener("change", () => { inst.dragging = false; move(); });
  }
  inst.auto = element("p", "hl-caption hl-auto", root);
  inst.note = element("p", "hl-caption hl-note", root);
  const top = element("div", "hl-row hl-top", root);
  const left = element("div", "hl-col hl-wide", top);
  const right = element("div", "hl-col", top);
  inst.charts = { main: chartBox(left, "main") };
  if (withWindow) {
    inst.charts.window = chartBox(right, "window");
    const grids = element("div", "hl-row", root);
    inst.charts.heads = chartBox(element("div", "hl-col", grids), "heads");
    inst.charts.means = chartBox(element("div", "hl-col", grids), "means");
  } else {
    inst.charts.heads = chartBox(right, "heads");
    inst.charts.means = chartBox(right, "means");
  }
  inst.charts.overview = chartBox(root, "overview");
  const follow = element("label", "hl-follow", root);
  element("span", "hl-slider-label", follow).textContent = "Attention from token";
  inst.followSelect = element("select", "", follow);
  inst.followSelect.setAttribute("aria-label", "Attention from token");
  inst.followSelect.addEventListener("change", () => {
    if (inst.followSelect.value !== "") chooseFollow(inst, Number(inst.followSelect.value));
  });
  inst.followFor = null;
  inst.charts.token = chartBox(root, "token");
  inst.charts.heads.caption.textContent = header.texts.heads;
  inst.charts.means.caption.textContent = header.texts.means;
  inst.charts.overview.caption.textContent = header.texts.overview;
  if (inst.charts.window) inst.charts.window.caption.textContent = fill(header.texts.window, { window: inst.shown.window });
  for (const name of ["heads", "means", "overview"]) inst.charts[name].plot.dataset.pending = "1";
}

const headOf = (value) => (Number(value) === 0 ? -1 : Number(value) - 1);

// ---------------------------------------------------------------- drawing

// Each draw is timed in the page's performance timeline ("hl-draw", and "hl-grids" for the
// thumbnails), for the benchmark (bench/interactions.py) to say where a change's time went.
function draw(inst) {
  const start = performance.now();
  try {
    drawNow(inst);
  } finally {
    performance.measure("hl-draw", { start, end: performance.now() });
  }
}

function drawNow(inst) {
  const { header, Plotly } = inst;
  if (!Plotly) return;
  const [, nHeads] = header.shape;
  const { layer, head } = inst.sel;
  const slot = head < 0 ? nHeads : head;
  inst.layerSlider.input.value = String(layer + 1);
  inst.layerSlider.value.textContent = String(layer + 1);
  inst.headSlider.input.value = String(head < 0 ? 0 : head + 1);
  inst.headSlider.value.textContent = head < 0 ? "mean" : String(head + 1);
  const auto = inst.autoChoice;
  const autoShown = auto && auto.layer === layer && auto.head === head;
  inst.auto.textContent = autoShown ? auto.reason : "";
  inst.auto.hidden = !autoShown;
  const shape = shapeOf(inst);
  const main = inst.charts.main;
  if (!shape) { // hiding left nothing: say so, draw nothing
    inst.note.textContent = header.texts.nothing;
    main.box.dataset.state = "empty";
    inst.drawn = null;
    return;
  }
  if (!!shape.window !== inst.builtWithWindow) build(inst.root, inst, !!shape.window);
  inst.autoLog = shape.autoLog;
  const shown = matrix(inst, layer, head);
  const structure = shape.key !== inst.drawnShape;
  const drawn = `${shape.key}|${layer},${head},${shown ? "held" : "none"},${shape.autoLog}`;
  const nRows = shape.queryLabels.length, nCols = shape.keyLabels.length;
  if (drawn === inst.drawn && shown) {
    if (shown.exact === inst.drawnExact) return; // a rerun's echo of what is on screen already
    // The exact hover values arrived for the head on screen: its colours stay, so hand them to
    // hover in place instead of drawing the heatmaps again (at 512 tokens a redraw takes ~0.1 s).
    inst.drawnExact = shown.exact;
    main.box.dataset.state = "exact";
    setHover(main.plot, rows(shown.hover, nRows, nCols));
    main.caption.textContent = rowsCaption(header.texts.rows, shown.rows, inst.shown, shape.bStart, 1e-3);
    if (inst.charts.window && shape.window) {
      const [[r0, r1], [c0, c1]] = shape.window;
      setHover(inst.charts.window.plot, rows(shown.hover, nRows, nCols, r0, r1, c0, c1));
    }
    drawToken(inst, shape, layer, false, colourNow(inst));
    return;
  }
  inst.drawnExact = shown ? shown.exact : null;
  inst.drawn = drawn;
  inst.note.textContent = shape.followRow === null ? hiddenNote(header, inst.shown) : "";
  if (!shown) {
    main.caption.textContent = `Loading layer ${layer + 1}…`;
    main.box.dataset.state = "loading";
    return;
  }
  main.box.dataset.state = shown.exact ? "exact" : "approximate";
  // what the map shows, for tests and the benchmark: the view options' key, rows, followed token
  Object.assign(main.box.dataset, { view: shape.layout.key, rows: String(nRows), follow: String(inst.shown.follow) });
  const colour = colourNow(inst);
  let title = header.titles[layer][slot];
  if (inst.shown.block !== "all") title += plotlyText(fill(header.formats.block_title, { block: inst.shown.block }));
  const z = masked(shape.visible, rows(shown.flat, nRows, nCols));
  const hover = shown.hover ? rows(shown.hover, nRows, nCols) : null;
  const firstDraw = !main.plot.dataset.drawn;
  const plotted = heatmap(inst, main, structure, () => mainFigure(header, inst.templates.main, shape, z, title, colour,
    hover), { z, title, customdata: hover }, header.configs.heatmap);
  // Presentation mode fits the map to the screen after every full draw: a new view's figure comes
  // with the height it would have on a desk.
  if ((firstDraw || structure) && header.present) {
    Promise.resolve(plotted).then(() => fitToScreen(inst, { scroll: firstDraw }));
  }
  const sums = shown.rows || rowSumRange(shown.flat, nRows, nCols);
  main.caption.textContent = rowsCaption(header.texts.rows, sums, inst.shown, shape.bStart,
    shown.rows || header.encoding === "f32" ? 1e-3 : 0.03);
  if (inst.charts.window && shape.window) {
    const [[r0, r1], [c0, c1]] = shape.window;
    const zw = masked(shape.visible, rows(shown.flat, nRows, nCols, r0, r1, c0, c1), r0, c0);
    const hw = shown.hover ? rows(shown.hover, nRows, nCols, r0, r1, c0, c1) : null;
    heatmap(inst, inst.charts.window, structure, () => windowFigure(header, inst.templates.window, shape, zw, colour, hw),
      { z: zw, customdata: hw }, header.configs.heatmap);
    inst.charts.window.caption.textContent = fill(header.texts.window, { window: inst.shown.window });
  }
  drawFollow(inst, shape);
  drawToken(inst, shape, layer, structure, colour);
  if (structure) {
    // A new view's thumbnails come in a task of their own: the host's message, already on its way,
    // is read in between instead of waiting for them (at 512 tokens they take a layer's pass each).
    inst.gridsDue = true;
    inst.root.dataset.pending = "1";
    setTimeout(() => {
      inst.gridsDue = false;
      timedGrids(inst, inst.sel.layer, inst.sel.head, nHeads);
      inst.root.dataset.pending = waitingFor(inst);
      prepareNeighbours(inst);
    }, 0);
  } else {
    timedGrids(inst, layer, head, nHeads);
    prepareNeighbours(inst);
  }
  inst.drawnShape = shape.key;
  if (structure) inst.coloured = `${colour.scale},${colour.key}`; // every chart was drawn in these colours
}

// While plotly.js is still on its way (a first view), the numbers the first draw needs: the shown
// layer in the view, its thumbnails' tiles and the grids' images in the colours shown.
function prepareShown(inst) {
  const start = performance.now();
  const shape = shapeOf(inst);
  if (shape && viewLayer(inst, inst.sel.layer)) {
    const { palette } = colourNow(inst, shape.autoLog);
    for (const image of Object.values(gridImages(inst, inst.sel.layer))) sourceOf(image, palette);
  }
  performance.measure("hl-prepare", { start, end: performance.now() });
}

function timedGrids(inst, layer, head, nHeads) {
  const start = performance.now();
  drawGrids(inst, layer, head, nHeads);
  performance.measure("hl-grids", { start, end: performance.now() });
}

// "1" while a choice awaits the host or drawing is left to do (tests and the benchmark wait for "0").
function waitingFor(inst) {
  return inst.pending || inst.pendingColour || inst.pendingShown || inst.pendingFollow !== null || inst.gridsDue
    ? "1" : "0";
}

// A heatmap: drawn whole the first time and when the view's shape changed (Plotly.react), else
// only its numbers and title change (Plotly.update restyles and relayouts in place, several times
// faster than drawing the figure again).
function heatmap(inst, chart, structure, figure, values, config) {
  const { z, title, customdata } = values;
  if (chart.plot.dataset.drawn && !structure) {
    const restyle = { z: [z], zmax: [Math.max(maximum(z), 1e-9)], ...(customdata ? { customdata: [customdata] } : {}) };
    return inst.Plotly.update(chart.plot, restyle, title === undefined ? {} : { "title.text": title }, [0]);
  }
  const { data, layout } = figure();
  chart.plot.dataset.drawn = "1";
  chart.template = templateOf(layout);
  const kept = [chart.margins, keptMargins(inst)[chart.box.dataset.chart]]
    .find((margins) => margins && margins.template === chart.template);
  const margins = kept ? measuredMargins(kept, layout) : null;
  const drawn = inst.Plotly.react(chart.plot, data, margins || layout, config);
  if (!margins) Promise.resolve(drawn).then(() => keepMargins(inst, chart));
  return drawn;
}

// The margins each chart last measured, by chart and by desk or projector sizes: a chart built anew
// for a new text (or a page opened again) starts from its predecessor's, moved by its own labels,
// instead of Plotly's automargin pass (at 512 tokens ~0.1 s of a new text's main map alone). Kept
// for the page, not the instance: Streamlit mounts a new text's explorer under a key of its own;
// and in the browser's storage, so that a returning visitor's first view skips the pass too. Each
// is kept with the figure's own margins and fonts (`templateOf`) and used only by the same template.
const MARGINS_STORAGE = "headlight-explorer-margins";
const marginsKept = storedMargins();
const keptMargins = (inst) => marginsKept[inst.header.present ? "present" : "desk"];

function keepMargins(inst, chart) {
  const measured = marginsOf(chart.plot);
  chart.margins = measured && { ...measured, template: chart.template };
  if (!chart.margins) return;
  keptMargins(inst)[chart.box.dataset.chart] = chart.margins;
  try {
    localStorage.setItem(MARGINS_STORAGE, JSON.stringify(marginsKept));
  } catch { /* storage off or full: kept for this page only */ }
}

// What a kept margin depends on besides the labels: the figure's own margins, fonts and angle.
function templateOf(layout) {
  const axis = (a) => [a?.tickfont?.size, a?.tickfont?.family, a?.tickangle ?? null];
  return JSON.stringify([layout.margin ?? null, layout.title?.font?.size ?? null, axis(layout.xaxis), axis(layout.yaxis)]);
}

// Margins kept by an earlier page of this app, when readable: numbers in a sane range, else none.
function storedMargins() {
  const fresh = { desk: {}, present: {} };
  let stored;
  try {
    stored = JSON.parse(localStorage.getItem(MARGINS_STORAGE) || "null");
  } catch {
    return fresh;
  }
  const px = (n) => Number.isFinite(n) && n >= 0 && n < 4000;
  const axis = (a) => a && typeof a === "object" && (a.widest === null || px(a.widest)) && a.font && px(a.font.size)
    && typeof a.font.family === "string";
  for (const sizes of ["desk", "present"]) {
    for (const [name, kept] of Object.entries(stored?.[sizes] || {})) {
      if (["main", "window", "token"].includes(name) && kept && ["l", "r", "t", "b"].every((side) => px(kept[side]))
          && axis(kept.x) && axis(kept.y) && typeof kept.template === "string") fresh[sizes][name] = kept;
    }
  }
  return fresh;
}

// Plotly's automargin measures every tick label in the page and, when the margins move, draws the
// figure a second time: a new view of a 512-token map took ~110 ms with it and ~65 ms without
// (interleaved in one page). So a chart's first draw keeps the figure's automargin, and the
// margins it got are kept with its labels' widths; a later draw with other labels gets those
// margins moved by how much longer its longest labels are (measured on a canvas: no layout), and
// automargin off. Presentation mode's fit turns it on again and takes new margins.
function marginsOf(plot) {
  const full = plot._fullLayout;
  if (!full?._size) return null;
  const { l, r, t, b } = full._size;
  const axis = (name) => ({ font: full[name].tickfont, angle: full[name].tickangle,
                            widest: widestLabel(full[name].ticktext, full[name].tickfont) });
  return { l, r, t, b, x: axis("xaxis"), y: axis("yaxis") };
}

function measuredMargins(kept, layout) {
  const grow = (axis, along) => {
    const texts = layout[axis]?.ticktext;
    if (!texts || kept[along].widest === null) return 0;
    const slope = Math.abs((along === "x" ? Math.sin : Math.cos)(((Number(kept[along].angle) || 0) * Math.PI) / 180));
    const longer = (widestLabel(texts, kept[along].font) - kept[along].widest) * slope;
    // A canvas measures text a little differently from the SVG Plotly measures, and Plotly's
    // automargin, started from other margins, lands a px or two apart (the same labels: 69 px, then
    // 71 from 69): 2 px to spare, also for the same labels.
    return Math.ceil(longer) + MARGIN_SPARE_PX;
  };
  const base = layout.margin || {};
  const margin = { ...base, l: Math.max(base.l || 0, kept.l + grow("yaxis", "y")), r: kept.r, t: kept.t,
                   b: Math.max(base.b || 0, kept.b + grow("xaxis", "x")) };
  return {
    ...layout, margin,
    xaxis: { ...layout.xaxis, automargin: false }, yaxis: { ...layout.yaxis, automargin: false },
  };
}

const MARGIN_SPARE_PX = 2;
const labelContext = document.createElement("canvas").getContext("2d");
const unescaped = (text) => String(text).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

// The widest of an axis's tick labels in px, as drawn in `font`; null without labels of its own.
function widestLabel(texts, font) {
  if (!Array.isArray(texts) || !texts.length || !font) return null;
  labelContext.font = `${font.size}px ${font.family}`;
  let widest = 0;
  for (const text of texts) widest = Math.max(widest, labelContext.measureText(unescaped(text)).width);
  return widest;
}

// Hover reads customdata from the plot's full trace: replacing it there (and in the input trace,
// for a later redraw) changes what hover prints without a replot.
function setHover(plot, customdata) {
  for (const trace of [plot.data?.[0], plot._fullData?.[0]]) if (trace) trace.customdata = customdata;
}

// Why the followed token is not in the view (selection.hidden_note): hidden as a special token, or
// in the other sentence of a pair.
function hiddenNote(header, shown) {
  const texts = header.texts.hidden;
  return shown.hide && header.tokens.special[shown.follow] ? texts.special : fill(texts.block, { block: shown.block });
}

// The followed token's picker: every row of the view, by its first token's position.
function drawFollow(inst, shape) {
  const select = inst.followSelect;
  if (inst.followFor !== shape.layout.key) {
    inst.followFor = shape.layout.key;
    select.replaceChildren();
    shape.layout.queryGroups.forEach((group, row) => {
      const option = element("option", "", select);
      option.value = String(group[0]);
      option.textContent = `${shape.queryLabels[row]} ·${group[0]}`;
    });
    inst.hiddenOption = element("option", "", select);
    inst.hiddenOption.value = "";
    inst.hiddenOption.textContent = "(hidden in this view: choose a token)";
  }
  const row = shape.followRow;
  inst.hiddenOption.hidden = row !== null;
  select.value = row === null ? "" : String(shape.layout.queryGroups[row][0]);
}

// Where the followed token looks, in every head of the layer; hidden with its token.
function drawToken(inst, shape, layer, structure, colour) {
  const { header } = inst;
  const token = inst.charts.token;
  const row = shape.followRow;
  token.box.hidden = token.caption.hidden = row === null;
  const heads = viewLayer(inst, layer);
  if (row === null || !heads) return;
  const [, nHeads] = header.shape;
  const nCols = shape.keyLabels.length, cells = shape.queryLabels.length * nCols;
  const hover = inst.tokenHover;
  const exactRows = hover && hover.key === `${shape.layout.key}|${inst.shown.follow}`
    ? rows(hover.values.subarray(layer * nHeads * nCols, (layer + 1) * nHeads * nCols), nHeads, nCols) : null;
  const drawnFor = `${shape.key}|${layer}`;
  if (token.plot.dataset.layer === drawnFor && !structure) { // a head change leaves it as it is
    // The exact values came after the colours (a long text's rerun): hover reads them in place,
    // where drawing the chart again took 20-30 ms of the click at 512 tokens.
    if (exactRows && token.plot.dataset.exact !== drawnFor) setHover(token.plot, exactRows);
    token.plot.dataset.exact = exactRows ? drawnFor : "";
    return;
  }
  token.plot.dataset.layer = drawnFor;
  token.plot.dataset.exact = exactRows ? drawnFor : "";
  const z = [];
  for (let h = 0; h < nHeads; h++) z.push(heads.subarray(h * cells + row * nCols, h * cells + (row + 1) * nCols));
  const title = tokenTitle(header, shape.queryLabels[row], inst.shown.follow, layer);
  // Another layer or followed token in the same view keeps the axes: exact numbers (a short text's)
  // change in place, as the main map's do; a long text's hover values (customdata) are drawn anew.
  const sameAxes = token.plot.dataset.view === shape.layout.key && header.encoding === "f32";
  token.plot.dataset.view = shape.layout.key;
  heatmap(inst, token, structure || !sameAxes, () => tokenFigure(header, inst.templates.token, shape, z, title, colour,
    exactRows), { z, title }, header.configs.token);
  token.caption.textContent = fill(header.texts.token, { layer: layer + 1 });
}

// ---------------------------------------------------------------- the screen

// Presentation mode: the sliders at the top of the screen (under Streamlit's bar) and the main map
// below them, as tall as the screen leaves, at any projector size; refitted when the window is
// resized (issue 17 §6: at 1280 x 720 only 60 px of the map showed).
function fitToScreen(inst, { scroll = false } = {}) {
  const plot = inst.charts?.main?.plot;
  const controls = inst.root?.querySelector(".hl-controls");
  if (!inst.header?.present || !plot?.layout || !controls || !inst.Plotly) return;
  const bar = document.querySelector('[data-testid="stHeader"]');
  const barBottom = bar ? Math.max(0, bar.getBoundingClientRect().bottom) : 0;
  // The map as tall as the screen leaves under the controls once they are scrolled to its top;
  // then the scroll, which needs the page that tall (the thumbnails may not be drawn yet).
  const above = plot.getBoundingClientRect().top - controls.getBoundingClientRect().top;
  const height = Math.max(240, Math.floor(window.innerHeight - barBottom - above - 16));
  let fitted = Promise.resolve();
  if (Math.abs((plot.layout.height || 0) - height) >= 2) {
    const update = { height };
    update["xaxis.automargin"] = update["yaxis.automargin"] = true; // labels of its own: measured again
    const main = inst.charts.main;
    fitted = Promise.resolve(inst.Plotly.relayout(plot, update))
      .then(() => thinRowLabels(inst, plot))
      .then(() => keepMargins(inst, main));
  }
  if (scroll) {
    Promise.resolve(fitted).then(() => {
      controls.scrollIntoView({ block: "start" });
      const gap = controls.getBoundingClientRect().top - barBottom - 4;
      if (gap < 0) scrollParent(controls).scrollBy(0, gap);
    });
  }
}

const PROJECTOR_ROW_PX = 20; // a 17 px label and a little air

// Row labels at least PROJECTOR_ROW_PX apart: on a short screen every second (third...) is named.
// Counted on the plot's own height once drawn: the rotated column labels take the margin below
// (180 px for a 512-token map at 1280 x 720), which the layout's margins do not say.
function thinRowLabels(inst, plot) {
  const axis = plot.layout.yaxis, rowsHeight = plot._fullLayout?._size?.h;
  if (!axis.tickvals || !axis.ticktext || !rowsHeight) return null;
  const names = plot.data[0].y, labels = inst.layout ? inst.layout.queryLabels.map(plotlyText) : axis.ticktext;
  const rowsFit = Math.max(2, Math.floor(rowsHeight / PROJECTOR_ROW_PX));
  const step = Math.max(1, Math.ceil(names.length / rowsFit));
  const tickvals = names.filter((_, i) => i % step === 0);
  if (tickvals.length === axis.tickvals.length && tickvals[0] === axis.tickvals[0]) return null;
  return inst.Plotly.relayout(plot, { "yaxis.tickvals": tickvals,
                                      "yaxis.ticktext": labels.filter((_, i) => i % step === 0) });
}

function scrollParent(node) {
  for (let p = node.parentElement; p; p = p.parentElement) {
    const overflow = getComputedStyle(p).overflowY;
    if ((overflow === "auto" || overflow === "scroll") && p.scrollHeight > p.clientHeight) return p;
  }
  return document.scrollingElement;
}

// A resize reflows what stands above the controls (captions wrap, the view control moves): bring
// the controls back to the top as the first fit did, then fit the map under them.
window.addEventListener("resize", () => {
  for (const inst of instances.values()) fitToScreen(inst, { scroll: true });
});

// ---------------------------------------------------------------- talking to the host

function send(inst, extra = {}) {
  const { layer, head } = inst.sel;
  const held = inst.id && layerCache.has(inst.id) ? [...layerCache.get(inst.id).keys()] : [];
  // `asked` numbers the reports: the host adds what it sent since the latest (PROTOCOL.md)
  inst.asked = (inst.asked || 0) + 1;
  const value = { layer, head, follow: null, have: inst.id, layers: held, asked: inst.asked, ...inst.colour,
                  ...extra };
  inst.pending = { layer, head };
  if (inst.root) inst.root.dataset.pending = "1";
  inst.setStateValue("selection", value);
}

function select(inst, layer, head, { scroll = false } = {}) {
  inst.sel = { layer, head };
  // Tell the server first (its rerun then overlaps the drawing); while a slider is dragged, only
  // draw, and tell it once the slider is let go (a key press is a release too).
  if (!inst.dragging && !sameSelection(inst.sel, inst.pending || inst.server)) send(inst);
  redraw(inst, scroll);
}

// One draw for any number of choices made in one task. A draw already due is queued again, behind
// whatever the host queued since: a slider's key press fires "input" (drawn, not yet sent: it could
// be a drag) and then "change" (sent), and a draw queued at "input" ran before the host's send,
// holding a layer change's request back for the whole draw (~0.07 s at 16 tokens).
function redraw(inst, scroll = false) {
  inst.scroll = inst.scroll || scroll;
  clearTimeout(inst.frame);
  inst.frame = afterHostSend(() => {
    inst.frame = null;
    draw(inst);
    // the sliders, then the opened head under them
    if (inst.scroll) inst.layerSlider.input.closest(".hl-controls").scrollIntoView({ block: "start" });
    inst.scroll = false;
  });
}

// A choice is drawn a task after it was made: Streamlit sends a widget's change (the host's
// controls, and this component's own state) to the server in a task after the one that made it, and
// a draw before that (0.1-0.3 s at 512 tokens) held the request back for as long -- the rerun
// started only once the browser had drawn, instead of running while it draws. It is drawn in that
// task, not at the next animation frame: that waited up to a frame (16 ms) with nothing to do.
function afterHostSend(work) {
  return setTimeout(work, 0);
}

// A token picked in the explorer: drawn here at once (the window and the token chart follow it),
// then told to the host, which keeps it for the link and the other pages.
function chooseFollow(inst, position) {
  inst.shown = { ...inst.shown, follow: position };
  inst.pendingFollow = position;
  send(inst, { follow: position });
  redraw(inst);
}

// A view option changed by the host's own controls (the Streamlit page's View options: streamlit.js
// reads their clicks): drawn here at once from the attention held, while the host's run that
// the same click started confirms it (PROTOCOL.md: `shown`).
function chooseShown(inst, change) {
  if (!inst.shown || !inst.root) return;
  inst.shown = { ...inst.shown, ...change };
  inst.pendingShown = { ...(inst.pendingShown || {}), ...change };
  inst.pendingShownAt = performance.now();
  inst.root.dataset.pending = "1";
  redraw(inst);
}

const SHOWN_WAIT_MS = 5000; // a local view option the host never confirmed gives way to the host's

function sameSelection(a, b) {
  return !!a && !!b && a.layer === b.layer && a.head === b.head;
}

function remember(id, view) {
  if (views.size >= KEPT_VIEWS && !views.has(id)) {
    const oldest = views.keys().next().value;
    views.delete(oldest);
    layerCache.delete(oldest);
    forgetDerived(oldest);
  }
  view.templates = {
    main: JSON.parse(view.main), heads: JSON.parse(view.heads_grid), means: JSON.parse(view.means),
    overview: JSON.parse(view.overview), token: JSON.parse(view.token), window: JSON.parse(view.window),
  };
  views.set(id, view);
  if (!layerCache.has(id)) layerCache.set(id, new Map());
}

async function update(inst, root, data) {
  const { header: msg, blobs } = readPayload(data);
  if (msg.view) remember(msg.id, msg.view);
  const view = views.get(msg.id);
  if (!view) { // told it was known, but it is not (evicted): ask for it whole
    inst.id = null;
    send(inst);
    return;
  }
  const plotly = inst.loadPlotly ? inst.loadPlotly() : loadPlotly(view.plotly); // starts the download at once (cached after the first time)
  const fresh = msg.id !== inst.id;
  inst.header = view;
  inst.templates = view.templates;
  inst.tilePx = { heads: view.templates.heads.layout.meta.tiles.px, overview: view.templates.overview.layout.meta.tiles.px };
  inst.id = msg.id;
  const layers = layerCache.get(msg.id);
  const before = layers.size;
  await Promise.all(msg.layers.map(async (entry) => {
    if (!layers.has(entry.layer)) {
      layers.set(entry.layer, await decodeLayer(view, entry, blobs[entry.blob],
        entry.scales === null ? null : blobs[entry.scales]));
    }
  }));
  if (msg.exact) {
    inst.exact = { ...msg.exact, hover: await hoverValues(blobs[msg.exact.blob], msg.exact.scale) };
  }
  if (msg.token_hover) {
    inst.tokenHover = { key: msg.token_hover.key,
                        values: await hoverValues(blobs[msg.token_hover.blob], msg.token_hover.scale) };
  }
  if (msg.grids) inst.grids = msg.grids;
  inst.autoChoice = msg.auto;
  const colourEchoed = inst.pendingColour && inst.pendingColour.scale === msg.colour.scale
    && inst.pendingColour.mode === msg.colour.mode;
  if (!inst.pendingColour || colourEchoed) {
    inst.colour = { ...msg.colour };
    inst.pendingColour = null;
  }
  // The host's view options and followed token win, unless a newer local choice is on its way.
  if (inst.pendingFollow === msg.shown.follow) inst.pendingFollow = null;
  const local = inst.pendingShown;
  if (local && (Object.entries(local).every(([name, value]) => msg.shown[name] === value)
                || performance.now() - inst.pendingShownAt > SHOWN_WAIT_MS)) inst.pendingShown = null;
  inst.shown = { ...msg.shown, ...(inst.pendingShown || {}),
                 ...(inst.pendingFollow !== null ? { follow: inst.pendingFollow } : {}) };
  inst.server = { ...msg.selection };
  // The server's selection wins unless a newer local choice is still on its way to it.
  if (!inst.pending || sameSelection(inst.pending, msg.selection)) {
    inst.sel = { ...msg.selection };
    inst.pending = null;
  }
  // For tests and the benchmark: messages received, and whether a choice still awaits the server.
  // (A fragment's run can be too fast for Streamlit's "running" state to ever reach the DOM.)
  root.dataset.messages = String(Number(root.dataset.messages || 0) + 1);
  root.dataset.pending = waitingFor(inst);
  if (fresh) {
    root.classList.toggle("hl-present", view.present);
    inst.layoutKey = null;
    inst.layouts = null;
    build(root, inst, !!shapeOf(inst)?.window);
  }
  if (!inst.Plotly) prepareShown(inst);
  inst.Plotly = await plotly;
  if (fresh) inst.coloured = null;
  draw(inst);
  applyColour(inst);
  root.dataset.layers = String(layers.size);
  if (!fresh && layers.size > before) prepareNeighbours(inst); // the views one click away, with the new layers
  // A long text's other layers follow the first view, a message at a time, while the host sends
  // them (PROTOCOL.md: `stream`): then a layer change, the layer means and the overview in any view
  // are drawn here.
  if (view.stream && layers.size < view.shape[0] && layers.size > before) {
    // The first ask waits STREAM_AFTER_MS: a class opening one link at once gets its first views
    // before anyone's other layers.
    clearTimeout(inst.streamTimer);
    inst.streamTimer = setTimeout(() => {
      if (inst.id === msg.id && !inst.pending) send(inst);
    }, before === 0 ? STREAM_AFTER_MS : 0);
  }
}

// Mount (or update) the explorer in `parent` with one payload. The host adapter (streamlit.js,
// widget.js) says how the browser's choices travel back (`setStateValue("selection", value)`) and,
// where no URL serves plotly.js, how to load it (`loadPlotly`). `key` names one instance.
function mount(key, parent, data, setStateValue, host = {}) {
  let inst = instances.get(key);
  if (!inst) {
    // Streamlit mounts a new text's explorer under a new key: the instances no longer on the page go
    for (const [other, gone] of instances) if (gone.root && !gone.root.isConnected) instances.delete(other);
    inst = { sel: { layer: 0, head: 0 }, pending: null, server: null, colour: null, pendingColour: null, id: null,
             dragging: false, frame: null, shown: null, pendingFollow: null, pendingShown: null };
    instances.set(key, inst);
  }
  inst.setStateValue = setStateValue;
  inst.loadPlotly = host.loadPlotly || null;
  let root = parent.querySelector(":scope > .hl-explorer");
  if (!root) {
    root = element("div", "hl-explorer", parent);
    inst.id = null; // a new mount: build the charts again
  }
  inst.root = root;
  return update(inst, root, data).catch((error) => {
    root.replaceChildren();
    const box = element("div", "hl-error", root);
    box.textContent = `The attention explorer could not draw: ${error.message}`;
    inst.id = null;
  });
}

// A host's instance is gone (a notebook output cleared): forget it, keep the shared views.
function unmount(key) {
  instances.delete(key);
}
