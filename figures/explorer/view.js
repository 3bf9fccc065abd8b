// The view the explorer shows: the view options applied (transform.js) to the layers held, kept
// per text, options and layer, and what that view means for drawing (labels, the followed row,
// the window, sentence B's first row, a decoder's visible keys).
// Joined with payload.js, transform.js, colours.js, charts.js, grids.js, explorer.js and a host adapter.

const derived = new Map(); // `${id}|${options}|${layer}|${what}` -> a transformed layer or its tiles
const KEPT_DERIVED = 24;

// ---------------------------------------------------------------- the view shown

// The rows, columns and labels of the view the options ask for (transform.js), kept per options.
function layoutOf(inst) {
  const key = `${optionsKey(inst.shown)}`;
  if (inst.layoutKey !== key) {
    inst.layoutKey = key;
    inst.layout = viewLayout(inst.header.tokens, inst.shown);
  }
  return inst.layout;
}

function remembered(key, build) {
  if (derived.has(key)) {
    const value = derived.get(key);
    derived.delete(key); // most recently used last
    derived.set(key, value);
    return value;
  }
  const value = build();
  if (derived.size >= KEPT_DERIVED) derived.delete(derived.keys().next().value);
  derived.set(key, value);
  return value;
}

// A layer's heads in the view shown, (H, Q', K') float32; null while the layer is not held.
function viewLayer(inst, layer) {
  const held = layerCache.get(inst.id)?.get(layer);
  const layout = layoutOf(inst);
  if (!held || !layout) return null;
  const [, nHeads, nTokens] = inst.header.shape;
  if (held.floats && layout.key === "000all") return held.floats; // as captured: the numbers as sent
  return remembered(`${inst.id}|${layout.key}|${layer}|heads`,
    () => transformLayer(layout, rowReader(held, nTokens), nHeads, nTokens));
}

// A layer's tiles (figures.attention._tile, pooled) in the view shown, at the sizes the grids use.
function layerTiles(inst, layer) {
  const held = layerCache.get(inst.id)?.get(layer);
  const layout = layoutOf(inst);
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
