// Headlight's attention explorer: draws the Attention page's charts in the browser, so a layer or
// head change needs no script rerun. packer.py packs what it is sent (PROTOCOL.md has the format;
// payload.js reads it); the Plotly templates come from figures/attention.py; colours.js recolours.
// payload.js, colours.js and this file are joined with one host adapter into one module
// (figures.explorer.module_js: streamlit.js for the app, widget.js for notebooks). Text from the
// model or the person (tokens) reaches the page only as textContent or inside Plotly's escaped labels.

const instances = new Map(); // component key -> the instance's state
const views = new Map(); // explorer id -> the view: shape, labels, templates (sent once per id)
const layerCache = new Map(); // explorer id -> Map(layer -> Float32Array (H * Q * K))
const imageCache = new Map(); // explorer id -> Map(layer -> the thumbnail image of its heads)
const KEPT_VIEWS = 4; // views (texts x options) kept in the browser

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
  const name_ = element("span", "", head);
  name_.textContent = name;
  const value = element("output", "hl-slider-value", head);
  const input = element("input", "", label);
  Object.assign(input, { type: "range", min, max, step: 1 });
  input.setAttribute("aria-label", name);
  return { input, value };
}

function build(root, inst) {
  root.replaceChildren();
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
  const top = element("div", "hl-row hl-top", root);
  const left = element("div", "hl-col hl-wide", top);
  const right = element("div", "hl-col", top);
  inst.charts = { main: chartBox(left, "main") };
  if (header.window) {
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
  for (const [row, text] of header.follow.options.entries()) {
    const option = element("option", "", inst.followSelect);
    option.value = String(row);
    option.textContent = text;
  }
  if (header.follow.row === null) {
    const option = element("option", "", inst.followSelect);
    option.value = "";
    option.textContent = "(hidden in this view: choose a token)";
  }
  inst.followSelect.value = header.follow.row === null ? "" : String(header.follow.row);
  inst.followSelect.addEventListener("change", () => {
    if (inst.followSelect.value !== "") send(inst, { follow: Number(inst.followSelect.value) });
  });
  if (header.token) inst.charts.token = chartBox(root, "token");
  inst.charts.heads.caption.textContent = header.texts.heads;
  inst.charts.means.caption.textContent = header.texts.means;
  inst.charts.overview.caption.textContent = header.texts.overview;
  if (inst.charts.window) inst.charts.window.caption.textContent = header.texts.window;
  for (const name of ["heads", "means", "overview"]) {
    inst.charts[name].plot.dataset.pending = "1";
  }
}

const headOf = (value) => (Number(value) === 0 ? -1 : Number(value) - 1);

// The shown matrix: `flat` (Q * K) colours the map; `hover`, when the layers came quantized, holds
// the numbers hover reads (exact to the four decimals shown) once the server has sent them.
function matrix(inst, layer, head) {
  const [, nHeads, nRows, nCols] = inst.header.shape;
  const heads = layerCache.get(inst.id)?.get(layer);
  if (!heads) return null;
  const cells = nRows * nCols;
  let flat;
  if (head >= 0) {
    flat = heads.subarray(head * cells, (head + 1) * cells);
  } else {
    flat = new Float32Array(cells);
    for (let h = 0; h < nHeads; h++) {
      const part = heads.subarray(h * cells, (h + 1) * cells);
      for (let i = 0; i < cells; i++) flat[i] += part[i];
    }
    for (let i = 0; i < cells; i++) flat[i] /= nHeads;
  }
  if (inst.header.encoding === "f32") return { flat, hover: null, exact: true };
  const exact = inst.exact;
  const known = exact && exact.layer === layer && exact.head === head;
  return { flat, hover: known ? exact.hover : flat, exact: !!known };
}

function rows(flat, nRows, nCols, r0 = 0, r1 = nRows, c0 = 0, c1 = nCols) {
  const z = new Array(r1 - r0);
  for (let r = r0; r < r1; r++) z[r - r0] = flat.subarray(r * nCols + c0, r * nCols + c1);
  return z;
}

// A decoder's view: cells after each row's visible keys become NaN, which Plotly leaves empty, so
// the masked triangle shows the plot's grey background instead of reading as zero weight.
function masked(inst, z, r0 = 0, c0 = 0) {
  const visible = inst.header.visible_cols;
  if (!visible) return z;
  return z.map((row, i) => {
    const keep = Math.max(0, visible[r0 + i] - c0);
    if (keep >= row.length) return row;
    const copy = Float32Array.from(row);
    copy.fill(NaN, keep);
    return copy;
  });
}

function maximum(z) {
  let top = 0;
  for (const row of z) for (const v of row) if (v > top) top = v;
  return top;
}

// A heatmap: drawn whole the first time, then only its numbers and title change (Plotly.update
// restyles and relayouts in place, several times faster than drawing the figure again).
function heatmap(inst, chart, template, z, title, config, customdata = null) {
  const zmax = Math.max(maximum(z), 1e-9);
  const values = customdata ? { z: [z], zmax: [zmax], customdata: [customdata] } : { z: [z], zmax: [zmax] };
  if (chart.plot.dataset.drawn) {
    return inst.Plotly.update(chart.plot, values, { "title.text": title }, [0]);
  }
  chart.plot.dataset.drawn = "1";
  const colour = colourNow(inst);
  const colorbar = { ...template.data[0].colorbar, title: { ...template.data[0].colorbar.title, text: colour.legend } };
  const trace = { ...template.data[0], z, zmax, colorscale: colour.colorscale, colorbar,
                  ...(customdata ? { customdata } : {}) };
  const layout = { ...template.layout, title: { ...template.layout.title, text: title } };
  return inst.Plotly.newPlot(chart.plot, [trace, ...template.data.slice(1)], layout, config);
}

// Hover reads customdata from the plot's full trace: replacing it there (and in the input trace,
// for a later redraw) changes what hover prints without a replot.
function setHover(plot, customdata) {
  for (const trace of [plot.data?.[0], plot._fullData?.[0]]) if (trace) trace.customdata = customdata;
}

function draw(inst) {
  const { header, Plotly } = inst;
  if (!Plotly) return;
  const [, nHeads, nRows, nCols] = header.shape;
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
  const shown = matrix(inst, layer, head);
  const drawn = `${layer},${head},${shown ? shown.exact : "none"}`;
  if (drawn === inst.drawn) return; // a rerun's echo of what is on screen already
  const main = inst.charts.main;
  if (shown && shown.exact && inst.drawn === `${layer},${head},false`) {
    // The exact hover values arrived for the head on screen: its colours stay, so hand them to
    // hover in place instead of drawing the heatmaps again (at 512 tokens a redraw takes ~0.1 s).
    inst.drawn = drawn;
    main.box.dataset.state = "exact";
    setHover(main.plot, rows(shown.hover, nRows, nCols));
    if (inst.charts.window) {
      const { rows: [r0, r1], cols: [c0, c1] } = header.window;
      setHover(inst.charts.window.plot, rows(shown.hover, nRows, nCols, r0, r1, c0, c1));
    }
    return;
  }
  inst.drawn = drawn;
  if (!shown) {
    main.caption.textContent = `Loading layer ${layer + 1}…`;
    main.box.dataset.state = "loading";
    return;
  }
  main.box.dataset.state = shown.exact ? "exact" : "approximate";
  const hover = shown.hover ? rows(shown.hover, nRows, nCols) : null;
  const firstDraw = !main.plot.dataset.drawn;
  const plotted = heatmap(inst, main, inst.templates.main, masked(inst, rows(shown.flat, nRows, nCols)),
    header.titles[layer][slot],
    header.configs.heatmap, hover);
  if (firstDraw && header.present) Promise.resolve(plotted).then(() => fitToScreen(inst, { scroll: true }));
  main.caption.textContent = header.captions[layer][slot];
  if (inst.charts.window) {
    const { rows: [r0, r1], cols: [c0, c1] } = header.window;
    heatmap(inst, inst.charts.window, inst.templates.window,
      masked(inst, rows(shown.flat, nRows, nCols, r0, r1, c0, c1), r0, c0),
      inst.templates.window.layout.title.text, header.configs.heatmap,
      shown.hover ? rows(shown.hover, nRows, nCols, r0, r1, c0, c1) : null);
  }
  drawGrids(inst, layer, head, nHeads);
  const token = inst.charts.token;
  const heads = layerCache.get(inst.id)?.get(layer);
  // Where the followed token looks depends on the layer only: a head change leaves it as it is.
  if (token && heads && header.follow.row !== null && token.plot.dataset.layer !== String(layer)) {
    token.plot.dataset.layer = String(layer);
    const row = header.follow.row, cells = nRows * nCols, z = [];
    for (let h = 0; h < nHeads; h++) z.push(heads.subarray(h * cells + row * nCols, h * cells + (row + 1) * nCols));
    const exactRows = header.tokenHover ? rows(header.tokenHover.subarray(layer * nHeads * nCols,
      (layer + 1) * nHeads * nCols), nHeads, nCols) : null;
    heatmap(inst, token, inst.templates.token, z, header.token_titles[layer], header.configs.token, exactRows);
    token.caption.textContent = header.texts.token.replace("{layer}", String(layer + 1));
  }
}

function drawGrids(inst, layer, head, nHeads) {
  const { Plotly, templates, header } = inst;
  const outline = (template, index) => (index === null ? [] : [template.layout.meta.outlines[index]]);
  const palette = colourNow(inst).palette;
  const painted = (uri) => (uri ? withPalette(uri, palette) : uri);
  // Thumbnails are images: a change moves the outline (and, for a new layer, swaps the image).
  const grids = [
    ["heads", templates.heads, head >= 0 ? head : null, header.heads_titles[layer],
      painted(imageCache.get(inst.id)?.get(layer))],
    ["means", templates.means, head < 0 ? layer : null, null, painted(templates.means.data[0].source)],
    ["overview", templates.overview, head >= 0 ? layer * nHeads + head : null, null,
      painted(templates.overview.data[0].source)],
  ];
  for (const [name, template, index, title, image] of grids) {
    const plot = inst.charts[name].plot;
    const drawnOutline = String(index);
    const layout = { ...template.layout, shapes: outline(template, index) };
    if (title) layout.title = { ...template.layout.title, text: title };
    const data = image ? [{ ...template.data[0], source: image }, ...template.data.slice(1)] : template.data;
    if (plot.dataset.pending) {
      delete plot.dataset.pending;
      plot.dataset.outline = drawnOutline;
      if (name === "heads" && image) plot.dataset.layer = String(layer);
      Plotly.newPlot(plot, data, layout, header.configs.thumbnail).then(() => {
        keepSquare(inst, plot, template.layout.meta);
        plot.on("plotly_click", (event) => {
          const point = event.points.find((p) => p.customdata);
          if (!point) return;
          const [l, h] = point.customdata;
          select(inst, name === "heads" ? inst.sel.layer : l, h, { scroll: true });
        });
      });
    } else if (name === "heads" && image && plot.dataset.layer !== String(layer)) {
      plot.dataset.layer = String(layer);
      plot.dataset.outline = drawnOutline;
      Plotly.update(plot, { source: [image] }, { shapes: layout.shapes, "title.text": title }, [0]);
    } else if (plot.dataset.outline !== drawnOutline) { // unchanged grids are left alone
      plot.dataset.outline = drawnOutline;
      Plotly.relayout(plot, { shapes: layout.shapes });
    }
  }
}

// Presentation mode: the sliders at the top of the screen (under Streamlit's bar) and the main map
// below them, as tall as the screen leaves, at any projector size; refitted when the window is
// resized (issue 17 §6: at 1280 x 720 only 60 px of the map showed).
function fitToScreen(inst, { scroll = false } = {}) {
  const plot = inst.charts?.main?.plot;
  const controls = inst.root?.querySelector(".hl-controls");
  if (!inst.header?.present || !plot?.layout || !controls || !inst.Plotly) return;
  const bar = document.querySelector('[data-testid="stHeader"]');
  const barBottom = bar ? Math.max(0, bar.getBoundingClientRect().bottom) : 0;
  if (scroll) {
    controls.scrollIntoView({ block: "start" });
    const scroller = scrollParent(controls);
    const gap = controls.getBoundingClientRect().top - barBottom - 4;
    if (gap < 0) scroller.scrollBy(0, gap);
  }
  const above = plot.getBoundingClientRect().top - controls.getBoundingClientRect().top;
  const height = Math.max(240, Math.floor(window.innerHeight - barBottom - above - 16));
  if (Math.abs((plot.layout.height || 0) - height) < 2) return;
  // Row labels at least PROJECTOR_ROW_PX apart: on a short screen every second (third...) is named.
  const axis = inst.templates.main.layout.yaxis;
  const update = { height };
  if (axis.tickvals && axis.ticktext) {
    const margin = plot.layout.margin || {};
    const rowsFit = Math.max(2, Math.floor((height - (margin.t || 0) - (margin.b || 0)) / PROJECTOR_ROW_PX));
    const step = Math.max(1, Math.ceil(axis.tickvals.length / rowsFit));
    update["yaxis.tickvals"] = axis.tickvals.filter((_, i) => i % step === 0);
    update["yaxis.ticktext"] = axis.ticktext.filter((_, i) => i % step === 0);
  }
  inst.Plotly.relayout(plot, update);
}

const PROJECTOR_ROW_PX = 20; // a 17 px label and a little air

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

// Thumbnails keep square pixels at any width: the height follows the width the chart got (a
// fixed height stretched the tiles on narrow or wide screens).
function keepSquare(inst, plot, meta) {
  // and no larger than 1.5 screen pixels an image pixel: on a wide screen a model with few heads
  // (SmolLM2: 9) would otherwise get tiles of 100+ px and an overview of several screens
  plot.style.maxWidth = `${Math.round(meta.span[0] * 1.5)}px`;
  const fit = () => {
    const width = plot.clientWidth;
    if (!width) return;
    const height = Math.round(meta.top + (width * meta.span[1]) / meta.span[0]);
    if (Math.abs((plot.layout.height || 0) - height) > 1) inst.Plotly.relayout(plot, { height });
  };
  new ResizeObserver(fit).observe(plot);
  fit();
}

function send(inst, extra = {}) {
  const { layer, head } = inst.sel;
  const held = inst.id && layerCache.has(inst.id) ? [...layerCache.get(inst.id).keys()] : [];
  const value = { layer, head, follow: null, have: inst.id, layers: held, ...inst.colour, ...extra };
  inst.pending = { layer, head };
  if (inst.root) inst.root.dataset.pending = "1";
  inst.setStateValue("selection", value);
}

function select(inst, layer, head, { scroll = false } = {}) {
  inst.sel = { layer, head };
  // Tell the server first (its rerun then overlaps the drawing); while a slider is dragged, only
  // draw, and tell it once the slider is let go (a key press is a release too).
  if (!inst.dragging && !sameSelection(inst.sel, inst.pending || inst.server)) send(inst);
  inst.scroll = inst.scroll || scroll;
  if (!inst.frame) {
    inst.frame = requestAnimationFrame(() => {
      inst.frame = null;
      draw(inst);
      // the sliders, then the opened head under them
      if (inst.scroll) inst.layerSlider.input.closest(".hl-controls").scrollIntoView({ block: "start" });
      inst.scroll = false;
    });
  }
}

function sameSelection(a, b) {
  return !!a && !!b && a.layer === b.layer && a.head === b.head;
}

function remember(id, view) {
  if (views.size >= KEPT_VIEWS && !views.has(id)) {
    const oldest = views.keys().next().value;
    views.delete(oldest);
    layerCache.delete(oldest);
    imageCache.delete(oldest);
  }
  view.templates = {
    main: JSON.parse(view.main), heads: JSON.parse(view.heads_grid), means: JSON.parse(view.means),
    overview: JSON.parse(view.overview),
    token: view.token ? JSON.parse(view.token) : null,
    window: view.window ? JSON.parse(view.window.figure) : null,
  };
  views.set(id, view);
  if (!layerCache.has(id)) layerCache.set(id, new Map());
  if (!imageCache.has(id)) imageCache.set(id, new Map());
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
  inst.id = msg.id;
  const layers = layerCache.get(msg.id);
  await Promise.all(msg.layers.map(async (entry) => {
    imageCache.get(msg.id).set(entry.layer, entry.image);
    if (!layers.has(entry.layer)) layers.set(entry.layer, await decodeLayer(view, entry, blobs[entry.blob]));
  }));
  if (msg.exact) inst.exact = { ...msg.exact, hover: await hoverValues(blobs[msg.exact.blob], msg.exact.scale) };
  if (msg.token_hover) view.tokenHover = await hoverValues(blobs[msg.token_hover.blob], msg.token_hover.scale);
  inst.autoChoice = msg.auto;
  const colourEchoed = inst.pendingColour && inst.pendingColour.scale === msg.colour.scale
    && inst.pendingColour.mode === msg.colour.mode;
  if (!inst.pendingColour || colourEchoed) {
    inst.colour = { ...msg.colour };
    inst.pendingColour = null;
  }
  inst.server = { ...msg.selection };
  // The server's selection wins unless a newer local choice is still on its way to it.
  if (!inst.pending || sameSelection(inst.pending, msg.selection)) {
    inst.sel = { ...msg.selection };
    inst.pending = null;
  }
  // For tests and the benchmark: messages received, and whether a choice still awaits the server.
  // (A fragment's run can be too fast for Streamlit's "running" state to ever reach the DOM.)
  root.dataset.messages = String(Number(root.dataset.messages || 0) + 1);
  root.dataset.pending = inst.pending || inst.pendingColour ? "1" : "0";
  if (fresh) {
    root.classList.toggle("hl-present", view.present);
    build(root, inst);
    inst.drawn = null;
  }
  inst.Plotly = await plotly;
  if (fresh) inst.coloured = `${colourNow(inst).scale},${colourNow(inst).key}`; // first drawn in these
  draw(inst);
  applyColour(inst);
}

// Mount (or update) the explorer in `parent` with one payload. The host adapter (streamlit.js,
// widget.js) says how the browser's choices travel back (`setStateValue("selection", value)`) and,
// where no URL serves plotly.js, how to load it (`loadPlotly`). `key` names one instance.
function mount(key, parent, data, setStateValue, host = {}) {
  let inst = instances.get(key);
  if (!inst) {
    inst = { sel: { layer: 0, head: 0 }, pending: null, server: null, colour: null, pendingColour: null, id: null,
             dragging: false, frame: null };
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
