// The line view (figures/lineview/__init__.py): queries on the left, keys on the right, a line from a
// query to a key with opacity = its attention weight, one colour per head. Heads are toggled and
// overlaid, a threshold hides faint lines, hovering a token keeps only its lines (a click keeps them
// until the next click), all in the browser. Labels are set as text, never as HTML.
//
// In the app the browser gets the layer's attention as captured (figures.lineview.message, read by
// payload.js `readPayload`) and applies the view options with transform.js, the explorer's own
// transforms (as encoder.attention_view.map_view): `linesOf` then picks the lines as the Python
// `payload` does, so a change of view option is drawn without a rerun. The offline file gets
// `payload`'s dict and only needs `drawLines`.

// The message as held: its header and the sent tokens' weights, read as transform.js reads a layer.
function readLines(bytes) {
  const { header, blobs } = readPayload(bytes);
  const weights = new Float32Array(blobs[0].buffer, blobs[0].byteOffset, blobs[0].byteLength / 4);
  const rest = new Float32Array(blobs[1].buffer, blobs[1].byteOffset, blobs[1].byteLength / 4);
  const [, nTokens] = header.shape;
  const n = header.sent.length;
  const indexOf = new Int32Array(nTokens).fill(-1); // token position -> its index among the sent ones
  header.sent.forEach((p, i) => { indexOf[p] = i; });
  // readRow(h, q, buffer) for transform.js: the row of query token q (one that was sent), with the
  // weight on the tokens not sent held on one of them (`elsewhere`), so its sums are the row's own.
  const readRow = (h, q, buffer) => {
    const i = indexOf[q];
    buffer.fill(0);
    const from = (h * n + i) * n;
    for (let j = 0; j < n; j++) buffer[header.sent[j]] = weights[from + j];
    if (header.elsewhere !== null) buffer[header.elsewhere] = rest[h * n + i];
  };
  return { header, readRow };
}

// A layout (transform.js `viewLayout`) cut to its rows and columns start..stop: the line view draws
// the window's queries and keys only, so only those rows are read and only those columns pooled.
function windowLayout(layout, start, stop) {
  const keyOf = new Int32Array(layout.keyOf.length).fill(-1);
  layout.keyGroups.slice(start, stop).forEach((group, column) => { for (const p of group) keyOf[p] = column; });
  return { ...layout, queryGroups: layout.queryGroups.slice(start, stop), keyGroups: layout.keyGroups.slice(start, stop),
           keyFirst: layout.keyFirst.subarray(start, stop), queryLabels: layout.queryLabels.slice(start, stop), keyOf };
}

// Whether the held message can draw `shown` (its window's tokens were sent for that view).
function canDraw(held, shown) {
  return held.header.layouts.some(([hide, merge]) => hide === !!shown.hide && merge === !!shown.merge);
}

// What drawLines draws for the view options `shown` ({hide, renormalize, merge, follow}): the same
// dict as figures.lineview.payload on map_view's weights. null when hiding leaves nothing.
function linesOf(held, shown) {
  const h = held.header;
  const [nHeads, nTokens] = h.shape;
  const layout = viewLayout(h.tokens, { ...shown, block: "all" });
  if (!layout) return null;
  const nRows = layout.queryGroups.length;
  const followed = rowOfPosition(layout.queryGroups, shown.follow);
  const [start, stop] = windowSpan(nRows, followed ?? 0, h.window);
  const width = stop - start;
  const values = transformLayer(windowLayout(layout, start, stop), held.readRow, nHeads, nTokens); // (H, W, W)
  const k = Math.min(h.top_keys, width);
  const heads = [];
  for (let head = 0; head < nHeads; head++) {
    const lines = [];
    for (let q = 0; q < width; q++) {
      const row = values.subarray((head * width + q) * width, (head * width + q + 1) * width);
      // the k largest, ties in key order (numpy's stable argsort of the negated row)
      const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      // toFixed rounds the exact value, as Python's round() does (but at an exact tie, rare)
      for (const key of order) if (row[key] >= h.min_weight) lines.push([q, key, Number(row[key].toFixed(4))]);
    }
    heads.push({ head, colour: h.colours[head % h.colours.length], lines });
  }
  const note = (start === 0 && stop === nRows) ? "" :
    `The ${width} tokens around the followed token, of ${nRows}; lines within them.`;
  return { title: h.title, layer: h.layer, labels: layout.queryLabels.slice(start, stop),
           positions: layout.queryGroups.slice(start, stop).map((g) => g[0]), n_tokens: nRows, heads,
           on: h.on, font_px: h.font_px, note, hidden: followed === null && h.texts.hidden ? h.texts.hidden : "" };
}

// `kept`: the heads switched on and the threshold of the drawing this one replaces: a change of
// view option keeps them, on the same layer and while the page's own head is the same. Returns them, live.
function drawLines(root, data, kept = null) {
  const SVG = "http://www.w3.org/2000/svg";
  const n = data.labels.length;
  const font = data.font_px || 13;
  const rowH = Math.max(font + 7, 18);
  const colW = Math.max(110, Math.min(220, 8 + font * 0.62 * Math.max(...data.labels.map((l) => l.length + 4), 6)));
  const gap = 200;
  const width = 2 * colW + gap;
  const top = 8;
  const height = top + n * rowH + 8;
  const same = kept && kept.layer === data.layer && kept.from === data.on.join();
  const state = same ? kept : { layer: data.layer, from: data.on.join(), on: new Set(data.on), threshold: 0.02 };
  const on = state.on;
  let threshold = state.threshold;
  let focus = null; // {side: "q" | "k", index}
  let pinned = null;

  root.replaceChildren();
  const box = document.createElement("div");
  box.className = "hl-lines";
  box.style.fontSize = font + "px";
  if (data.title) {
    const title = document.createElement("div");
    title.textContent = data.title;
    title.style.fontWeight = "600";
    title.style.margin = "4px 0 6px";
    box.appendChild(title);
  }

  const controls = document.createElement("div");
  controls.style.cssText = "display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-bottom:8px";
  const chips = data.heads.map((head) => {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "hl-lines-head";
    chip.dataset.head = String(head.head);
    chip.textContent = "H" + (head.head + 1);
    chip.title = "Show or hide head " + (head.head + 1);
    chip.style.cssText = "border-radius:12px;padding:2px 10px;cursor:pointer;font-size:" + font + "px;border:2px solid " + head.colour;
    chip.addEventListener("click", () => {
      if (on.has(head.head)) on.delete(head.head); else on.add(head.head);
      paintChips();
      draw();
    });
    controls.appendChild(chip);
    return chip;
  });
  const paintChips = () => chips.forEach((chip, i) => {
    const head = data.heads[i];
    const shown = on.has(head.head);
    chip.style.background = shown ? head.colour : "transparent";
    chip.style.color = shown ? "#fff" : "inherit";
    chip.setAttribute("aria-pressed", shown ? "true" : "false");
  });
  const label = document.createElement("label");
  label.textContent = " hide lines below ";
  label.style.marginLeft = "12px";
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = "0.5";
  slider.step = "0.01";
  slider.value = String(threshold);
  slider.className = "hl-lines-threshold";
  const shownValue = document.createElement("span");
  shownValue.textContent = threshold.toFixed(2);
  slider.addEventListener("input", () => {
    threshold = Number(slider.value);
    state.threshold = threshold;
    shownValue.textContent = threshold.toFixed(2);
    draw();
  });
  label.appendChild(slider);
  label.appendChild(shownValue);
  controls.appendChild(label);
  const save = document.createElement("button");
  save.type = "button";
  save.textContent = "Save SVG";
  save.className = "hl-lines-save";
  save.style.cssText = "margin-left:12px;padding:2px 10px;cursor:pointer;font-size:" + font + "px";
  controls.appendChild(save);
  box.appendChild(controls);
  if (data.hidden) {
    const hidden = document.createElement("div");
    hidden.className = "hl-lines-hidden";
    hidden.textContent = data.hidden;
    hidden.style.cssText = "margin:0 0 8px;padding:6px 10px;border-radius:6px;background:rgba(28,131,225,0.1)";
    box.appendChild(hidden);
  }

  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("xmlns", SVG);
  svg.style.fontFamily = "sans-serif";
  svg.style.fontSize = font + "px";
  const lines = document.createElementNS(SVG, "g");
  svg.appendChild(lines);
  const y = (i) => top + i * rowH + rowH / 2;
  const texts = { q: [], k: [] };
  for (const side of ["q", "k"]) {
    data.labels.forEach((text, i) => {
      const t = document.createElementNS(SVG, "text");
      t.textContent = `${text} ·${data.positions[i]}`;
      t.setAttribute("x", side === "q" ? String(colW - 8) : String(colW + gap + 8));
      t.setAttribute("y", String(y(i)));
      t.setAttribute("dominant-baseline", "middle");
      t.setAttribute("text-anchor", side === "q" ? "end" : "start");
      t.setAttribute("class", "hl-lines-token");
      t.dataset.side = side;
      t.dataset.index = String(i);
      t.style.cursor = "pointer";
      t.addEventListener("mouseenter", () => { focus = { side, index: i }; draw(); });
      t.addEventListener("mouseleave", () => { focus = pinned; draw(); });
      t.addEventListener("click", () => {
        pinned = pinned && pinned.side === side && pinned.index === i ? null : { side, index: i };
        focus = pinned;
        draw();
      });
      svg.appendChild(t);
      texts[side].push(t);
    });
  }
  const caption = document.createElementNS(SVG, "title");
  caption.textContent = "Queries on the left, keys on the right";
  svg.appendChild(caption);
  box.appendChild(svg);
  const note = document.createElement("div");
  note.className = "hl-lines-note";
  note.style.cssText = "color:#666;margin-top:4px";
  box.appendChild(note);
  root.appendChild(box);

  function draw() {
    lines.replaceChildren();
    let count = 0;
    for (const head of data.heads) {
      if (!on.has(head.head)) continue;
      for (const [q, k, w] of head.lines) {
        if (w < threshold) continue;
        if (focus && (focus.side === "q" ? q !== focus.index : k !== focus.index)) continue;
        const line = document.createElementNS(SVG, "line");
        line.setAttribute("x1", String(colW));
        line.setAttribute("y1", String(y(q)));
        line.setAttribute("x2", String(colW + gap));
        line.setAttribute("y2", String(y(k)));
        line.setAttribute("stroke", head.colour);
        line.setAttribute("stroke-width", "2");
        line.setAttribute("stroke-opacity", String(Math.min(1, Math.max(0.04, w))));
        line.dataset.query = String(q);
        line.dataset.key = String(k);
        const tip = document.createElementNS(SVG, "title");
        tip.textContent = `H${head.head + 1}: ${data.labels[q]} ·${data.positions[q]} → ${data.labels[k]} ·${data.positions[k]}: ${w.toFixed(4)}`;
        line.appendChild(tip);
        lines.appendChild(line);
        count += 1;
      }
    }
    for (const side of ["q", "k"]) {
      texts[side].forEach((t, i) => {
        const active = focus && focus.side === side && focus.index === i;
        t.style.fontWeight = active ? "700" : "400";
      });
    }
    box.dataset.lines = String(count);
    note.textContent = (data.note ? data.note + " " : "") + `${count} lines drawn` +
      (focus ? ` for ${data.labels[focus.index]} ·${data.positions[focus.index]} (click it again to release).` :
        ". Hover a token to keep only its lines; click to keep them.");
  }

  save.addEventListener("click", () => {
    const blob = new Blob([new XMLSerializer().serializeToString(svg)], { type: "image/svg+xml" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `headlight-lines-layer-${data.layer + 1}.svg`;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  });

  paintChips();
  draw();
  return state;
}
