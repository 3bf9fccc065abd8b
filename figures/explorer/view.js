// The view the explorer shows: the view options applied (transform.js) to the layers held, kept
// per text, options and layer, and what that view means for drawing (labels, the followed row,
// the window, sentence B's first row, a decoder's visible keys).
// Joined with payload.js, transform.js, colours.js, charts.js, grids.js, explorer.js and a host adapter.

const derived = new Map(); // `${id}|${options}|${layer}|${what}` -> {value, bytes}: a transformed layer or its tiles
// What the derived values may take, by bytes, the least recently used dropped first: at 512 tokens
// a layer's heads in one view take 12.6 MB (BERT: 12 x 512 x 512 float32) and every layer's tiles
// 7.7 MB (12 x 12 x (96² + 64²) float32), so the view shown and the few one click away fit.
const DERIVED_BUDGET_BYTES = 160 * 2 ** 20;
let derivedBytes = 0;

// ---------------------------------------------------------------- the view shown

// The rows, columns and labels of the view the options ask for (transform.js), kept per options.
function layoutOf(inst) {
  const key = `${optionsKey(inst.shown)}`;
  if (inst.layoutKey !== key) {
    inst.layoutKey = key;
    inst.layout = layoutFor(inst, inst.shown);
  }
  return inst.layout;
}

// A view's layout by its options, kept for the text shown (inst.layouts is emptied with a new text).
function layoutFor(inst, options) {
  if (!inst.layouts) inst.layouts = new Map();
  const key = optionsKey(options);
  if (!inst.layouts.has(key)) inst.layouts.set(key, viewLayout(inst.header.tokens, options));
  return inst.layouts.get(key);
}

// Typed arrays' bytes in a derived value (a layer, tiles by size, a canvas of codes).
function bytesOf(value) {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (!value || typeof value !== "object") return 0;
  return Object.values(value).reduce((total, part) => total + bytesOf(part), 0);
}

function remembered(key, build) {
  const held = derived.get(key);
  if (held) {
    derived.delete(key); // most recently used last
    derived.set(key, held);
    return held.value;
  }
  const value = build();
  const bytes = bytesOf(value);
  derived.set(key, { value, bytes });
  derivedBytes += bytes;
  for (const [oldKey, old] of derived) {
    if (derivedBytes <= DERIVED_BUDGET_BYTES || oldKey === key) break;
    derived.delete(oldKey);
    derivedBytes -= old.bytes;
  }
  return value;
}

// A text's derived values, dropped with its view (explorer.js `remember`).
function forgetDerived(id) {
  for (const [key, held] of [...derived]) {
    if (key.startsWith(`${id}|`)) {
      derived.delete(key);
      derivedBytes -= held.bytes;
    }
  }
}

// A layer's heads in the view shown, (H, Q', K') float32; null while the layer is not held.
function viewLayer(inst, layer, layout = layoutOf(inst)) {
  const held = layerCache.get(inst.id)?.get(layer);
  if (!held || !layout) return null;
  const [, nHeads, nTokens] = inst.header.shape;
  if (held.floats && layout.key === "000all") return held.floats; // as captured: the numbers as sent
  return remembered(`${inst.id}|${layout.key}|${layer}|heads`,
    () => transformLayer(layout, rowReader(held, nTokens), nHeads, nTokens));
}

// A layer's tiles (figures.attention._tile, pooled) in the view shown, at the sizes the grids use.
function layerTiles(inst, layer, layout = layoutOf(inst)) {
  const held = layerCache.get(inst.id)?.get(layer);
  if (!held || !layout) return null;
  const [, nHeads, nTokens] = inst.header.shape;
  return remembered(`${inst.id}|${layout.key}|${layer}|tiles`,
    () => pooledHeads(layout, rowReader(held, nTokens), nHeads, nTokens, [inst.tilePx.heads, inst.tilePx.overview]));
}

// The shown matrix: `flat` (Q' * K') colours the map; `hover`, when the layers came quantized, holds
// the numbers hover reads (exact to the four decimals shown) once the server has sent them.
function matrix(inst, layer, head) {
  const heads = viewLayer(inst, layer);
  if (!heads) return null;
  const layout = inst.layout;
  const nHeads = inst.header.shape[1];
  const cells = layout.queryGroups.length * layout.keyGroups.length;
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
  if (inst.header.encoding === "f32") return { flat, hover: null, exact: true, rows: null };
  const exact = inst.exact;
  const known = exact && exact.layer === layer && exact.head === head && exact.key === layout.key;
  return { flat, hover: known ? exact.hover : flat, exact: !!known, rows: known ? exact.rows : null };
}

function rows(flat, nRows, nCols, r0 = 0, r1 = nRows, c0 = 0, c1 = nCols) {
  const z = new Array(r1 - r0);
  for (let r = r0; r < r1; r++) z[r - r0] = flat.subarray(r * nCols + c0, r * nCols + c1);
  return z;
}

// A decoder's view: cells after each row's visible keys become NaN, which Plotly leaves empty, so
// the masked triangle shows the plot's grey background instead of reading as zero weight.
function masked(visible, z, r0 = 0, c0 = 0) {
  if (!visible) return z;
  return z.map((row, i) => {
    const keep = Math.max(0, visible[r0 + i] - c0);
    if (keep >= row.length) return row;
    const copy = Float32Array.from(row);
    copy.fill(NaN, keep);
    return copy;
  });
}

// What the layout means for drawing: labels, the followed row, the window, sentence B's first row.
function shapeOf(inst) {
  const layout = layoutOf(inst);
  if (!layout) return null;
  const { shown, header } = inst;
  const nRows = layout.queryGroups.length, nCols = layout.keyGroups.length;
  const followRow = rowOfPosition(layout.queryGroups, shown.follow);
  let window = null;
  if (shown.window > 0 && shown.window < nRows) { // selection.Selection.span
    const rowSpan = windowSpan(nRows, followRow ?? 0, shown.window);
    const keyCenter = rowOfPosition(layout.keyGroups, shown.follow);
    window = [rowSpan, windowSpan(nCols, keyCenter === null ? rowSpan[0] + Math.floor(shown.window / 2) : keyCenter,
      shown.window)];
  }
  const isPair = header.tokens.segment.some((s) => s === 1);
  return {
    key: `${layout.key}|${shown.follow}|${shown.window}`, layout, followRow, window,
    queryLabels: layout.queryLabels, keyLabels: layout.keyLabels,
    bStart: isPair && shown.block === "all" ? segmentBStart(header.tokens, layout.queryGroups) : null,
    visible: header.causal ? visibleColumns(layout) : null,
    autoLog: nRows >= header.auto_log_from,
  };
}

// ---------------------------------------------------------------- views one click away

// The view options one click from those shown, the likeliest first: hide or show [CLS]/[SEP],
// merge or split, renormalise (when hidden), the pair's other blocks.
function neighbourOptions(header, shown) {
  const options = [{ ...shown, hide: !shown.hide }, { ...shown, merge: !shown.merge }];
  if (shown.hide) options.push({ ...shown, renormalize: !shown.renormalize });
  if (header.tokens.segment.some((s) => s === 1)) {
    for (const block of header.blocks) if (block !== shown.block) options.push({ ...shown, block });
  }
  return options;
}

// What one view held here takes: the shown layer's heads and every layer's tiles (an estimate of
// what `remembered` will count, before anything is built).
function viewBytes(inst, layout) {
  const [nLayers, nHeads] = inst.header.shape;
  const side = (n, px) => Math.min(n, px);
  const nRows = layout.queryGroups.length, nCols = layout.keyGroups.length;
  const tiles = [inst.tilePx.heads, inst.tilePx.overview].reduce((n, px) => n + side(nRows, px) * side(nCols, px), 0);
  return 4 * nHeads * (nRows * nCols + nLayers * tiles);
}

// After a draw, idle time prepares the views one click away (issue 18 §1): the shown layer's heads
// in each, then each view's (and the view shown's) tiles for every layer held and its grids painted in the colours shown,
// one layer at a time, so a click of a view option finds them ready instead of transforming 13
// layers' worth of rows while the person waits (at 512 tokens ~0.2 s). Prepared views take at
// most PREPARED_BYTES of DERIVED_BUDGET_BYTES: the view shown keeps the rest. A new draw starts
// the plan again (`inst.preparing`); the work is timed as "hl-prepare".
const PREPARED_BYTES = 96 * 2 ** 20;

function prepareNeighbours(inst) {
  const generation = (inst.preparing || 0) + 1;
  inst.preparing = generation;
  if (!inst.shown || typeof requestIdleCallback !== "function") return;
  const { id } = inst, layer = inst.sel.layer;
  // the view shown first: its layer means and overview are the server's images until every layer
  // is held, and painted here once they are (at a later draw, which then finds their tiles ready)
  const layouts = inst.layout ? [inst.layout] : [];
  let bytes = 0;
  for (const options of neighbourOptions(inst.header, inst.shown)) {
    const layout = layoutFor(inst, options);
    if (!layout || layouts.includes(layout)) continue;
    bytes += viewBytes(inst, layout);
    if (bytes > PREPARED_BYTES) break;
    layouts.push(layout);
  }
  const held = layerCache.get(id);
  const jobs = layouts.map((layout) => () => viewLayer(inst, layer, layout));
  for (const layout of layouts) {
    for (const index of held.keys()) jobs.push(() => layerTiles(inst, index, layout));
    jobs.push(() => {
      const { palette } = colourNow(inst, layout.queryGroups.length >= inst.header.auto_log_from);
      for (const image of Object.values(gridImages(inst, layer, layout))) sourceOf(image, palette);
    });
  }
  if (inst.root) inst.root.dataset.prepared = "0"; // for tests: "1" once the plan is done
  const work = (deadline) => {
    if (inst.preparing !== generation || inst.id !== id) return;
    const start = performance.now();
    while (jobs.length) {
      jobs.shift()();
      if (deadline.timeRemaining() <= 10) break;
    }
    performance.measure("hl-prepare", { start, end: performance.now() });
    if (jobs.length) requestIdleCallback(work, { timeout: 500 });
    else if (inst.root) inst.root.dataset.prepared = "1";
  };
  requestIdleCallback(work, { timeout: 500 });
}
