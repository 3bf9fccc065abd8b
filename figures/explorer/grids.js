// The explorer's thumbnails: a layer's heads, the layer means and every layer x head, painted in the
// browser from tiles of the view shown (transform.js `pooledHeads`, `tileCanvas`), or, while a long
// text's layers are still on their way, the server's images; clicked to open a head.
// Joined with payload.js, transform.js, colours.js, charts.js, view.js, explorer.js and a host adapter.

// The grids' images: the layer's heads painted here from the layer held; the layer means and the
// overview painted here once every layer is held, until then the server's images for the view.
// `layout`: the view shown, or one view.js prepares ahead.
function gridImages(inst, layer, layout = inst.layout) {
  const { header, templates } = inst;
  const [nLayers, nHeads] = header.shape;
  const tile = header.tile;
  const images = {};
  const heads = layerTiles(inst, layer, layout);
  if (heads) {
    images.heads = remembered(`${inst.id}|${layout.key}|${layer}|headsgrid`, () => tileCanvas(
      heads[inst.tilePx.heads], nHeads, templates.heads.layout.meta.tiles, tile.levels, header.decades, tile.background));
  }
  const held = layerCache.get(inst.id);
  if (held && held.size === nLayers) {
    const all = [...Array(nLayers).keys()].map((index) => layerTiles(inst, index, layout));
    images.means = remembered(`${inst.id}|${layout.key}|means`, () => {
      const means = all.map((t) => meanOfHeads(t[inst.tilePx.heads], nHeads));
      const joined = { values: new Float32Array(means.reduce((n, m) => n + m.values.length, 0)),
                       rows: means[0].rows, cols: means[0].cols };
      let at = 0;
      for (const m of means) { joined.values.set(m.values, at); at += m.values.length; }
      return tileCanvas(joined, nLayers, templates.means.layout.meta.tiles, tile.levels, header.decades, tile.background);
    });
    images.overview = remembered(`${inst.id}|${layout.key}|overview`, () => {
      const size = inst.tilePx.overview;
      const cells = all[0][size].rows * all[0][size].cols;
      const joined = { values: new Float32Array(nLayers * nHeads * cells), rows: all[0][size].rows, cols: all[0][size].cols };
      all.forEach((t, index) => joined.values.set(t[size].values, index * nHeads * cells));
      return tileCanvas(joined, nLayers * nHeads, templates.overview.layout.meta.tiles, tile.levels, header.decades,
        tile.background);
    });
  } else if (inst.grids && inst.grids.key === layout.key) {
    images.means = { uri: inst.grids.means };
    images.overview = { uri: inst.grids.overview };
  }
  return images;
}

// An image's source in the colours chosen: tiles painted here, or a server PNG with its palette swapped.
function sourceOf(image, palette) {
  if (!image) return null;
  if (image.uri) return withPalette(image.uri, palette);
  const key = `painted|${palette}`;
  if (!image[key]) {
    for (const name of Object.keys(image)) if (name.startsWith("painted|")) delete image[name];
    image[key] = paintTiles(image, palette);
  }
  return image[key];
}

function drawGrids(inst, layer, head, nHeads) {
  const { Plotly, templates, header } = inst;
  const outline = (template, index) => (index === null ? [] : [template.layout.meta.outlines[index]]);
  const palette = colourNow(inst).palette;
  const images = gridImages(inst, layer);
  inst.images = images;
  const grids = [
    ["heads", templates.heads, head >= 0 ? head : null, fill(header.formats.heads_title, { layer: layer + 1 })],
    ["means", templates.means, head < 0 ? layer : null, null],
    ["overview", templates.overview, head >= 0 ? layer * nHeads + head : null, null],
  ];
  for (const [name, template, index, title] of grids) {
    const plot = inst.charts[name].plot;
    const source = sourceOf(images[name], palette);
    const layout = { ...template.layout, shapes: outline(template, index) };
    if (title) layout.title = { ...template.layout.title, text: title };
    const drawnOutline = String(index);
    if (plot.dataset.pending) {
      if (!source) continue; // nothing to show yet (its layers are on their way)
      delete plot.dataset.pending;
      plot.dataset.outline = drawnOutline;
      plot.dataset.source = source.length + source.slice(-32);
      if (title) plot.dataset.title = title;
      // drawn at the height its width asks for: a relayout after the first draw drew it twice
      const height = squareHeight(plot, template.layout.meta);
      if (height) layout.height = height;
      Plotly.newPlot(plot, [{ ...template.data[0], source }, ...template.data.slice(1)], layout,
        header.configs.thumbnail).then(() => {
        keepSquare(inst, plot, template.layout.meta);
        plot.on("plotly_click", (event) => {
          const point = event.points.find((p) => p.customdata);
          if (!point) return;
          const [l, h] = point.customdata;
          select(inst, name === "heads" ? inst.sel.layer : l, h, { scroll: true });
        });
      });
      continue;
    }
    const sourceKey = source ? source.length + source.slice(-32) : plot.dataset.source;
    const titleChanged = title && plot.dataset.title !== title;
    // A new image (another layer, view or colour) is swapped in place; the outline and the title
    // are relayouts Plotly draws alone (shapes: "arraydraw", title: "layoutstyle"). Restyling the
    // image's source instead redraws the whole grid: 20-40 ms of a 16-token layer change.
    if (source && sourceKey !== plot.dataset.source) {
      plot.dataset.source = sourceKey;
      swapImage(inst, plot, source);
    }
    const relayout = {};
    if (plot.dataset.outline !== drawnOutline) relayout.shapes = layout.shapes; // unchanged grids are left alone
    if (titleChanged) relayout["title.text"] = title;
    plot.dataset.outline = drawnOutline;
    if (title) plot.dataset.title = title;
    if (Object.keys(relayout).length) Plotly.relayout(plot, relayout);
  }
}

// A thumbnail grid's image swapped in place: the plot's one <image> gets the new source, and so do
// its traces, for any later redraw. Plotly.restyle would redraw the whole grid (20-30 ms each on
// this project's 2-core machine, a third of a view change at 16 tokens); it is the fallback.
function swapImage(inst, plot, source) {
  const images = plot.querySelectorAll(".imagelayer image");
  for (const trace of [plot.data?.[0], plot._fullData?.[0]]) if (trace) trace.source = source;
  if (images.length !== 1) {
    inst.Plotly.restyle(plot, { source: [source] }, [0]);
    return;
  }
  images[0].setAttributeNS("http://www.w3.org/1999/xlink", "xlink:href", source);
  images[0].setAttribute("href", source);
}


// Thumbnails keep square pixels at any width: the height follows the width the chart got (a
// fixed height stretched the tiles on narrow or wide screens).
function keepSquare(inst, plot, meta) {
  const fit = () => {
    const height = squareHeight(plot, meta);
    if (height && Math.abs((plot.layout.height || 0) - height) > 1) inst.Plotly.relayout(plot, { height });
  };
  new ResizeObserver(fit).observe(plot);
  fit();
}

// The height that gives a grid's image square pixels at the plot's width; null before it has one.
function squareHeight(plot, meta) {
  // and no larger than 1.5 screen pixels an image pixel: on a wide screen a model with few heads
  // (SmolLM2: 9) would otherwise get tiles of 100+ px and an overview of several screens
  plot.style.maxWidth = `${Math.round(meta.span[0] * 1.5)}px`;
  const width = plot.clientWidth;
  return width ? Math.round(meta.top + (width * meta.span[1]) / meta.span[0]) : null;
}
