// The line view (figures/lineview/__init__.py builds `data`): queries on the left, keys on the right,
// a line from a query to a key with opacity = its attention weight, one colour per head. Heads are
// toggled and overlaid, a threshold hides faint lines, hovering a token keeps only its lines (a click
// keeps them until the next click), all in the browser. Labels are set as text, never as HTML.
function drawLines(root, data) {
  const SVG = "http://www.w3.org/2000/svg";
  const n = data.labels.length;
  const font = data.font_px || 13;
  const rowH = Math.max(font + 7, 18);
  const colW = Math.max(110, Math.min(220, 8 + font * 0.62 * Math.max(...data.labels.map((l) => l.length + 4), 6)));
  const gap = 200;
  const width = 2 * colW + gap;
  const top = 8;
  const height = top + n * rowH + 8;
  const on = new Set(data.on);
  let threshold = 0.02;
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
}
