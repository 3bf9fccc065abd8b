// The explorer's charts for the view shown: the packer's Plotly templates (figures/attention.py)
// with the view's labels, sizes, titles and numbers set, as the Python figure functions set them
// for the same view (tests/e2e/test_explorer_transforms.py compares them), and the thumbnails
// painted from tiles of codes. No state here: explorer.js keeps it.
// Joined with payload.js, transform.js, colours.js, explorer.js and a host adapter into one module.

// "{name}" in a format sent by the packer, filled in.
function fill(format, values) {
  return format.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// figures.common.position_labels: unique category names "token ·i", so equal tokens never merge.
const positionLabels = (labels, start = 0) => labels.map((label, i) => `${plotlyText(label)} ·${start + i}`);

// figures.common.axis_ticks: one tick per token, every k-th when there are more than maxTicks.
function axisTicks(labels, maxTicks) {
  const step = Math.max(1, Math.ceil(labels.length / maxTicks));
  const names = positionLabels(labels);
  return { tickvals: names.filter((_, i) => i % step === 0),
           ticktext: labels.filter((_, i) => i % step === 0).map(plotlyText) };
}

// figures.attention._matrix_height
const matrixHeight = (nRows, sizes) => Math.trunc(Math.min(sizes.max_height,
  Math.max(sizes.min_height, 160 + sizes.row_px * nRows)));

function maximum(z) {
  let top = 0;
  for (const row of z) for (const v of row) if (v > top) top = v;
  return top;
}

// A heatmap trace from a template, with its numbers and colours.
function heatTrace(template, z, colour, extra) {
  const colorbar = { ...template.colorbar, title: { ...template.colorbar.title, text: colour.legend } };
  return { ...template, z, zmax: Math.max(maximum(z), 1e-9), colorscale: colour.colorscale, colorbar, ...extra };
}

// figures.attention.head_heatmap for the view: `shape` is what explorer.js derived from the layout
// (labels, the first row of sentence B).
function mainFigure(header, template, shape, z, title, colour, customdata) {
  const { sizes } = header;
  const trace = heatTrace(template.data[0], z, colour, {
    x: positionLabels(shape.keyLabels), y: positionLabels(shape.queryLabels), ...(customdata ? { customdata } : {}),
  });
  const layout = {
    ...template.layout, title: { ...template.layout.title, text: title },
    height: matrixHeight(shape.queryLabels.length, sizes),
    xaxis: { ...template.layout.xaxis, ...axisTicks(shape.keyLabels, sizes.max_ticks) },
    yaxis: { ...template.layout.yaxis, ...axisTicks(shape.queryLabels, sizes.max_ticks) },
    shapes: shape.bStart === null ? [] : sentenceBLines(header.b_line, shape.bStart, shape.keyLabels.length,
      shape.queryLabels.length),
  };
  return { data: [trace, ...template.data.slice(1)], layout };
}

// figures.attention._sentence_b_lines
function sentenceBLines(line, bStart, nCols, nRows) {
  return [
    { type: "line", x0: bStart - 0.5, x1: bStart - 0.5, y0: -0.5, y1: nRows - 0.5, line },
    { type: "line", y0: bStart - 0.5, y1: bStart - 0.5, x0: -0.5, x1: nCols - 0.5, line },
  ];
}

// figures.attention.window_heatmap: rows [r0, r1) and columns [c0, c1), every token labelled.
function windowFigure(header, template, shape, z, colour, customdata) {
  const [[r0, r1], [c0, c1]] = shape.window;
  const keys = shape.keyLabels.slice(c0, c1), queries = shape.queryLabels.slice(r0, r1);
  const x = positionLabels(keys, c0), y = positionLabels(queries, r0);
  const trace = heatTrace(template.data[0], z, colour, { x, y, ...(customdata ? { customdata } : {}) });
  const layout = {
    ...template.layout,
    title: { ...template.layout.title, text: fill(header.formats.window_title,
      { row_from: r0 + 1, row_to: r1, col_from: c0 + 1, col_to: c1 }) },
    height: 170 + (header.sizes.tick + 6) * (r1 - r0),
    xaxis: { ...template.layout.xaxis, tickvals: x, ticktext: keys.map(plotlyText) },
    yaxis: { ...template.layout.yaxis, tickvals: y, ticktext: queries.map(plotlyText) },
  };
  return { data: [trace, ...template.data.slice(1)], layout };
}

// figures.attention.token_title, as Plotly reads it.
function tokenTitle(header, label, position, layer) {
  const chars = header.formats.title_token_chars;
  const token = [...label].length <= chars ? label : [...label].slice(0, chars - 1).join("") + "…";
  return plotlyText(fill(header.formats.token_title, { token, position, layer: layer + 1 }));
}

// figures.attention.token_across_heads: where the followed token looks, heads as rows.
function tokenFigure(header, template, shape, z, title, colour, customdata) {
  const trace = heatTrace(template.data[0], z, colour,
    { x: positionLabels(shape.keyLabels), ...(customdata ? { customdata } : {}) });
  const layout = {
    ...template.layout, title: { ...template.layout.title, text: title },
    xaxis: { ...template.layout.xaxis, ...axisTicks(shape.keyLabels, header.sizes.max_ticks) },
  };
  return { data: [trace, ...template.data.slice(1)], layout };
}

// The main map's caption (pages/attention.py `rows_caption`, whose texts the packer sends):
// whether rows sum to 1, and why not. `tolerance`: 1e-3, or more for quantized numbers.
function rowsCaption(texts, [low, high], shown, bStart, tolerance) {
  let caption;
  if (Math.abs(low - 1) < tolerance && Math.abs(high - 1) < tolerance) {
    caption = texts.one;
  } else {
    const why = [];
    if (shown.hide && !shown.renormalize) why.push(texts.hidden);
    if (shown.block !== "all") why.push(fill(texts.block, { block: shown.block, sentence: shown.block.slice(-1) }));
    caption = fill(texts.other, { low: low.toFixed(2), high: high.toFixed(2),
                                  reason: why.length ? `: ${why.join("; ")}` : "" });
  }
  return bStart === null ? caption : caption + fill(texts.b_note, { row: bStart + 1 });
}

// Tiles of codes as a PNG data URI in a palette (base64, 256 x RGB, as colours.js keeps them).
const paletteBytes = new Map();
function paintTiles(tiles, palette) {
  if (!paletteBytes.has(palette)) paletteBytes.set(palette, Uint8Array.from(atob(palette), (c) => c.charCodeAt(0)));
  const colours = paletteBytes.get(palette);
  const canvas = document.createElement("canvas");
  canvas.width = tiles.width;
  canvas.height = tiles.height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(tiles.width, tiles.height);
  const pixels = image.data;
  for (let i = 0; i < tiles.codes.length; i++) {
    const c = tiles.codes[i] * 3;
    pixels[i * 4] = colours[c];
    pixels[i * 4 + 1] = colours[c + 1];
    pixels[i * 4 + 2] = colours[c + 2];
    pixels[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}
