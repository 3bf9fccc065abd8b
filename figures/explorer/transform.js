// The view options, applied in the browser to the attention the explorer holds: hide [CLS]/[SEP],
// renormalise rows, merge subwords into words, and a sentence pair's block. These follow
// encoder/attention_view.py (`kept_positions`, `word_groups`, `map_view`) step by step, so a change
// of view needs no server run; tests/e2e/test_explorer_transforms.py runs this file in Chromium and
// checks it against `map_view` to the four decimals hover prints. No DOM here: pure functions.
// Joined with payload.js, colours.js, explorer.js and a host adapter into one module.

// The view options as one string: cached transforms and the server's exact hover are keyed by it.
function optionsKey(options) {
  const renormalise = options.hide && options.renormalize;
  return `${options.hide ? 1 : 0}${renormalise ? 1 : 0}${options.merge ? 1 : 0}${options.block}`;
}

// attention_view.kept_positions: the block's queries and keys, without special tokens when hidden;
// null when hiding leaves nothing.
function keptPositions(tokens, options) {
  const all = tokens.special.map((_, p) => p);
  let queries = all, keys = all;
  const isPair = tokens.segment.some((s) => s === 1);
  if (options.block !== "all" && isPair) {
    const [source, target] = options.block.split("→");
    queries = all.filter((p) => tokens.segment[p] === (source === "B" ? 1 : 0));
    keys = all.filter((p) => tokens.segment[p] === (target === "B" ? 1 : 0));
  }
  if (options.hide) {
    queries = queries.filter((p) => !tokens.special[p]);
    keys = keys.filter((p) => !tokens.special[p]);
    if (!queries.length || !keys.length) return null;
  }
  return { queries, keys };
}

// attention_view.word_groups: consecutive kept tokens of one word in one segment; a special token
// (no word) stays alone.
function groupsOf(tokens, positions, merge) {
  if (!merge) return positions.map((p) => [p]);
  const groups = [];
  let previous = null;
  for (const p of positions) {
    const word = tokens.word[p];
    const key = word < 0 ? null : `${tokens.segment[p]},${word}`;
    if (key !== null && key === previous) groups[groups.length - 1].push(p);
    else groups.push([p]);
    previous = key;
  }
  return groups;
}

// attention_view.group_label: a token's label, or a merged word as typed (sent by first position).
function groupLabel(tokens, group) {
  if (group.length === 1) return tokens.labels[group[0]];
  const word = tokens.words[String(group[0])];
  return word !== undefined ? word : group.map((p) => tokens.labels[p]).join("");
}

// The rows and columns a view shows, with their labels: everything drawing needs besides numbers.
// null when nothing is left (the page says so).
function viewLayout(tokens, options) {
  const kept = keptPositions(tokens, options);
  if (!kept) return null;
  const queryGroups = groupsOf(tokens, kept.queries, options.merge);
  const keyGroups = groupsOf(tokens, kept.keys, options.merge);
  const keyOf = new Int32Array(tokens.special.length).fill(-1); // token position -> column
  keyGroups.forEach((group, column) => { for (const p of group) keyOf[p] = column; });
  return {
    key: optionsKey(options), queries: kept.queries, queryGroups, keyGroups, keyOf,
    keyFirst: Int32Array.from(keyGroups, (group) => group[0]), // each column's token, when none is pooled
    queryLabels: queryGroups.map((g) => groupLabel(tokens, g)),
    keyLabels: keyGroups.map((g) => groupLabel(tokens, g)),
    // Rows are rescaled only once special tokens are hidden (the model's own rows sum to 1).
    rescale: options.hide && options.renormalize,
    specials: tokens.special.flatMap((s, p) => (s ? [p] : [])),
    pooledKeys: keyGroups.some((g) => g.length > 1),
  };
}

// The row (or column) that stands for a token position, or null when the view hides it
// (attention_view.row_of_position).
function rowOfPosition(groups, position) {
  const row = groups.findIndex((group) => group.includes(position));
  return row < 0 ? null : row;
}

// One transformed row of one head: `row` (the head's T weights for a query token, as held) is
// rescaled over the non-special keys when renormalising and pooled into the view's columns (a
// word's columns summed: attention to a word is the sum over its pieces, Clark et al. 2019 §4.1).
// Adds `factor` x that into `out` (K'), in float64.
function addRow(layout, row, factor, out) {
  let scale = 1;
  if (layout.rescale) {
    let total = 0;
    for (let k = 0; k < row.length; k++) total += row[k];
    for (const p of layout.specials) total -= row[p];
    scale = total > 0 ? 1 / total : 0;
  }
  const f = factor * scale;
  if (!layout.pooledKeys) {
    const first = layout.keyFirst;
    for (let c = 0; c < first.length; c++) out[c] += f * row[first[c]];
  } else {
    const keyOf = layout.keyOf;
    for (let k = 0; k < row.length; k++) if (keyOf[k] >= 0) out[keyOf[k]] += f * row[k];
  }
}

// Every transformed row of head `h`: readRow(h, q, buffer) fills buffer with the held weights of
// query token q; onRow(i, values) gets row i of the view (values reused: copy what you keep).
// From a word, the mean over its pieces' rows.
function forEachViewRow(layout, readRow, h, nTokens, onRow) {
  const buffer = new Float32Array(nTokens);
  const values = new Float64Array(layout.keyGroups.length);
  layout.queryGroups.forEach((group, i) => {
    values.fill(0);
    for (const q of group) {
      readRow(h, q, buffer);
      addRow(layout, buffer, 1 / group.length, values);
    }
    onRow(i, values);
  });
}

// A layer's heads in the view: (H, Q', K') float32, as map_view gives them.
function transformLayer(layout, readRow, nHeads, nTokens) {
  const nRows = layout.queryGroups.length, nCols = layout.keyGroups.length;
  const out = new Float32Array(nHeads * nRows * nCols);
  for (let h = 0; h < nHeads; h++) {
    forEachViewRow(layout, readRow, h, nTokens, (i, values) => out.set(values, (h * nRows + i) * nCols));
  }
  return out;
}

// figures.common.downsample_mean's bins: edges of linspace(0, n, min(n, size) + 1), as integers,
// computed as numpy computes them (i x step, the last one n), so the same cells fall in each bin.
function poolEdges(n, size) {
  const bins = Math.min(n, size);
  const edges = new Int32Array(bins + 1);
  const step = n / bins;
  for (let i = 0; i < bins; i++) edges[i] = Math.floor(i * step);
  edges[bins] = n;
  const binOf = new Int32Array(n);
  for (let b = 0; b < bins; b++) binOf.fill(b, edges[b], edges[b + 1]);
  return { bins, edges, binOf };
}

// Every head of a layer in the view, average-pooled to at most size x size cells for each of
// `sizes` (figures.attention._tile's first step), in one pass over the rows and without building
// the (H, Q', K') view: {size: {values (H, r, c), rows: r, cols: c}}.
function pooledHeads(layout, readRow, nHeads, nTokens, sizes) {
  const nRows = layout.queryGroups.length, nCols = layout.keyGroups.length;
  const plans = sizes.map((size) => {
    const rows = poolEdges(nRows, size), cols = poolEdges(nCols, size);
    return { size, rows, cols, sums: new Float64Array(rows.bins * cols.bins),
             values: new Float32Array(nHeads * rows.bins * cols.bins) };
  });
  for (let h = 0; h < nHeads; h++) {
    for (const plan of plans) plan.sums.fill(0);
    forEachViewRow(layout, readRow, h, nTokens, (i, values) => {
      for (const { rows, cols, sums } of plans) {
        const base = rows.binOf[i] * cols.bins;
        for (let c = 0; c < nCols; c++) sums[base + cols.binOf[c]] += values[c];
      }
    });
    for (const { rows, cols, sums, values } of plans) {
      const cells = rows.bins * cols.bins;
      for (let r = 0; r < rows.bins; r++) {
        const height = rows.edges[r + 1] - rows.edges[r];
        for (let c = 0; c < cols.bins; c++) {
          values[h * cells + r * cols.bins + c] = sums[r * cols.bins + c] / (height * (cols.edges[c + 1] - cols.edges[c]));
        }
      }
    }
  }
  return Object.fromEntries(plans.map((p) => [p.size, { values: p.values, rows: p.rows.bins, cols: p.cols.bins }]));
}

// figures.common.log_codes(values, 1, levels): 0 under the log floor, 1..levels along log10 over
// `decades` decades.
function tileCode(value, levels, decades) {
  if (!(value >= Math.pow(10, -decades))) return 0;
  const step = Math.round((Math.log10(value) / decades + 1) * (levels - 1)) + 1;
  return Math.min(levels, Math.max(1, step));
}

// figures.attention._tile_canvas: tiles of codes (each (r, c) pooled values, scaled up to px with
// nearest neighbours) laid out in `grid.cols` columns on a canvas of the background code.
function tileCanvas(pooled, count, grid, levels, decades, background) {
  const { px, cols, gap, row_gap: rowGap } = grid;
  const nRows = Math.ceil(count / cols);
  const width = cols * (px + gap) - gap, height = nRows * (px + rowGap) - rowGap;
  const codes = new Uint8Array(width * height).fill(background);
  const cells = pooled.rows * pooled.cols;
  const sourceRow = new Int32Array(px), sourceCol = new Int32Array(px);
  for (let i = 0; i < px; i++) {
    sourceRow[i] = Math.floor((i * pooled.rows) / px);
    sourceCol[i] = Math.floor((i * pooled.cols) / px);
  }
  for (let t = 0; t < count; t++) {
    const top = Math.floor(t / cols) * (px + rowGap), left = (t % cols) * (px + gap);
    const tile = new Uint8Array(cells);
    for (let j = 0; j < cells; j++) tile[j] = tileCode(pooled.values[t * cells + j], levels, decades);
    for (let y = 0; y < px; y++) {
      const line = (top + y) * width + left, from = sourceRow[y] * pooled.cols;
      for (let x = 0; x < px; x++) codes[line + x] = tile[from + sourceCol[x]];
    }
  }
  return { codes, width, height };
}

// The mean over a layer's heads of pooled tiles (pooling is linear: the mean's tile is the mean of
// the heads' tiles, as layer_means_grid pools head_average).
function meanOfHeads(pooled, nHeads) {
  const cells = pooled.rows * pooled.cols;
  const out = new Float32Array(cells);
  for (let h = 0; h < nHeads; h++) for (let j = 0; j < cells; j++) out[j] += pooled.values[h * cells + j];
  for (let j = 0; j < cells; j++) out[j] /= nHeads;
  return { values: out, rows: pooled.rows, cols: pooled.cols };
}

// attention_view.visible_columns for a causal view: per row, how many columns (a prefix: keys run
// in text order) hold keys whose first token is not after the row's last token.
function visibleColumns(layout) {
  const firsts = layout.keyGroups.map((g) => g[0]);
  return layout.queryGroups.map((g) => {
    const last = g[g.length - 1];
    let n = 0;
    while (n < firsts.length && firsts[n] <= last) n++;
    return n;
  });
}

// attention_view.segment_b_start: the first row of sentence B, or null.
function segmentBStart(tokens, groups) {
  const row = groups.findIndex((g) => tokens.segment[g[0]] === 1);
  return row < 0 ? null : row;
}

// attention_view.window_span: [start, stop) of `size` rows around `center`, inside 0..n.
function windowSpan(n, center, size) {
  const kept = Math.max(1, Math.min(size, n));
  const start = Math.min(Math.max(center - Math.floor(kept / 2), 0), n - kept);
  return [start, start + kept];
}

// attention_view.row_sum_ranges for one (Q, K) map: its smallest and largest row sum.
function rowSumRange(flat, nRows, nCols) {
  let low = Infinity, high = -Infinity;
  for (let r = 0; r < nRows; r++) {
    let sum = 0;
    for (let c = 0; c < nCols; c++) sum += flat[r * nCols + c];
    low = Math.min(low, sum);
    high = Math.max(high, sum);
  }
  return [low, high];
}

// figures.common.plotly_text: Plotly reads a subset of HTML in labels, so text is escaped.
function plotlyText(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
